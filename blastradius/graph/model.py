"""The capability graph: nodes for principals, secrets, stores and cloud identities; edges for access."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

import networkx as nx

from blastradius.graph.catalogue import EDGE_KIND_BY_NAME
from blastradius.graph.ids import NODE_KINDS


@dataclass
class CapabilityGraph:
    """A directed multigraph in which an edge A → B means "whoever controls A can act as, or obtain, B".

    Nodes carry `kind` (from `NODE_KINDS`), `name` (the short display name) and kind-specific
    attributes (`cluster`, `namespace`, `account`, `origin`). Edges carry `kind` (from the edge
    catalogue), `reason` (one readable sentence), `evidence` (the objects behind it) and
    `conditions` (what must be true for the edge to exist, empty when unconditional).
    `coverage_gaps` are the snapshot's gaps and the analysis's own, so queries can say "unknown"
    where collection failed. `external_secrets` holds one record per ExternalSecret (after
    ClusterExternalSecret fan-out): target, stores, refresh settings, status and the cloud secrets
    it copies, for staleness checks and runbooks. `admission_denials` maps (ClusterSecretStore
    node, namespace) to the reason its conditions deny that namespace, so a query can name the
    point that blocks a path. `authorizations` is the IAM evaluator of the snapshot's AWS accounts
    (`semantics.iam.AccountAuthorizations`), so a query can say which policy denies a request.
    """

    g: nx.MultiDiGraph = field(default_factory=nx.MultiDiGraph)
    coverage_gaps: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    collected_at: str | None = None
    external_secrets: list[dict[str, Any]] = field(default_factory=list)
    admission_denials: dict[tuple[str, str], str] = field(default_factory=dict)
    authorizations: Any = None

    def add_node(self, node_id: str, kind: str, name: str, **attributes: Any) -> str:
        if kind not in NODE_KINDS:
            raise ValueError(f"unknown node kind {kind!r} for {node_id}")
        if node_id in self.g:
            self.g.nodes[node_id].update(attributes)
        else:
            self.g.add_node(node_id, kind=kind, name=name, **attributes)
        return node_id

    def add_edge(
        self,
        source: str,
        target: str,
        kind: str,
        reason: str | None = None,
        *,
        evidence: dict[str, Any] | None = None,
        conditions: tuple[str, ...] = (),
    ) -> None:
        """Add one capability edge; an edge with the same kind and reason between the same nodes is kept once.

        Without a `reason`, the edge kind's reason template is filled with the two nodes' names and
        the evidence's `detail`.
        """
        if kind not in EDGE_KIND_BY_NAME:
            raise ValueError(f"unknown edge kind {kind!r} for {source} -> {target}")
        for node in (source, target):
            if node not in self.g:
                raise ValueError(f"edge {kind} refers to a node that was not added: {node}")
        if reason is None:
            reason = EDGE_KIND_BY_NAME[kind].reason.format(
                source=self.name(source), target=self.name(target), detail=(evidence or {}).get("detail", ""))
        key = f"{kind}|{reason}"
        if self.g.has_edge(source, target, key):
            return
        self.g.add_edge(source, target, key=key, kind=kind, reason=reason, evidence=evidence or {}, conditions=tuple(conditions))

    def nodes_of_kind(self, *kinds: str) -> Iterator[str]:
        wanted = set(kinds)
        return (node for node, data in self.g.nodes(data=True) if data["kind"] in wanted)

    def name(self, node_id: str) -> str:
        return self.g.nodes[node_id]["name"]

    def kind(self, node_id: str) -> str:
        return self.g.nodes[node_id]["kind"]

    def stats(self) -> dict[str, Any]:
        """Return node and edge counts per kind, in a stable order."""
        node_counts = Counter(data["kind"] for _, data in self.g.nodes(data=True))
        edge_counts = Counter(data["kind"] for _, _, data in self.g.edges(data=True))
        return {
            "nodes": self.g.number_of_nodes(),
            "edges": self.g.number_of_edges(),
            "nodes_by_kind": dict(sorted(node_counts.items())),
            "edges_by_kind": dict(sorted(edge_counts.items())),
            "coverage_gaps": len(self.coverage_gaps),
            "warnings": len(self.warnings),
        }
