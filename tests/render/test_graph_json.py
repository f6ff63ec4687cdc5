"""Tests for the graph JSON document: format, kinds, evidence and focus."""

from __future__ import annotations

import json

from blastradius.graph.catalogue import EDGE_KINDS
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.picture import focus_subgraph
from blastradius.queries.refs import resolve
from blastradius.render.graph_json import FORMAT, render_graph_json
from tests.render.conftest import CANARY


def test_graph_json_lists_nodes_and_edges(example_graph: CapabilityGraph) -> None:
    document = json.loads(render_graph_json(example_graph))

    assert document["format"] == FORMAT
    assert len(document["nodes"]) == example_graph.g.number_of_nodes()
    assert len(document["edges"]) == example_graph.g.number_of_edges()
    assert set(document["edge_kinds"]) == {kind.name for kind in EDGE_KINDS}


def test_graph_json_edge_carries_evidence(example_graph: CapabilityGraph) -> None:
    document = json.loads(render_graph_json(example_graph))

    pulls = [edge for edge in document["edges"]
             if edge["source"] == "k8s:example:group:dev-team" and edge["kind"] == "eso_pull"]
    assert len(pulls) == 1
    assert set(pulls[0]) == {"source", "target", "kind", "reason", "evidence", "conditions"}
    assert pulls[0]["evidence"]["create"].startswith("RoleBinding dev-sandbox/dev-team-edit")


def test_graph_json_focus_keeps_paths_only(example_graph: CapabilityGraph) -> None:
    focus = resolve(example_graph, "group:dev-team").nodes
    subgraph = focus_subgraph(example_graph, focus)

    document = json.loads(render_graph_json(example_graph, subgraph))

    assert {edge["source"] for edge in document["edges"]} <= {node["id"] for node in document["nodes"]}
    assert len(document["edges"]) == subgraph.number_of_edges()
    assert "k8s:example:user:alice@example.com" not in {node["id"] for node in document["nodes"]}


def test_graph_json_holds_no_secret_value(example_graph: CapabilityGraph) -> None:
    assert CANARY not in render_graph_json(example_graph)
