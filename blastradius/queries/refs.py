"""Resolve the reference syntax users type into graph nodes.

References, as Kubernetes and AWS name things:
- `system:serviceaccount:<ns>:<name>`, `user:<name>`, `group:<name>`;
- `secret:<ns>/<name>`, `secretstore:<ns>/<name>`, `clustersecretstore:<name>`, `eso-controller`;
- an ARN (role, user, secret, key), or a Secrets Manager secret name alone, which matches without the
  random six-character suffix AWS appends to secret ARNs;
- `*` globs in any of them; with several clusters, `<cluster>/` before a Kubernetes reference, or the
  `cluster` argument, picks one.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass

from blastradius.graph.model import CapabilityGraph



class ReferenceLookupError(LookupError):
    """A reference that matches no node, or more than one where one is needed."""


@dataclass(frozen=True)
class Resolved:
    nodes: tuple[str, ...]
    reference: str


def _split_cluster(reference: str, clusters: set[str]) -> tuple[str | None, str]:
    if reference.startswith("arn:") or "/" not in reference:
        return None, reference
    head, rest = reference.split("/", 1)
    if head in clusters:
        return head, rest
    return None, reference


def _candidates(graph: CapabilityGraph, cluster: str | None) -> dict[str, list[str]]:
    """Map each reference string to the nodes it names, restricted to one cluster when given."""
    table: dict[str, list[str]] = {}
    for node, data in graph.g.nodes(data=True):
        refs = data.get("refs")
        if not refs:
            continue
        if cluster is not None and data.get("cluster") not in (None, cluster):
            continue
        for ref in refs:
            table.setdefault(ref, []).append(node)
    return table


def resolve(graph: CapabilityGraph, reference: str, *, cluster: str | None = None, single: bool = False) -> Resolved:
    """Return the nodes a reference names.

    Raises ReferenceLookupError with the closest known references when nothing matches, and, with
    `single`, when a reference without a glob names nodes in several clusters or accounts.
    """
    clusters = {data["cluster"] for _, data in graph.g.nodes(data=True) if data.get("cluster")}
    prefix_cluster, bare = _split_cluster(reference.strip(), clusters)
    if cluster is not None and cluster not in clusters:
        raise ReferenceLookupError(f"unknown cluster {cluster!r}; the snapshot has: {', '.join(sorted(clusters)) or 'none'}")
    table = _candidates(graph, prefix_cluster or cluster)

    if any(char in bare for char in "*?["):
        matched = sorted({node for ref, nodes in table.items() if fnmatch.fnmatchcase(ref, bare) for node in nodes})
    else:
        matched = sorted(set(table.get(bare, [])))

    if not matched:
        close = difflib.get_close_matches(bare, list(table), n=5, cutoff=0.5)
        hint = f"; closest matches: {', '.join(close)}" if close else ""
        raise ReferenceLookupError(f"no node matches {reference!r}{hint}")
    if single and len(matched) > 1 and not any(char in bare for char in "*?["):
        names = ", ".join(graph.g.nodes[node].get("cluster") or node for node in matched)
        raise ReferenceLookupError(
            f"{reference!r} is ambiguous: it names {len(matched)} nodes ({names}); "
            "prefix it with <cluster>/ or pass --cluster"
        )
    return Resolved(tuple(matched), reference)
