"""Permission-set and set nodes: shared IAM edges reach exactly what per-principal edges would."""

from __future__ import annotations

from blastradius.graph.aws import SECRET_SET_MIN_SIZE, iam_secret_targets
from tests.graph.estate import (
    account,
    aws_provider,
    build,
    chain,
    edges,
    grant,
    group_subject,
    irsa_role,
    namespace,
    reached_by,
    rule,
    sa,
    secret_store,
    service_account,
)
from tests.semantics import iam_fixtures as aws

MANY = [f"team/app-{index:02d}" for index in range(SECRET_SET_MIN_SIZE)]
TEAM_READ = aws.managed_policy(aws.policy_arn("team-read"), aws.document(
    aws.allow("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{aws.REGION}:{aws.ACCOUNT}:secret:team/*")))


def _two_developers() -> dict:
    return account(secrets=[*MANY, "ops/db"], policies=(TEAM_READ,), groups=(aws.group("developers", attached=(TEAM_READ["arn"],)),),
                   users=(aws.user("alice", groups=("developers",)), aws.user("bob", groups=("developers",))))


def test_group_members_share_one_node():
    graph = build([], _two_developers())
    assert edges(graph, "iam_same_permissions") == {("user/alice", "2 IAM users with policy/team-read"),
                                                    ("user/bob", "2 IAM users with policy/team-read")}
    assert edges(graph, "iam_read_secret") == {("2 IAM users with policy/team-read", "secrets under team/")}


def test_each_member_reaches_every_secret():
    graph = build([], _two_developers())
    assert reached_by(graph, "team/app-07") == {("user/alice", "team/app-07", "read"), ("user/bob", "team/app-07", "read")}
    assert len(iam_secret_targets(graph, f"aws:{aws.user_arn('bob')}")) == SECRET_SET_MIN_SIZE


def test_few_secrets_keep_direct_edges():
    few = MANY[: SECRET_SET_MIN_SIZE - 1]
    graph = build([], account(secrets=few, roles=(irsa_role("reader", sa("apps", "reader"), "team/*"),)))
    assert {target for _, target in edges(graph, "iam_read_secret")} == set(few)


def test_store_lends_shared_permissions():
    """A store's role in a permission set still lends its reads, and only its reads, to who can use the store."""
    objects = [namespace("apps"), service_account("apps", "eso", role="store-a"),
               secret_store("apps", "team", aws_provider(service_account=(None, "eso"))),
               *grant("apps", group_subject("devs"), rule(["create"], ["externalsecrets"], groups=["external-secrets.io"]),
                      rule(["get"], ["secrets"]))]
    roles = (irsa_role("store-a", sa("apps", "eso"), "team/*"), irsa_role("store-b", sa("other", "eso"), "team/*"))
    roles = tuple({**role, "inline_policies": {}, "attached_policies": [TEAM_READ["arn"]]} for role in roles)
    graph = build(objects, account(secrets=[*MANY, "ops/db"], policies=(TEAM_READ,), roles=roles))
    assert ("group:devs", "team/app-03", "read") in reached_by(graph, "team/app-03")
    assert chain(graph, "group:devs", "team/app-03") == (
        "eso_pull", "eso_store_admits", "eso_acts_as", "iam_same_permissions", "iam_read_secret", "contains")


def _reader(policy: dict) -> dict:
    return aws.role("reader", inline={"read": policy})


def test_grant_reaches_filled_folders():
    secrets = [f"team/app-{index:02d}/db" for index in range(SECRET_SET_MIN_SIZE)] + [f"ops/s{index}" for index in range(10)]
    policy = aws.document(aws.allow("secretsmanager:GetSecretValue", "*"),
                          aws.deny("secretsmanager:*", f"arn:aws:secretsmanager:{aws.REGION}:{aws.ACCOUNT}:secret:admin/*"))
    graph = build([], account(secrets=[*secrets, "admin/root", "admin/break-glass"], roles=(_reader(policy),)))
    assert edges(graph, "iam_read_secret") == {("role/reader", "secrets under team/"), ("role/reader", "secrets under ops/")}
    assert len(iam_secret_targets(graph, f"aws:{aws.role_arn('reader')}")) == SECRET_SET_MIN_SIZE + 10


def test_scattered_grant_uses_set_node():
    secrets = [f"app-{index:02d}/{item}" for index in range(SECRET_SET_MIN_SIZE) for item in ("db", "cache")]
    policy = aws.document(aws.allow("secretsmanager:GetSecretValue",
                                    f"arn:aws:secretsmanager:{aws.REGION}:{aws.ACCOUNT}:secret:*/db-*"))
    graph = build([], account(secrets=secrets, roles=(_reader(policy),)))
    assert edges(graph, "iam_read_secret") == {("role/reader", f"{SECRET_SET_MIN_SIZE} secrets of AWS account {aws.ACCOUNT}")}
    assert reached_by(graph, "app-07/db") == {("role/reader", "app-07/db", "read")}
    assert reached_by(graph, "app-07/cache") == set()
