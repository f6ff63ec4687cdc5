"""Tests for the DOT and SVG renderer: clusters, legend, labels, grouping at scale, and a missing Graphviz."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from blastradius.graph.model import CapabilityGraph
from blastradius.queries.picture import build_picture
from blastradius.render.dot import GraphvizMissingError, render_dot, render_svg
from tests.graph import estate

HAS_DOT = shutil.which("dot") is not None


def _large_estate(users: int = 120) -> CapabilityGraph:
    """`users` users in one binding that reads the Secrets of `app`, plus 10 Secrets there."""
    subjects = [estate.user_subject(f"analyst-{number:03d}") for number in range(users)]
    return estate.build([
        estate.namespace("app"),
        *(estate.secret("app", f"secret-{number}") for number in range(10)),
        estate.role("app", "reader", estate.READ_SECRETS),
        estate.role_binding("app", "readers", ("Role", "reader"), *subjects),
    ])


def _labels(source: str) -> list[str]:
    """Return every `label=` value of DOT source, quoted or bare."""
    return [quoted or bare for quoted, bare in re.findall(r'\blabel=(?:"((?:[^"\\]|\\.)*)"|([\w.:-]+))', source)]


def test_dot_draws_one_cluster_per_area(example_graph: CapabilityGraph) -> None:
    picture = build_picture(example_graph)

    source = render_dot(picture)

    clusters = re.findall(r"subgraph (cluster_\w+)", source)
    assert len(clusters) == len(picture.areas) + 1
    assert "cluster_legend" in clusters


def test_dot_labels_areas_by_namespace_and_account(example_graph: CapabilityGraph) -> None:
    source = render_dot(build_picture(example_graph))

    labels = _labels(source)
    assert "namespace production (cluster example)" in labels
    assert "AWS account 111122223333" in labels
    assert "cluster example, cluster-wide" in labels


def test_dot_labels_edges_with_kind(example_graph: CapabilityGraph) -> None:
    source = render_dot(build_picture(example_graph, "group:dev-team"))

    labels = set(_labels(source))
    assert {"eso_pull", "eso_acts_as", "iam_read_secret", "synced_to"} <= labels


def test_dot_legend_explains_kinds(example_graph: CapabilityGraph) -> None:
    source = render_dot(build_picture(example_graph, "group:dev-team"))

    legend = source[source.index("subgraph cluster_legend"):]
    assert "<B>Legend</B>" in legend
    assert "ESO reads with this identity on the subject&#x27;s behalf" in legend
    assert "a subject can create ExternalSecrets in a namespace and read the Secrets they write" in legend


def test_dot_groups_principals_at_scale() -> None:
    graph = _large_estate()
    picture = build_picture(graph)

    source = render_dot(picture)

    assert graph.g.number_of_nodes() > 130
    assert len(picture.nodes) == 14
    group_labels = [label for label in _labels(source) if label.startswith("120 Kubernetes users")]
    assert group_labels == ["120 Kubernetes users\\nuser:analyst-000\\nuser:analyst-001\\nuser:analyst-002"
                            "\\nuser:analyst-003\\nand 116 more"]
    assert "bound_by ×120" in _labels(source)


def test_dot_escapes_quotes_and_backslashes() -> None:
    graph = estate.build([
        estate.namespace("app"),
        estate.secret("app", "db"),
        *estate.grant("app", estate.user_subject('eve "the" \\N admin'), estate.READ_SECRETS, name="reader"),
    ])

    source = render_dot(build_picture(graph))

    assert 'label="user:eve \\"the\\" \\\\N admin"' in source


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot program is not installed")
def test_svg_drawn_by_dot(example_graph: CapabilityGraph) -> None:
    svg = render_svg(render_dot(build_picture(example_graph, "group:dev-team"), title="dev-team"))

    assert svg.startswith(b"<?xml")
    assert b"<svg" in svg
    # Graphviz writes a hyphen in SVG text as a character reference.
    assert b"<text" in svg and b"clustersecretstore:aws&#45;global" in svg


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot program is not installed")
def test_svg_of_large_estate_renders() -> None:
    svg = render_svg(render_dot(build_picture(_large_estate())))

    assert b"120 Kubernetes users" in svg


def test_svg_without_dot_names_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(GraphvizMissingError, match=r"apt-get install graphviz"):
        render_svg("digraph { a -> b }")
