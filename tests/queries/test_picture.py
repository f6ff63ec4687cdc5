"""Tests for the picture query: role nodes, folded ESO nodes, pruning, collapsing, grouping and focus."""

from __future__ import annotations

import pytest

from blastradius.graph.model import CapabilityGraph
from blastradius.queries.picture import Picture, build_picture
from blastradius.queries.refs import ReferenceLookupError
from tests.graph import estate
from tests.render.conftest import example_graph, example_snapshot_file  # noqa: F401 (fixtures)

EXAMPLE_PICTURE_NODES = 86


def _names(graph: CapabilityGraph, picture: Picture) -> set[str]:
    return {node.name for node in picture.nodes}


def _edges(picture: Picture) -> set[tuple[str, str, str]]:
    names = {node.id: node.name for node in picture.nodes}
    return {(names[edge.source], edge.kind, names[edge.target]) for edge in picture.edges}


def _reader_estate() -> CapabilityGraph:
    """Group `auditors` reads the Secrets of `app` through Role `reader`; nobody else holds anything."""
    return estate.build([
        estate.namespace("app"),
        estate.secret("app", "db"),
        *estate.grant("app", estate.group_subject("auditors"), estate.READ_SECRETS, name="reader"),
    ])


def _eso_estate() -> CapabilityGraph:
    """Group `devs` may create ExternalSecrets and read Secrets in `app`; ClusterSecretStore `shared` admits every namespace."""
    objects = [
        estate.namespace("app"),
        estate.service_account("external-secrets", "eso-shared", role="eso-shared"),
        estate.cluster_secret_store("shared", estate.aws_provider(service_account=("external-secrets", "eso-shared"))),
        *estate.grant("app", estate.group_subject("devs"), estate.READ_SECRETS, estate.CREATE_EXTERNAL_SECRETS, name="devs"),
    ]
    role = estate.irsa_role("eso-shared", "system:serviceaccount:external-secrets:eso-shared", "shared/*")
    return estate.build(objects, estate.account(secrets=["shared/db"], roles=[role]))


def test_picture_splits_rbac_edge_at_role() -> None:
    picture = build_picture(_reader_estate())

    assert _edges(picture) == {
        ("group:auditors", "bound_by", "Role reader via RoleBinding app/reader"),
        ("Role reader via RoleBinding app/reader", "rbac_read_secrets", "every Secret of namespace app"),
        ("every Secret of namespace app", "contains", "secret:app/db"),
    }


def test_picture_role_node_sits_in_binding_namespace() -> None:
    picture = build_picture(_reader_estate())

    role = next(node for node in picture.nodes if node.kind == "role_binding")
    assert role.area == "namespace:test/app"
    assert role.namespace == "app"


def test_picture_drops_unreached_helper_sets() -> None:
    picture = build_picture(_reader_estate())

    assert _names(_reader_estate(), picture) == {
        "group:auditors",
        "Role reader via RoleBinding app/reader",
        "every Secret of namespace app",
        "secret:app/db",
        "system:serviceaccount:app:default",
    }


def test_picture_folds_externalsecret_node_into_edge() -> None:
    graph = _eso_estate()

    picture = build_picture(graph)

    folded = [edge for edge in picture.edges if edge.kind == "eso_pull"]
    assert [(edge.source, edge.target, edge.via) for edge in folded] == [
        ("k8s:test:group:devs", "k8s:test:clustersecretstore:shared", ("ExternalSecrets in namespace app",)),
    ]
    assert not [node for node in picture.nodes if node.kind in ("eso_pull", "eso_push", "eso_custom_store")]


def test_picture_folded_edge_keeps_both_reasons() -> None:
    picture = build_picture(_eso_estate())

    folded = next(edge for edge in picture.edges if edge.kind == "eso_pull")
    assert len(folded.reasons) == 1
    assert "; then " in folded.reasons[0]
    assert folded.reasons[0].endswith("accepts ExternalSecrets from namespace app")


def test_picture_collapses_parallel_edges_with_count() -> None:
    graph = estate.build([
        estate.namespace("app"),
        estate.secret("app", "db"),
        estate.role("app", "reader", estate.rule(["get"], ["secrets"]), estate.rule(["list"], ["secrets"])),
        estate.role_binding("app", "reader", ("Role", "reader"), estate.group_subject("auditors")),
    ])

    picture = build_picture(graph)

    reads = [edge for edge in picture.edges if edge.kind == "rbac_read_secrets"]
    assert [(edge.count, len(edge.reasons)) for edge in reads] == [(2, 2)]
    bindings = [edge for edge in picture.edges if edge.kind == "bound_by"]
    assert [edge.count for edge in bindings] == [1]


@pytest.mark.parametrize(("members", "min_group", "expected"), [
    (4, 3, ["4 Kubernetes users"]),
    (3, 3, ["3 Kubernetes users"]),
    (2, 3, ["user:analyst-0", "user:analyst-1"]),
    (4, 5, ["user:analyst-0", "user:analyst-1", "user:analyst-2", "user:analyst-3"]),
], ids=["four-grouped", "three-grouped", "two-below-minimum", "minimum-raised"])
def test_picture_groups_similar_principals(members: int, min_group: int, expected: list[str]) -> None:
    subjects = [estate.user_subject(f"analyst-{number}") for number in range(members)]
    graph = estate.build([
        estate.namespace("app"),
        estate.secret("app", "db"),
        estate.role("app", "reader", estate.READ_SECRETS),
        estate.role_binding("app", "reader", ("Role", "reader"), *subjects),
    ])

    picture = build_picture(graph, min_group=min_group)

    assert sorted(node.name for node in picture.nodes if node.kind == "user") == expected


def test_picture_group_lists_members_and_merges_edges() -> None:
    subjects = [estate.user_subject(f"analyst-{number}") for number in range(3)]
    graph = estate.build([
        estate.namespace("app"),
        estate.role("app", "reader", estate.READ_SECRETS),
        estate.role_binding("app", "reader", ("Role", "reader"), *subjects),
        estate.secret("app", "db"),
    ])

    picture = build_picture(graph)

    group = next(node for node in picture.nodes if node.kind == "user")
    assert group.members == ("user:analyst-0", "user:analyst-1", "user:analyst-2")
    bound = [edge for edge in picture.edges if edge.source == group.id]
    assert [(edge.kind, edge.count) for edge in bound] == [("bound_by", 3)]


def test_picture_keeps_principals_with_different_edges_apart() -> None:
    graph = estate.build([
        estate.namespace("app"),
        estate.namespace("web"),
        estate.secret("app", "db"),
        estate.secret("web", "tls"),
        *estate.grant("app", estate.user_subject("ann"), estate.READ_SECRETS, name="app-reader"),
        *estate.grant("web", estate.user_subject("bob"), estate.READ_SECRETS, name="web-reader"),
        *estate.grant("web", estate.user_subject("cat"), estate.READ_SECRETS, name="web-reader-2"),
    ])

    picture = build_picture(graph)

    assert sorted(node.name for node in picture.nodes if node.kind == "user") == ["user:ann", "user:bob", "user:cat"]


def test_focus_on_secret_keeps_who_can_paths() -> None:
    graph = estate.build([
        estate.namespace("app"),
        estate.namespace("web"),
        estate.secret("app", "db"),
        estate.secret("web", "tls"),
        *estate.grant("app", estate.user_subject("ann"), estate.READ_SECRETS, name="app-reader"),
        *estate.grant("web", estate.user_subject("bob"), estate.READ_SECRETS, name="web-reader"),
    ])

    picture = build_picture(graph, "secret:app/db")

    assert _edges(picture) == {
        ("user:ann", "bound_by", "Role app-reader via RoleBinding app/app-reader"),
        ("Role app-reader via RoleBinding app/app-reader", "rbac_read_secrets", "every Secret of namespace app"),
        ("every Secret of namespace app", "contains", "secret:app/db"),
    }
    assert [node.name for node in picture.nodes if node.focus] == ["secret:app/db"]


def test_focus_on_principal_keeps_its_reach() -> None:
    graph = _eso_estate()

    picture = build_picture(graph, "group:devs")

    assert ("clustersecretstore:shared", "eso_acts_as", "role/eso-shared") in _edges(picture)
    assert ("role/eso-shared", "iam_read_secret", "shared/db") in _edges(picture)
    assert "system:serviceaccount:external-secrets:eso-shared" not in _names(graph, picture)


def test_focus_unknown_reference_raises() -> None:
    with pytest.raises(ReferenceLookupError, match="no node matches 'secret:app/missing'"):
        build_picture(_reader_estate(), "secret:app/missing")


def test_explanations_list_reach_with_steps() -> None:
    picture = build_picture(_reader_estate(), explain=True)

    steps = picture.explanations["steps"]
    reaches = picture.explanations["nodes"]["k8s:test:group:auditors"]["reaches"]
    rows = [(row["node"], row["capability"], [steps[index]["kind"] for index in row["steps"]]) for row in reaches]
    assert rows == [("secret:app/db", "read", ["rbac_read_secrets", "contains"])]
    assert steps[reaches[0]["steps"][0]]["reason"].startswith("RoleBinding app/reader binds Role app/reader")


def test_explanations_list_who_reaches_secret() -> None:
    picture = build_picture(_reader_estate(), explain=True)

    reached_by = picture.explanations["nodes"]["k8s:test:secret:app/db"]["reached_by"]
    assert [(row["node"], row["hops"]) for row in reached_by] == [("group:auditors", 2)]


def test_explanations_skip_role_nodes() -> None:
    picture = build_picture(_reader_estate(), explain=True)

    assert "k8s:test:role-binding:RoleBinding app/reader|Role reader" not in picture.explanations["nodes"]


def test_picture_of_example_estate_counts(example_graph: CapabilityGraph) -> None:
    picture = build_picture(example_graph)

    # 98 graph nodes, less 15 ExternalSecret, PushSecret and SecretStore request nodes (5 namespaces
    # each), less 4 helper sets that lead nowhere (exec in 3 namespaces without pods, the Secrets of
    # the empty kube-system), plus 7 (binding, role) nodes.
    assert example_graph.g.number_of_nodes() == 98
    assert len(picture.nodes) == EXAMPLE_PICTURE_NODES
    assert sum(1 for node in picture.nodes if node.kind == "role_binding") == 7


def test_picture_legend_counts_kinds(example_graph: CapabilityGraph) -> None:
    picture = build_picture(example_graph)

    node_counts = {entry["kind"]: entry["count"] for entry in picture.legend["node_kinds"]}
    assert node_counts["cloud_secret"] == 11
    assert node_counts["role_binding"] == 7
    edge_kinds = {entry["kind"] for entry in picture.legend["edge_kinds"]}
    assert edge_kinds == {edge.kind for edge in picture.edges}
