"""The live AWS collector under faults on single calls: AccessDenied on one resource, throttling.

moto_server on 127.0.0.1 contains the estate and does not enforce IAM, so botocore event hooks on
the collector's session inject the faults. A denial uses `before-call`, which returns the error in
place of the server and is never retried, as a denial outlasts any retry. Throttling uses
`before-send`, which replaces one HTTP response inside botocore's retry loop, so the collector's
own retry configuration decides whether the call recovers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from blastradius.collectors import aws as aws_collector
from tests.collectors.test_aws_live import (
    ACCOUNT,
    BOUNDARY_DOCUMENT,
    READ_SECRETS_DOCUMENT,
    REGION,
    RESOURCE_POLICY_DOCUMENT,
    Estate,
    account_of,
    collect,
    create_estate,
    isolate_aws_env,
)

SOURCE = f"aws:{ACCOUNT}"
DENIED = "User: arn:aws:iam::123456789012:user/collector is not authorized to perform: {action} on resource: {arn} because no identity-based policy allows the {action} action"

# Throttling error bodies as each protocol sends them: JSON for Secrets Manager and KMS, XML for IAM.
JSON_THROTTLING = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
XML_THROTTLING = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"


class _Body:
    """The raw body of a hand-made HTTP response, read the way botocore reads urllib3's."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self) -> Iterator[bytes]:
        yield self._content


def request_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """Return the API parameters of a serialised request: a dict for query protocols, JSON bytes for JSON ones."""
    body = params.get("body")
    if isinstance(body, dict):
        return body
    return json.loads(body or b"{}")


@dataclass
class FaultInjector:
    """Faults to register on each boto3 session that the collector opens; the counts record what was hit."""

    before_call: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)
    before_send: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)
    denied: int = 0
    throttled: int = 0

    def deny(self, event: str, action: str, parameter: str | None = None, value: str | None = None) -> None:
        """Deny `event` (`service-id.Operation`), only for requests whose `parameter` equals `value` when given."""

        def hook(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
            target = request_parameters(params).get(parameter) if parameter else "*"
            if value is not None and target != value:
                return None
            self.denied += 1
            message = DENIED.format(action=action, arn=target)
            response = AWSResponse(url="http://127.0.0.1/", status_code=400, headers={}, raw=None)
            return response, {"Error": {"Code": "AccessDeniedException", "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}

        self.before_call.append((event, hook))

    def throttle(self, event: str, times: int, body: bytes = JSON_THROTTLING) -> None:
        """Respond to the first `times` HTTP requests of `event` with a throttling error, then let requests through."""
        remaining = [times]

        def hook(request: Any, **_: Any) -> AWSResponse | None:
            if remaining[0] == 0:
                return None
            remaining[0] -= 1
            self.throttled += 1
            return AWSResponse(url=request.url, status_code=400, headers={}, raw=_Body(body))

        self.before_send.append((event, hook))


@pytest.fixture()
def estate(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Estate:
    isolate_aws_env(monkeypatch, moto_server, tmp_path)
    return create_estate()


@pytest.fixture()
def faults(monkeypatch: pytest.MonkeyPatch) -> FaultInjector:
    injector = FaultInjector()
    open_session = aws_collector._open_session

    def open_session_with_faults(profile: str | None) -> boto3.Session:
        session = open_session(profile)
        for event, hook in injector.before_call:
            session.events.register(f"before-call.{event}", hook)
        for event, hook in injector.before_send:
            session.events.register(f"before-send.{event}", hook)
        return session

    monkeypatch.setattr(aws_collector, "_open_session", open_session_with_faults)
    return injector


def denied_gap(action: str, arn: str, consequence: str) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "reason": "access_denied",
        "resource": action,
        "detail": f"AccessDeniedException: {DENIED.format(action=action, arn=arn)}; {consequence}",
        "region": REGION,
    }


# AccessDenied on one call for one resource


def test_denied_resource_policy_gives_one_gap(estate: Estate, tmp_path: Path, faults: FaultInjector) -> None:
    faults.deny("secrets-manager.GetResourcePolicy", "secretsmanager:GetResourcePolicy", "SecretId", estate.db_secret_arn)

    result, snapshot = collect(tmp_path)
    account = account_of(snapshot)

    assert result.exit_code == 0, result.stderr
    assert snapshot is not None
    assert snapshot["coverage_gaps"] == [
        denied_gap("secretsmanager:GetResourcePolicy", estate.db_secret_arn, f"the resource policy of {estate.db_secret_arn} is unknown")
    ]
    assert faults.denied == 1
    assert [secret["name"] for secret in account["secrets"]] == ["payments/api-key", "production/db"]
    assert [secret["resource_policy"] for secret in account["secrets"]] == [None, None]
    assert account["kms_keys"][0]["policy"] == estate.key_policy
    assert [role["name"] for role in account["roles"]] == ["external-secrets"]


def test_denied_key_policy_gives_one_gap(estate: Estate, tmp_path: Path, faults: FaultInjector) -> None:
    faults.deny("kms.GetKeyPolicy", "kms:GetKeyPolicy", "KeyId", estate.key_id)

    result, snapshot = collect(tmp_path)
    account = account_of(snapshot)

    assert result.exit_code == 0, result.stderr
    assert snapshot is not None
    assert snapshot["coverage_gaps"] == [denied_gap("kms:GetKeyPolicy", estate.key_id, f"the key policy of {estate.key_arn} is unknown")]
    assert faults.denied == 1
    assert account["kms_keys"] == [
        {
            "arn": estate.key_arn,
            "key_id": estate.key_id,
            "region": REGION,
            "manager": "CUSTOMER",
            "policy": None,
            "aliases": ["alias/production-secrets"],
        }
    ]
    assert [secret["resource_policy"] for secret in account["secrets"]] == [None, RESOURCE_POLICY_DOCUMENT]


def test_per_entity_iam_denials_change_nothing(estate: Estate, tmp_path: Path, faults: FaultInjector) -> None:
    """The collector reads IAM through GetAccountAuthorizationDetails only, so denying the per-entity calls changes nothing."""
    faults.deny("iam.GetPolicyVersion", "iam:GetPolicyVersion", "PolicyArn")
    faults.deny("iam.ListAttachedRolePolicies", "iam:ListAttachedRolePolicies", "RoleName")
    faults.deny("iam.GetPolicy", "iam:GetPolicy", "PolicyArn")
    faults.deny("iam.GetRolePolicy", "iam:GetRolePolicy", "RoleName")

    result, snapshot = collect(tmp_path)
    account = account_of(snapshot)

    assert result.exit_code == 0, result.stderr
    assert snapshot is not None
    assert snapshot["coverage_gaps"] == []
    assert faults.denied == 0
    assert {policy["name"]: policy["document"] for policy in account["policies"]} == {
        "eso-boundary": BOUNDARY_DOCUMENT,
        "read-production-secrets": READ_SECRETS_DOCUMENT,
    }
    assert account["roles"][0]["attached_policies"] == [f"arn:aws:iam::{ACCOUNT}:policy/read-production-secrets"]


# Throttling, then success


def test_throttled_call_retried_then_collected(estate: Estate, tmp_path: Path, faults: FaultInjector) -> None:
    faults.throttle("kms.GetKeyPolicy", times=1)

    result, snapshot = collect(tmp_path)
    account = account_of(snapshot)

    assert result.exit_code == 0, result.stderr
    assert snapshot is not None
    assert snapshot["coverage_gaps"] == []
    assert faults.throttled == 1
    assert account["kms_keys"][0]["policy"] == estate.key_policy


def test_throttled_past_retries_gives_gap(estate: Estate, tmp_path: Path, faults: FaultInjector, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws_collector, "RETRY_CONFIG", Config(retries={"mode": "standard", "max_attempts": 1}))
    faults.throttle("kms.GetKeyPolicy", times=100)

    started = time.monotonic()
    _, snapshot = collect(tmp_path)
    elapsed = time.monotonic() - started

    assert snapshot is not None
    assert snapshot["coverage_gaps"] == [
        {
            "source": SOURCE,
            "reason": "throttled",
            "resource": "kms:GetKeyPolicy",
            "detail": f"ThrottlingException: Rate exceeded; the key policy of {estate.key_arn} is unknown",
            "region": REGION,
        }
    ]
    assert faults.throttled == 2
    assert elapsed < 10


# The snapshot states exactly what is missing


def test_snapshot_lists_exact_aws_gaps(estate: Estate, tmp_path: Path, faults: FaultInjector) -> None:
    faults.deny("secrets-manager.GetResourcePolicy", "secretsmanager:GetResourcePolicy", "SecretId", estate.db_secret_arn)
    faults.deny("kms.GetKeyPolicy", "kms:GetKeyPolicy", "KeyId", estate.key_id)
    faults.deny("iam.GetPolicyVersion", "iam:GetPolicyVersion", "PolicyArn")
    faults.throttle("iam.GetAccountAuthorizationDetails", times=1, body=XML_THROTTLING)
    faults.throttle("secrets-manager.ListSecrets", times=1)

    result, snapshot = collect(tmp_path)
    account = account_of(snapshot)

    assert result.exit_code == 0, result.stderr
    assert snapshot is not None
    assert snapshot["coverage_gaps"] == [
        denied_gap("kms:GetKeyPolicy", estate.key_id, f"the key policy of {estate.key_arn} is unknown"),
        denied_gap("secretsmanager:GetResourcePolicy", estate.db_secret_arn, f"the resource policy of {estate.db_secret_arn} is unknown"),
    ]
    assert faults.throttled == 2
    assert [user["name"] for user in account["users"]] == ["alice"]
    assert [secret["name"] for secret in account["secrets"]] == ["payments/api-key", "production/db"]
