"""Adversarial estates for permission sets and secret classes: each must give exactly the per-pair decisions.

The reference evaluates every (principal, secret) pair with `_secret_decision`, over every secret
of the model rather than only the candidates, and every principal's escalations on its own. The
estates try to make two principals or two secrets look alike while a policy still distinguishes
them: identity conditions in RCPs of another account, resource policies that admit one member,
policy variables that name the secret, and KMS key policies that test the encryption context.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastradius.graph import ids
from blastradius.queries.reachability import reaching
from blastradius.semantics.iam import AccountAuthorizations
from tests.graph import estate
from tests.semantics.iam_fixtures import (
    ACCOUNT,
    OTHER_ACCOUNT,
    REGION,
    account,
    allow,
    deny,
    document,
    group,
    kms_key,
    managed_policy,
    organization_policy,
    policy_arn,
    role,
    secret,
    secret_arn,
    user,
    user_arn,
)

READ = "secretsmanager:GetSecretValue"
WRITE = "secretsmanager:PutSecretValue"
PUT_POLICY = "secretsmanager:PutResourcePolicy"
ALICE, BOB, CAROL = user_arn("alice"), user_arn("bob"), user_arn("carol")
ACCOUNT_ROOT = f"arn:aws:iam::{ACCOUNT}:root"
OTHER_ROOT = f"arn:aws:iam::{OTHER_ACCOUNT}:root"

READ_WRITE = managed_policy(policy_arn("read-write"), document(allow([READ, WRITE], "*"), allow("kms:*", "*")))
READ_ONLY = managed_policy(policy_arn("read-only"), document(allow(READ, "*")))
DEVELOPERS = tuple(user(name, groups=("developers",)) for name in ("alice", "bob", "carol"))


def _developers(policy: dict[str, Any] = READ_WRITE, **sections: Any) -> dict[str, Any]:
    """The main account: alice, bob and carol share the `developers` group and nothing else."""
    return account(users=DEVELOPERS, groups=(group("developers", attached=(policy["arn"],)),),
                   policies=(policy,) + tuple(sections.pop("policies", ())), **sections)


def _rcp(statement: dict[str, Any], target: str) -> dict[str, Any]:
    entry = organization_policy("p-rcp", document(statement), kind="RESOURCE_CONTROL_POLICY")
    return {**entry, "targets": [target]}


def _shared_secret(*, policy: Any = None) -> dict[str, Any]:
    """A secret of the other account that the main account may read, with a key that trusts it."""
    grant = policy or document(allow([READ, WRITE], "*", Principal={"AWS": ACCOUNT_ROOT}))
    return secret("shared/db", account=OTHER_ACCOUNT, kms_key_id="k-other", resource_policy=grant)


OTHER_KEY = kms_key("k-other", document(allow("kms:*", "*", Principal={"AWS": [OTHER_ROOT, ACCOUNT_ROOT]})),
                    account=OTHER_ACCOUNT)
DENY_ALICE = deny(READ, "*", Principal="*", Condition={"StringEquals": {"aws:PrincipalArn": ALICE}})
DENY_B_USERS_DECRYPT = deny("kms:Decrypt", "*", Principal="*", Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/b*"}})


def _brute_force_access(authorizations: AccountAuthorizations, principal_arn: str, capability: str) -> list:
    principal = authorizations._model.principal(principal_arn)
    expected = []
    for arn in sorted(authorizations._model.secrets):
        decision = authorizations._secret_decision(principal, authorizations._model.secrets[arn], capability)
        if decision is not None:
            expected.append((arn, decision))
    return expected


def _brute_force_readers(authorizations: AccountAuthorizations, arn: str, capability: str) -> set[str]:
    secret_entry = authorizations._model.secrets[arn]
    return {
        principal_arn for principal_arn in authorizations.principals()
        if authorizations._secret_decision(authorizations._model.principal(principal_arn), secret_entry, capability)
    }


def _assert_access_exact(aws_accounts: list[dict[str, Any]]) -> None:
    authorizations = AccountAuthorizations(aws_accounts)
    for principal_arn in authorizations.principals():
        for capability in ("read", "overwrite"):
            expected = _brute_force_access(authorizations, principal_arn, capability)
            assert authorizations.secret_access(principal_arn, capability) == expected, (principal_arn, capability)


def _assert_escalations_exact(aws_accounts: list[dict[str, Any]]) -> None:
    authorizations = AccountAuthorizations(aws_accounts)
    for principal_arn in authorizations.principals():
        expected = authorizations._evaluate_escalations(authorizations._model.principal(principal_arn))
        assert authorizations.escalation_paths(principal_arn) == expected, principal_arn


def _assert_graph_exact(aws_accounts: list[dict[str, Any]]) -> None:
    authorizations = AccountAuthorizations(aws_accounts)
    graph = estate.build([], *aws_accounts, oidc_issuer=None)
    for arn in authorizations.secret_arns():
        for capability in ("read", "overwrite"):
            reached = {graph.g.nodes[reach.principal]["arn"] for reach in reaching(graph, ids.aws(arn), capability)}
            assert reached == _brute_force_readers(authorizations, arn, capability), (arn, capability)


# Table: estates that once made shared evaluation differ from per-pair evaluation ---------------

REVERSE_ABAC = managed_policy(policy_arn("reverse-abac"), document(
    allow(READ, "*", Condition={"StringEquals": {"aws:PrincipalTag/team": "${aws:ResourceTag/team}"}})))
ENCRYPTION_CONTEXT_KEY = kms_key("k-scoped", document(allow(
    "kms:*", "*", Principal={"AWS": ACCOUNT_ROOT},
    Condition={"StringEquals": {"aws:PrincipalTag/scope": "${kms:EncryptionContext:SecretARN}"}})))
SCOPED_ROLE_POLICY = managed_policy(policy_arn("scoped"), document(allow(READ, "*"), allow("kms:*", "*")))

ATTACKS = [
    pytest.param([_developers(), account(OTHER_ACCOUNT, secrets=(_shared_secret(),), kms_keys=(OTHER_KEY,),
                                         organization_policies=(_rcp(DENY_ALICE, OTHER_ACCOUNT),))],
                 id="rcp-of-secret-account-names-member"),
    pytest.param([_developers(secrets=(secret("team/db", kms_key_id=f"arn:aws:kms:{REGION}:{OTHER_ACCOUNT}:key/k-other"),)),
                  account(OTHER_ACCOUNT, kms_keys=(OTHER_KEY,), organization_policies=(_rcp(DENY_B_USERS_DECRYPT, OTHER_ACCOUNT),))],
                 id="rcp-of-key-account-matches-member"),
    pytest.param([account(roles=(role("app", attached=(REVERSE_ABAC["arn"],), tags={"team": "red"}),), policies=(REVERSE_ABAC,),
                          secrets=(secret("app/red", tags={"team": "red"}), secret("app/blue", tags={"team": "blue"})))],
                 id="condition-value-names-resource-tag"),
    pytest.param([account(roles=(role("app", attached=(SCOPED_ROLE_POLICY["arn"],), tags={"scope": secret_arn("app/one")}),),
                          policies=(SCOPED_ROLE_POLICY,), kms_keys=(ENCRYPTION_CONTEXT_KEY,),
                          secrets=(secret("app/one", kms_key_id="k-scoped"), secret("app/two", kms_key_id="k-scoped")))],
                 id="key-policy-value-names-encryption-context"),
]


@pytest.mark.parametrize("aws_accounts", ATTACKS)
def test_secret_access_equals_per_pair(aws_accounts):
    _assert_access_exact(aws_accounts)


@pytest.mark.parametrize("aws_accounts", ATTACKS)
def test_graph_readers_equal_per_pair(aws_accounts):
    _assert_graph_exact(aws_accounts)


ESCALATION_ATTACKS = [
    pytest.param([_developers(READ_ONLY, secrets=(secret("team/db", resource_policy=document(
        allow(PUT_POLICY, "*", Principal={"AWS": ALICE}))),))], id="resource-policy-admits-one-member"),
    pytest.param([_developers(managed_policy(policy_arn("all-secrets"), document(allow("secretsmanager:*", "*"))), secrets=(
        secret("team/db", resource_policy=document(deny("secretsmanager:*", "*", Principal="*", Condition={
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/b*"}}))),))], id="resource-policy-denies-one-member"),
    pytest.param([_developers(managed_policy(policy_arn("all-secrets"), document(allow("secretsmanager:*", "*")))),
                  account(OTHER_ACCOUNT, secrets=(_shared_secret(policy=document(allow("secretsmanager:*", "*", Principal={
                      "AWS": ACCOUNT_ROOT}))),), organization_policies=(_rcp(deny(PUT_POLICY, "*", Principal="*", Condition={
                          "StringEquals": {"aws:PrincipalArn": CAROL}}), OTHER_ACCOUNT),))],
                 id="rcp-of-secret-account-names-member"),
]


@pytest.mark.parametrize("aws_accounts", ESCALATION_ATTACKS)
def test_escalations_equal_per_principal(aws_accounts):
    _assert_escalations_exact(aws_accounts)


def test_escalation_targets_split_by_tag_variable():
    same_team = managed_policy(policy_arn("same-team-keys"), document(allow(
        "iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/*",
        Condition={"StringEquals": {"aws:PrincipalTag/team": "${iam:ResourceTag/team}"}})))
    users = tuple({**user(name, attached=(same_team["arn"],)), "tags": {"team": team}}
                  for name, team in (("alice", "red"), ("bob", "blue"), ("carol", "red")))
    authorizations = AccountAuthorizations([account(users=users, policies=(same_team,))])
    alice = authorizations._model.principal(ALICE)
    expected = [target for target in authorizations.principals()
                if authorizations._evaluator.evaluate(alice, "iam:CreateAccessKey", authorizations._model.resource(target)).possible]
    assert [target for _, target, _ in authorizations.escalation_paths(ALICE)] == expected
    assert expected == [ALICE, CAROL]


# Property: random mixes of the features above ---------------------------------------------------

PRINCIPAL_TESTS = [
    {"StringEquals": {"aws:PrincipalArn": ALICE}},
    {"StringNotEquals": {"aws:PrincipalArn": [ALICE, BOB]}},
    {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/c*"}},
    {"StringLike": {"aws:username": "b*"}},
    {"StringEquals": {"aws:PrincipalTag/team": "${aws:ResourceTag/team}"}},
    {"StringEquals": {"secretsmanager:ResourceTag/team": "red"}},
    {"StringLike": {"aws:userid": "AIDA*"}},
]
RESOURCE_PATTERNS = ["*", secret_arn("team/*").rsplit("-", 1)[0] + "*", secret_arn("ops/*").rsplit("-", 1)[0] + "*"]


def _maybe(condition: dict | None) -> dict[str, Any]:
    return {"Condition": condition} if condition else {}


guarded = st.tuples(st.sampled_from(["Allow", "Deny"]), st.sampled_from([READ, WRITE, "secretsmanager:*", "kms:Decrypt"]),
                    st.sampled_from(RESOURCE_PATTERNS), st.one_of(st.none(), st.sampled_from(PRINCIPAL_TESTS)))


def _resource_statement(parts: tuple, principal: Any) -> dict[str, Any]:
    effect, action, pattern, condition = parts
    return {"Effect": effect, "Action": action, "Resource": pattern, "Principal": principal, **_maybe(condition)}


@st.composite
def mixed_estates(draw: st.DrawFn) -> list[dict[str, Any]]:
    principals = st.sampled_from(["*", {"AWS": ACCOUNT_ROOT}, {"AWS": ALICE}, {"AWS": [BOB, CAROL]}])
    secrets = []
    for index, name in enumerate(["team/db", "team/api", "ops/db", "ops/keys"]):
        policy = None
        if draw(st.booleans()):
            policy = document(*[_resource_statement(parts, draw(principals)) for parts in draw(st.lists(guarded, min_size=1, max_size=2))])
        key_id = draw(st.sampled_from([None, "k-main", "alias/main", f"arn:aws:kms:{REGION}:{OTHER_ACCOUNT}:key/k-other"]))
        secrets.append(secret(name, kms_key_id=key_id, resource_policy=policy, tags={"team": draw(st.sampled_from(["red", "blue"]))}))
    key_statements = [allow("kms:*", "*", Principal={"AWS": ACCOUNT_ROOT})]
    key_statements += [_resource_statement(parts, "*") for parts in draw(st.lists(guarded, max_size=1))]
    main_key = kms_key("k-main", document(*key_statements), aliases=("alias/main",))
    rcp_statements = [{**_resource_statement(parts, "*"), "Effect": "Deny"} for parts in draw(st.lists(guarded, max_size=1))]
    other_policies = (_rcp(document(*rcp_statements)["Statement"][0], OTHER_ACCOUNT),) if rcp_statements else ()
    shared_grants = managed_policy(policy_arn("developers"), document(allow(["secretsmanager:*", "kms:*"], "*")))
    users = DEVELOPERS + (user("dave", groups=("developers",), attached=(shared_grants["arn"],)),)
    roles = tuple(role(name, attached=(shared_grants["arn"],), tags={"team": "red"}) for name in ("app-a", "app-b"))
    return [
        account(users=users, roles=roles, groups=(group("developers", attached=(shared_grants["arn"],)),),
                policies=(shared_grants,), secrets=tuple(secrets), kms_keys=(main_key,)),
        account(OTHER_ACCOUNT, kms_keys=(OTHER_KEY,), organization_policies=other_policies,
                secrets=(_shared_secret(policy=document(allow("secretsmanager:*", "*", Principal={"AWS": ACCOUNT_ROOT}))),)),
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_estates())
def test_mixed_estates_equal_per_pair(aws_accounts):
    _assert_access_exact(aws_accounts)
    _assert_escalations_exact(aws_accounts)
