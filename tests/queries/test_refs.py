"""Tests for reference resolution: every reference form of docs/queries.md, globs, clusters and errors."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastradius.collectors.k8s_objects import normalize_object
from blastradius.graph.builder import build_graph
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.refs import ReferenceLookupError, resolve
from blastradius.snapshot import Collection, assemble
from tests.graph.estate import (
    ACCOUNT,
    READ_SECRETS,
    account,
    aws,
    aws_provider,
    build,
    cluster_secret_store,
    eso_controller,
    grant,
    group_subject,
    irsa_role,
    namespace,
    sa,
    sa_subject,
    secret,
    secret_store,
    service_account,
    user_subject,
)

ROLE_ARN = aws.role_arn("eso-controller")
DB_ARN = aws.secret_arn("production/database/credentials")
DB_ARN_WITHOUT_SUFFIX = f"arn:aws:secretsmanager:{aws.REGION}:{ACCOUNT}:secret:production/database/credentials"
KEY_ARN = aws.key_arn("1234abcd-12ab-34cd-56ef-1234567890ab")

SA_API = "k8s:test:serviceaccount:payments/api"
SA_DEFAULT = "k8s:test:serviceaccount:payments/default"
SECRET_DB = "k8s:test:secret:payments/db"
SECRETS_IN_PAYMENTS = "k8s:test:secrets-in:payments"
ROLE_NODE = f"aws:{ROLE_ARN}"
DB_NODE = f"aws:{DB_ARN}"
KEY_NODE = f"aws:{KEY_ARN}"

# Namespace `empty` has no Secret objects, only a binding that lets alice read any created there.
ONE_CLUSTER_OBJECTS = [
    namespace("payments"), namespace("empty"),
    service_account("payments", "api"),
    secret("payments", "db"),
    *grant("payments", sa_subject("payments", "api"), READ_SECRETS, name="api"),
    *grant("payments", group_subject("dev-team"), READ_SECRETS, name="dev-team"),
    *grant("empty", user_subject("alice@example.com"), READ_SECRETS, name="alice"),
    *eso_controller(),
    secret_store("payments", "aws", aws_provider()),
    cluster_secret_store("global", aws_provider()),
]
ONE_CLUSTER_ACCOUNT = account(
    secrets=("production/database/credentials",),
    roles=(irsa_role("eso-controller", sa("external-secrets", "external-secrets"), "production/*"),),
    kms_keys=(aws.kms_key("1234abcd-12ab-34cd-56ef-1234567890ab", aws.document(aws.allow("kms:*")),
                          aliases=("alias/production-secrets",)),),
)


@pytest.fixture(scope="module")
def graph() -> CapabilityGraph:
    return build(ONE_CLUSTER_OBJECTS, ONE_CLUSTER_ACCOUNT)


def cluster_section(name: str) -> dict:
    """One cluster with namespace `payments`, Secret `payments/db` and group `dev-team` reading it."""
    objects = [
        namespace("payments"),
        secret("payments", "db"),
        *grant("payments", group_subject("dev-team"), READ_SECRETS, name="dev-team"),
    ]
    return {"name": name, "server": None, "manifests": [], "oidc_issuer": aws.EKS_ISSUER,
            "objects": [normalize_object(obj) for obj in objects], "skipped_kinds": {}}


@pytest.fixture(scope="module")
def two_clusters() -> CapabilityGraph:
    """Clusters `prod` and `staging` with the same Kubernetes names, and one AWS account."""
    collection = Collection(clusters=[cluster_section("prod"), cluster_section("staging")],
                            aws_accounts=[account(secrets=("production/database/credentials",))])
    return build_graph(assemble(collection))


# --- One cluster: every reference form --------------------------------------------------------------

REFERENCE_FORMS = [
    pytest.param("system:serviceaccount:payments:api", (SA_API,), id="serviceaccount"),
    pytest.param("user:alice@example.com", ("k8s:test:user:alice@example.com",), id="user"),
    pytest.param("group:dev-team", ("k8s:test:group:dev-team",), id="group"),
    pytest.param("secret:payments/db", (SECRET_DB,), id="secret"),
    pytest.param("secretstore:payments/aws", ("k8s:test:secretstore:payments/aws",), id="secretstore"),
    pytest.param("clustersecretstore:global", ("k8s:test:clustersecretstore:global",), id="clustersecretstore"),
    pytest.param("eso-controller", ("k8s:test:serviceaccount:external-secrets/external-secrets",), id="eso-controller"),
    pytest.param(ROLE_ARN, (ROLE_NODE,), id="role-arn"),
    pytest.param("role/eso-controller", (ROLE_NODE,), id="role-short-name"),
    pytest.param(DB_ARN, (DB_NODE,), id="secret-arn"),
    pytest.param(DB_ARN_WITHOUT_SUFFIX, (DB_NODE,), id="secret-arn-without-suffix"),
    pytest.param("production/database/credentials", (DB_NODE,), id="secret-name"),
    pytest.param(KEY_ARN, (KEY_NODE,), id="kms-key-arn"),
    pytest.param("alias/production-secrets", (KEY_NODE,), id="kms-alias"),
    pytest.param("secret:empty/*", ("k8s:test:secrets-in:empty",), id="namespace-without-secrets"),
    pytest.param("  group:dev-team\n", ("k8s:test:group:dev-team",), id="surrounding-whitespace"),
]


@pytest.mark.parametrize(("reference", "expected"), REFERENCE_FORMS)
def test_resolve_reference_form(graph: CapabilityGraph, reference: str, expected: tuple[str, ...]) -> None:
    assert resolve(graph, reference, single=True).nodes == expected


GLOBS = [
    pytest.param("secret:payments/*", (SECRET_DB, SECRETS_IN_PAYMENTS), id="secrets-of-namespace-and-set"),
    pytest.param("system:serviceaccount:payments:*", (SA_API, SA_DEFAULT), id="serviceaccounts-of-namespace"),
    pytest.param("arn:aws:secretsmanager:*:*:secret:production/*", (DB_NODE,), id="secret-arn-glob-once"),
    pytest.param("production/*", (DB_NODE,), id="secret-name-glob"),
    pytest.param("role/eso-?ontroller", (ROLE_NODE,), id="question-mark"),
    pytest.param("group:[d]ev-team", ("k8s:test:group:dev-team",), id="character-class"),
]


@pytest.mark.parametrize(("pattern", "expected"), GLOBS)
def test_resolve_glob(graph: CapabilityGraph, pattern: str, expected: tuple[str, ...]) -> None:
    assert resolve(graph, pattern).nodes == expected


def test_resolve_keeps_reference_text(graph: CapabilityGraph) -> None:
    assert resolve(graph, "production/database/credentials").reference == "production/database/credentials"


def test_resolve_glob_allowed_with_single(graph: CapabilityGraph) -> None:
    assert resolve(graph, "secret:payments/*", single=True).nodes == (SECRET_DB, SECRETS_IN_PAYMENTS)


def test_resolve_unknown_lists_closest(graph: CapabilityGraph) -> None:
    with pytest.raises(ReferenceLookupError) as caught:
        resolve(graph, "group:dev-teams")

    assert str(caught.value) == "no node matches 'group:dev-teams'; closest matches: group:dev-team"


def test_resolve_unknown_secret_closest(graph: CapabilityGraph) -> None:
    with pytest.raises(ReferenceLookupError) as caught:
        resolve(graph, "secret:payments/dbx")

    assert str(caught.value) == ("no node matches 'secret:payments/dbx'; closest matches: secret:payments/db, "
                                 "secret:payments/*, secretstore:payments/aws, secret:empty/*, secret:*/*")


def test_resolve_unknown_without_close_match(graph: CapabilityGraph) -> None:
    with pytest.raises(ReferenceLookupError) as caught:
        resolve(graph, "zzzzzzzz")

    assert str(caught.value) == "no node matches 'zzzzzzzz'"


def test_resolve_glob_matching_nothing(graph: CapabilityGraph) -> None:
    with pytest.raises(ReferenceLookupError, match=r"^no node matches 'secret:billing/\*'"):
        resolve(graph, "secret:billing/*")


def test_resolve_unbound_user_unknown(graph: CapabilityGraph) -> None:
    """A user that no binding names has no node, so it is an unknown reference, not an empty result."""
    with pytest.raises(ReferenceLookupError, match=r"^no node matches 'user:bob@example.com'"):
        resolve(graph, "user:bob@example.com")


# --- Two clusters in one snapshot --------------------------------------------------------------------

CLUSTER_CHOICES = [
    pytest.param("prod/secret:payments/db", None, ("k8s:prod:secret:payments/db",), id="prefix-prod"),
    pytest.param("staging/secret:payments/db", None, ("k8s:staging:secret:payments/db",), id="prefix-staging"),
    pytest.param("secret:payments/db", "staging", ("k8s:staging:secret:payments/db",), id="cluster-argument"),
    pytest.param("prod/group:dev-team", None, ("k8s:prod:group:dev-team",), id="prefix-group"),
    pytest.param("prod/secret:payments/*", None, ("k8s:prod:secret:payments/db", "k8s:prod:secrets-in:payments"),
                 id="prefix-glob"),
    pytest.param("production/database/credentials", "prod", (DB_NODE,), id="aws-reference-with-cluster"),
]


@pytest.mark.parametrize(("reference", "cluster", "expected"), CLUSTER_CHOICES)
def test_resolve_picks_cluster(two_clusters: CapabilityGraph, reference: str, cluster: str | None,
                               expected: tuple[str, ...]) -> None:
    assert resolve(two_clusters, reference, cluster=cluster, single=True).nodes == expected


def test_resolve_unprefixed_names_both_clusters(two_clusters: CapabilityGraph) -> None:
    assert resolve(two_clusters, "secret:payments/db").nodes == ("k8s:prod:secret:payments/db", "k8s:staging:secret:payments/db")


def test_resolve_single_ambiguous_across_clusters(two_clusters: CapabilityGraph) -> None:
    with pytest.raises(ReferenceLookupError) as caught:
        resolve(two_clusters, "group:dev-team", single=True)

    assert str(caught.value) == ("'group:dev-team' is ambiguous: it names 2 nodes (prod, staging); "
                                 "prefix it with <cluster>/ or pass --cluster")


def test_resolve_unknown_cluster_argument(two_clusters: CapabilityGraph) -> None:
    with pytest.raises(ReferenceLookupError) as caught:
        resolve(two_clusters, "secret:payments/db", cluster="qa")

    assert str(caught.value) == "unknown cluster 'qa'; the snapshot has: prod, staging"


def test_resolve_unknown_cluster_prefix(two_clusters: CapabilityGraph) -> None:
    """A prefix that names no cluster is part of the reference, which then matches nothing."""
    with pytest.raises(ReferenceLookupError, match=r"^no node matches 'qa/secret:payments/db'; closest matches: "):
        resolve(two_clusters, "qa/secret:payments/db")


def test_resolve_prefix_hides_other_cluster(two_clusters: CapabilityGraph) -> None:
    with pytest.raises(ReferenceLookupError, match=r"^no node matches 'prod/secret:payments/other'"):
        resolve(two_clusters, "prod/secret:payments/other")


# --- Arbitrary text ----------------------------------------------------------------------------------

REFERENCE_PIECES = st.sampled_from([
    "system:serviceaccount:", "user:", "group:", "secret:", "secretstore:", "clustersecretstore:", "eso-controller",
    "prod/", "staging/", "arn:aws:", "role/", "alias/", "payments", "db", "/", ":", "*", "?", "[", "]", "[!", "\\", "-",
    " ", "\x00", "é",
])
REFERENCES = st.one_of(st.text(max_size=40), st.lists(REFERENCE_PIECES, max_size=8).map("".join))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reference=REFERENCES, cluster=st.sampled_from([None, "prod", "staging", "qa"]), single=st.booleans())
def test_resolve_raises_only_lookup_error(two_clusters: CapabilityGraph, reference: str, cluster: str | None,
                                          single: bool) -> None:
    try:
        resolved = resolve(two_clusters, reference, cluster=cluster, single=single)
    except ReferenceLookupError:
        return

    assert resolved.nodes
    assert all(node in two_clusters.g for node in resolved.nodes)
