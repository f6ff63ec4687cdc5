"""AWS authorization over snapshot account sections: evaluation, secret access, trust and escalation."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from blastradius.semantics.iam import AccountAuthorizations, UnknownPrincipalError
from blastradius.semantics.iam_decision import Decision, Evidence
from blastradius.semantics.iam_evaluate import RequestEvaluator
from tests.semantics.iam_fixtures import (
    ACCOUNT,
    ADMINISTRATOR_ACCESS,
    CANARY,
    EKS_ISSUER,
    EKS_PROVIDER_URL,
    OTHER_ACCOUNT,
    account,
    allow,
    deny,
    document,
    group,
    key_arn,
    kms_key,
    managed_policy,
    oidc_provider,
    organization_policy,
    policy_arn,
    provider_arn,
    role,
    role_arn,
    secret,
    secret_arn,
    trust,
    user,
    user_arn,
)

GET = "secretsmanager:GetSecretValue"
PROD_DB = secret_arn("production/db")
REAL_AUTH_DETAILS = Path(__file__).resolve().parents[2] / ".." / "shared" / "real-inputs" / "aws-auth-details" / "example-authz-details.json"


def model(*sections: dict[str, Any]) -> AccountAuthorizations:
    return AccountAuthorizations(list(sections))


def reader_role(name: str = "payments-api", statement: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    return role(name, inline={"secrets": document(statement or allow(GET, PROD_DB))}, **kwargs)


# Evaluation ----------------------------------------------------------------------------------


def test_group_deny_beats_user_allow_all():
    authz = model(
        account(
            users=(user("alice", groups=("contractors",), attached=(ADMINISTRATOR_ACCESS["arn"],)),),
            groups=(group("contractors", inline={"no-secrets": document(deny(GET))}),),
            policies=(ADMINISTRATOR_ACCESS,),
            secrets=(secret("production/db"),),
        )
    )

    decision = authz.evaluate(user_arn("alice"), GET, PROD_DB)

    assert decision.effect == "deny"
    assert decision.evidence == (Evidence("inline:group/contractors/no-secrets", "#0", "Deny"),)


@pytest.mark.parametrize(
    ("action", "expected"),
    [(GET, "deny"), ("secretsmanager:PutSecretValue", "deny"), ("secretsmanager:DescribeSecret", "allow"), ("SecretsManager:describesecret", "allow")],
    ids=["read-denied", "write-denied", "describe-exempt", "describe-exempt-any-case"],
)
def test_deny_with_not_action(action, expected):
    guard = {"Sid": "OnlyDescribe", "Effect": "Deny", "NotAction": "secretsmanager:DescribeSecret", "Resource": "*"}
    authz = model(account(roles=(role("auditor", inline={"p": document(allow("secretsmanager:*"), guard)}),), secrets=(secret("production/db"),)))

    assert authz.evaluate(role_arn("auditor"), action, PROD_DB).effect == expected


def test_deny_with_date_condition_is_conditional():
    window = deny("*", Condition={"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}})
    authz = model(account(roles=(role("payments-api", inline={"p": document(allow(GET, PROD_DB), window)}),), secrets=(secret("production/db"),)))

    decision = authz.evaluate(role_arn("payments-api"), GET, PROD_DB)

    assert decision.effect == "conditional"
    assert decision.conditions == ("unless aws:CurrentTime DateLessThan 2027-01-01T00:00:00Z",)
    assert Evidence("inline:payments-api/p", "#1", "Deny") in decision.evidence


def test_allow_with_source_ip_is_conditional():
    statement = allow(GET, PROD_DB, Sid="FromOffice", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})
    authz = model(account(roles=(reader_role(statement=statement),), secrets=(secret("production/db"),)))

    decision = authz.evaluate(role_arn("payments-api"), GET, PROD_DB)

    assert decision == Decision(
        "conditional",
        ("aws:SourceIp IpAddress 203.0.113.0/24",),
        (Evidence("inline:payments-api/secrets", "FromOffice", "Allow"),),
        "allowed only if the listed conditions hold",
    )


@pytest.mark.parametrize(
    ("tags", "expected"),
    [({"team": "payments"}, "allow"), ({"team": "billing"}, "deny"), ({}, "deny")],
    ids=["tag-matches", "tag-differs", "tag-missing"],
)
def test_principal_tag_condition_is_decided(tags, expected):
    statement = allow(GET, "*", Condition={"StringEquals": {"aws:PrincipalTag/team": "payments"}})
    authz = model(account(roles=(reader_role(statement=statement, tags=tags),), secrets=(secret("production/db"),)))

    assert authz.evaluate(role_arn("payments-api"), GET, PROD_DB).effect == expected


@pytest.mark.parametrize(
    ("secret_tags", "expected"),
    [({"team": "payments"}, "allow"), ({"team": "billing"}, "deny")],
    ids=["resource-tag-matches", "resource-tag-differs"],
)
def test_resource_tag_condition_is_decided(secret_tags, expected):
    statement = allow(GET, "*", Condition={"StringEquals": {"secretsmanager:ResourceTag/team": "payments"}})
    authz = model(account(roles=(reader_role(statement=statement),), secrets=(secret("production/db", tags=secret_tags),)))

    assert authz.evaluate(role_arn("payments-api"), GET, PROD_DB).effect == expected


def test_action_case_is_ignored():
    authz = model(account(roles=(reader_role(statement=allow("SecretsManager:getsecretVALUE", PROD_DB)),), secrets=(secret("production/db"),)))

    assert authz.evaluate(role_arn("payments-api"), GET, PROD_DB).effect == "allow"


def test_not_resource_excludes_production():
    statement = {"Effect": "Allow", "Action": GET, "NotResource": f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:production/*"}
    authz = model(account(roles=(reader_role(statement=statement),), secrets=(secret("production/db"), secret("staging/db"))))

    readable = [arn for arn, _ in authz.secret_access(role_arn("payments-api"), "read")]

    assert readable == [secret_arn("staging/db")]


def test_unknown_principal_raises():
    authz = model(account())

    with pytest.raises(UnknownPrincipalError, match="arn:aws:iam::111122223333:role/ghost"):
        authz.evaluate(role_arn("ghost"), GET, PROD_DB)


def test_assumed_role_arn_resolves_to_role():
    authz = model(account(roles=(reader_role(),), secrets=(secret("production/db"),)))

    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/payments-api/botocore-session-1"

    assert authz.evaluate(session, GET, PROD_DB).effect == "allow"


# Resource policies and cross-account access ---------------------------------------------------


def cross_account_estate(identity_allows: bool) -> AccountAuthorizations:
    consumer = role_arn("payments-api", OTHER_ACCOUNT)
    resource_policy = document({"Sid": "Consumer", "Effect": "Allow", "Principal": {"AWS": consumer}, "Action": GET, "Resource": "*"})
    statement = allow(GET, f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:production/*") if identity_allows else allow("s3:GetObject")
    return model(
        account(secrets=(secret("production/db", resource_policy=resource_policy, kms_key_id=key_arn("1234abcd")),),
                kms_keys=(kms_key("1234abcd", document(
                    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
                    {"Effect": "Allow", "Principal": {"AWS": consumer}, "Action": "kms:Decrypt", "Resource": "*"},
                )),)),
        account(OTHER_ACCOUNT, roles=(role("payments-api", account=OTHER_ACCOUNT, inline={"p": document(statement, allow("kms:Decrypt"))}),)),
    )


@pytest.mark.parametrize(("identity_allows", "expected"), [(False, "deny"), (True, "allow")], ids=["resource-policy-only", "both-allow"])
def test_cross_account_needs_both_policies(identity_allows, expected):
    authz = cross_account_estate(identity_allows)

    assert authz.evaluate(role_arn("payments-api", OTHER_ACCOUNT), GET, PROD_DB).effect == expected


def test_cross_account_denial_names_missing_side():
    authz = cross_account_estate(identity_allows=False)

    decision = authz.evaluate(role_arn("payments-api", OTHER_ACCOUNT), GET, PROD_DB)

    assert decision.reason == f"cross-account: no identity policy of {role_arn('payments-api', OTHER_ACCOUNT)} allows {GET}"


def test_cross_account_secret_access_with_cmk():
    authz = cross_account_estate(identity_allows=True)

    rows = authz.secret_access(role_arn("payments-api", OTHER_ACCOUNT), "read")

    assert [arn for arn, _ in rows] == [PROD_DB]
    assert rows[0][1].effect == "allow"
    assert Evidence(f"resource-policy:{PROD_DB}", "Consumer", "Allow") in rows[0][1].evidence


def test_same_account_resource_policy_alone_allows():
    resource_policy = document({"Effect": "Allow", "Principal": {"AWS": role_arn("batch")}, "Action": GET, "Resource": "*"})
    authz = model(account(roles=(role("batch"),), secrets=(secret("production/db", resource_policy=resource_policy),)))

    assert authz.evaluate(role_arn("batch"), GET, PROD_DB).effect == "allow"
    assert [arn for arn, _ in authz.secret_access(role_arn("batch"), "read")] == [PROD_DB]


def test_resource_policy_deny_wins():
    resource_policy = document({"Sid": "OnlyRotation", "Effect": "Deny", "Principal": "*", "Action": GET, "Resource": "*",
                                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": role_arn("rotation")}}})
    authz = model(account(roles=(reader_role(), role("rotation", inline={"p": document(allow(GET))})),
                          secrets=(secret("production/db", resource_policy=resource_policy),)))

    assert authz.evaluate(role_arn("payments-api"), GET, PROD_DB).effect == "deny"
    assert authz.evaluate(role_arn("rotation"), GET, PROD_DB).effect == "allow"


@pytest.mark.parametrize(
    ("not_principal", "expected"),
    [
        ([role_arn("rotation"), f"arn:aws:iam::{ACCOUNT}:root"], "allow"),
        ([role_arn("rotation")], "deny"),
    ],
    ids=["role-and-account-listed", "role-only-listed"],
)
def test_not_principal_deny_exempts_listed(not_principal, expected):
    resource_policy = document({"Effect": "Deny", "NotPrincipal": {"AWS": not_principal}, "Action": GET, "Resource": "*"})
    authz = model(account(roles=(role("rotation", inline={"p": document(allow(GET))}),),
                          secrets=(secret("production/db", resource_policy=resource_policy),)))

    assert authz.evaluate(role_arn("rotation"), GET, PROD_DB).effect == expected


def test_session_principal_is_conditional():
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/batch/nightly-export"
    resource_policy = document({"Effect": "Allow", "Principal": {"AWS": session}, "Action": GET, "Resource": "*"})
    authz = model(account(roles=(role("batch"),), secrets=(secret("production/db", resource_policy=resource_policy),)))

    ((_, decision),) = authz.secret_access(role_arn("batch"), "read")

    assert decision.conditions == ("the role session name is nightly-export",)


def test_resource_policy_naming_account_needs_identity():
    resource_policy = document({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": GET, "Resource": "*"})
    authz = model(account(roles=(role("batch"),), secrets=(secret("production/db", resource_policy=resource_policy),)))

    assert authz.evaluate(role_arn("batch"), GET, PROD_DB).effect == "deny"


# Boundaries, policy versions, organization policies --------------------------------------------


def test_boundary_only_policy_limits_role():
    boundary = managed_policy(policy_arn("s3-only-boundary"), document(allow("s3:*")))
    authz = model(account(roles=(role("app", attached=(ADMINISTRATOR_ACCESS["arn"],), boundary=boundary["arn"]),),
                          policies=(ADMINISTRATOR_ACCESS, boundary), secrets=(secret("production/db"),)))

    read = authz.evaluate(role_arn("app"), GET, PROD_DB)

    assert read.effect == "deny"
    assert read.reason == f"the permission boundary boundary:{boundary['arn']} does not allow {GET}"
    assert authz.evaluate(role_arn("app"), "s3:GetObject", "arn:aws:s3:::reports/2026.csv").effect == "allow"
    assert authz.warnings == []


def test_boundary_deny_wins():
    boundary = managed_policy(policy_arn("no-secrets-boundary"), document(allow("*"), {"Sid": "NoSecrets", **deny("secretsmanager:*")}))
    authz = model(account(roles=(reader_role(boundary=boundary["arn"]),), policies=(boundary,), secrets=(secret("production/db"),)))

    decision = authz.evaluate(role_arn("payments-api"), GET, PROD_DB)

    assert decision.effect == "deny"
    assert decision.evidence == (Evidence(f"boundary:{boundary['arn']}", "NoSecrets", "Deny"),)


def test_boundary_limits_resource_policy_for_role():
    boundary = managed_policy(policy_arn("s3-only-boundary"), document(allow("s3:*")))
    resource_policy = document({"Effect": "Allow", "Principal": {"AWS": role_arn("app")}, "Action": GET, "Resource": "*"})
    authz = model(account(roles=(role("app", boundary=boundary["arn"]),), policies=(boundary,),
                          secrets=(secret("production/db", resource_policy=resource_policy),)))

    assert authz.evaluate(role_arn("app"), GET, PROD_DB).effect == "deny"


def test_boundary_spares_resource_policy_for_user():
    boundary = managed_policy(policy_arn("s3-only-boundary"), document(allow("s3:*")))
    resource_policy = document({"Effect": "Allow", "Principal": {"AWS": user_arn("alice")}, "Action": GET, "Resource": "*"})
    authz = model(account(users=(user("alice", boundary=boundary["arn"]),), policies=(boundary,),
                          secrets=(secret("production/db", resource_policy=resource_policy),)))

    assert authz.evaluate(user_arn("alice"), GET, PROD_DB).effect == "allow"


def test_only_default_policy_version_counts():
    reader = managed_policy(policy_arn("app-reader"), document(allow("s3:GetObject")), version="v2")
    reader["versions"] = [{"version_id": "v1", "is_default": False, "document": document(allow("*"))}]
    authz = model(account(roles=(role("app", attached=(reader["arn"],)),), policies=(reader,), secrets=(secret("production/db"),)))

    assert authz.evaluate(role_arn("app"), GET, PROD_DB).effect == "deny"
    assert authz.secret_access(role_arn("app"), "read") == []


def test_scp_deny_wins():
    scp = organization_policy("p-denysecrets", document({"Sid": "NoSecrets", "Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*"}, allow("*")))
    authz = model(account(roles=(reader_role(),), secrets=(secret("production/db"),), organization_policies=(scp,)))

    decision = authz.evaluate(role_arn("payments-api"), GET, PROD_DB)

    assert decision.effect == "deny"
    assert decision.evidence == (Evidence("scp:p-denysecrets", "NoSecrets", "Deny"),)


def test_scp_without_allow_denies():
    scp = organization_policy("p-s3only", document(allow("s3:*")))
    authz = model(account(roles=(reader_role(),), secrets=(secret("production/db"),), organization_policies=(scp,)))

    decision = authz.evaluate(role_arn("payments-api"), GET, PROD_DB)

    assert decision.effect == "deny"
    assert decision.reason == f"no service control policy of account {ACCOUNT} allows {GET}"


def test_scp_spares_service_linked_role():
    scp = organization_policy("p-s3only", document(allow("s3:*")))
    linked = reader_role("AWSServiceRoleForExample", path="/aws-service-role/example.amazonaws.com/")
    authz = model(account(roles=(linked,), secrets=(secret("production/db"),), organization_policies=(scp,)))

    assert authz.evaluate(role_arn("AWSServiceRoleForExample"), GET, PROD_DB).effect == "allow"


def test_rcp_deny_applies_to_resource():
    rcp = organization_policy(
        "p-rcp-org-only",
        document({"Sid": "OrgOnly", "Effect": "Deny", "Principal": "*", "Action": "secretsmanager:*", "Resource": "*",
                  "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}}}),
        kind="RESOURCE_CONTROL_POLICY",
    )
    sections = [
        account(secrets=(secret("production/db", resource_policy=document({"Effect": "Allow", "Principal": "*", "Action": GET, "Resource": "*"})),),
                roles=(reader_role(),), organization_policies=(rcp,)),
        account(OTHER_ACCOUNT, roles=(role("payments-api", account=OTHER_ACCOUNT, inline={"p": document(allow(GET))}),)),
    ]
    authz = AccountAuthorizations(sections)

    outside = authz.evaluate(role_arn("payments-api", OTHER_ACCOUNT), GET, PROD_DB)

    assert outside.effect == "deny"
    assert outside.evidence == (Evidence("rcp:p-rcp-org-only", "OrgOnly", "Deny"),)
    assert authz.evaluate(role_arn("payments-api"), GET, PROD_DB).effect == "allow"


# KMS -----------------------------------------------------------------------------------------

ROOT_ONLY_KEY_POLICY = document({"Sid": "EnableIAM", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"})
ADMIN_ONLY_KEY_POLICY = document({"Sid": "KeyAdmin", "Effect": "Allow", "Principal": {"AWS": role_arn("key-admin")}, "Action": "kms:*", "Resource": "*"})


@pytest.mark.parametrize(
    ("key_policy", "identity", "expected"),
    [
        (ROOT_ONLY_KEY_POLICY, [allow(GET), allow("kms:Decrypt")], [PROD_DB]),
        (ROOT_ONLY_KEY_POLICY, [allow(GET)], []),
        (ADMIN_ONLY_KEY_POLICY, [allow(GET), allow("kms:*")], []),
        (document({"Effect": "Allow", "Principal": {"AWS": role_arn("payments-api")}, "Action": "kms:Decrypt", "Resource": "*"}), [allow(GET)], [PROD_DB]),
        (document({"Effect": "Allow", "Principal": {"AWS": role_arn("payments-api")}, "Action": "kms:Decrypt", "Resource": "*",
                   "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}}), [allow(GET)], [PROD_DB]),
        (document({"Effect": "Allow", "Principal": {"AWS": role_arn("payments-api")}, "Action": "kms:Decrypt", "Resource": "*",
                   "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}), [allow(GET)], []),
    ],
    ids=["delegated-and-iam-allows", "delegated-iam-silent", "no-grant-to-role-or-account", "key-policy-names-role",
         "via-secrets-manager", "via-other-service"],
)
def test_customer_key_gates_secret_read(key_policy, identity, expected):
    authz = model(account(roles=(role("payments-api", inline={"p": document(*identity)}),),
                          secrets=(secret("production/db", kms_key_id=key_arn("1234abcd")),),
                          kms_keys=(kms_key("1234abcd", key_policy, aliases=("alias/production-secrets",)),)))

    assert [arn for arn, _ in authz.secret_access(role_arn("payments-api"), "read")] == expected


def test_key_found_by_alias():
    authz = model(account(roles=(role("payments-api", inline={"p": document(allow(GET))}),),
                          secrets=(secret("production/db", kms_key_id="alias/production-secrets"),),
                          kms_keys=(kms_key("1234abcd", ADMIN_ONLY_KEY_POLICY, aliases=("alias/production-secrets",)),)))

    assert authz.secret_access(role_arn("payments-api"), "read") == []


def test_aws_managed_key_cross_account_denies():
    resource_policy = document({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}, "Action": GET, "Resource": "*"})
    authz = model(
        account(secrets=(secret("production/db", resource_policy=resource_policy, kms_key_id="alias/aws/secretsmanager"),)),
        account(OTHER_ACCOUNT, roles=(role("payments-api", account=OTHER_ACCOUNT, inline={"p": document(allow(GET))}),)),
    )

    assert authz.evaluate(role_arn("payments-api", OTHER_ACCOUNT), GET, PROD_DB).effect == "allow"
    assert authz.secret_access(role_arn("payments-api", OTHER_ACCOUNT), "read") == []


def test_aws_managed_key_serves_own_account():
    authz = model(account(roles=(reader_role(),), secrets=(secret("production/db", kms_key_id=None),)))

    rows = authz.secret_access(role_arn("payments-api"), "read")

    assert [(arn, decision.effect) for arn, decision in rows] == [(PROD_DB, "allow")]


def test_uncollected_key_is_conditional():
    missing_key = key_arn("feedbeef")
    authz = model(account(roles=(reader_role(),), secrets=(secret("production/db", kms_key_id=missing_key),)))

    ((arn, decision),) = authz.secret_access(role_arn("payments-api"), "read")

    assert decision.effect == "conditional"
    assert decision.conditions == (f"kms:Decrypt on {missing_key} is allowed (the key is not in the snapshot)",)


def test_key_without_policy_is_conditional():
    uncollected = kms_key("1234abcd", None)
    authz = model(account(roles=(role("payments-api", inline={"p": document(allow([GET, "kms:Decrypt"]))}),),
                          secrets=(secret("production/db", kms_key_id=key_arn("1234abcd")),), kms_keys=(uncollected,)))

    ((_, decision),) = authz.secret_access(role_arn("payments-api"), "read")

    assert decision.effect == "conditional"
    assert decision.conditions == (f"the resource policy of {key_arn('1234abcd')} (not in the snapshot) allows kms:Decrypt",)


def test_key_policy_denial_reason():
    authz = model(account(roles=(role("payments-api", inline={"p": document(allow("kms:*"))}),),
                          kms_keys=(kms_key("1234abcd", ADMIN_ONLY_KEY_POLICY),)))

    decision = authz.evaluate(role_arn("payments-api"), "kms:Decrypt", key_arn("1234abcd"))

    assert decision.reason == (
        f"the key policy of {key_arn('1234abcd')} neither allows {role_arn('payments-api')} nor delegates kms:Decrypt to IAM"
    )


def test_overwrite_needs_generate_data_key():
    key_policy = document({"Effect": "Allow", "Principal": {"AWS": role_arn("writer")}, "Action": ["kms:Decrypt"], "Resource": "*"})
    authz = model(account(roles=(role("writer", inline={"p": document(allow(["secretsmanager:PutSecretValue", GET]))}),),
                          secrets=(secret("production/db", kms_key_id=key_arn("1234abcd")),),
                          kms_keys=(kms_key("1234abcd", key_policy),)))

    assert [arn for arn, _ in authz.secret_access(role_arn("writer"), "read")] == [PROD_DB]
    assert authz.secret_access(role_arn("writer"), "overwrite") == []


def test_overwrite_via_update_secret():
    authz = model(account(roles=(role("writer", inline={"p": document(allow("secretsmanager:UpdateSecret", PROD_DB))}),),
                          secrets=(secret("production/db"), secret("production/api"))))

    assert [arn for arn, _ in authz.secret_access(role_arn("writer"), "overwrite")] == [PROD_DB]


# Secret access and its index -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:production/*", [PROD_DB]),
        (f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:production/db", []),
        (f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:production/db-??????", [PROD_DB]),
        (PROD_DB, [PROD_DB]),
        ("*", [PROD_DB, secret_arn("staging/db")]),
    ],
    ids=["prefix-star", "name-without-suffix", "suffix-wildcard", "exact-arn", "star"],
)
def test_secret_access_resource_patterns(resource, expected):
    authz = model(account(roles=(reader_role(statement=allow(GET, resource)),), secrets=(secret("production/db"), secret("staging/db"))))

    assert [arn for arn, _ in authz.secret_access(role_arn("payments-api"), "read")] == expected


def test_secret_access_evaluates_only_candidates(monkeypatch):
    secrets = tuple(secret(f"team-{number:04d}/db") for number in range(2000))
    authz = model(account(roles=(reader_role(statement=allow(GET, secret_arn("team-0042/db"))),), secrets=secrets))
    evaluated: list[str] = []
    original = RequestEvaluator.evaluate

    def counting(self, principal, action, resource, extra=None):
        evaluated.append(resource.arn)
        return original(self, principal, action, resource, extra)

    monkeypatch.setattr(RequestEvaluator, "evaluate", counting)

    rows = authz.secret_access(role_arn("payments-api"), "read")

    assert [arn for arn, _ in rows] == [secret_arn("team-0042/db")]
    assert evaluated == [secret_arn("team-0042/db")]


def test_secret_access_rejects_unknown_capability():
    authz = model(account(roles=(reader_role(),)))

    with pytest.raises(ValueError, match="unknown capability 'delete'"):
        authz.secret_access(role_arn("payments-api"), "delete")


# Unparseable policies ---------------------------------------------------------------------------


def test_unparseable_policy_warns_and_caveats():
    broken = managed_policy(policy_arn("legacy-guard"), '{"Statement": [{"Effect": "Deny", "Action": "*" "Resource": "*"}]}')
    authz = model(account(roles=(reader_role(attached=(broken["arn"],)),), policies=(broken,), secrets=(secret("production/db"),)))

    decision = authz.evaluate(role_arn("payments-api"), GET, PROD_DB)

    assert len(authz.warnings) == 1
    assert authz.warnings[0].startswith(f"managed policy {broken['arn']}: policy {broken['arn']}: invalid JSON")
    assert decision.effect == "conditional"
    assert decision.conditions == (f"unparseable policy {broken['arn']} may deny",)


def test_unparseable_policy_without_deny_grants_nothing():
    broken = managed_policy(policy_arn("legacy-reader"), {"Statement": [{"Effect": "Allow", "Action": GET, "Resource": "*", "Resources": "*"}]})
    authz = model(account(roles=(role("app", attached=(broken["arn"],)),), policies=(broken,), secrets=(secret("production/db"),)))

    assert authz.evaluate(role_arn("app"), GET, PROD_DB).effect == "deny"
    assert authz.warnings == [
        f"managed policy {broken['arn']}: policy {broken['arn']}, statement #0: unknown element(s) ['Resources']; "
        "treated as granting nothing, and it contains no Deny"
    ]


def test_missing_managed_policy_is_reported():
    missing = "arn:aws:iam::aws:policy/SecretsManagerReadWrite"
    authz = model(account(roles=(reader_role(attached=(missing,)),), secrets=(secret("production/db"),)))

    decision = authz.evaluate(role_arn("payments-api"), GET, PROD_DB)

    assert decision.conditions == (f"unparseable policy {missing} may deny",)
    assert authz.warnings == [
        f"managed policy {missing} (attached to role {role_arn('payments-api')}) is not in the snapshot; treated as "
        "granting nothing, and results it could affect say it may deny"
    ]


def test_missing_document_may_deny():
    empty = managed_policy(policy_arn("no-document"), None)
    authz = model(account(roles=(reader_role(attached=(empty["arn"],)),), policies=(empty,), secrets=(secret("production/db"),)))

    decision = authz.evaluate(role_arn("payments-api"), GET, PROD_DB)

    assert decision.conditions == (f"unparseable policy {empty['arn']} may deny",)


def test_warning_never_echoes_policy_text():
    broken = managed_policy(policy_arn("leaky"), '{"Statement": "' + CANARY)
    authz = model(account(roles=(role("app", attached=(broken["arn"],)),), policies=(broken,)))

    assert authz.warnings
    assert all(CANARY not in warning for warning in authz.warnings)


@pytest.mark.parametrize(
    ("list_name", "entry", "message"),
    [
        ("roles", {"name": "app"}, "AWS account 111122223333: roles[0] is missing the field 'arn'"),
        ("secrets", {"name": "production/db"}, "AWS account 111122223333: secrets[0] is missing the field 'arn'"),
        ("oidc_providers", {"arn": "arn:aws:iam::111122223333:oidc-provider/x"}, "AWS account 111122223333: oidc_providers[0] is missing the field 'url'"),
    ],
    ids=["role-without-arn", "secret-without-arn", "provider-without-url"],
)
def test_entry_missing_field_is_rejected(list_name, entry, message):
    section = account()
    section[list_name] = [entry]

    with pytest.raises(ValueError) as raised:
        AccountAuthorizations([section])

    assert str(raised.value) == message


def test_account_without_id_is_rejected():
    with pytest.raises(ValueError, match=r"aws_accounts\[1\]: the AWS account section is missing the field 'account_id'"):
        AccountAuthorizations([account(), {"users": []}])


# Role trust ---------------------------------------------------------------------------------------


def trust_estate() -> AccountAuthorizations:
    assume = allow("sts:AssumeRole", role_arn("deployer"))
    return model(
        account(roles=(
            role("deployer", trust_policy=trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})),
            role("ci", inline={"assume": document(assume)}),
            role("web"),
            role("named-caller", trust_policy=trust({"AWS": role_arn("web")})),
        )),
        account(OTHER_ACCOUNT, roles=(role("intruder", account=OTHER_ACCOUNT, inline={"assume": document(assume)}),)),
    )


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        (role_arn("ci"), [role_arn("deployer")]),
        (role_arn("web"), [role_arn("named-caller")]),
        (role_arn("intruder", OTHER_ACCOUNT), []),
    ],
    ids=["account-trust-with-identity-allow", "trust-names-caller", "other-account"],
)
def test_assumable_by_table(caller, expected):
    assert [arn for arn, _ in trust_estate().assumable_by(caller)] == expected


def test_account_trust_needs_identity_allow():
    decision = trust_estate().can_assume(role_arn("web"), role_arn("deployer"))

    assert decision.effect == "deny"


def test_cross_account_trust_needs_identity():
    trusted = trust({"AWS": role_arn("ci", OTHER_ACCOUNT)})
    sections = [
        account(roles=(role("deployer", trust_policy=trusted),)),
        account(OTHER_ACCOUNT, roles=(role("ci", account=OTHER_ACCOUNT), role("ci2", account=OTHER_ACCOUNT))),
    ]
    without_identity = AccountAuthorizations(sections)
    sections[1]["roles"][0]["inline_policies"] = {"assume": document(allow("sts:AssumeRole", role_arn("deployer")))}
    with_identity = AccountAuthorizations(sections)

    assert without_identity.can_assume(role_arn("ci", OTHER_ACCOUNT), role_arn("deployer")).effect == "deny"
    assert with_identity.can_assume(role_arn("ci", OTHER_ACCOUNT), role_arn("deployer")).effect == "allow"


def test_trust_external_id_is_conditional():
    trusted = trust({"AWS": OTHER_ACCOUNT}, Condition={"StringEquals": {"sts:ExternalId": "partner-7731"}})
    authz = model(account(roles=(role("partner-access", trust_policy=trusted),)),
                  account(OTHER_ACCOUNT, roles=(role("vendor", account=OTHER_ACCOUNT, inline={"p": document(allow("sts:AssumeRole"))}),)))

    ((arn, decision),) = authz.assumable_by(role_arn("vendor", OTHER_ACCOUNT))

    assert arn == role_arn("partner-access")
    assert decision.conditions == ("sts:ExternalId StringEquals partner-7731",)


def test_can_assume_unknown_role_raises():
    with pytest.raises(UnknownPrincipalError, match="role arn:aws:iam::111122223333:role/ghost"):
        trust_estate().can_assume(role_arn("ci"), role_arn("ghost"))


# IRSA / web identity --------------------------------------------------------------------------------


def irsa_trust(condition: dict[str, Any] | None, provider: str | None = None) -> dict[str, Any]:
    extra = {"Condition": condition} if condition is not None else {}
    return trust({"Federated": provider or provider_arn()}, action="sts:AssumeRoleWithWebIdentity", **extra)


def irsa_estate(condition: dict[str, Any] | None, provider: str | None = None, providers: tuple = (oidc_provider(),)) -> AccountAuthorizations:
    return model(account(roles=(role("eso-reader", trust_policy=irsa_trust(condition, provider)),), oidc_providers=providers))


PINNED = {"StringEquals": {f"{EKS_PROVIDER_URL}:sub": "system:serviceaccount:external-secrets:eso", f"{EKS_PROVIDER_URL}:aud": "sts.amazonaws.com"}}
ANY_SA = {"StringLike": {f"{EKS_PROVIDER_URL}:sub": "system:serviceaccount:*:*"}}
NAMESPACE_SA = {"StringLike": {f"{EKS_PROVIDER_URL}:sub": "system:serviceaccount:payments:*"}}


@pytest.mark.parametrize(
    ("condition", "subject", "admitted"),
    [
        (PINNED, "system:serviceaccount:external-secrets:eso", True),
        (PINNED, "system:serviceaccount:default:default", False),
        (ANY_SA, "system:serviceaccount:default:default", True),
        (ANY_SA, "system:serviceaccount:kube-system:coredns", True),
        (NAMESPACE_SA, "system:serviceaccount:payments:api", True),
        (NAMESPACE_SA, "system:serviceaccount:billing:api", False),
        (None, "system:serviceaccount:anything:at-all", True),
    ],
    ids=["pinned-match", "pinned-other-sa", "like-any-default", "like-any-kube-system", "like-namespace-match",
         "like-other-namespace", "no-sub-condition"],
)
def test_web_identity_subject_table(condition, subject, admitted):
    rows = irsa_estate(condition).web_identity_roles(EKS_ISSUER, subject)

    assert [arn for arn, _ in rows] == ([role_arn("eso-reader")] if admitted else [])


def test_web_identity_other_issuer_admits_none():
    authz = irsa_estate(ANY_SA)

    assert authz.web_identity_roles("https://oidc.eks.eu-west-1.amazonaws.com/id/0THERCLUSTER", "system:serviceaccount:default:default") == []


def test_web_identity_needs_registered_provider():
    authz = irsa_estate(ANY_SA, providers=())

    assert authz.web_identity_roles(EKS_ISSUER, "system:serviceaccount:default:default") == []


def test_web_identity_trust_for_other_provider():
    other_url = "oidc.eks.eu-west-1.amazonaws.com/id/0THERCLUSTER"
    condition = {"StringEquals": {f"{other_url}:sub": "system:serviceaccount:default:default"}}
    authz = irsa_estate(condition, provider=provider_arn(url=other_url), providers=(oidc_provider(), oidc_provider(url=other_url)))

    assert authz.web_identity_roles(EKS_ISSUER, "system:serviceaccount:default:default") == []
    assert [arn for arn, _ in authz.web_identity_roles(f"https://{other_url}", "system:serviceaccount:default:default")] == [role_arn("eso-reader")]


@pytest.mark.parametrize(
    ("condition", "reason_end"),
    [(PINNED, "the trust checks aud"), (ANY_SA, "the trust does not check aud")],
    ids=["aud-checked", "aud-unchecked"],
)
def test_web_identity_reports_audience_check(condition, reason_end):
    ((_, decision),) = irsa_estate(condition).web_identity_roles(EKS_ISSUER, "system:serviceaccount:external-secrets:eso")

    assert decision.reason.endswith(reason_end)


def test_web_identity_trust_of_everyone():
    open_trust = trust("*", action="sts:AssumeRoleWithWebIdentity")
    authz = model(account(roles=(role("open", trust_policy=open_trust),), oidc_providers=(oidc_provider(),)))

    assert [arn for arn, _ in authz.web_identity_roles(EKS_ISSUER, "system:serviceaccount:a:b")] == [role_arn("open")]


def test_web_identity_audience_not_client_id():
    authz = irsa_estate(None)

    assert authz.web_identity_roles(EKS_ISSUER, "system:serviceaccount:a:b", audience="vault") == []


def test_web_identity_trusts_describe_subject():
    (described,) = irsa_estate(NAMESPACE_SA).web_identity_trusts(EKS_ISSUER)

    assert described.role_arn == role_arn("eso-reader")
    assert described.subject_operator == "StringLike"
    assert described.subject_patterns == ("system:serviceaccount:payments:*",)
    assert described.audience_checked is False


# Escalation -----------------------------------------------------------------------------------------


def test_escalation_put_role_policy_targets():
    authz = model(account(roles=(
        role("platform", inline={"iam": document(allow("iam:PutRolePolicy", role_arn("app-*")))}),
        role("app-api"), role("app-worker"), role("billing"),
    )))

    rows = [(kind, target) for kind, target, _ in authz.escalation_paths(role_arn("platform"))]

    assert rows == [("iam:PutRolePolicy", role_arn("app-api")), ("iam:PutRolePolicy", role_arn("app-worker"))]


def test_escalation_pass_role_needs_compute():
    deployer_policy = document(allow("iam:PassRole", role_arn("*")), allow("ec2:RunInstances"))
    authz = model(account(roles=(
        role("deployer", inline={"p": document(*deployer_policy["Statement"])}),
        role("instance-admin", trust_policy=trust({"Service": "ec2.amazonaws.com"})),
        role("lambda-admin", trust_policy=trust({"Service": "lambda.amazonaws.com"})),
    )))

    rows = [(kind, target, decision.effect) for kind, target, decision in authz.escalation_paths(role_arn("deployer"))]

    assert rows == [
        ("iam:PassRole+ec2:RunInstances", role_arn("deployer"), "allow"),
        ("iam:PassRole+ec2:RunInstances", role_arn("instance-admin"), "allow"),
    ]


def test_escalation_pass_role_passed_service():
    statement = allow("iam:PassRole", "*", Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}})
    authz = model(account(roles=(
        role("deployer", inline={"p": document(statement, allow(["ec2:RunInstances", "lambda:CreateFunction"]))}, trust_policy=trust({"Service": "lambda.amazonaws.com"})),
        role("instance-admin"),
    )))

    rows = [(kind, target) for kind, target, _ in authz.escalation_paths(role_arn("deployer"))]

    assert rows == [("iam:PassRole+lambda:CreateFunction", role_arn("deployer"))]


def test_escalation_policy_version_and_resource_policy():
    customer = managed_policy(policy_arn("app-reader"), document(allow(GET)))
    authz = model(account(
        users=(user("ops", inline={"p": document(allow(["iam:CreatePolicyVersion", "secretsmanager:PutResourcePolicy"]))}),),
        policies=(customer, ADMINISTRATOR_ACCESS), secrets=(secret("production/db"),),
    ))

    rows = [(kind, target) for kind, target, _ in authz.escalation_paths(user_arn("ops"))]

    assert rows == [("iam:CreatePolicyVersion", customer["arn"]), ("secretsmanager:PutResourcePolicy", PROD_DB)]


def test_escalation_self_access_keys():
    statement = allow(["iam:CreateAccessKey"], "arn:aws:iam::111122223333:user/${aws:username}")
    authz = model(account(users=(user("alice", inline={"self": document(statement)}), user("bob"))))

    rows = [(kind, target) for kind, target, _ in authz.escalation_paths(user_arn("alice"))]

    assert rows == [("iam:CreateAccessKey", user_arn("alice"))]


# Real input and scale ---------------------------------------------------------------------------


def _inline(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {entry["PolicyName"]: entry["PolicyDocument"] for entry in entries}


def account_from_authorization_details(details: dict[str, Any]) -> dict[str, Any]:
    """Minimal conversion of `aws iam get-account-authorization-details` output to an account section."""
    account_id = details["UserDetailList"][0]["Arn"].split(":")[4]
    policies = []
    for entry in details["Policies"]:
        default = next(version for version in entry["PolicyVersionList"] if version["IsDefaultVersion"])
        policies.append(managed_policy(entry["Arn"], default["Document"], aws_managed=":aws:policy/" in entry["Arn"], version=entry["DefaultVersionId"]))
    users = [
        {"arn": entry["Arn"], "name": entry["UserName"], "path": entry["Path"], "groups": entry.get("GroupList", []),
         "attached_policies": [item["PolicyArn"] for item in entry.get("AttachedManagedPolicies", [])],
         "inline_policies": _inline(entry.get("UserPolicyList", [])),
         "permissions_boundary": (entry.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"), "tags": {}}
        for entry in details["UserDetailList"]
    ]
    groups = [
        {"arn": entry["Arn"], "name": entry["GroupName"], "path": entry["Path"],
         "attached_policies": [item["PolicyArn"] for item in entry.get("AttachedManagedPolicies", [])],
         "inline_policies": _inline(entry.get("GroupPolicyList", []))}
        for entry in details["GroupDetailList"]
    ]
    roles = [
        {"arn": entry["Arn"], "name": entry["RoleName"], "path": entry["Path"], "trust_policy": entry["AssumeRolePolicyDocument"],
         "attached_policies": [item["PolicyArn"] for item in entry.get("AttachedManagedPolicies", [])],
         "inline_policies": _inline(entry.get("RolePolicyList", [])),
         "permissions_boundary": (entry.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"), "tags": {}}
        for entry in details["RoleDetailList"]
    ]
    return {**account(account_id), "users": users, "groups": groups, "roles": roles, "policies": policies}


def test_real_authorization_details_load():
    if not REAL_AUTH_DETAILS.exists():
        pytest.skip(f"real input {REAL_AUTH_DETAILS} is not present in this checkout")
    section = account_from_authorization_details(json.loads(REAL_AUTH_DETAILS.read_text()))
    account_id = section["account_id"]
    section["roles"][0]["attached_policies"].append("arn:aws:iam::aws:policy/AdministratorAccess")
    admin_role = section["roles"][0]["arn"]
    added = f"arn:aws:secretsmanager:us-east-1:{account_id}:secret:production/db-AbCdEf"
    section["secrets"] = [{**secret("production/db", account=account_id), "arn": added}]

    authz = AccountAuthorizations([section])

    assert len(authz.principals()) == 6
    assert [arn for arn, _ in authz.secret_access(admin_role, "read")] == [added]
    assert authz.evaluate(admin_role, GET, added).effect == "allow"


def synthetic_estate(principal_count: int, policy_count: int, secret_count: int) -> list[dict[str, Any]]:
    teams = [f"team-{number:03d}" for number in range(max(1, secret_count // 50))]
    policies = tuple(
        managed_policy(policy_arn(f"reader-{number:05d}"), document(
            allow(GET, f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{teams[number % len(teams)]}/*"),
            deny("secretsmanager:DeleteSecret"),
        ))
        for number in range(policy_count)
    )
    roles = tuple(
        role(f"app-{number:05d}", attached=(policies[number % policy_count]["arn"], policies[(number * 7) % policy_count]["arn"]))
        for number in range(principal_count)
    )
    secrets = tuple(secret(f"{teams[number % len(teams)]}/svc-{number:06d}") for number in range(secret_count))
    return [account(roles=roles, policies=policies, secrets=secrets)]


def test_model_scales_to_large_estate():
    sections = synthetic_estate(principal_count=900, policy_count=1500, secret_count=12500)

    started = time.perf_counter()
    authz = AccountAuthorizations(sections)
    built = time.perf_counter() - started
    started = time.perf_counter()
    rows = authz.secret_access(role_arn("app-00001"), "read")
    queried = time.perf_counter() - started

    assert len(rows) == 100
    assert built < 5.0
    assert queried < 0.5
