"""Tests for the GraphML renderer: it reads back with networkx, with every attribute a string."""

from __future__ import annotations

import io
import json

import networkx as nx

from blastradius.graph.model import CapabilityGraph
from blastradius.render.graphml import render_graphml
from tests.render.conftest import CANARY


def _read_back(text: str) -> nx.MultiDiGraph:
    return nx.read_graphml(io.BytesIO(text.encode("utf-8")), force_multigraph=True)


def test_graphml_reads_back_every_node_and_edge(example_graph: CapabilityGraph) -> None:
    read = _read_back(render_graphml(example_graph.g))

    assert read.number_of_nodes() == example_graph.g.number_of_nodes()
    assert read.number_of_edges() == example_graph.g.number_of_edges()


def test_graphml_keeps_kind_and_label(example_graph: CapabilityGraph) -> None:
    read = _read_back(render_graphml(example_graph.g))

    node = read.nodes["k8s:example:group:dev-team"]
    assert (node["kind"], node["label"], node["cluster"]) == ("group", "group:dev-team", "example")


def test_graphml_flattens_evidence_to_json(example_graph: CapabilityGraph) -> None:
    read = _read_back(render_graphml(example_graph.g))

    edges = read.get_edge_data("k8s:example:group:dev-team", "k8s:example:eso-pull:dev-sandbox")
    (data,) = edges.values()
    assert data["label"] == "eso_pull"
    assert set(json.loads(data["evidence"])) == {"bindings", "create", "read"}
    assert data["conditions"] == "[]"


def test_graphml_writes_none_as_empty(example_graph: CapabilityGraph) -> None:
    read = _read_back(render_graphml(example_graph.g))

    assert read.nodes["k8s:example:clustersecretstore:aws-global"]["namespace"] == ""


def test_graphml_holds_no_secret_value(example_graph: CapabilityGraph) -> None:
    assert CANARY not in render_graphml(example_graph.g)
