"""Tests for `path`: numbered steps with reasons, and the message that names what blocks a missing path."""

from __future__ import annotations

import pytest

from blastradius.graph.builder import build_graph
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.path import path
from blastradius.queries.refs import ReferenceLookupError
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
    irsa_trust,
    namespace,
    read_policy,
    rule,
    sa,
    sa_subject,
    secret,
    secret_store,
    service_account,
    snapshot,
    token_secret,
    user_subject,
)
from tests.queries.example_snapshots import example_snapshot

DB = "production/database/credentials"

# Group `dev-team` reads the Secrets of `payments` and creates ExternalSecrets there; user
# `deployer` may only update them. ClusterSecretStore `aws-global` reads `payments/*` as role
# `eso-global`.
PAYMENTS = [
    namespace("payments"), namespace("external-secrets"),
    service_account("external-secrets", "eso-global", role="eso-global"),
    secret("payments", "db"),
    *grant("payments", group_subject("dev-team"), READ_SECRETS, CREATE_EXTERNAL_SECRETS, name="dev-team"),
    *grant("payments", user_subject("deployer"), rule(["update"], ["secrets"]), name="deployer"),
    cluster_secret_store("aws-global", aws_provider(service_account=("external-secrets", "eso-global"))),
]
PAYMENTS_ACCOUNT = account(
    secrets=("payments/stripe-key",),
    roles=(irsa_role("eso-global", sa("external-secrets", "eso-global"), "payments/*"),),
)
ESO_GLOBAL_ARN = aws.role_arn("eso-global")


@pytest.fixture(scope="module")
def payments() -> CapabilityGraph:
    return build(PAYMENTS, PAYMENTS_ACCOUNT)


@pytest.fixture(scope="module")
def example() -> CapabilityGraph:
    return build_graph(example_snapshot())


# --- Paths found -------------------------------------------------------------------------------------


def test_path_steps_numbered_with_reasons(payments: CapabilityGraph) -> None:
    result = path(payments, "group:dev-team", "payments/stripe-key")

    assert [(row["step"], row["from"], row["kind"], row["to"], row["reason"]) for row in result.rows] == [
        (1, "group:dev-team", "eso_pull", "ExternalSecrets in namespace payments",
         "group:dev-team can create ExternalSecrets in payments (RoleBinding payments/dev-team binds Role "
         "payments/dev-team, rules[1] in payments) and read the Secrets they write (RoleBinding payments/dev-team "
         "binds Role payments/dev-team, rules[0] in payments)"),
        (2, "ExternalSecrets in namespace payments", "eso_store_admits", "clustersecretstore:aws-global",
         "clustersecretstore:aws-global accepts ExternalSecrets from namespace payments"),
        (3, "clustersecretstore:aws-global", "eso_acts_as", "role/eso-global",
         f"ESO authenticates as {ESO_GLOBAL_ARN} through ServiceAccount external-secrets/eso-global"),
        (4, "role/eso-global", "iam_read_secret", "payments/stripe-key",
         "role/eso-global may read payments/stripe-key: inline:eso-global/eso-global-read #0 (Allow)"),
    ]
    assert result.message == "group:dev-team can obtain payments/stripe-key in 4 step(s)"


def test_path_step_fields(payments: CapabilityGraph) -> None:
    row = path(payments, "group:dev-team", "payments/stripe-key").rows[1]

    assert row == {
        "step": 2,
        "from": "ExternalSecrets in namespace payments", "from_id": "k8s:test:eso-pull:payments",
        "to": "clustersecretstore:aws-global", "to_id": "k8s:test:clustersecretstore:aws-global",
        "kind": "eso_store_admits",
        "reason": "clustersecretstore:aws-global accepts ExternalSecrets from namespace payments",
        "conditions": [], "evidence": {},
    }


def test_path_result_shape(payments: CapabilityGraph) -> None:
    result = path(payments, "group:dev-team", "payments/stripe-key")

    assert (result.query, result.reference) == ("path", "group:dev-team -> payments/stripe-key")
    assert result.columns == ["step", "from", "kind", "to", "reason"]
    assert result.coverage_notes == []


def test_path_prefers_read_over_overwrite(payments: CapabilityGraph) -> None:
    """dev-team may both read and overwrite `payments/db`; the path shows the read."""
    result = path(payments, "group:dev-team", "secret:payments/db")

    assert [row["kind"] for row in result.rows] == ["rbac_read_secrets", "contains"]
    assert result.message == "group:dev-team can obtain secret:payments/db in 2 step(s)"


def test_path_overwrite_only(payments: CapabilityGraph) -> None:
    result = path(payments, "user:deployer", "secret:payments/db")

    assert [(row["step"], row["kind"], row["to"]) for row in result.rows] == [
        (1, "rbac_overwrite_secrets", "every Secret of namespace payments"),
        (2, "contains", "secret:payments/db"),
    ]
    assert result.message == "user:deployer can overwrite secret:payments/db in 2 step(s)"


def test_path_conditional_message() -> None:
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    graph = build([], account(
        secrets=(DB,),
        roles=(aws.role("admin", trust_policy=aws.trust({"AWS": aws.user_arn("ops-admin")}, Condition=mfa),
                        inline={"read": read_policy("*")}),),
        users=(aws.user("ops-admin", inline={"assume": aws.document(aws.allow("sts:AssumeRole"))}),),
    ))

    result = path(graph, aws.user_arn("ops-admin"), DB)

    assert [(row["kind"], row["conditions"]) for row in result.rows] == [
        ("sts_assume", ["aws:MultiFactorAuthPresent Bool true"]),
        ("iam_read_secret", []),
    ]
    assert result.message == f"user/ops-admin can obtain {DB} in 2 step(s), if: aws:MultiFactorAuthPresent Bool true"


def test_path_coverage_note_on_path(payments: CapabilityGraph) -> None:
    estate = snapshot(PAYMENTS, PAYMENTS_ACCOUNT)
    estate["coverage_gaps"] = [{"source": "kubernetes:test", "reason": "forbidden", "resource": "externalsecrets",
                                "namespace": "payments", "detail": "HTTP 403: externalsecrets is forbidden"}]

    result = path(build_graph(estate), "group:dev-team", "payments/stripe-key")

    assert result.coverage_notes == [
        "results may be incomplete: externalsecrets in namespace payments could not be read at collection "
        "(forbidden: HTTP 403: externalsecrets is forbidden)",
    ]


def test_path_unknown_reference(payments: CapabilityGraph) -> None:
    with pytest.raises(ReferenceLookupError, match=r"^no node matches 'group:devteam'; closest matches: group:dev-team"):
        path(payments, "group:devteam", "payments/stripe-key")


def test_example_headline_path(example: CapabilityGraph) -> None:
    result = path(example, "group:dev-team", DB)

    assert [(row["step"], row["from"], row["kind"], row["to"]) for row in result.rows] == [
        (1, "group:dev-team", "eso_pull", "ExternalSecrets in namespace dev-sandbox"),
        (2, "ExternalSecrets in namespace dev-sandbox", "eso_store_admits", "clustersecretstore:aws-global"),
        (3, "clustersecretstore:aws-global", "eso_acts_as", "role/eso-global"),
        (4, "role/eso-global", "iam_read_secret", DB),
    ]
    assert result.message == f"group:dev-team can obtain {DB} in 4 step(s)"


# --- No path: the blocking point ---------------------------------------------------------------------

# Group `dev-team` creates ExternalSecrets in `dev-sandbox`; the only store that reads production
# secrets admits namespace `production` alone.
PRODUCTION_ONLY = [
    namespace("dev-sandbox"), namespace("production"), namespace("external-secrets"),
    service_account("external-secrets", "eso-production", role="eso-production"),
    *grant("dev-sandbox", group_subject("dev-team"), READ_SECRETS, CREATE_EXTERNAL_SECRETS, name="dev-team"),
    cluster_secret_store("aws-production-only", aws_provider(service_account=("external-secrets", "eso-production")),
                         conditions=[{"namespaces": ["production"]}]),
]
PRODUCTION_ONLY_ACCOUNT = account(
    secrets=(DB,),
    roles=(irsa_role("eso-production", sa("external-secrets", "eso-production"), "production/*"),),
)

# ServiceAccount `pusher` may create PushSecrets only: External Secrets writes as role `reader`
# for it, and never reads.
PUSH_ONLY = [
    namespace("team"),
    service_account("team", "pusher"), service_account("team", "eso", role="reader"),
    *grant("team", sa_subject("team", "pusher"), rule(["create"], ["pushsecrets"], groups=["external-secrets.io"])),
    secret_store("team", "aws", aws_provider(service_account=("team", "eso"))),
]
PUSH_ONLY_ACCOUNT = account(secrets=("team/config",), roles=(irsa_role("reader", sa("team", "eso"), "team/*"),))

# Role `reader` may call GetSecretValue, but the key policy of the secret's KMS key admits only
# role `key-admin`, so it cannot decrypt the value.
KEY_ARN = aws.key_arn("team-key")
KMS_BLOCKED = [
    namespace("team"),
    service_account("team", "puller"), service_account("team", "eso", role="reader"),
    *grant("team", sa_subject("team", "puller"), READ_SECRETS, CREATE_EXTERNAL_SECRETS),
    secret_store("team", "aws", aws_provider(service_account=("team", "eso"))),
]
KEY_POLICY = aws.document({"Effect": "Allow", "Principal": {"AWS": aws.role_arn("key-admin")}, "Action": "kms:*",
                           "Resource": "*"})
KMS_BLOCKED_ACCOUNT = account(
    secret_entries=(aws.secret("team/config", kms_key_id=KEY_ARN),),
    kms_keys=(aws.kms_key("team-key", KEY_POLICY),),
    roles=(aws.role("reader", trust_policy=irsa_trust(sa("team", "eso")),
                    inline={"read": aws.document(aws.allow(["secretsmanager:GetSecretValue", "kms:Decrypt"]))}),),
)

# ServiceAccount `app` may update the Secrets of `a`, among them the legacy token of `a/reader`,
# which reads the Secrets of `b`. Overwriting a token Secret does not hand over its token.
TOKEN_OVERWRITE = [
    namespace("a"), namespace("b"),
    service_account("a", "app"), service_account("a", "reader"),
    token_secret("a", "reader-token", "reader"), secret("b", "db"),
    *grant("a", sa_subject("a", "app"), rule(["create", "update"], ["secrets"])),
    *grant("b", sa_subject("a", "reader"), READ_SECRETS),
]

NO_PATH_CASES = [
    pytest.param(
        PRODUCTION_ONLY, PRODUCTION_ONLY_ACCOUNT, "group:dev-team", DB,
        f"no path from group:dev-team to {DB}: ClusterSecretStore aws-production-only: its conditions deny "
        "namespace dev-sandbox (namespaces: [production])",
        id="store-conditions-deny-namespace"),
    pytest.param(
        PUSH_ONLY, PUSH_ONLY_ACCOUNT, sa("team", "pusher"), "team/config",
        f"no path from {sa('team', 'pusher')} to team/config: the closest point {sa('team', 'pusher')} reaches is "
        "role/reader, 1 edge(s) from the target, and no capability leads on from there",
        id="push-only-identity-reads"),
    pytest.param(
        KMS_BLOCKED, KMS_BLOCKED_ACCOUNT, sa("team", "puller"), "team/config",
        f"no path from {sa('team', 'puller')} to team/config: role/reader may not read it: GetSecretValue is allowed, "
        f"but kms:Decrypt with its key {KEY_ARN} is not",
        id="kms-key-blocks-decrypt"),
    pytest.param(
        TOKEN_OVERWRITE, None, sa("a", "app"), "secret:b/db",
        f"no path from {sa('a', 'app')} to secret:b/db: the closest point {sa('a', 'app')} reaches is "
        "secret:a/reader-token, 3 edge(s) from the target, and no capability leads on from there",
        id="overwritten-token-secret"),
    pytest.param(
        TOKEN_OVERWRITE, None, sa("a", "reader"), "secret:a/reader-token",
        f"no path from {sa('a', 'reader')} to secret:a/reader-token: {sa('a', 'reader')} reaches nothing that "
        "leads towards it",
        id="nothing-leads-towards"),
]


@pytest.mark.parametrize(("objects", "aws_account", "source", "target", "expected"), NO_PATH_CASES)
def test_path_blocking_point(objects: list[dict], aws_account: dict | None, source: str, target: str,
                             expected: str) -> None:
    graph = build(objects, *([aws_account] if aws_account else []))

    result = path(graph, source, target)

    assert result.rows == []
    assert result.message == expected


def test_example_iam_deny_named(example: CapabilityGraph) -> None:
    denied_by = ("explicitly denied by resource-policy:arn:aws:secretsmanager:us-east-1:111122223333:"
                 "secret:admin/root-credentials-Kq3Mn7 DenyReadExceptAdmin")

    result = path(example, "group:dev-team", "admin/root-credentials")

    assert result.rows == []
    assert result.message == (f"no path from group:dev-team to admin/root-credentials: role/eso-controller may not "
                              f"read it: {denied_by}; role/eso-global may not read it: {denied_by}")


def test_example_store_identity_not_held(example: CapabilityGraph) -> None:
    """ESO acts as role/eso-global for dev-team's ExternalSecrets, which is not acting as the role."""
    result = path(example, "group:dev-team", "role/eso-global")

    assert result.rows == []
    assert result.message == ("no path from group:dev-team to role/eso-global: External Secrets acts as "
                              "role/eso-global for group:dev-team only to sync secrets, so group:dev-team "
                              "cannot act as it")


def test_example_view_reaches_nothing(example: CapabilityGraph) -> None:
    result = path(example, "user:alice@example.com", DB)

    assert result.message == f"no path from user:alice@example.com to {DB}: user:alice@example.com reaches nothing that leads towards it"
