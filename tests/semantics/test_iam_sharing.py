"""Permission sets and secret classes: which principals share evaluations, and that sharing never changes a decision."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastradius.semantics.iam import AccountAuthorizations
from blastradius.semantics.iam_model import SECRET_ACTIONS
from tests.semantics.iam_fixtures import (
    ACCOUNT,
    account,
    allow,
    deny,
    document,
    group,
    kms_key,
    managed_policy,
    organization_policy,
    policy_arn,
    secret,
    secret_arn,
    user,
    user_arn,
)

READ = "secretsmanager:GetSecretValue"
TEAM_READ = managed_policy(policy_arn("team-read"), document(allow(READ, secret_arn("team/*").rsplit("-", 1)[0] + "*")))


def _authorizations(**sections: Any) -> AccountAuthorizations:
    sections.setdefault("groups", (group("developers", attached=(TEAM_READ["arn"],)),))
    sections.setdefault("policies", (TEAM_READ,))
    return AccountAuthorizations([account(**sections)])


def _members(authorizations: AccountAuthorizations) -> list[tuple[str, ...]]:
    return [shared.members for shared in authorizations.permission_sets()]


ALICE, BOB, CAROL = user_arn("alice"), user_arn("bob"), user_arn("carol")
DEVELOPERS = (user("alice", groups=("developers",)), user("bob", groups=("developers",)))

SHARING_RULES = [
    pytest.param(DEVELOPERS, (), [(ALICE, BOB)], id="same-group-shares"),
    pytest.param(DEVELOPERS + (user("carol", groups=("developers",), attached=(TEAM_READ["arn"],)),), (),
                 [(ALICE, BOB)], id="extra-policy-apart"),
    pytest.param((user("alice", groups=("developers",)), {**user("bob", groups=("developers",)), "tags": [{"Key": "team", "Value": "b"}]}),
                 (), [], id="different-tags-apart"),
    pytest.param((user("alice", inline={"own": document(allow(READ, "*", Condition={"StringEquals": {"aws:PrincipalArn": ALICE}}))}),),
                 (), [], id="single-principal"),
    pytest.param(DEVELOPERS, (organization_policy("p-scp", document(
        allow("*", "*"), deny(READ, "*", Condition={"StringLike": {"aws:PrincipalArn": "*admin*"}}))),), [],
                 id="scp-on-identity-closes-account"),
]


@pytest.mark.parametrize("users, organization_policies, expected", SHARING_RULES)
def test_permission_sets_group_alike_principals(users, organization_policies, expected):
    authorizations = _authorizations(users=users, organization_policies=organization_policies)
    assert _members(authorizations) == expected


def test_variable_in_own_policy_shares_nothing():
    own = managed_policy(policy_arn("own"), document(allow(READ, secret_arn("home/${aws:username}").rsplit("-", 1)[0] + "/*")))
    users = (user("alice", attached=(own["arn"],)), user("bob", attached=(own["arn"],)))
    assert _members(_authorizations(users=users, policies=(TEAM_READ, own))) == []


OWNERS_ONLY = {"StringNotEquals": {"aws:PrincipalArn": [ALICE]}}
PERSONAL_RULES = [
    pytest.param(document(deny(READ, "*", Principal="*", Condition=OWNERS_ONLY)), True, id="condition-names-one-member"),
    pytest.param(document(deny(READ, "*", Principal="*", Condition={"StringNotEquals": {"aws:PrincipalArn": [ALICE, BOB]}})),
                 False, id="condition-names-every-member"),
    pytest.param(document(deny(READ, "*", Principal="*", Condition={"StringNotEquals": {"aws:PrincipalArn": [CAROL]}})),
                 False, id="condition-names-no-member"),
    pytest.param(document(allow(READ, "*", Principal={"AWS": ALICE})), True, id="principal-names-one-member"),
    pytest.param(document(allow(READ, "*", Principal={"AWS": ACCOUNT})), False, id="principal-names-account"),
    pytest.param(document(deny(READ, "*", Principal="*", Condition={"StringLike": {"aws:PrincipalArn": "*/al*"}})),
                 True, id="pattern-matches-one-member"),
]


@pytest.mark.parametrize("resource_policy, personal", PERSONAL_RULES)
def test_resource_policy_makes_secret_personal(resource_policy, personal):
    authorizations = _authorizations(users=DEVELOPERS, secrets=(secret("team/db", resource_policy=resource_policy),))
    shared = authorizations.permission_set(ALICE)
    assert shared is not None
    assert (secret_arn("team/db") in authorizations._personal_secrets(shared)) is personal


def test_owner_deny_reaches_only_owner():
    authorizations = _authorizations(users=DEVELOPERS, secrets=(
        secret("team/db", resource_policy=document(deny(READ, "*", Principal="*", Condition=OWNERS_ONLY))),
        secret("team/cache"),
    ))
    assert [arn for arn, _ in authorizations.secret_access(ALICE, "read")] == [secret_arn("team/cache"), secret_arn("team/db")]
    assert [arn for arn, _ in authorizations.secret_access(BOB, "read")] == [secret_arn("team/cache")]


def test_key_policy_naming_member_is_personal():
    key_policy = document(allow("kms:*", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
                          allow("kms:Decrypt", "*", Principal={"AWS": ALICE}))
    authorizations = _authorizations(users=DEVELOPERS, kms_keys=(kms_key("k1", key_policy),),
                                     secrets=(secret("team/db", kms_key_id="k1"), secret("team/api")))
    assert [arn for arn, _ in authorizations.secret_access(ALICE, "read")] == [secret_arn("team/api"), secret_arn("team/db")]
    assert [arn for arn, _ in authorizations.secret_access(BOB, "read")] == [secret_arn("team/api")]


def test_tag_condition_separates_secret_classes():
    tagged = managed_policy(policy_arn("tagged"), document(
        allow(READ, "*", Condition={"StringEquals": {"secretsmanager:ResourceTag/tier": "low"}})))
    authorizations = _authorizations(users=(user("alice", attached=(tagged["arn"],)),), policies=(tagged,), secrets=(
        secret("app/one", tags={"tier": "low"}), secret("app/two", tags={"tier": "high"}), secret("app/three", tags={"tier": "low"}),
    ))
    assert [arn for arn, _ in authorizations.secret_access(ALICE, "read")] == [secret_arn("app/one"), secret_arn("app/three")]


# Property: sharing and classes give exactly the per-secret decisions --------------------------

NAMES = ["team/db", "team/api", "team/sub/x", "ops/db", "ops/keys", "admin/root"]
PATTERNS = ["*", "team/*", "team/sub/*", "ops/*", "*/db*", "admin/*", "nothing/*"]
CONDITIONS = [
    None,
    {"StringEquals": {"secretsmanager:ResourceTag/tier": "low"}},
    {"StringNotEquals": {"aws:PrincipalArn": [ALICE]}},
    {"StringLike": {"aws:PrincipalArn": "*/b*"}},
    {"Bool": {"aws:SecureTransport": "true"}},
]


def _statement(effect: str, pattern: str, condition: dict | None, principal: bool = False) -> dict[str, Any]:
    resource = secret_arn(pattern).rsplit("-", 1)[0] if pattern != "*" else "*"
    statement: dict[str, Any] = {"Effect": effect, "Action": READ, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    if principal:
        statement["Principal"] = "*"
    return statement


statements = st.builds(_statement, st.sampled_from(["Allow", "Deny"]), st.sampled_from(PATTERNS), st.sampled_from(CONDITIONS))
resource_statements = st.builds(_statement, st.sampled_from(["Allow", "Deny"]), st.sampled_from(PATTERNS),
                                st.sampled_from(CONDITIONS), st.just(True))


@st.composite
def estates(draw: st.DrawFn) -> list[dict[str, Any]]:
    group_policy = managed_policy(policy_arn("group"), document(*draw(st.lists(statements, min_size=1, max_size=3))))
    extra = managed_policy(policy_arn("extra"), document(*draw(st.lists(statements, min_size=1, max_size=2))))
    users = []
    for name in ("alice", "bob", "carol"):
        attached = (extra["arn"],) if draw(st.booleans()) else ()
        users.append(user(name, groups=("developers",), attached=attached))
    secrets = []
    for name in NAMES:
        policy = document(*draw(st.lists(resource_statements, min_size=1, max_size=2))) if draw(st.booleans()) else None
        secrets.append(secret(name, resource_policy=policy, tags={"tier": draw(st.sampled_from(["low", "high"]))}))
    return [account(users=tuple(users), groups=(group("developers", attached=(group_policy["arn"],)),),
                    policies=(group_policy, extra), secrets=tuple(secrets))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates())
def test_shared_evaluation_equals_per_secret(aws_accounts):
    authorizations = AccountAuthorizations(aws_accounts)
    for principal_arn in authorizations.principals():
        principal = authorizations._model.principal(principal_arn)
        candidates = authorizations._secret_candidates(principal, SECRET_ACTIONS["read"])
        expected = []
        for arn in sorted(candidates):
            decision = authorizations._secret_decision(principal, authorizations._model.secrets[arn], "read")
            if decision is not None:
                expected.append((arn, decision))
        assert authorizations.secret_access(principal_arn, "read") == expected


def test_members_share_escalation_rows():
    keys = managed_policy(policy_arn("keys"), document(allow("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/*")))
    authorizations = _authorizations(users=DEVELOPERS, groups=(group("developers", attached=(keys["arn"],)),), policies=(keys,))
    alice_rows = authorizations.escalation_paths(ALICE)
    assert [(action, target) for action, target, _ in alice_rows] == [("iam:CreateAccessKey", ALICE), ("iam:CreateAccessKey", BOB)]
    assert authorizations.escalation_paths(BOB) == authorizations._evaluate_escalations(authorizations._model.principal(BOB))
