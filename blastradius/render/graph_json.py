"""Write the capability graph as JSON: every node and edge with its kind, reason and evidence.

The document, `format` `blastradius-graph/1`:

- `nodes`: one object per node, sorted by `id`: `id`, `kind` (see `node_kinds`), `name` and the
  node's other attributes (`cluster`, `namespace`, `account`, `arn`, `refs`, `origin`, ...);
- `edges`: one object per edge, sorted by source, target and kind: `source`, `target`, `kind`
  (see `edge_kinds`), `reason` (one sentence naming the evidence), `evidence` (the objects behind
  the edge: binding, role and rule, policy statements, store) and `conditions` (what must hold
  for the edge to exist; empty when unconditional);
- `node_kinds`: kind → plain noun; `edge_kinds`: kind → `system`, `grants` and `meaning` from
  the edge catalogue;
- `stats`, `coverage_gaps` and `warnings` of the graph, so a reader can tell "unknown" from
  "no access".
"""

from __future__ import annotations

import json
from typing import Any

import networkx as nx

from blastradius.graph.catalogue import EDGE_KINDS
from blastradius.graph.ids import NODE_KINDS
from blastradius.graph.model import CapabilityGraph

FORMAT = "blastradius-graph/1"


def graph_document(graph: CapabilityGraph, subgraph: nx.MultiDiGraph | None = None) -> dict[str, Any]:
    """Return the document for the whole graph, or for `subgraph` (a focus) with the graph's gaps and warnings."""
    shown = graph.g if subgraph is None else subgraph
    nodes = [{"id": node, **data} for node, data in sorted(shown.nodes(data=True))]
    edges = [
        {"source": source, "target": target, "kind": data["kind"], "reason": data["reason"],
         "evidence": data["evidence"], "conditions": list(data["conditions"])}
        for source, target, data in sorted(shown.edges(data=True), key=lambda item: (item[0], item[1], item[2]["kind"], item[2]["reason"]))
    ]
    return {
        "format": FORMAT,
        "collected_at": graph.collected_at,
        "stats": graph.stats(),
        "node_kinds": dict(NODE_KINDS),
        "edge_kinds": {kind.name: {"system": kind.system, "grants": kind.grants, "meaning": kind.meaning}
                       for kind in EDGE_KINDS},
        "nodes": nodes,
        "edges": edges,
        "coverage_gaps": graph.coverage_gaps,
        "warnings": graph.warnings,
    }


def render_graph_json(graph: CapabilityGraph, subgraph: nx.MultiDiGraph | None = None) -> str:
    return json.dumps(graph_document(graph, subgraph), indent=2, sort_keys=True, default=str) + "\n"
