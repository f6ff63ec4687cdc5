"""`path`: how one node reaches another, step by step, or what blocks it."""

from __future__ import annotations

from collections import deque

from blastradius.graph.model import CapabilityGraph
from blastradius.queries.common import QueryResult, coverage_notes, reach_row
from blastradius.queries.reachability import HOLDING, OVERWRITTEN, distances_to, reach_from
from blastradius.queries.refs import resolve

COLUMNS = ["step", "from", "kind", "to", "reason"]


def path(graph: CapabilityGraph, source_ref: str, target_ref: str, *, cluster: str | None = None) -> QueryResult:
    """Return the shortest path from one node to another as one row per step.

    Reading wins over overwriting when both exist. Without a path, the message names the nearest
    blocking point: a ClusterSecretStore whose conditions deny the namespaces the source can use,
    or the closest node the source reaches.
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
    reached = _forward_nodes(graph, source)
    to_target = {node for node, state in distances_to(graph, target, HOLDING) if state == HOLDING}
    to_target |= {node for node, state in distances_to(graph, target, OVERWRITTEN) if state == HOLDING}

    denials = _iam_denials(graph, reached, target)
    for (store, namespace), reason in sorted(graph.admission_denials.items()):
        if store in to_target and _eso_pull_node(graph, store, namespace) in reached:
            denials.append(reason)
    if denials:
        return "; ".join(denials)

    distances = _reverse_distances(graph, target)
    candidates = [(distances[node], graph.name(node)) for node in reached if node in distances and node != source]
    if not candidates:
        return f"{graph.name(source)} reaches nothing that leads towards it"
    hops, name = min(candidates)
    return (f"the closest point {graph.name(source)} reaches is {name}, {hops} edge(s) from the target, "
            "and no capability leads on from there")


def _iam_denials(graph: CapabilityGraph, reached: set[str], target: str, limit: int = 3) -> list[str]:
    """Explain why the AWS identities the source reaches may not read a cloud secret, naming the policies."""
    if graph.kind(target) != "cloud_secret" or graph.authorizations is None:
        return []
    secret_arn = graph.g.nodes[target]["arn"]
    identities = sorted(node for node in reached if graph.kind(node) in ("iam_role", "iam_user"))
    reasons = []
    for node in identities[:limit]:
        decision = graph.authorizations.evaluate(graph.g.nodes[node]["arn"], "secretsmanager:GetSecretValue", secret_arn)
        denies = ", ".join(f"{evidence.policy} {evidence.statement}" for evidence in decision.evidence if evidence.effect == "Deny")
        why = decision.reason or (f"denied by {denies}" if denies else "no policy allows it")
        reasons.append(f"{graph.name(node)} may not read it: {why}")
    if len(identities) > limit:
        reasons.append(f"and {len(identities) - limit} more AWS identities it reaches")
    return reasons


def _eso_pull_node(graph: CapabilityGraph, store: str, namespace: str) -> str:
    cluster = graph.g.nodes[store].get("cluster")
    return f"k8s:{cluster}:eso-pull:{namespace}"


def _forward_nodes(graph: CapabilityGraph, source: str) -> set[str]:
    """Return every node a walk from `source` touches, also those ESO only acts as; secret reads stop it."""
    seen = {source}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for _, successor, data in graph.g.out_edges(node, data=True):
            if successor not in seen and data["kind"] not in ("iam_read_secret", "iam_overwrite_secret"):
                seen.add(successor)
                queue.append(successor)
    return seen


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
