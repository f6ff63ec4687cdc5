"""Tests for the offline AWS collector (`--aws-json`) and the shared AWS normalisation."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.collectors.aws_files import collect_aws_files
from blastradius.collectors.errors import CollectionError

REPO = Path(__file__).resolve().parents[2]
REAL_AUTHORIZATION_DETAILS = REPO.parent / "shared" / "real-inputs" / "aws-auth-details" / "example-authz-details.json"
CANARY = "CANARY-do-not-store-7f3a9c"

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
DB_SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:production/db-AbCdEf"
API_SECRET_ARN = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:payments/api-key-Zx81Qa"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY_ID}"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
ESO_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/external-secrets"
READ_SECRETS_POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/read-production-secrets"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/eso-boundary"
SCP_ARN = "arn:aws:organizations::999988887777:policy/o-a1b2c3d4e5/service_control_policy/p-examplescp"

READ_SECRETS_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:*:*:secret:production/*"}],
}
BOUNDARY_DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}
IRSA_TRUST_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": OIDC_ARN},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub": "system:serviceaccount:external-secrets:external-secrets"
                }
            },
        }
    ],
}
RESOURCE_POLICY_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:DeleteSecret", "Resource": "*"}],
}
KEY_POLICY_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}],
}
SCP_DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}]}


def authorization_details(account: str = ACCOUNT) -> dict[str, Any]:
    """Return `aws iam get-account-authorization-details` output for a small ESO estate."""
    return {
        "UserDetailList": [
            {
                "Path": "/",
                "UserName": "ci-deployer",
                "UserId": "AIDAEXAMPLEUSER00001",
                "Arn": f"arn:aws:iam::{account}:user/ci-deployer",
                "CreateDate": "2025-03-01T10:00:00+00:00",
                "UserPolicyList": [{"PolicyName": "deploy", "PolicyDocument": json.dumps(BOUNDARY_DOCUMENT)}],
                "GroupList": ["deployers"],
                "AttachedManagedPolicies": [{"PolicyName": "ReadOnlyAccess", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
                "Tags": [{"Key": "team", "Value": "platform"}],
            }
        ],
        "GroupDetailList": [
            {
                "Path": "/",
                "GroupName": "deployers",
                "GroupId": "AGPAEXAMPLEGROUP0001",
                "Arn": f"arn:aws:iam::{account}:group/deployers",
                "CreateDate": "2025-03-01T10:00:00+00:00",
                "GroupPolicyList": [],
                "AttachedManagedPolicies": [],
            }
        ],
        "RoleDetailList": [
            {
                "Path": "/",
                "RoleName": "external-secrets",
                "RoleId": "AROAEXAMPLEROLE00001",
                "Arn": f"arn:aws:iam::{account}:role/external-secrets",
                "CreateDate": "2025-03-01T10:00:00+00:00",
                "AssumeRolePolicyDocument": quote(json.dumps(IRSA_TRUST_DOCUMENT)),
                "InstanceProfileList": [],
                "RolePolicyList": [],
                "AttachedManagedPolicies": [
                    {"PolicyName": "read-production-secrets", "PolicyArn": f"arn:aws:iam::{account}:policy/read-production-secrets"}
                ],
                "PermissionsBoundary": {
                    "PermissionsBoundaryType": "Policy",
                    "PermissionsBoundaryArn": f"arn:aws:iam::{account}:policy/eso-boundary",
                },
                "Tags": [],
                "RoleLastUsed": {},
            }
        ],
        "Policies": [
            {
                "PolicyName": "read-production-secrets",
                "PolicyId": "ANPAEXAMPLEPOLICY001",
                "Arn": f"arn:aws:iam::{account}:policy/read-production-secrets",
                "Path": "/",
                "DefaultVersionId": "v2",
                "AttachmentCount": 1,
                "PermissionsBoundaryUsageCount": 0,
                "IsAttachable": True,
                "PolicyVersionList": [
                    {"Document": BOUNDARY_DOCUMENT, "VersionId": "v1", "IsDefaultVersion": False},
                    {"Document": READ_SECRETS_DOCUMENT, "VersionId": "v2", "IsDefaultVersion": True},
                ],
            },
            {
                "PolicyName": "eso-boundary",
                "PolicyId": "ANPAEXAMPLEPOLICY002",
                "Arn": f"arn:aws:iam::{account}:policy/eso-boundary",
                "Path": "/",
                "DefaultVersionId": "v1",
                "AttachmentCount": 0,
                "PermissionsBoundaryUsageCount": 1,
                "IsAttachable": True,
                "PolicyVersionList": [{"Document": BOUNDARY_DOCUMENT, "VersionId": "v1", "IsDefaultVersion": True}],
            },
        ],
    }


def secret_list() -> dict[str, Any]:
    """Return `aws secretsmanager list-secrets` output with one customer-key and one default-key secret."""
    return {
        "SecretList": [
            {
                "ARN": DB_SECRET_ARN,
                "Name": "production/db",
                "KmsKeyId": "alias/production-secrets",
                "RotationEnabled": True,
                "RotationLambdaARN": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:rotate-db",
                "RotationRules": {"AutomaticallyAfterDays": 30},
                "LastRotatedDate": "2026-11-20T08:15:30.512000+00:00",
                "LastChangedDate": "2026-11-20T10:15:30+02:00",
                "Tags": [{"Key": "env", "Value": "production"}, {"Key": "owner", "Value": "payments"}],
                "SecretVersionsToStages": {"a1b2c3d4-5678-90ab-cdef-EXAMPLE11111": ["AWSCURRENT"]},
                "CreatedDate": 1700000000.0,
            },
            {
                "ARN": API_SECRET_ARN,
                "Name": "payments/api-key",
                "LastChangedDate": 1764547200,
                "Tags": [],
                "OwningService": "appflow",
            },
        ]
    }


def bundle() -> dict[str, Any]:
    """Return a blastradius bundle holding every part for account 111122223333."""
    return {
        "Format": "blastradius-aws-bundle/1",
        "AccountId": ACCOUNT,
        "Partition": "aws",
        "Regions": ["us-east-1", "eu-west-1"],
        "AuthorizationDetails": authorization_details(),
        "SecretList": secret_list()["SecretList"],
        "ResourcePolicies": {DB_SECRET_ARN: json.dumps(RESOURCE_POLICY_DOCUMENT)},
        "KmsKeys": [
            {
                "KeyMetadata": {"Arn": KEY_ARN, "KeyId": KEY_ID, "KeyManager": "CUSTOMER"},
                "Policy": KEY_POLICY_DOCUMENT,
                "Aliases": ["alias/production-secrets"],
            }
        ],
        "OpenIDConnectProviders": [
            {"Arn": OIDC_ARN, "Url": "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE", "ClientIDList": ["sts.amazonaws.com"]}
        ],
        "OrganizationPolicies": [
            {
                "Id": "p-examplescp",
                "Arn": SCP_ARN,
                "Name": "deny-leave-organization",
                "Type": "SERVICE_CONTROL_POLICY",
                "Content": json.dumps(SCP_DOCUMENT),
                "Targets": ["r-abcd", ACCOUNT],
            },
            {
                "Id": "p-tagpolicy",
                "Arn": "arn:aws:organizations::999988887777:policy/o-a1b2c3d4e5/tag_policy/p-tagpolicy",
                "Name": "cost-center-tags",
                "Type": "TAG_POLICY",
                "Content": "{}",
                "Targets": [ACCOUNT],
            },
        ],
    }


def write_json(folder: Path, name: str, content: object) -> str:
    path = folder / name
    path.write_text(json.dumps(content), encoding="utf-8")
    return str(path)


@pytest.fixture()
def real_details_path() -> str:
    if not REAL_AUTHORIZATION_DETAILS.exists():
        pytest.skip(f"real input {REAL_AUTHORIZATION_DETAILS} is not present")
    return str(REAL_AUTHORIZATION_DETAILS)


def by_name(entities: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entity["name"]: entity for entity in entities}


# The real cloudsplaining file: account 012345678901, written by get-account-authorization-details.


def test_real_file_entity_counts(real_details_path: str) -> None:
    account = collect_aws_files([real_details_path]).aws_accounts[0]

    assert account["account_id"] == "012345678901"
    assert account["partition"] == "aws"
    assert account["origin"] == [real_details_path]
    assert len(account["users"]) == 3
    assert len(account["groups"]) == 2
    assert len(account["roles"]) == 3
    assert len(account["policies"]) == 32
    assert sum(policy["aws_managed"] for policy in account["policies"]) == 30


def test_real_file_default_version_picked(real_details_path: str) -> None:
    raw = json.loads(Path(real_details_path).read_text(encoding="utf-8"))
    raw_policy = next(p for p in raw["Policies"] if p["PolicyName"] == "AWSCodeCommitPowerUser")
    expected_document = next(v["Document"] for v in raw_policy["PolicyVersionList"] if v["VersionId"] == "v11")

    policies = by_name(collect_aws_files([real_details_path]).aws_accounts[0]["policies"])

    assert len(raw_policy["PolicyVersionList"]) == 2
    assert policies["AWSCodeCommitPowerUser"]["default_version_id"] == "v11"
    assert policies["AWSCodeCommitPowerUser"]["document"] == expected_document


def test_real_file_principals_normalised(real_details_path: str) -> None:
    account = collect_aws_files([real_details_path]).aws_accounts[0]
    users = by_name(account["users"])
    roles = by_name(account["roles"])

    assert users["biden"]["groups"] == ["biden"]
    assert users["biden"]["attached_policies"] == ["arn:aws:iam::aws:policy/AWSLambdaFullAccess"]
    assert sorted(users["biden"]["inline_policies"]) == ["InsecureUserPolicy"]
    assert roles["OverprivilegedEC2"]["attached_policies"] == ["arn:aws:iam::012345678901:policy/InsecurePolicy"]
    assert sorted(roles["OverprivilegedEC2"]["inline_policies"]) == ["SupYo"]
    assert roles["MyRole"]["trust_policy"]["Statement"][0]["Principal"] == {"Service": "ssm.amazonaws.com"}
    assert roles["MyRole"]["permissions_boundary"] is None


def test_real_file_records_secrets_gap(real_details_path: str) -> None:
    gaps = collect_aws_files([real_details_path]).coverage_gaps

    assert gaps == [
        {
            "source": "aws:012345678901",
            "reason": "not_found",
            "resource": "secretsmanager:ListSecrets",
            "detail": "not in the given files",
        }
    ]


def test_real_file_with_boundary_added(real_details_path: str, tmp_path: Path) -> None:
    raw = json.loads(Path(real_details_path).read_text(encoding="utf-8"))
    role = next(r for r in raw["RoleDetailList"] if r["RoleName"] == "OverprivilegedEC2")
    role["PermissionsBoundary"] = {
        "PermissionsBoundaryType": "Policy",
        "PermissionsBoundaryArn": "arn:aws:iam::012345678901:policy/NotYourPolicy",
    }
    path = write_json(tmp_path, "authz-with-boundary.json", raw)

    roles = by_name(collect_aws_files([path]).aws_accounts[0]["roles"])

    assert roles["OverprivilegedEC2"]["permissions_boundary"] == "arn:aws:iam::012345678901:policy/NotYourPolicy"


# A bundle with every part.


def test_bundle_users_groups_roles_exact(tmp_path: Path) -> None:
    account = collect_aws_files([write_json(tmp_path, "bundle.json", bundle())]).aws_accounts[0]

    assert account["users"] == [
        {
            "arn": f"arn:aws:iam::{ACCOUNT}:user/ci-deployer",
            "name": "ci-deployer",
            "path": "/",
            "groups": ["deployers"],
            "attached_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "inline_policies": {"deploy": BOUNDARY_DOCUMENT},
            "permissions_boundary": None,
            "tags": {"team": "platform"},
        }
    ]
    assert account["groups"] == [
        {
            "arn": f"arn:aws:iam::{ACCOUNT}:group/deployers",
            "name": "deployers",
            "path": "/",
            "attached_policies": [],
            "inline_policies": {},
        }
    ]
    assert account["roles"] == [
        {
            "arn": ESO_ROLE_ARN,
            "name": "external-secrets",
            "path": "/",
            "trust_policy": IRSA_TRUST_DOCUMENT,
            "attached_policies": [READ_SECRETS_POLICY_ARN],
            "inline_policies": {},
            "permissions_boundary": BOUNDARY_ARN,
            "tags": {},
        }
    ]


def test_bundle_policies_default_version_only(tmp_path: Path) -> None:
    account = collect_aws_files([write_json(tmp_path, "bundle.json", bundle())]).aws_accounts[0]

    assert account["policies"] == [
        {
            "arn": BOUNDARY_ARN,
            "name": "eso-boundary",
            "path": "/",
            "aws_managed": False,
            "default_version_id": "v1",
            "document": BOUNDARY_DOCUMENT,
        },
        {
            "arn": READ_SECRETS_POLICY_ARN,
            "name": "read-production-secrets",
            "path": "/",
            "aws_managed": False,
            "default_version_id": "v2",
            "document": READ_SECRETS_DOCUMENT,
        },
    ]


def test_bundle_secrets_exact(tmp_path: Path) -> None:
    account = collect_aws_files([write_json(tmp_path, "bundle.json", bundle())]).aws_accounts[0]

    assert account["secrets"] == [
        {
            "arn": API_SECRET_ARN,
            "name": "payments/api-key",
            "region": "eu-west-1",
            "kms_key_id": None,
            "resource_policy": None,
            "tags": {},
            "rotation_enabled": False,
            "rotation_days": None,
            "last_rotated": None,
            "last_changed": "2025-12-01T00:00:00Z",
            "owning_service": "appflow",
        },
        {
            "arn": DB_SECRET_ARN,
            "name": "production/db",
            "region": "us-east-1",
            "kms_key_id": KEY_ARN,
            "resource_policy": RESOURCE_POLICY_DOCUMENT,
            "tags": {"env": "production", "owner": "payments"},
            "rotation_enabled": True,
            "rotation_days": 30,
            "last_rotated": "2026-11-20T08:15:30Z",
            "last_changed": "2026-11-20T08:15:30Z",
            "owning_service": None,
        },
    ]


def test_bundle_keys_providers_scps_exact(tmp_path: Path) -> None:
    account = collect_aws_files([write_json(tmp_path, "bundle.json", bundle())]).aws_accounts[0]

    assert account["kms_keys"] == [
        {
            "arn": KEY_ARN,
            "key_id": KEY_ID,
            "region": "us-east-1",
            "manager": "CUSTOMER",
            "policy": KEY_POLICY_DOCUMENT,
            "aliases": ["alias/production-secrets"],
        }
    ]
    assert account["oidc_providers"] == [
        {"arn": OIDC_ARN, "url": "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE", "client_ids": ["sts.amazonaws.com"]}
    ]
    assert account["organization_policies"] == [
        {
            "arn": SCP_ARN,
            "id": "p-examplescp",
            "name": "deny-leave-organization",
            "type": "SERVICE_CONTROL_POLICY",
            "document": SCP_DOCUMENT,
            "targets": [ACCOUNT, "r-abcd"],
        }
    ]


def test_bundle_account_fields_no_gaps(tmp_path: Path) -> None:
    path = write_json(tmp_path, "bundle.json", bundle())

    collection = collect_aws_files([path])
    account = collection.aws_accounts[0]

    assert len(collection.aws_accounts) == 1
    assert account["account_id"] == ACCOUNT
    assert account["regions"] == ["eu-west-1", "us-east-1"]
    assert account["origin"] == [path]
    assert collection.coverage_gaps == []


def test_bundle_drops_secret_value_fields(tmp_path: Path) -> None:
    content = bundle()
    content["SecretList"][0]["SecretString"] = CANARY
    content["SecretList"][1]["SecretBinary"] = CANARY

    collection = collect_aws_files([write_json(tmp_path, "bundle.json", content)])

    assert CANARY not in json.dumps(collection.aws_accounts)


def test_bundle_without_account_id_uses_arns(tmp_path: Path) -> None:
    content = bundle()
    del content["AccountId"]

    account = collect_aws_files([write_json(tmp_path, "bundle.json", content)]).aws_accounts[0]

    assert account["account_id"] == ACCOUNT


def test_bundle_keeps_unparseable_document_text(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    content = bundle()
    content["ResourcePolicies"][DB_SECRET_ARN] = '{"Version": "2012-10-17", "Statement": ['

    with caplog.at_level(logging.WARNING, logger="blastradius.collectors.aws_normalize"):
        account = collect_aws_files([write_json(tmp_path, "bundle.json", content)]).aws_accounts[0]

    secrets = by_name(account["secrets"])
    assert secrets["production/db"]["resource_policy"] == '{"Version": "2012-10-17", "Statement": ['
    assert caplog.messages == [
        f"secret {DB_SECRET_ARN} resource policy: policy document is not a JSON object; "
        "it is kept as text and the analysis treats it as granting nothing"
    ]


def test_bundle_aws_managed_key_is_null(tmp_path: Path) -> None:
    content = bundle()
    content["SecretList"][0]["KmsKeyId"] = f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/aws/secretsmanager"

    collection = collect_aws_files([write_json(tmp_path, "bundle.json", content)])

    assert by_name(collection.aws_accounts[0]["secrets"])["production/db"]["kms_key_id"] is None
    assert collection.coverage_gaps == []


@pytest.mark.parametrize(
    "reference",
    [KEY_ID, KEY_ARN, "alias/production-secrets", f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/production-secrets"],
    ids=["key-id", "key-arn", "alias-name", "alias-arn"],
)
def test_bundle_key_reference_resolved(tmp_path: Path, reference: str) -> None:
    content = bundle()
    content["SecretList"][0]["KmsKeyId"] = reference

    account = collect_aws_files([write_json(tmp_path, "bundle.json", content)]).aws_accounts[0]

    assert by_name(account["secrets"])["production/db"]["kms_key_id"] == KEY_ARN


def test_bundle_missing_key_records_gap(tmp_path: Path) -> None:
    content = bundle()
    del content["KmsKeys"]

    collection = collect_aws_files([write_json(tmp_path, "bundle.json", content)])

    assert by_name(collection.aws_accounts[0]["secrets"])["production/db"]["kms_key_id"] == "alias/production-secrets"
    assert collection.coverage_gaps == [
        {
            "source": f"aws:{ACCOUNT}",
            "reason": "not_found",
            "resource": "kms:GetKeyPolicy",
            "detail": "KMS key alias/production-secrets of secret production/db is not in the given files; "
            "who can decrypt it is unknown",
            "region": "us-east-1",
        }
    ]


# Plain AWS CLI outputs, alone and merged.


def test_secret_list_alone_records_gaps(tmp_path: Path) -> None:
    collection = collect_aws_files([write_json(tmp_path, "secrets.json", secret_list())])

    assert [account["account_id"] for account in collection.aws_accounts] == [ACCOUNT]
    assert collection.aws_accounts[0]["regions"] == ["eu-west-1", "us-east-1"]
    assert collection.coverage_gaps == [
        {"source": f"aws:{ACCOUNT}", "reason": "not_found", "resource": "iam:GetAccountAuthorizationDetails", "detail": "not in the given files"},
        {
            "source": f"aws:{ACCOUNT}",
            "reason": "not_found",
            "resource": "secretsmanager:GetResourcePolicy",
            "detail": "not in the given files; a secret's resource policy can grant access, so that access is unknown",
            "region": "eu-west-1",
        },
        {
            "source": f"aws:{ACCOUNT}",
            "reason": "not_found",
            "resource": "secretsmanager:GetResourcePolicy",
            "detail": "not in the given files; a secret's resource policy can grant access, so that access is unknown",
            "region": "us-east-1",
        },
        {
            "source": f"aws:{ACCOUNT}",
            "reason": "not_found",
            "resource": "kms:GetKeyPolicy",
            "detail": "KMS key alias/production-secrets of secret production/db is not in the given files; "
            "who can decrypt it is unknown",
            "region": "us-east-1",
        },
    ]


def test_secret_list_alone_keeps_metadata(tmp_path: Path) -> None:
    account = collect_aws_files([write_json(tmp_path, "secrets.json", secret_list())]).aws_accounts[0]
    secret = by_name(account["secrets"])["production/db"]

    assert secret["rotation_days"] == 30
    assert secret["tags"] == {"env": "production", "owner": "payments"}
    assert secret["last_rotated"] == "2026-11-20T08:15:30Z"
    assert secret["resource_policy"] is None


def test_two_files_merge_one_account(tmp_path: Path) -> None:
    details_path = write_json(tmp_path, "authz.json", authorization_details())
    secrets_path = write_json(tmp_path, "secrets.json", secret_list())

    collection = collect_aws_files([details_path, secrets_path])
    account = collection.aws_accounts[0]

    assert len(collection.aws_accounts) == 1
    assert account["origin"] == [details_path, secrets_path]
    assert len(account["users"]) == 1
    assert len(account["secrets"]) == 2
    assert "iam:GetAccountAuthorizationDetails" not in {gap["resource"] for gap in collection.coverage_gaps}
    assert "secretsmanager:ListSecrets" not in {gap["resource"] for gap in collection.coverage_gaps}


def test_two_accounts_give_two_sections(tmp_path: Path) -> None:
    details = authorization_details()
    other = authorization_details(OTHER_ACCOUNT)
    for key in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"):
        details[key].extend(other[key])
    details["Policies"].append(
        {
            "PolicyName": "ReadOnlyAccess",
            "Arn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "Path": "/",
            "DefaultVersionId": "v1",
            "PolicyVersionList": [{"Document": BOUNDARY_DOCUMENT, "VersionId": "v1", "IsDefaultVersion": True}],
        }
    )

    accounts = collect_aws_files([write_json(tmp_path, "authz.json", details)]).aws_accounts

    assert [account["account_id"] for account in accounts] == [ACCOUNT, OTHER_ACCOUNT]
    assert [len(account["users"]) for account in accounts] == [1, 1]
    assert [len(account["policies"]) for account in accounts] == [3, 3]


def test_empty_secret_list_joins_account(tmp_path: Path) -> None:
    details_path = write_json(tmp_path, "authz.json", authorization_details())
    empty_path = write_json(tmp_path, "secrets.json", {"SecretList": []})

    collection = collect_aws_files([details_path, empty_path])

    assert collection.aws_accounts[0]["origin"] == [details_path, empty_path]
    assert collection.coverage_gaps == []


def test_same_file_twice_not_duplicated(tmp_path: Path) -> None:
    path = write_json(tmp_path, "authz.json", authorization_details())

    account = collect_aws_files([path, path]).aws_accounts[0]

    assert len(account["users"]) == 1
    assert account["origin"] == [path]


def test_url_encoded_inline_policy_parsed(tmp_path: Path) -> None:
    details = authorization_details()
    details["UserDetailList"][0]["UserPolicyList"][0]["PolicyDocument"] = quote(json.dumps(READ_SECRETS_DOCUMENT))

    account = collect_aws_files([write_json(tmp_path, "authz.json", details)]).aws_accounts[0]

    assert account["users"][0]["inline_policies"] == {"deploy": READ_SECRETS_DOCUMENT}


# Through the CLI.


def invoke_cli(arguments: list[str]) -> Any:
    """Run the CLI, then restore the root logger that it reconfigures for its own stderr."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return CliRunner().invoke(app, arguments)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_cli_bundle_writes_snapshot(tmp_path: Path) -> None:
    output = tmp_path / "aws.json"
    bundle_path = write_json(tmp_path, "bundle.json", bundle())

    result = invoke_cli(["collect", "--aws-json", bundle_path, "-o", str(output), "--strict"])
    snapshot = json.loads(output.read_text(encoding="utf-8"))

    assert result.exit_code == 0, result.stderr
    assert snapshot["sources"] == [
        {"type": "aws", "account_id": ACCOUNT, "partition": "aws", "regions": ["eu-west-1", "us-east-1"], "origin": [bundle_path]}
    ]
    assert snapshot["coverage_gaps"] == []


def test_cli_gap_strict_exits_one(tmp_path: Path) -> None:
    secrets_path = write_json(tmp_path, "secrets.json", secret_list())

    result = invoke_cli(["collect", "--aws-json", secrets_path, "-o", str(tmp_path / "aws.json"), "--strict"])

    assert result.exit_code == 1
    assert f"aws:{ACCOUNT}: iam:GetAccountAuthorizationDetails: not_found (not in the given files)" in result.stderr


def test_cli_bad_file_exits_two(tmp_path: Path) -> None:
    path = write_json(tmp_path, "list.json", [])

    result = invoke_cli(["collect", "--aws-json", path, "-o", str(tmp_path / "aws.json")])

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: expected a JSON object (AWS CLI output or a blastradius bundle), found array; "
        "no snapshot was written\n"
    )
    assert not (tmp_path / "aws.json").exists()


# Bad input: each error names the file and the fault.


def _not_json(folder: Path) -> str:
    path = folder / "broken.json"
    path.write_text('{"UserDetailList": [', encoding="utf-8")
    return str(path)


def _with_details_change(change: Any) -> Any:
    def write(folder: Path) -> str:
        details = authorization_details()
        change(details)
        return write_json(folder, "authz.json", details)

    return write


def _bad_user_arn(details: dict[str, Any]) -> None:
    details["UserDetailList"][0]["Arn"] = "arn:aws:iam:user/ci-deployer"


def _no_default_version(details: dict[str, Any]) -> None:
    details["Policies"][0]["PolicyVersionList"][1]["IsDefaultVersion"] = False


BAD_INPUTS = [
    pytest.param(_not_json, "broken.json: not valid JSON: Expecting value at line 1 column 21", id="not-json"),
    pytest.param(
        lambda folder: write_json(folder, "list.json", [1, 2]),
        "list.json: expected a JSON object (AWS CLI output or a blastradius bundle), found array",
        id="json-array",
    ),
    pytest.param(
        lambda folder: write_json(folder, "buckets.json", {"Buckets": [], "Owner": {}}),
        "buckets.json: not a known AWS file: expected the output of `aws iam get-account-authorization-details` "
        "(UserDetailList, GroupDetailList, RoleDetailList, Policies), of `aws secretsmanager list-secrets` "
        "(SecretList) or a blastradius bundle (Format); found keys: Buckets, Owner",
        id="unknown-shape",
    ),
    pytest.param(
        lambda folder: write_json(folder, "bundle.json", {**bundle(), "Format": "blastradius-aws-bundle/2"}),
        "bundle.json: unsupported bundle Format 'blastradius-aws-bundle/2'; expected 'blastradius-aws-bundle/1'",
        id="wrong-format",
    ),
    pytest.param(
        _with_details_change(_bad_user_arn),
        "authz.json: user 'ci-deployer': invalid ARN 'arn:aws:iam:user/ci-deployer': "
        "expected arn:<partition>:<service>:<region>:<account>:<resource>",
        id="bad-arn",
    ),
    pytest.param(
        _with_details_change(_no_default_version),
        f"authz.json: policy {READ_SECRETS_POLICY_ARN}: PolicyVersionList has no default version "
        "(no entry with IsDefaultVersion true)",
        id="no-default-version",
    ),
    pytest.param(
        lambda folder: write_json(folder, "bundle.json", {**bundle(), "AccountId": "1111-2222-3333"}),
        "bundle.json: AccountId must be a 12-digit string such as \"111122223333\", found '1111-2222-3333'",
        id="bad-account-id",
    ),
    pytest.param(
        lambda folder: write_json(folder, "secrets.json", {"SecretList": []}),
        "secrets.json: no ARN with an account id, so the AWS account it describes is unknown "
        "(accounts in the other files: none); put it in a bundle with AccountId",
        id="no-account",
    ),
]


@pytest.mark.parametrize(("write_input", "message"), BAD_INPUTS)
def test_bad_input_error_message(tmp_path: Path, write_input: Any, message: str) -> None:
    path = write_input(tmp_path)

    with pytest.raises(CollectionError) as raised:
        collect_aws_files([path])

    assert str(raised.value) == f"{tmp_path}/{message}"


def test_missing_file_error_message(tmp_path: Path) -> None:
    with pytest.raises(CollectionError) as raised:
        collect_aws_files([str(tmp_path / "absent.json")])

    assert str(raised.value) == f"{tmp_path}/absent.json: AWS JSON file not found"


# Property: every JSON value either loads or raises CollectionError.

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
AWS_KEYS = st.sampled_from(
    [
        "Format", "AccountId", "Partition", "Regions", "AuthorizationDetails", "SecretList", "ResourcePolicies",
        "KmsKeys", "OpenIDConnectProviders", "OrganizationPolicies", "UserDetailList", "GroupDetailList",
        "RoleDetailList", "Policies", "Arn", "ARN", "UserName", "GroupName", "RoleName", "PolicyName",
        "PolicyVersionList", "IsDefaultVersion", "Document", "KmsKeyId", "Tags", "Key", "Value", "KeyMetadata",
        "KeyManager", "Aliases", "RotationRules", "LastChangedDate", "Content", "Type", "Id", "Name", "Url",
    ]
)
AWS_LIKE_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(["blastradius-aws-bundle/1", "111122223333", DB_SECRET_ARN, KEY_ARN, "arn:aws:iam::aws:policy/x", "alias/x"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(AWS_KEYS, children, max_size=6),
    max_leaves=30,
)


def _loads_or_collection_error(folder: Path, value: object) -> None:
    path = write_json(folder, "input.json", value)
    try:
        collect_aws_files([path])
    except CollectionError as error:
        assert str(error).startswith(f"{path}: ")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=JSON_VALUES)
def test_any_json_loads_or_errors(tmp_path: Path, value: object) -> None:
    _loads_or_collection_error(tmp_path, value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=AWS_LIKE_VALUES)
def test_aws_shaped_json_loads_or_errors(tmp_path: Path, value: object) -> None:
    _loads_or_collection_error(tmp_path, value)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_bundle_loads_or_errors(tmp_path: Path, data: st.DataObject) -> None:
    content = copy.deepcopy(bundle())
    target = content
    for _ in range(data.draw(st.integers(min_value=0, max_value=4))):
        if isinstance(target, dict) and target:
            key = data.draw(st.sampled_from(sorted(target)))
        elif isinstance(target, list) and target:
            key = data.draw(st.integers(min_value=0, max_value=len(target) - 1))
        else:
            break
        if not isinstance(target[key], (dict, list)) or data.draw(st.booleans()):
            target[key] = data.draw(AWS_LIKE_VALUES)
            break
        target = target[key]
    _loads_or_collection_error(tmp_path, content)
