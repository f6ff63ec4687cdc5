"""Tests for the live AWS collector (`collect --aws`), run through the CLI against moto_server.

moto does not enforce IAM, so AccessDenied and throttling are simulated with a botocore
`before-call` event hook on the one operation under test. The hook returns the response in place
of the server and botocore does not retry it, so it simulates an error that outlasted the retries.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import logging
import re
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.collectors import aws as aws_collector
from blastradius.collectors import aws_normalize

CANARY = "CANARY-do-not-store-7f3a9c"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
OIDC_HOST = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OIDC_HOST}"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

READ_SECRETS_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:*:*:secret:production/*"}],
}
READ_SECRETS_V1_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}],
}
BOUNDARY_DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}
DEPLOY_DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": "*"}]}
DECRYPT_DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}
IRSA_TRUST_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": OIDC_ARN},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{OIDC_HOST}:sub": "system:serviceaccount:external-secrets:external-secrets"}},
        }
    ],
}
RESOURCE_POLICY_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/external-secrets"},
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
        }
    ],
}
SCP_DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "secretsmanager:DeleteSecret", "Resource": "*"}]}


@dataclass
class Estate:
    """ARNs of what the `estate` fixture created in moto."""

    db_secret_arn: str
    api_secret_arn: str
    key_arn: str
    key_id: str
    key_policy: dict[str, Any]


def isolate_aws_env(monkeypatch: pytest.MonkeyPatch, moto_url: str, folder: Path) -> None:
    """Reset moto_server and point boto3 at it, isolated from the host's AWS config and credentials."""
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws-credentials"))


@pytest.fixture()
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    isolate_aws_env(monkeypatch, moto_server, tmp_path)
    return moto_server


def _create_iam(iam: Any) -> None:
    read_policy = iam.create_policy(PolicyName="read-production-secrets", PolicyDocument=json.dumps(READ_SECRETS_V1_DOCUMENT))
    iam.create_policy_version(
        PolicyArn=read_policy["Policy"]["Arn"], PolicyDocument=json.dumps(READ_SECRETS_DOCUMENT), SetAsDefault=True
    )
    boundary = iam.create_policy(PolicyName="eso-boundary", PolicyDocument=json.dumps(BOUNDARY_DOCUMENT))

    iam.create_group(GroupName="developers")
    iam.attach_group_policy(GroupName="developers", PolicyArn=boundary["Policy"]["Arn"])
    iam.put_group_policy(GroupName="developers", PolicyName="decrypt", PolicyDocument=json.dumps(DECRYPT_DOCUMENT))

    iam.create_user(UserName="alice", Tags=[{"Key": "team", "Value": "payments"}])
    iam.add_user_to_group(GroupName="developers", UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="deploy", PolicyDocument=json.dumps(DEPLOY_DOCUMENT))
    iam.attach_user_policy(UserName="alice", PolicyArn=read_policy["Policy"]["Arn"])

    iam.create_open_id_connect_provider(Url=f"https://{OIDC_HOST}", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["9" * 40])
    iam.create_role(
        RoleName="external-secrets",
        AssumeRolePolicyDocument=json.dumps(IRSA_TRUST_DOCUMENT),
        PermissionsBoundary=boundary["Policy"]["Arn"],
        Tags=[{"Key": "app", "Value": "external-secrets"}],
    )
    iam.attach_role_policy(RoleName="external-secrets", PolicyArn=read_policy["Policy"]["Arn"])
    iam.put_role_policy(RoleName="external-secrets", PolicyName="decrypt", PolicyDocument=json.dumps(DECRYPT_DOCUMENT))


def create_estate() -> Estate:
    """Create IAM principals, an OIDC provider, a customer KMS key and two secrets holding the canary."""
    session = boto3.Session(region_name=REGION)
    _create_iam(session.client("iam"))

    kms = session.client("kms")
    key = kms.create_key(Description="production secrets")["KeyMetadata"]
    kms.create_alias(AliasName="alias/production-secrets", TargetKeyId=key["KeyId"])
    key_policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])

    secrets = session.client("secretsmanager")
    db = secrets.create_secret(
        Name="production/db",
        SecretString=CANARY,
        KmsKeyId="alias/production-secrets",
        Tags=[{"Key": "env", "Value": "production"}],
    )
    secrets.put_resource_policy(SecretId=db["ARN"], ResourcePolicy=json.dumps(RESOURCE_POLICY_DOCUMENT))
    api = secrets.create_secret(Name="payments/api-key", SecretString=json.dumps({"token": CANARY}))
    return Estate(db["ARN"], api["ARN"], key["Arn"], key["KeyId"], key_policy)


@pytest.fixture()
def estate(aws_env: str) -> Estate:
    return create_estate()


@dataclass
class Collected:
    estate: Estate
    result: Any
    snapshot: dict[str, Any]


@pytest.fixture(scope="module")
def collected(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collected]:
    """Collect the estate once through the CLI, for the tests that only read the snapshot."""
    folder = tmp_path_factory.mktemp("aws-live")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_aws_env(monkeypatch, moto_server, folder)
        estate = create_estate()
        result, snapshot = collect(folder)
    assert result.exit_code == 0, result.stderr
    assert snapshot is not None
    yield Collected(estate, result, snapshot)


def invoke_cli(arguments: list[str]) -> Any:
    """Run the CLI, then restore the root logger that its --log-level option reconfigures.

    The CLI points a logging handler at CliRunner's stderr, which is closed once the run ends.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return CliRunner().invoke(app, arguments)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def collect(tmp_path: Path, *options: str) -> tuple[Any, dict[str, Any] | None]:
    """Run `blastradius collect --aws` and return the CLI result and the snapshot, if one was written."""
    output = tmp_path / "snapshot.json.gz"
    arguments = ["--log-level", "debug", "collect", "--aws", "--aws-region", REGION, "-o", str(output), *options]
    result = invoke_cli(arguments)
    snapshot = json.loads(gzip.decompress(output.read_bytes())) if output.exists() else None
    return result, snapshot


def account_of(snapshot: dict[str, Any] | None) -> dict[str, Any]:
    assert snapshot is not None
    assert len(snapshot["aws_accounts"]) == 1
    return snapshot["aws_accounts"][0]


ResponseHook = Callable[..., tuple[AWSResponse, dict[str, Any]]]


def respond_with(parsed: dict[str, Any], status: int = 200) -> ResponseHook:
    """Return a botocore before-call hook that returns this parsed response for every call."""

    def hook(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        response = AWSResponse(url="http://127.0.0.1/", status_code=status, headers={}, raw=None)
        return response, {**parsed, "ResponseMetadata": {"HTTPStatusCode": status}}

    return hook


def respond_with_error(code: str, message: str) -> ResponseHook:
    return respond_with({"Error": {"Code": code, "Message": message}}, status=400)


@pytest.fixture()
def respond_to_operation(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, ResponseHook], None]]:
    """Make the collector's sessions get one operation's (`service-id.Operation`) response from a hook."""
    hooks: list[tuple[str, ResponseHook]] = []
    open_session = aws_collector._open_session

    def open_session_with_hooks(profile: str | None) -> boto3.Session:
        session = open_session(profile)
        for event, hook in hooks:
            session.events.register(f"before-call.{event}", hook)
        return session

    monkeypatch.setattr(aws_collector, "_open_session", open_session_with_hooks)
    yield lambda event, hook: hooks.append((event, hook))


def aws_managed_policy(name: str) -> dict[str, Any]:
    """Return a GetAccountAuthorizationDetails `Policies` entry for an AWS-managed policy.

    The document is URL-encoded as IAM sends it, because botocore decodes it after the hook returns.
    """
    return {
        "PolicyName": name,
        "Arn": f"arn:aws:iam::aws:policy/{name}",
        "Path": "/",
        "DefaultVersionId": "v1",
        "PolicyVersionList": [{"Document": quote(json.dumps(BOUNDARY_DOCUMENT)), "VersionId": "v1", "IsDefaultVersion": True}],
    }


# GetAccountAuthorizationDetails with the AWSManagedPolicy filter returns every AWS-managed policy.
# moto can list them only with MOTO_IAM_LOAD_MANAGED_POLICIES, which makes each reset and listing
# take seconds, so a hook returns this response instead.
DETAILS_WITH_AWS_MANAGED = {
    "UserDetailList": [
        {
            "Path": "/",
            "UserName": "auditor",
            "UserId": "AIDAEXAMPLEAUDITOR01",
            "Arn": f"arn:aws:iam::{ACCOUNT}:user/auditor",
            "GroupList": [],
            "UserPolicyList": [],
            "AttachedManagedPolicies": [{"PolicyName": "SecurityAudit", "PolicyArn": "arn:aws:iam::aws:policy/SecurityAudit"}],
            "PermissionsBoundary": {
                "PermissionsBoundaryType": "Policy",
                "PermissionsBoundaryArn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
            },
            "Tags": [],
        }
    ],
    "GroupDetailList": [],
    "RoleDetailList": [],
    "Policies": [aws_managed_policy("AdministratorAccess"), aws_managed_policy("ReadOnlyAccess"), aws_managed_policy("SecurityAudit")],
    "IsTruncated": False,
}


# Sections collected from moto.


def test_live_users_exact(collected: Collected) -> None:
    snapshot = collected.snapshot

    assert account_of(snapshot)["users"] == [
        {
            "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
            "name": "alice",
            "path": "/",
            "groups": ["developers"],
            "attached_policies": [f"arn:aws:iam::{ACCOUNT}:policy/read-production-secrets"],
            "inline_policies": {"deploy": DEPLOY_DOCUMENT},
            "permissions_boundary": None,
            "tags": {"team": "payments"},
        }
    ]


def test_live_groups_exact(collected: Collected) -> None:
    snapshot = collected.snapshot

    assert account_of(snapshot)["groups"] == [
        {
            "arn": f"arn:aws:iam::{ACCOUNT}:group/developers",
            "name": "developers",
            "path": "/",
            "attached_policies": [f"arn:aws:iam::{ACCOUNT}:policy/eso-boundary"],
            "inline_policies": {"decrypt": DECRYPT_DOCUMENT},
        }
    ]


def test_live_roles_exact(collected: Collected) -> None:
    snapshot = collected.snapshot

    assert account_of(snapshot)["roles"] == [
        {
            "arn": f"arn:aws:iam::{ACCOUNT}:role/external-secrets",
            "name": "external-secrets",
            "path": "/",
            "trust_policy": IRSA_TRUST_DOCUMENT,
            "attached_policies": [f"arn:aws:iam::{ACCOUNT}:policy/read-production-secrets"],
            "inline_policies": {"decrypt": DECRYPT_DOCUMENT},
            "permissions_boundary": f"arn:aws:iam::{ACCOUNT}:policy/eso-boundary",
            "tags": {"app": "external-secrets"},
        }
    ]


def test_live_policies_default_version(collected: Collected) -> None:
    snapshot = collected.snapshot

    assert account_of(snapshot)["policies"] == [
        {
            "arn": f"arn:aws:iam::{ACCOUNT}:policy/eso-boundary",
            "name": "eso-boundary",
            "path": "/",
            "aws_managed": False,
            "default_version_id": "v1",
            "document": BOUNDARY_DOCUMENT,
        },
        {
            "arn": f"arn:aws:iam::{ACCOUNT}:policy/read-production-secrets",
            "name": "read-production-secrets",
            "path": "/",
            "aws_managed": False,
            "default_version_id": "v2",
            "document": READ_SECRETS_DOCUMENT,
        },
    ]


def test_live_keeps_used_aws_managed_only(aws_env: str, tmp_path: Path, respond_to_operation: Any) -> None:
    respond_to_operation("iam.GetAccountAuthorizationDetails", respond_with(DETAILS_WITH_AWS_MANAGED))

    result, snapshot = collect(tmp_path)

    assert result.exit_code == 0, result.stderr
    account = account_of(snapshot)
    assert [policy["arn"] for policy in account["policies"]] == [
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws:iam::aws:policy/SecurityAudit",
    ]
    assert account["users"][0]["permissions_boundary"] == "arn:aws:iam::aws:policy/ReadOnlyAccess"


def test_live_oidc_providers_exact(collected: Collected) -> None:
    snapshot = collected.snapshot

    assert account_of(snapshot)["oidc_providers"] == [{"arn": OIDC_ARN, "url": OIDC_HOST, "client_ids": ["sts.amazonaws.com"]}]


def test_live_secrets_exact(collected: Collected) -> None:
    estate = collected.estate
    secrets = copy.deepcopy(account_of(collected.snapshot)["secrets"])
    changed = [secret.pop("last_changed") for secret in secrets]

    assert all(TIMESTAMP.match(value) for value in changed)
    assert secrets == [
        {
            "arn": estate.api_secret_arn,
            "name": "payments/api-key",
            "region": REGION,
            "kms_key_id": None,
            "resource_policy": None,
            "tags": {},
            "rotation_enabled": False,
            "rotation_days": None,
            "last_rotated": None,
            "owning_service": None,
        },
        {
            "arn": estate.db_secret_arn,
            "name": "production/db",
            "region": REGION,
            "kms_key_id": estate.key_arn,
            "resource_policy": RESOURCE_POLICY_DOCUMENT,
            "tags": {"env": "production"},
            "rotation_enabled": False,
            "rotation_days": None,
            "last_rotated": None,
            "owning_service": None,
        },
    ]


def test_live_kms_keys_exact(collected: Collected) -> None:
    snapshot, estate = collected.snapshot, collected.estate

    assert account_of(snapshot)["kms_keys"] == [
        {
            "arn": estate.key_arn,
            "key_id": estate.key_id,
            "region": REGION,
            "manager": "CUSTOMER",
            "policy": estate.key_policy,
            "aliases": ["alias/production-secrets"],
        }
    ]


def test_live_account_source_fields(collected: Collected) -> None:
    snapshot = collected.snapshot
    account = account_of(snapshot)

    assert (account["account_id"], account["partition"], account["regions"], account["origin"]) == (ACCOUNT, "aws", [REGION], "api")
    assert snapshot["sources"] == [{"type": "aws", "account_id": ACCOUNT, "partition": "aws", "regions": [REGION], "origin": "api"}]


def test_live_organization_policies_exact(aws_env: str, tmp_path: Path) -> None:
    organizations = boto3.client("organizations", region_name=REGION)
    organizations.create_organization(FeatureSet="ALL")
    root_id = organizations.list_roots()["Roots"][0]["Id"]
    scp = organizations.create_policy(
        Name="deny-secret-deletion",
        Description="Keep production secrets",
        Type="SERVICE_CONTROL_POLICY",
        Content=json.dumps(SCP_DOCUMENT),
    )["Policy"]["PolicySummary"]
    organizations.attach_policy(PolicyId=scp["Id"], TargetId=ACCOUNT)

    result, snapshot = collect(tmp_path)
    policies = {policy["name"]: policy for policy in account_of(snapshot)["organization_policies"]}

    assert result.exit_code == 0, result.stderr
    assert sorted(policies) == ["FullAWSAccess", "RCPFullAWSAccess", "deny-secret-deletion"]
    assert policies["deny-secret-deletion"] == {
        "arn": scp["Arn"],
        "id": scp["Id"],
        "name": "deny-secret-deletion",
        "type": "SERVICE_CONTROL_POLICY",
        "document": SCP_DOCUMENT,
        "targets": [ACCOUNT],
    }
    assert policies["FullAWSAccess"]["targets"] == sorted([ACCOUNT, root_id])


def test_live_without_organization_has_no_gap(collected: Collected) -> None:
    result, snapshot = collected.result, collected.snapshot

    assert result.exit_code == 0, result.stderr
    assert snapshot is not None
    assert snapshot["coverage_gaps"] == []
    assert snapshot["aws_accounts"][0]["organization_policies"] == []


# Secret values never leave AWS.


def test_live_canary_never_written(collected: Collected) -> None:
    result, snapshot = collected.result, collected.snapshot

    assert result.exit_code == 0, result.stderr
    assert CANARY not in json.dumps(snapshot)
    assert CANARY not in result.stdout
    assert CANARY not in result.stderr


@pytest.mark.parametrize("module", [aws_collector, aws_normalize], ids=["aws", "aws_normalize"])
def test_source_never_names_value_calls(module: Any) -> None:
    source = Path(module.__file__).read_text(encoding="utf-8").lower()

    for forbidden in ("get_secret_value", "getsecretvalue", "batch_get_secret_value", "batchgetsecretvalue", "secretstring", "secretbinary"):
        assert forbidden not in source


# Gaps and failures.


def test_live_access_denied_becomes_gap(estate: Estate, tmp_path: Path, respond_to_operation: Any) -> None:
    message = f"User: arn:aws:iam::{ACCOUNT}:user/moto is not authorized to perform: secretsmanager:GetResourcePolicy"
    respond_to_operation("secrets-manager.GetResourcePolicy", respond_with_error("AccessDeniedException", message))

    result, snapshot = collect(tmp_path)
    gaps = [gap for gap in snapshot["coverage_gaps"] if gap["resource"].startswith("secretsmanager:")] if snapshot else []

    assert result.exit_code == 0, result.stderr
    assert gaps == [
        {
            "source": f"aws:{ACCOUNT}",
            "reason": "access_denied",
            "resource": "secretsmanager:GetResourcePolicy",
            "detail": f"AccessDeniedException: {message}; the resource policy of {arn} is unknown",
            "region": REGION,
        }
        for arn in (estate.api_secret_arn, estate.db_secret_arn)
    ]
    assert [secret["resource_policy"] for secret in account_of(snapshot)["secrets"]] == [None, None]


def test_live_gap_strict_exits_one(estate: Estate, tmp_path: Path, respond_to_operation: Any) -> None:
    respond_to_operation("kms.DescribeKey", respond_with_error("AccessDeniedException", "not authorized to perform: kms:DescribeKey"))

    result, snapshot = collect(tmp_path, "--strict")

    assert result.exit_code == 1
    assert snapshot is not None
    assert {(gap["resource"], gap["reason"]) for gap in snapshot["coverage_gaps"]} == {
        ("kms:DescribeKey", "access_denied"),
    }
    assert "kms:DescribeKey: access_denied" in result.stderr


def test_live_throttling_becomes_gap(estate: Estate, tmp_path: Path, respond_to_operation: Any) -> None:
    respond_to_operation("iam.GetAccountAuthorizationDetails", respond_with_error("Throttling", "Rate exceeded"))

    result, snapshot = collect(tmp_path)
    account = account_of(snapshot)

    assert result.exit_code == 0, result.stderr
    assert snapshot is not None
    assert {"source": f"aws:{ACCOUNT}", "reason": "throttled", "resource": "iam:GetAccountAuthorizationDetails", "detail": "Throttling: Rate exceeded"} in snapshot["coverage_gaps"]
    assert (account["users"], account["roles"], account["policies"]) == ([], [], [])


def test_live_member_account_scps_unknown(aws_env: str, tmp_path: Path, respond_to_operation: Any) -> None:
    boto3.client("organizations", region_name=REGION).create_organization(FeatureSet="ALL")
    message = "You don't have permissions to access this resource."
    respond_to_operation("organizations.ListParents", respond_with_error("AccessDeniedException", message))

    result, snapshot = collect(tmp_path)

    assert result.exit_code == 0, result.stderr
    assert snapshot is not None
    assert snapshot["coverage_gaps"] == [
        {
            "source": f"aws:{ACCOUNT}",
            "reason": "access_denied",
            "resource": "organizations:ListParents",
            "detail": f"AccessDeniedException: {message.rstrip('.')}; the SCPs and RCPs that apply to the account are unknown",
        }
    ]
    assert account_of(snapshot)["organization_policies"] == []


def test_live_progress_on_terminal(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(terminal, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys, "stderr", terminal)

    collection = aws_collector.collect_aws(profile=None, regions=[REGION], progress=True)

    assert [len(account["secrets"]) for account in collection.aws_accounts] == [2]
    assert " AWS " in terminal.getvalue()
    assert terminal.getvalue().endswith("\x1b[2K")  # transient: the display erases its line


def test_live_no_credentials_fails_clearly(aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    result, snapshot = collect(tmp_path)

    assert result.exit_code == 2
    assert snapshot is None
    assert "error: no usable AWS credentials (Unable to locate credentials): give --aws-profile" in result.stderr


def test_live_unknown_profile_fails_clearly(aws_env: str, tmp_path: Path) -> None:
    result, snapshot = collect(tmp_path, "--aws-profile", "production")

    assert result.exit_code == 2
    assert snapshot is None
    assert result.stderr.endswith(
        "error: AWS profile 'production' not found in the AWS config files; check --aws-profile; no snapshot was written\n"
    )


def test_live_unreachable_endpoint_fails_clearly(aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed_port_url = "http://127.0.0.1:9"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url)
    monkeypatch.setattr(aws_collector, "RETRY_CONFIG", Config(retries={"mode": "standard", "max_attempts": 1}))

    result, snapshot = collect(tmp_path)

    assert result.exit_code == 2
    assert snapshot is None
    assert f'error: cannot reach AWS STS: Could not connect to the endpoint URL: "{closed_port_url}/"' in result.stderr


def test_live_no_region_asks_for_flag(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    result = invoke_cli(["collect", "--aws"])

    assert result.exit_code == 2
    assert "error: no AWS region configured: give --aws-region" in result.stderr


def test_live_per_service_endpoints_honoured(
    estate: Estate, aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    for service in ("STS", "IAM", "SECRETS_MANAGER", "KMS", "ORGANIZATIONS"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", aws_env)

    result, snapshot = collect(tmp_path)

    assert result.exit_code == 0, result.stderr
    assert len(account_of(snapshot)["secrets"]) == 2


def test_retry_config_adaptive_eight_retries() -> None:
    assert aws_collector.RETRY_CONFIG.retries == {"mode": "adaptive", "total_max_attempts": 9}
