"""Tests for `reach`: everything a principal obtains, overwrites or acts as, grouped by scope."""

from __future__ import annotations

import pytest

from blastradius.collectors.k8s_objects import normalize_object
from blastradius.graph.builder import build_graph
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.common import QueryResult
from blastradius.queries.reach import reach
from blastradius.queries.refs import ReferenceLookupError
from blastradius.snapshot import Collection, assemble
from tests.graph.estate import (
    ACCOUNT,
    CREATE_EXTERNAL_SECRETS,
    ISSUER,
    READ_SECRETS,
    account,
    aws_provider,
    build,
    cluster_secret_store,
    grant,
    group_subject,
    irsa_role,
    namespace,
    rule,
    sa,
    sa_subject,
    secret,
    service_account,
    snapshot,
    user_subject,
)
from tests.queries.example_snapshots import example_snapshot

# Group `dev-team` reads the Secrets of `payments`, creates ExternalSecrets there and impersonates
# `payments/api`; in `billing` it may get Secret `ledger` by name only. ClusterSecretStore
# `aws-global` reads `payments/*` in AWS; `billing/ledger-key` stays out of reach.
TEAMS = [
    namespace("payments"), namespace("billing"), namespace("external-secrets"),
    service_account("payments", "api"), service_account("external-secrets", "eso-global", role="eso-global"),
    secret("payments", "db"), secret("billing", "ledger"), secret("billing", "invoices"),
    *grant("payments", group_subject("dev-team"), READ_SECRETS, CREATE_EXTERNAL_SECRETS,
           rule(["impersonate"], ["serviceaccounts"], names=["api"]), name="dev-team"),
    *grant("billing", group_subject("dev-team"), rule(["get"], ["secrets"], names=["ledger"]), name="dev-team-ledger"),
    *grant("billing", user_subject("alice@example.com"), rule(["get", "list"], ["configmaps"]), name="alice"),
    cluster_secret_store("aws-global", aws_provider(service_account=("external-secrets", "eso-global"))),
]
TEAMS_ACCOUNT = account(
    secrets=("payments/stripe-key", "billing/ledger-key"),
    roles=(irsa_role("eso-global", sa("external-secrets", "eso-global"), "payments/*"),),
)

API = sa("payments", "api")
STRIPE_PATH = ("group:dev-team -[eso_pull]-> ExternalSecrets in namespace payments -[eso_store_admits]-> "
               "clustersecretstore:aws-global -[eso_acts_as]-> role/eso-global -[iam_read_secret]-> payments/stripe-key")
TEAMS_ROWS = [
    (f"aws:{ACCOUNT}", "payments/stripe-key", "cloud_secret", "read", 4, STRIPE_PATH),
    ("test/billing", "secret:billing/ledger", "secret", "read", 1,
     "group:dev-team -[rbac_read_secrets]-> secret:billing/ledger"),
    ("test/payments", API, "serviceaccount", "act-as", 1, f"group:dev-team -[rbac_impersonate]-> {API}"),
    ("test/payments", "secret:payments/db", "secret", "overwrite", 2,
     "group:dev-team -[eso_overwrite]-> every Secret of namespace payments -[contains]-> secret:payments/db"),
    ("test/payments", "secret:payments/db", "secret", "read", 2,
     "group:dev-team -[rbac_read_secrets]-> every Secret of namespace payments -[contains]-> secret:payments/db"),
]

Row = tuple[str, str, str, str, int, str]


@pytest.fixture(scope="module")
def teams() -> CapabilityGraph:
    return build(TEAMS, TEAMS_ACCOUNT)


def summary(result: QueryResult) -> list[Row]:
    """Return (scope, target, target_kind, capability, hops, path) of each row, in order."""
    return [(row["scope"], row["target"], row["target_kind"], row["capability"], row["hops"], row["path"])
            for row in result.rows]


# --- Small estates -----------------------------------------------------------------------------------


def test_reach_rows_grouped_by_scope(teams: CapabilityGraph) -> None:
    result = reach(teams, "group:dev-team")

    assert summary(result) == TEAMS_ROWS
    assert result.message is None


def test_reach_without_identities(teams: CapabilityGraph) -> None:
    result = reach(teams, "group:dev-team", identities=False)

    assert summary(result) == [row for row in TEAMS_ROWS if row[3] != "act-as"]


def test_reach_row_fields(teams: CapabilityGraph) -> None:
    row = reach(teams, "group:dev-team").rows[1]

    assert {key: value for key, value in row.items() if key != "steps"} == {
        "scope": "test/billing",
        "principal": "group:dev-team", "principal_kind": "group", "principal_id": "k8s:test:group:dev-team",
        "target": "secret:billing/ledger", "target_kind": "secret", "target_id": "k8s:test:secret:billing/ledger",
        "capability": "read", "hops": 1, "conditional": False, "conditions": [],
        "path": "group:dev-team -[rbac_read_secrets]-> secret:billing/ledger",
    }
    assert [step["kind"] for step in row["steps"]] == ["rbac_read_secrets"]


def test_reach_result_columns(teams: CapabilityGraph) -> None:
    result = reach(teams, "group:dev-team")

    assert (result.query, result.reference) == ("reach", "group:dev-team")
    assert result.columns == ["scope", "target", "target_kind", "capability", "hops", "conditions", "path"]


def test_reach_nothing_message(teams: CapabilityGraph) -> None:
    result = reach(teams, "user:alice@example.com")

    assert result.rows == []
    assert result.message == "user:alice@example.com reaches no secret and no other identity"


def test_reach_serviceaccount_through_irsa(teams: CapabilityGraph) -> None:
    result = reach(teams, sa("external-secrets", "eso-global"))

    assert summary(result) == [
        (f"aws:{ACCOUNT}", "role/eso-global", "iam_role", "act-as", 1,
         f"{sa('external-secrets', 'eso-global')} -[irsa_assume]-> role/eso-global"),
        (f"aws:{ACCOUNT}", "payments/stripe-key", "cloud_secret", "read", 2,
         f"{sa('external-secrets', 'eso-global')} -[irsa_assume]-> role/eso-global -[iam_read_secret]-> payments/stripe-key"),
    ]


def test_reach_coverage_note_for_scope() -> None:
    estate = snapshot(TEAMS, TEAMS_ACCOUNT)
    estate["coverage_gaps"] = [
        {"source": "kubernetes:test", "reason": "forbidden", "resource": "rolebindings", "namespace": "billing",
         "detail": "HTTP 403: rolebindings is forbidden"},
        {"source": "kubernetes:test", "reason": "forbidden", "resource": "rolebindings", "namespace": "kube-system",
         "detail": "HTTP 403: rolebindings is forbidden"},
    ]

    result = reach(build_graph(estate), "group:dev-team")

    assert result.coverage_notes == [
        "results may be incomplete: rolebindings in namespace billing could not be read at collection "
        "(forbidden: HTTP 403: rolebindings is forbidden)",
    ]


# --- Two clusters ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_clusters() -> CapabilityGraph:
    objects = [namespace("payments"), secret("payments", "db"),
               *grant("payments", group_subject("dev-team"), READ_SECRETS, name="dev-team")]
    sections = [{"name": name, "server": None, "manifests": [], "oidc_issuer": ISSUER,
                 "objects": [normalize_object(obj) for obj in objects], "skipped_kinds": {}} for name in ("prod", "staging")]
    return build_graph(assemble(Collection(clusters=sections)))


def test_reach_ambiguous_across_clusters(two_clusters: CapabilityGraph) -> None:
    with pytest.raises(ReferenceLookupError, match=r"^'group:dev-team' is ambiguous: it names 2 nodes \(prod, staging\)"):
        reach(two_clusters, "group:dev-team")


@pytest.mark.parametrize(("reference", "cluster"), [
    pytest.param("staging/group:dev-team", None, id="prefix"),
    pytest.param("group:dev-team", "staging", id="cluster-argument"),
])
def test_reach_one_cluster_scope(two_clusters: CapabilityGraph, reference: str, cluster: str | None) -> None:
    result = reach(two_clusters, reference, cluster=cluster)

    assert [(row["scope"], row["target"], row["target_id"]) for row in result.rows] == [
        ("staging/payments", "secret:payments/db", "k8s:staging:secret:payments/db"),
    ]


# --- The example estate ------------------------------------------------------------------------------

DEV_TEAM_REACH = [
    ("aws:111122223333", "dev/feature-flags", "read", 4),
    ("aws:111122223333", "eso-credentials/staging-access-key", "read", 4),
    ("aws:111122223333", "production/database/credentials", "read", 4),
    ("aws:111122223333", "production/payments/api-key", "read", 4),
    ("aws:111122223333", "production/payments/api-key-pushed", "read", 4),
    ("aws:111122223333", "shared/config", "read", 3),
    ("aws:111122223333", "shared/tls", "read", 3),
    ("aws:111122223333", "staging/app/config", "read", 4),
    ("aws:111122223333", "staging/legacy/config", "read", 4),
    ("aws:111122223333", "vault-unseal/keys", "read", 4),
    ("example/dev-sandbox", sa("dev-sandbox", "default"), "act-as", 2),
    ("example/dev-sandbox", "secret:dev-sandbox/shared-config", "overwrite", 2),
    ("example/dev-sandbox", "secret:dev-sandbox/shared-config", "read", 2),
    ("example/production", "secret:production/database-credentials", "read", 5),
    ("example/production", "secret:production/payments-api-key", "read", 5),
    ("example/production", "secret:production/shared-tls", "read", 4),
    ("example/staging", "secret:staging/app-config", "read", 5),
    ("example/staging", "secret:staging/shared-tls", "read", 4),
    ("example/staging", "secret:staging/stale-config", "read", 5),
]


@pytest.fixture(scope="module")
def example() -> CapabilityGraph:
    return build_graph(example_snapshot())


def test_example_dev_team_reach(example: CapabilityGraph) -> None:
    result = reach(example, "group:dev-team")

    assert [(row["scope"], row["target"], row["capability"], row["hops"]) for row in result.rows] == DEV_TEAM_REACH


def test_example_dev_team_misses_root(example: CapabilityGraph) -> None:
    targets = {row["target"] for row in reach(example, "group:dev-team").rows}

    assert "admin/root-credentials" not in targets


def test_example_alice_reaches_nothing(example: CapabilityGraph) -> None:
    result = reach(example, "user:alice@example.com")

    assert result.rows == []
    assert result.message == "user:alice@example.com reaches no secret and no other identity"


def test_example_mfa_user_conditional(example: CapabilityGraph) -> None:
    rows = [row for row in reach(example, "arn:aws:iam::111122223333:user/ops-admin").rows
            if row["target"] in ("role/admin", "admin/root-credentials")]

    assert [(row["target"], row["capability"], row["hops"], row["conditions"]) for row in rows] == [
        ("role/admin", "act-as", 1, ["aws:MultiFactorAuthPresent Bool true"]),
        ("admin/root-credentials", "overwrite", 2, ["aws:MultiFactorAuthPresent Bool true"]),
        ("admin/root-credentials", "read", 2, ["aws:MultiFactorAuthPresent Bool true"]),
    ]
