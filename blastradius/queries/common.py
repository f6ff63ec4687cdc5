"""Query results as plain data: rows with paths, and notes on what the snapshot could not see."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from blastradius.graph.model import CapabilityGraph
from blastradius.queries.reachability import Reach, Step

# Node kinds a user means by "principal" on the command line, by the --kind filter's names.
PRINCIPAL_FILTERS = {
    "serviceaccount": frozenset({"serviceaccount"}),
    "user": frozenset({"user"}),
    "group": frozenset({"group"}),
    "iam": frozenset({"iam_role", "iam_user"}),
}
SECRET_KINDS = frozenset({"secret", "cloud_secret"})


@dataclass
class QueryResult:
    """The outcome of one query: rows for renderers, the columns a table shows, and coverage notes."""

    query: str
    reference: str
    columns: list[str]
    rows: list[dict[str, Any]]
    coverage_notes: list[str] = field(default_factory=list)
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "reference": self.reference,
            "rows": self.rows,
            "coverage_notes": self.coverage_notes,
            "message": self.message,
        }


def step_dict(graph: CapabilityGraph, step: Step) -> dict[str, Any]:
    return {
        "from": graph.name(step.source),
        "from_id": step.source,
        "to": graph.name(step.target),
        "to_id": step.target,
        "kind": step.kind,
        "reason": step.reason,
        "conditions": list(step.conditions),
        "evidence": step.evidence,
    }


def chain_text(graph: CapabilityGraph, steps: tuple[Step, ...]) -> str:
    """Return a path as `a -[kind]-> b -[kind]-> c`, the way people draw the chain."""
    if not steps:
        return ""
    parts = [graph.name(steps[0].source)]
    for step in steps:
        parts.append(f"-[{step.kind}]-> {graph.name(step.target)}")
    return " ".join(parts)


def reach_row(graph: CapabilityGraph, reach: Reach) -> dict[str, Any]:
    conditions = list(reach.conditions)
    return {
        "principal": graph.name(reach.principal),
        "principal_kind": graph.kind(reach.principal),
        "principal_id": reach.principal,
        "target": graph.name(reach.target),
        "target_kind": graph.kind(reach.target),
        "target_id": reach.target,
        "capability": reach.capability,
        "hops": reach.hops,
        "conditional": bool(conditions),
        "conditions": conditions,
        "path": chain_text(graph, reach.steps),
        "steps": [step_dict(graph, step) for step in reach.steps],
    }


def scope_of(graph: CapabilityGraph, node: str) -> str:
    """Return `<cluster>/<namespace>` for Kubernetes nodes and `aws:<account>` for AWS nodes."""
    data = graph.g.nodes[node]
    if data.get("account"):
        return f"aws:{data['account']}"
    if data.get("namespace"):
        return f"{data.get('cluster')}/{data['namespace']}"
    return data.get("cluster") or ""


def secrets_uncollected(graph: CapabilityGraph, account_id: str) -> bool:
    """Return whether the snapshot lacks the secret list of an AWS account (a coverage gap on ListSecrets)."""
    return any(gap["source"] == f"aws:{account_id}" and gap["resource"].startswith("secretsmanager:ListSecrets")
               for gap in graph.coverage_gaps)


def coverage_notes(graph: CapabilityGraph, nodes: list[str]) -> list[str]:
    """Return a sentence for each coverage gap that touches the clusters, namespaces or accounts of `nodes`.

    A gap limited to one namespace counts when the namespace is among the nodes' (or when any node
    is cluster-wide); a gap without a namespace counts for its whole cluster or account.
    """
    clusters: set[str] = set()
    namespaces: set[tuple[str, str]] = set()
    accounts: set[str] = set()
    for node in nodes:
        data = graph.g.nodes[node]
        if data.get("account"):
            accounts.add(data["account"])
        elif data.get("cluster"):
            clusters.add(data["cluster"])
            if data.get("namespace"):
                namespaces.add((data["cluster"], data["namespace"]))

    notes = []
    for gap in graph.coverage_gaps:
        source_type, _, source_name = gap["source"].partition(":")
        if source_type == "aws" and source_name not in accounts:
            continue
        if source_type == "kubernetes":
            if source_name not in clusters:
                continue
            namespace = gap.get("namespace")
            if namespace and (source_name, namespace) not in namespaces and (source_name, "*") not in namespaces:
                continue
        where = f" in namespace {gap['namespace']}" if gap.get("namespace") else ""
        where += f" in region {gap['region']}" if gap.get("region") else ""
        notes.append(f"results may be incomplete: {gap['resource']}{where} could not be read at collection "
                     f"({gap['reason']}: {gap['detail']})")
    return notes
