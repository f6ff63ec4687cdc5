"""Tests for `who-can`: exact rows on small estates and on the bundled example estate."""

from __future__ import annotations

from typing import Any

import pytest

from blastradius.config import Config, load_config
from blastradius.graph.builder import build_graph
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.common import QueryResult
from blastradius.queries.who_can import who_can
from tests.graph.estate import (
    CREATE_EXTERNAL_SECRETS,
    READ_SECRETS,
    account,
    aws,
    aws_provider,
    build,
    cluster_secret_store,
    grant,
    group_subject,
    irsa_role,
    namespace,
    read_policy,
    rule,
    sa,
    sa_subject,
    secret,
    service_account,
    snapshot,
    user_subject,
)
from tests.queries.example_snapshots import EXAMPLE, example_snapshot

# Namespace `payments`: ServiceAccount `api` reads its Secrets through two rules of one Role, group
# `dev-team` reads them, creates ExternalSecrets and impersonates `api`, and user `deployer` may
# only update Secrets. ClusterSecretStore `aws-global` admits every namespace and reads `payments/*`.
# Namespace `empty` contains no Secret objects, but group `auditors` may read any created there.
PAYMENTS = [
    namespace("payments"), namespace("empty"), namespace("external-secrets"),
    service_account("payments", "api"), service_account("external-secrets", "eso-global", role="eso-global"),
    secret("payments", "db"),
    *grant("payments", sa_subject("payments", "api"), READ_SECRETS, rule(["get"], ["secrets"]), name="api"),
    *grant("payments", group_subject("dev-team"), READ_SECRETS, CREATE_EXTERNAL_SECRETS,
           rule(["impersonate"], ["serviceaccounts"], names=["api"]), name="dev-team"),
    *grant("payments", user_subject("deployer"), rule(["update"], ["secrets"]), name="deployer"),
    *grant("empty", group_subject("auditors"), READ_SECRETS, name="auditors"),
    cluster_secret_store("aws-global", aws_provider(service_account=("external-secrets", "eso-global"))),
]
PAYMENTS_ACCOUNT = account(
    secrets=("payments/stripe-key",),
    roles=(irsa_role("eso-global", sa("external-secrets", "eso-global"), "payments/*"),),
)

API = sa("payments", "api")
DIRECT_READ = "-[rbac_read_secrets]-> every Secret of namespace payments -[contains]-> secret:payments/db"
DEV_TEAM_TO_STRIPE = ("group:dev-team -[eso_pull]-> ExternalSecrets in namespace payments -[eso_store_admits]-> "
                      "clustersecretstore:aws-global -[eso_acts_as]-> role/eso-global -[iam_read_secret]-> payments/stripe-key")

# Users `ops-admin` and `oncall` may assume role `admin` only with MFA. `oncall` also reaches a
# reader without conditions, one hop further, through role `relay`.
DB = "production/database/credentials"
MFA_TRUST = aws.trust({"AWS": [aws.user_arn("ops-admin"), aws.user_arn("oncall")]},
                      Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})
ASSUME_ANY = {"assume": aws.document(aws.allow("sts:AssumeRole"))}
MFA_ACCOUNT = account(
    secrets=(DB,),
    roles=(aws.role("admin", trust_policy=MFA_TRUST, inline={"read": read_policy("*")}),
           aws.role("relay", trust_policy=aws.trust({"AWS": aws.user_arn("oncall")}), inline=ASSUME_ANY),
           aws.role("reader", trust_policy=aws.trust({"AWS": aws.role_arn("relay")}), inline={"read": read_policy("production/*")})),
    users=(aws.user("ops-admin", inline=ASSUME_ANY), aws.user("oncall", inline=ASSUME_ANY)),
)

Row = tuple[str, str, str, int, bool, tuple[str, ...], str]


@pytest.fixture(scope="module")
def payments() -> CapabilityGraph:
    return build(PAYMENTS, PAYMENTS_ACCOUNT)


@pytest.fixture(scope="module")
def example() -> CapabilityGraph:
    return build_graph(example_snapshot())


def summary(result: QueryResult) -> list[Row]:
    """Return (principal, target, capability, hops, conditional, conditions, path) of each row, in order."""
    return [(row["principal"], row["target"], row["capability"], row["hops"], row["conditional"],
             tuple(row["conditions"]), row["path"]) for row in result.rows]


# --- Small estates -----------------------------------------------------------------------------------

SMALL_QUERIES = [
    pytest.param("secret:payments/db", {}, [
        ("group:dev-team", "secret:payments/db", "read", 2, False, (), f"group:dev-team {DIRECT_READ}"),
        (API, "secret:payments/db", "read", 2, False, (), f"{API} {DIRECT_READ}"),
    ], id="read-kubernetes-secret"),
    pytest.param("secret:payments/db", {"capability": "overwrite"}, [
        ("group:dev-team", "secret:payments/db", "overwrite", 2, False, (),
         "group:dev-team -[eso_overwrite]-> every Secret of namespace payments -[contains]-> secret:payments/db"),
        ("user:deployer", "secret:payments/db", "overwrite", 2, False, (),
         "user:deployer -[rbac_overwrite_secrets]-> every Secret of namespace payments -[contains]-> secret:payments/db"),
    ], id="overwrite-kubernetes-secret"),
    pytest.param("payments/stripe-key", {}, [
        ("role/eso-global", "payments/stripe-key", "read", 1, False, (),
         "role/eso-global -[iam_read_secret]-> payments/stripe-key"),
        (sa("external-secrets", "eso-global"), "payments/stripe-key", "read", 2, False, (),
         f"{sa('external-secrets', 'eso-global')} -[irsa_assume]-> role/eso-global -[iam_read_secret]-> payments/stripe-key"),
        ("group:dev-team", "payments/stripe-key", "read", 4, False, (), DEV_TEAM_TO_STRIPE),
    ], id="read-cloud-secret-through-store"),
    pytest.param("secret:payments/db", {"kinds": ["serviceaccount"]}, [
        (API, "secret:payments/db", "read", 2, False, (), f"{API} {DIRECT_READ}"),
    ], id="kind-serviceaccount"),
    pytest.param("payments/stripe-key", {"kinds": ["group", "iam"]}, [
        ("role/eso-global", "payments/stripe-key", "read", 1, False, (),
         "role/eso-global -[iam_read_secret]-> payments/stripe-key"),
        ("group:dev-team", "payments/stripe-key", "read", 4, False, (), DEV_TEAM_TO_STRIPE),
    ], id="kinds-group-and-iam"),
    pytest.param(API, {}, [
        ("group:dev-team", API, "act-as", 1, False, (), f"group:dev-team -[rbac_impersonate]-> {API}"),
    ], id="principal-target-act-as"),
    pytest.param("secret:payments/*", {}, [
        ("group:dev-team", "secret:payments/db", "read", 2, False, (), f"group:dev-team {DIRECT_READ}"),
        (API, "secret:payments/db", "read", 2, False, (), f"{API} {DIRECT_READ}"),
    ], id="glob-answers-for-secrets-not-set"),
    pytest.param("secret:empty/*", {}, [
        ("group:auditors", "every Secret of namespace empty", "read", 1, False, (),
         "group:auditors -[rbac_read_secrets]-> every Secret of namespace empty"),
    ], id="set-of-namespace-without-secrets"),
]


@pytest.mark.parametrize(("reference", "options", "expected"), SMALL_QUERIES)
def test_who_can_rows(payments: CapabilityGraph, reference: str, options: dict[str, Any], expected: list[Row]) -> None:
    result = who_can(payments, reference, **options)

    assert summary(result) == expected
    assert result.message is None


def test_who_can_row_fields(payments: CapabilityGraph) -> None:
    row = who_can(payments, "payments/stripe-key", kinds=["group"]).rows[0]

    assert {key: value for key, value in row.items() if key != "steps"} == {
        "principal": "group:dev-team", "principal_kind": "group", "principal_id": "k8s:test:group:dev-team",
        "target": "payments/stripe-key", "target_kind": "cloud_secret",
        "target_id": f"aws:{aws.secret_arn('payments/stripe-key')}",
        "capability": "read", "hops": 4, "conditional": False, "conditions": [], "path": DEV_TEAM_TO_STRIPE,
    }
    assert [(step["from"], step["kind"], step["to"]) for step in row["steps"]] == [
        ("group:dev-team", "eso_pull", "ExternalSecrets in namespace payments"),
        ("ExternalSecrets in namespace payments", "eso_store_admits", "clustersecretstore:aws-global"),
        ("clustersecretstore:aws-global", "eso_acts_as", "role/eso-global"),
        ("role/eso-global", "iam_read_secret", "payments/stripe-key"),
    ]


def test_who_can_step_fields(payments: CapabilityGraph) -> None:
    step = who_can(payments, "payments/stripe-key", kinds=["group"]).rows[0]["steps"][2]

    assert step == {
        "from": "clustersecretstore:aws-global", "from_id": "k8s:test:clustersecretstore:aws-global",
        "to": "role/eso-global", "to_id": f"aws:{aws.role_arn('eso-global')}",
        "kind": "eso_acts_as",
        "reason": f"ESO authenticates as {aws.role_arn('eso-global')} through ServiceAccount external-secrets/eso-global",
        "conditions": [],
        "evidence": step["evidence"],
    }
    assert step["evidence"]["service_account"] == "external-secrets/eso-global"
    assert step["evidence"]["store"] == "clustersecretstore:aws-global"


def test_who_can_shared_store_step_names_namespace_once(payments: CapabilityGraph) -> None:
    steps = who_can(payments, "payments/stripe-key", kinds=["group"]).rows[0]["steps"]

    assert steps[1]["reason"].endswith("accepts ExternalSecrets from namespace payments")
    assert "namespace" not in steps[2]["evidence"]


def test_who_can_kind_without_rows(payments: CapabilityGraph) -> None:
    result = who_can(payments, "secret:payments/db", kinds=["user"])

    assert result.rows == []
    assert result.message == "no principal of kind user can obtain secret:payments/db"


def test_who_can_overwrite_nobody_message(payments: CapabilityGraph) -> None:
    result = who_can(payments, "payments/stripe-key", capability="overwrite")

    assert result.rows == []
    assert result.message == "no principal can overwrite payments/stripe-key"


def test_who_can_hides_trusted_principals(payments: CapabilityGraph) -> None:
    result = who_can(payments, "secret:payments/db", config=Config(trusted_principals=("group:*",)))

    assert [row["principal"] for row in result.rows] == [API]
    assert result.message == "1 row(s) of trusted principals hidden; pass --all to show them"


def test_who_can_shows_trusted_with_all(payments: CapabilityGraph) -> None:
    result = who_can(payments, "secret:payments/db", config=Config(trusted_principals=("group:*",)), show_trusted=True)

    assert [row["principal"] for row in result.rows] == ["group:dev-team", API]
    assert result.message is None


def test_who_can_every_row_trusted(payments: CapabilityGraph) -> None:
    config = Config(trusted_principals=("group:dev-team", "system:serviceaccount:payments:*"))

    result = who_can(payments, "secret:payments/db", config=config)

    assert result.rows == []
    assert result.message == ("2 row(s) of trusted principals hidden; pass --all to show them; "
                              "no principal can obtain secret:payments/db")


def test_who_can_every_path_distinct(payments: CapabilityGraph) -> None:
    """Two rules of one Role give two edges between the same nodes; each chain is listed once."""
    result = who_can(payments, "secret:payments/db", every_path=True)

    assert [(row["principal"], row["hops"], row["path"]) for row in result.rows] == [
        ("group:dev-team", 2, f"group:dev-team {DIRECT_READ}"),
        ("group:dev-team", 3, f"group:dev-team -[rbac_impersonate]-> {API} {DIRECT_READ}"),
        (API, 2, f"{API} {DIRECT_READ}"),
    ]


def test_who_can_every_path_steps_match(payments: CapabilityGraph) -> None:
    row = who_can(payments, "secret:payments/db", every_path=True).rows[1]

    assert [step["kind"] for step in row["steps"]] == ["rbac_impersonate", "rbac_read_secrets", "contains"]
    assert row["principal"] == "group:dev-team"


def test_who_can_conditional_row() -> None:
    graph = build([], MFA_ACCOUNT)

    result = who_can(graph, DB, kinds=["iam"])

    assert summary(result) == [
        ("role/admin", DB, "read", 1, False, (), f"role/admin -[iam_read_secret]-> {DB}"),
        ("role/reader", DB, "read", 1, False, (), f"role/reader -[iam_read_secret]-> {DB}"),
        ("role/relay", DB, "read", 2, False, (), f"role/relay -[sts_assume]-> role/reader -[iam_read_secret]-> {DB}"),
        ("user/ops-admin", DB, "read", 2, True, ("aws:MultiFactorAuthPresent Bool true",),
         f"user/ops-admin -[sts_assume]-> role/admin -[iam_read_secret]-> {DB}"),
        ("user/oncall", DB, "read", 3, False, (),
         f"user/oncall -[sts_assume]-> role/relay -[sts_assume]-> role/reader -[iam_read_secret]-> {DB}"),
    ]


# --- Coverage notes ----------------------------------------------------------------------------------

FORBIDDEN_SECRETS = {"source": "kubernetes:test", "reason": "forbidden", "resource": "secrets", "namespace": "payments",
                     "detail": "HTTP 403: secrets is forbidden"}
FORBIDDEN_ELSEWHERE = {**FORBIDDEN_SECRETS, "namespace": "kube-system"}
CLUSTER_WIDE = {"source": "kubernetes:test", "reason": "forbidden", "resource": "clusterrolebindings",
                "detail": "HTTP 403: clusterrolebindings is forbidden"}
OTHER_CLUSTER = {**CLUSTER_WIDE, "source": "kubernetes:other"}
AWS_POLICIES = {"source": f"aws:{aws.ACCOUNT}", "reason": "access_denied", "resource": "secretsmanager:GetResourcePolicy",
                "region": "us-east-1", "detail": "AccessDeniedException"}

PAYMENTS_NOTE = ("results may be incomplete: secrets in namespace payments could not be read at collection "
                 "(forbidden: HTTP 403: secrets is forbidden)")
CLUSTER_NOTE = ("results may be incomplete: clusterrolebindings could not be read at collection "
                "(forbidden: HTTP 403: clusterrolebindings is forbidden)")
AWS_NOTE = ("results may be incomplete: secretsmanager:GetResourcePolicy in region us-east-1 could not be read at "
            "collection (access_denied: AccessDeniedException)")

COVERAGE_CASES = [
    pytest.param([FORBIDDEN_SECRETS], "secret:payments/db", [PAYMENTS_NOTE], id="gap-in-target-namespace"),
    pytest.param([FORBIDDEN_ELSEWHERE], "secret:payments/db", [], id="gap-in-other-namespace"),
    pytest.param([CLUSTER_WIDE], "secret:payments/db", [CLUSTER_NOTE], id="cluster-wide-gap"),
    pytest.param([OTHER_CLUSTER], "secret:payments/db", [], id="gap-in-other-cluster"),
    pytest.param([AWS_POLICIES], "secret:payments/db", [], id="aws-gap-kubernetes-answer"),
    pytest.param([AWS_POLICIES, FORBIDDEN_SECRETS], "payments/stripe-key", [AWS_NOTE, PAYMENTS_NOTE],
                 id="cloud-secret-through-namespace"),
]


@pytest.mark.parametrize(("gaps", "reference", "expected"), COVERAGE_CASES)
def test_who_can_coverage_notes(gaps: list[dict[str, str]], reference: str, expected: list[str]) -> None:
    estate = snapshot(PAYMENTS, PAYMENTS_ACCOUNT)
    estate["coverage_gaps"] = gaps

    result = who_can(build_graph(estate), reference)

    assert sorted(result.coverage_notes) == sorted(expected)


# --- The example estate ------------------------------------------------------------------------------

MFA = ("aws:MultiFactorAuthPresent Bool true",)
EXAMPLE_DB_READERS = [
    ("role/admin", 1, ()),
    ("role/eso-global", 1, ()),
    ("role/eso-production", 1, ()),
    ("user/ops-admin", 2, MFA),
    (sa("external-secrets", "default"), 2, ()),
    (sa("external-secrets", "eso-global"), 2, ()),
    (sa("external-secrets", "external-secrets"), 2, ()),
    (sa("external-secrets", "external-secrets-cert-controller"), 2, ()),
    (sa("external-secrets", "external-secrets-webhook"), 2, ()),
    (sa("production", "eso-production"), 2, ()),
    ("group:sre", 3, ()),
    ("group:system:masters", 3, ()),
    ("group:dev-team", 4, ()),
    (sa("staging", "legacy-ci"), 4, ()),
    (sa("staging", "ci-deployer"), 7, ()),
]
HEADLINE_CHAIN = ("group:dev-team -[eso_pull]-> ExternalSecrets in namespace dev-sandbox -[eso_store_admits]-> "
                  "clustersecretstore:aws-global -[eso_acts_as]-> role/eso-global -[iam_read_secret]-> "
                  "production/database/credentials")


def test_example_database_readers(example: CapabilityGraph) -> None:
    result = who_can(example, DB)

    assert [(row["principal"], row["hops"], tuple(row["conditions"])) for row in result.rows] == EXAMPLE_DB_READERS
    assert {row["capability"] for row in result.rows} == {"read"}
    assert result.message is None
    assert result.coverage_notes == []


def test_example_headline_chain(example: CapabilityGraph) -> None:
    rows = [row for row in who_can(example, DB).rows if row["principal"] == "group:dev-team"]

    assert summary(QueryResult("who-can", DB, [], rows)) == [
        ("group:dev-team", DB, "read", 4, False, (), HEADLINE_CHAIN),
    ]


def test_example_mfa_row_conditional(example: CapabilityGraph) -> None:
    rows = {row["principal"]: row for row in who_can(example, DB, kinds=["iam"]).rows}

    assert rows["user/ops-admin"]["conditional"] is True
    assert rows["user/ops-admin"]["conditions"] == list(MFA)
    assert rows["role/admin"]["conditional"] is False


def test_example_overwrite_pushed_source(example: CapabilityGraph) -> None:
    result = who_can(example, "secret:production/payments-api-key", capability="overwrite")

    assert summary(result) == [
        ("role/admin", "secret:production/payments-api-key", "overwrite", 2, False, (),
         "role/admin -[iam_overwrite_secret]-> production/payments/api-key -[synced_to]-> secret:production/payments-api-key"),
        ("group:sre", "secret:production/payments-api-key", "overwrite", 2, False, (),
         "group:sre -[rbac_overwrite_secrets]-> every Secret of namespace production -[contains]-> "
         "secret:production/payments-api-key"),
        ("group:system:masters", "secret:production/payments-api-key", "overwrite", 2, False, (),
         "group:system:masters -[eso_overwrite]-> every Secret of namespace production -[contains]-> "
         "secret:production/payments-api-key"),
        (sa("external-secrets", "external-secrets"), "secret:production/payments-api-key", "overwrite", 2, False, (),
         f"{sa('external-secrets', 'external-secrets')} -[eso_overwrite]-> every Secret of namespace production "
         "-[contains]-> secret:production/payments-api-key"),
        ("user/ops-admin", "secret:production/payments-api-key", "overwrite", 3, True, MFA,
         "user/ops-admin -[sts_assume]-> role/admin -[iam_overwrite_secret]-> production/payments/api-key "
         "-[synced_to]-> secret:production/payments-api-key"),
    ]


def test_example_kind_iam(example: CapabilityGraph) -> None:
    result = who_can(example, DB, kinds=["iam"])

    assert [row["principal"] for row in result.rows] == ["role/admin", "role/eso-global", "role/eso-production", "user/ops-admin"]


def test_example_config_hides_masters(example: CapabilityGraph) -> None:
    result = who_can(example, DB, config=load_config(EXAMPLE / "blastradius.toml"))

    assert "group:system:masters" not in {row["principal"] for row in result.rows}
    assert len(result.rows) == len(EXAMPLE_DB_READERS) - 1
    assert result.message == "1 row(s) of trusted principals hidden; pass --all to show them"


def test_example_glob_production_secrets(example: CapabilityGraph) -> None:
    result = who_can(example, "secret:production/*")

    assert sorted({row["target"] for row in result.rows}) == [
        "secret:production/database-credentials", "secret:production/manual-api-token",
        "secret:production/payments-api-key", "secret:production/shared-tls",
    ]


def test_example_every_path_shortest_first(example: CapabilityGraph) -> None:
    """`--via` starts each principal's rows with its shortest path, even past the path limit."""
    rows = [row for row in who_can(example, DB, every_path=True, kinds=["group"]).rows
            if row["principal"] == "group:system:masters"]

    assert rows[0]["hops"] == 3
    assert [row["hops"] for row in rows] == sorted(row["hops"] for row in rows)
    assert len({row["path"] for row in rows}) == len(rows)
