"""Tests that the one-pass secret reach of every node equals `reach_from`, node by node."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from blastradius.graph.catalogue import EDGE_KINDS
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.common import SECRET_KINDS
from blastradius.queries.reachability import reach_from
from blastradius.queries.secret_reach import SecretIndex, secret_reach
from tests.queries.example_snapshots import estate, example_snapshot

# Node kinds of the random graphs: principals, secrets, and nodes that only pass reach along.
RANDOM_NODE_KINDS = ("serviceaccount", "group", "iam_role", "secret", "cloud_secret", "clustersecretstore", "secret_set")


def _expected(graph: CapabilityGraph, node: str) -> set[tuple[str, str]]:
    return {(reach.target, reach.capability) for reach in reach_from(graph, node) if graph.kind(reach.target) in SECRET_KINDS}


def _mismatches(graph: CapabilityGraph) -> dict[str, set[tuple[str, str]]]:
    index = SecretIndex.of([graph])
    nodes = list(graph.g.nodes)
    bits = secret_reach(graph, index, nodes)
    mismatches = {}
    for node in nodes:
        difference = set(index.pairs(bits[node])) ^ _expected(graph, node)
        if difference:
            mismatches[node] = difference
    return mismatches


def test_example_estate_matches_reach_from() -> None:
    graph = estate(example_snapshot(), "example.json").graph

    assert _mismatches(graph) == {}


@st.composite
def capability_graphs(draw: st.DrawFn) -> CapabilityGraph:
    """Small graphs with random node kinds and random edges of every catalogue kind, cycles included."""
    kinds = draw(st.lists(st.sampled_from(RANDOM_NODE_KINDS), min_size=1, max_size=12))
    graph = CapabilityGraph()
    for number, kind in enumerate(kinds):
        graph.add_node(f"n{number}", kind, f"{kind}-{number}")
    edge = st.tuples(st.integers(0, len(kinds) - 1), st.integers(0, len(kinds) - 1), st.sampled_from(EDGE_KINDS))
    for source, target, kind in draw(st.lists(edge, max_size=40)):
        conditions = ("aws:MultiFactorAuthPresent",) if draw(st.booleans()) else ()
        graph.add_edge(f"n{source}", f"n{target}", kind.name, f"edge {source}->{target}", conditions=conditions)
    return graph


@settings(max_examples=300, deadline=None)
@given(capability_graphs())
def test_random_graphs_match_reach_from(graph: CapabilityGraph) -> None:
    assert _mismatches(graph) == {}


def test_index_pairs_decode_bits() -> None:
    graph = CapabilityGraph()
    graph.add_node("k8s:c:secret:a/x", "secret", "secret:a/x")
    graph.add_node("aws:arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf", "cloud_secret", "db")
    index = SecretIndex.of([graph])

    bits = index.bit("k8s:c:secret:a/x", "overwrite") | index.bit("aws:arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf", "read")

    assert list(index.pairs(bits)) == [
        ("aws:arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf", "read"),
        ("k8s:c:secret:a/x", "overwrite"),
    ]
