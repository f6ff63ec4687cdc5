"""`path`: how one node reaches another, step by step, or what blocks it."""

from __future__ import annotations

from collections import deque

from blastradius.graph.aws import iam_secret_targets
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.common import QueryResult, coverage_notes, reach_row
from blastradius.queries.reachability import HOLDING, OVERWRITTEN, distances_to, reach_from, reached_nodes
from blastradius.queries.refs import resolve

COLUMNS = ["step", "from", "kind", "to", "reason"]


def path(graph: CapabilityGraph, source_ref: str, target_ref: str, *, cluster: str | None = None) -> QueryResult:
    """Return the shortest path from one node to another as one row per step.

    Reading wins over overwriting when both exist. Without a path, the message names the nearest
    blocking point: the IAM policies or KMS key that keep the identities the source reaches from
    reading a cloud secret, a ClusterSecretStore whose conditions deny the namespaces the source
    can use, an identity that External Secrets only uses for the source, or the closest node the
    source reaches.
    """
    source = resolve(graph, source_ref, cluster=cluster, single=True).nodes[0]
    target = resolve(graph, target_ref, cluster=cluster, single=True).nodes[0]
    reference = f"{source_ref} -> {target_ref}"

    found = {(reach.target, reach.capability): reach for reach in reach_from(graph, source)}
    best = found.get((target, "read")) or found.get((target, "overwrite"))
    if best is None:
        message = f"no path from {graph.name(source)} to {graph.name(target)}: {blocking_point(graph, source, target)}"
        return QueryResult("path", reference, COLUMNS, [], coverage_notes(graph, [source, target]), message)

    summary = reach_row(graph, best)
    rows = []
    for number, step in enumerate(summary["steps"], start=1):
        rows.append({"step": number, **step, "from": step["from"], "to": step["to"]})
    message = f"{summary['principal']} can {'obtain' if best.capability == 'read' else 'overwrite'} {summary['target']} in {best.hops} step(s)"
    if summary["conditional"]:
        message += f", if: {'; '.join(summary['conditions'])}"
    involved = [source, target, *(step.target for step in best.steps)]
    return QueryResult("path", reference, COLUMNS, rows, coverage_notes(graph, involved), message)


def blocking_point(graph: CapabilityGraph, source: str, target: str) -> str:
    """Explain why `source` does not reach `target`, naming the nearest obstacle found."""
    reached = reached_nodes(graph, source)
    to_target = {node for node, state in distances_to(graph, target, HOLDING) if state == HOLDING}
    to_target |= {node for node, state in distances_to(graph, target, OVERWRITTEN) if state == HOLDING}

    denials = _iam_denials(graph, reached, target)
    for (store, namespace), reason in sorted(graph.admission_denials.items()):
        if store in to_target and _eso_pull_node(graph, store, namespace) in reached:
            denials.append(reason)
    if denials:
        return "; ".join(denials)
    if target in reached and target != source:
        # A target held or overwritten would have a path, so the walk reaches it only as an identity ESO uses.
        return (f"External Secrets acts as {graph.name(target)} for {graph.name(source)} only to sync secrets, "
                f"so {graph.name(source)} cannot act as it")

    distances = _reverse_distances(graph, target)
    candidates = [(distances[node], graph.name(node)) for node in reached if node in distances and node not in (source, target)]
    if not candidates:
        return f"{graph.name(source)} reaches nothing that leads towards it"
    hops, name = min(candidates)
    return (f"the closest point {graph.name(source)} reaches is {name}, {hops} edge(s) from the target, "
            "and no capability leads on from there")


def _iam_denials(graph: CapabilityGraph, reached: set[str], target: str, limit: int = 3) -> list[str]:
    """Explain why the AWS identities the source reaches may not read a cloud secret, naming the policies.

    Identities that may read it are left out: what blocks the source is then how it reaches them,
    for example through a PushSecret, for which External Secrets only writes.
    """
    if graph.kind(target) != "cloud_secret" or graph.authorizations is None:
        return []
    secret = graph.g.nodes[target]
    identities = sorted(node for node in reached
                        if graph.kind(node) in ("iam_role", "iam_user") and not _reads(graph, node, target))
    reasons = [f"{graph.name(node)} may not read it: {_denial_reason(graph, node, secret)}" for node in identities[:limit]]
    if len(identities) > limit:
        reasons.append(f"and {len(identities) - limit} more AWS identities it reaches")
    return reasons


def _denial_reason(graph: CapabilityGraph, identity: str, secret: dict) -> str:
    """Return why an identity without a read edge to a cloud secret may not read it."""
    decision = graph.authorizations.evaluate(graph.g.nodes[identity]["arn"], "secretsmanager:GetSecretValue", secret["arn"])
    if decision.possible:
        # A read edge also needs kms:Decrypt, so an allowed GetSecretValue without the edge means the key blocks it.
        return f"GetSecretValue is allowed, but kms:Decrypt with its key {secret.get('kms_key_id')} is not"
    denies = ", ".join(f"{evidence.policy} {evidence.statement}" for evidence in decision.evidence if evidence.effect == "Deny")
    return decision.reason or (f"denied by {denies}" if denies else "no policy allows it")


def _reads(graph: CapabilityGraph, identity: str, secret: str) -> bool:
    return secret in iam_secret_targets(graph, identity)


def _eso_pull_node(graph: CapabilityGraph, store: str, namespace: str) -> str:
    cluster = graph.g.nodes[store].get("cluster")
    return f"k8s:{cluster}:eso-pull:{namespace}"


def _reverse_distances(graph: CapabilityGraph, target: str) -> dict[str, int]:
    distances = {target: 0}
    queue = deque([target])
    while queue:
        node = queue.popleft()
        for neighbour in graph.g.predecessors(node):
            if neighbour not in distances:
                distances[neighbour] = distances[node] + 1
                queue.append(neighbour)
    return distances
