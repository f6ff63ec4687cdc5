"""`reach`: everything a principal can obtain or overwrite, grouped by namespace and account."""

from __future__ import annotations

from blastradius.graph.model import CapabilityGraph
from blastradius.queries.common import SECRET_KINDS, QueryResult, coverage_notes, reach_row, scope_of
from blastradius.queries.reachability import PRINCIPAL_KINDS, reach_from
from blastradius.queries.refs import resolve

COLUMNS = ["scope", "target", "target_kind", "capability", "hops", "conditions", "path"]


def reach(graph: CapabilityGraph, reference: str, *, cluster: str | None = None, identities: bool = True) -> QueryResult:
    """Return the secrets (and, with `identities`, the principals it can act as) a principal reaches.

    Where the snapshot contains no Secret objects of a namespace, the row names every Secret of it.

    Rows are sorted by scope (`<cluster>/<namespace>` or `aws:<account>`), then capability and name.
    """
    sources = resolve(graph, reference, cluster=cluster, single=True).nodes
    reported_kinds = SECRET_KINDS | (PRINCIPAL_KINDS if identities else frozenset())
    rows = []
    involved = list(sources)
    for source in sources:
        for found in reach_from(graph, source):
            if graph.kind(found.target) not in reported_kinds and not _empty_secret_set(graph, found.target):
                continue
            row = reach_row(graph, found)
            if graph.kind(found.target) in PRINCIPAL_KINDS:
                row["capability"] = "act-as" if found.capability == "read" else found.capability
            row["scope"] = scope_of(graph, found.target)
            rows.append(row)
            involved.append(found.target)
    rows.sort(key=lambda row: (row["scope"], row["capability"], row["target"]))
    message = None if rows else f"{reference} reaches no secret and no other identity"
    return QueryResult("reach", reference, COLUMNS, rows, coverage_notes(graph, involved), message)


def _empty_secret_set(graph: CapabilityGraph, node: str) -> bool:
    """Return whether a node is the set of Secrets of a namespace whose Secret objects the snapshot lacks.

    GitOps repositories rarely contain Secrets, so "every Secret of namespace X" is the result there.
    """
    if graph.kind(node) != "secret_set":
        return False
    members = list(graph.g.successors(node))
    if any(graph.kind(member) == "secret" for member in members):
        return False
    return all(_empty_secret_set(graph, member) for member in members if graph.kind(member) == "secret_set")
