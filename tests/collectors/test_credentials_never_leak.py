"""Kubeconfig credentials and AWS keys never reach a snapshot, stdout, stderr or a log record.

Every run goes through the CLI with `--log-level debug`, against the fake API server or moto_server
on 127.0.0.1, in success and in failure: rejected credentials, forbidden lists, AccessDenied, an
unreachable server, a TLS failure and credentials with a trailing newline. Where a request is sent,
the test also checks that it carried the credentials, so it cannot pass by never sending them.

Log records are captured at DEBUG from every logger. For Kubernetes no record contains a
credential. For AWS only blastradius's records are checked, because botocore's own DEBUG records
quote the request headers, and the CLI never prints those records.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
import pytest
import yaml
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from typer.testing import CliRunner
from urllib3.response import HTTPResponse

from blastradius.cli.app import app
from blastradius.collectors import aws as aws_collector
from blastradius.collectors import kubernetes as live
from tests.collectors.fake_apiserver import TEST_TOKEN, FakeApiServer
from tests.collectors.test_aws_live import ACCOUNT, REGION, collect, create_estate, isolate_aws_env
from tests.collectors.test_kubernetes_live import free_port

CANARY = "CANARY-do-not-store-7f3a9c"


def pem_block(label: str) -> str:
    """Return base64 of a PEM block whose body is the canary, as kubeconfig `*-data` fields hold PEM."""
    pem = f"-----BEGIN {label}-----\n{CANARY}\n-----END {label}-----\n"
    return base64.b64encode(pem.encode()).decode()


CLIENT_CERTIFICATE_DATA = pem_block("CERTIFICATE")
CLIENT_KEY_DATA = pem_block("PRIVATE KEY")
BASIC_CREDENTIALS = base64.b64encode(f"collector:{CANARY}".encode()).decode()
# What a leak could look like in an output: the canary, or a kubeconfig field or header that encodes it.
KUBECONFIG_NEEDLES = (CANARY, CLIENT_CERTIFICATE_DATA, CLIENT_KEY_DATA, BASIC_CREDENTIALS)


def logged_with(caplog: pytest.LogCaptureFixture, needle: str, prefix: str = "") -> list[str]:
    """Return the names of the loggers under `prefix` whose records contain `needle`."""
    return [record.name for record in caplog.records if record.name.startswith(prefix) and needle in record.getMessage()]


def snapshot_text(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode() if path.exists() else ""


# Kubeconfig credentials


@dataclass(frozen=True)
class KubeconfigCase:
    """One kubeconfig user and how the fake API server treats it.

    `server` is "fake", "fake-over-tls" (an https URL to the plain-HTTP fake server) or "closed-port".
    `sent_authorization` is the Authorization header the server must have received, or None when
    no request reaches it. `expected_gap_reasons` are the reasons of the snapshot's coverage gaps.
    """

    user: dict[str, str]
    expected_exit_code: int
    sent_authorization: str | None
    expected_gap_reasons: frozenset[str] = frozenset()
    accepted_token: str = TEST_TOKEN
    forbid_lists: bool = False
    server: Literal["fake", "fake-over-tls", "closed-port"] = "fake"
    token_file_text: str | None = None
    yaml_error: bool = False


KUBECONFIG_CASES = [
    pytest.param(
        KubeconfigCase({"token": CANARY}, 0, f"Bearer {CANARY}", accepted_token=CANARY),
        id="token-accepted",
    ),
    pytest.param(
        KubeconfigCase(
            {"token": CANARY},
            0,
            f"Bearer {CANARY}",
            expected_gap_reasons=frozenset({"forbidden"}),
            accepted_token=CANARY,
            forbid_lists=True,
        ),
        id="token-lists-forbidden-403",
    ),
    pytest.param(
        KubeconfigCase({"token": CANARY}, 2, f"Bearer {CANARY}"),
        id="token-rejected-401",
    ),
    pytest.param(
        KubeconfigCase(
            {
                "username": "collector",
                "password": CANARY,
                "client-certificate-data": CLIENT_CERTIFICATE_DATA,
                "client-key-data": CLIENT_KEY_DATA,
            },
            2,
            f"Basic {BASIC_CREDENTIALS}",
        ),
        id="password-and-client-key-rejected-401",
    ),
    # The kubernetes client reads the client certificate and key only for an https server.
    pytest.param(
        KubeconfigCase(
            {"client-certificate-data": CLIENT_CERTIFICATE_DATA, "client-key-data": CLIENT_KEY_DATA},
            2,
            None,
            server="fake-over-tls",
        ),
        id="client-key-tls-failure",
    ),
    pytest.param(
        KubeconfigCase({"token": CANARY}, 2, None, server="closed-port"),
        id="server-unreachable",
    ),
    pytest.param(
        KubeconfigCase({"tokenFile": "token"}, 2, None, accepted_token=CANARY, token_file_text=f"{CANARY}\n"),
        id="token-file-ends-in-newline",
    ),
    pytest.param(
        KubeconfigCase({"token": CANARY}, 2, None, yaml_error=True),
        id="kubeconfig-yaml-error",
    ),
]


def write_kubeconfig(folder: Path, server_url: str, case: KubeconfigCase) -> Path:
    """Write a kubeconfig with one context, `prod-eks`, whose user is the case's user."""
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "prod-eks-cluster", "cluster": {"server": server_url}}],
        "users": [{"name": "prod-eks-user", "user": case.user}],
        "contexts": [{"name": "prod-eks", "context": {"cluster": "prod-eks-cluster", "user": "prod-eks-user"}}],
        "current-context": "prod-eks",
    }
    text = yaml.safe_dump(kubeconfig)
    if case.yaml_error:
        text = text.replace(f"token: {CANARY}", f"token: {CANARY}: [")
    if case.token_file_text is not None:
        (folder / "token").write_text(case.token_file_text, encoding="utf-8")
    path = folder / "kubeconfig"
    path.write_text(text, encoding="utf-8")
    return path


def server_url_for(server: FakeApiServer, case: KubeconfigCase) -> str:
    if case.server == "fake-over-tls":
        return server.url.replace("http://", "https://")
    if case.server == "closed-port":
        return f"http://127.0.0.1:{free_port()}"
    return server.url


@pytest.fixture()
def short_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the collector's retry counts but shorten its backoff, so the TLS and unreachable cases finish in about a second."""
    monkeypatch.setattr(live, "RETRIES", live.RETRIES.new(backoff_factor=0.01, backoff_max=0.05))


@pytest.mark.usefixtures("short_retry_waits")
@pytest.mark.parametrize("case", KUBECONFIG_CASES)
def test_kubeconfig_credentials_never_output(case: KubeconfigCase, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    output = tmp_path / "snap.json.gz"
    with FakeApiServer(token=case.accepted_token) as server, caplog.at_level(logging.DEBUG):
        if case.forbid_lists:
            for resource in server.resources:
                server.forbid(resource.plural, resource.group)
        kubeconfig = write_kubeconfig(tmp_path, server_url_for(server, case), case)

        result = CliRunner().invoke(app, ["--log-level", "debug", "collect", "--no-progress", "--kubeconfig", str(kubeconfig), "-o", str(output)])
        sent = sorted({request.headers.get("authorization") for request in server.requests})

    written = snapshot_text(output)
    gap_reasons = {gap["reason"] for gap in json.loads(written)["coverage_gaps"]} if written else set()

    assert result.exit_code == case.expected_exit_code, result.output
    assert output.exists() == (case.expected_exit_code == 0)
    assert gap_reasons == case.expected_gap_reasons
    assert sent == ([case.sent_authorization] if case.sent_authorization else [])
    for needle in KUBECONFIG_NEEDLES:
        assert needle not in written
        assert needle not in result.stdout
        assert needle not in result.stderr
        assert logged_with(caplog, needle) == []


def test_token_line_break_rejected_clearly(tmp_path: Path) -> None:
    case = KubeconfigCase({"tokenFile": "token"}, 2, None, token_file_text=f"{CANARY}\n")
    with FakeApiServer(token=CANARY) as server:
        kubeconfig = write_kubeconfig(tmp_path, server.url, case)

        result = CliRunner().invoke(app, ["collect", "--no-progress", "--kubeconfig", str(kubeconfig), "-o", str(tmp_path / "snap.json.gz")])

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: cannot load the cluster configuration from kubeconfig {kubeconfig}: its token or password contains a "
        "line break or another unprintable character: remove it (a token file written with echo ends in a newline); "
        "no snapshot was written\n"
    )
    assert server.requests == []


# AWS keys

ACCESS_KEY_ID = "AKIACANARY7F3A9C0001"
SECRET_ACCESS_KEY = CANARY
SESSION_TOKEN = f"IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH{CANARY}"
CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/blastradius-collector/ci"


def xml_error(code: str, message: str) -> bytes:
    """Return an error body as the query protocol (IAM, STS) sends it."""
    return f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error></ErrorResponse>".encode()


def json_error(code: str, message: str) -> bytes:
    """Return an error body as the JSON protocol (Secrets Manager, KMS) sends it."""
    return json.dumps({"__type": code, "message": message}).encode()


@dataclass(frozen=True)
class AwsFault:
    """An error response to every request of one operation (`service-id.Operation`)."""

    event: str
    status: int
    body: bytes


@dataclass(frozen=True)
class AwsCase:
    fault: AwsFault | None
    expected_exit_code: int
    expected_gaps: list[str] = field(default_factory=list)
    unreachable: bool = False


AWS_CASES = [
    pytest.param(AwsCase(None, 0), id="collected"),
    pytest.param(
        AwsCase(
            AwsFault(
                "iam.GetAccountAuthorizationDetails",
                403,
                xml_error("AccessDenied", f"User: {CALLER} is not authorized to perform: iam:GetAccountAuthorizationDetails"),
            ),
            0,
            ["iam:GetAccountAuthorizationDetails"],
        ),
        id="iam-access-denied",
    ),
    pytest.param(
        AwsCase(
            AwsFault(
                "secrets-manager.GetResourcePolicy",
                400,
                json_error("AccessDeniedException", f"User: {CALLER} is not authorized to perform: secretsmanager:GetResourcePolicy"),
            ),
            0,
            ["secretsmanager:GetResourcePolicy", "secretsmanager:GetResourcePolicy"],
        ),
        id="secret-policy-access-denied",
    ),
    pytest.param(
        AwsCase(AwsFault("sts.GetCallerIdentity", 403, xml_error("InvalidClientTokenId", "The security token included in the request is invalid.")), 2),
        id="sts-token-rejected",
    ),
    pytest.param(AwsCase(None, 2, unreachable=True), id="endpoint-unreachable"),
]


@dataclass
class SentRequests:
    """The signed requests that the collector's sessions sent, and the fault that responds to one operation."""

    fault: AwsFault | None = None
    authorizations: list[str] = field(default_factory=list)
    session_tokens: list[str | None] = field(default_factory=list)

    def before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        """Record the credentials in the request's headers, then respond with the fault if it is for this operation."""
        self.authorizations.append(request.headers["Authorization"].decode())
        token = request.headers.get("X-Amz-Security-Token")
        self.session_tokens.append(token.decode() if token is not None else None)
        if self.fault is None or event_name != f"before-send.{self.fault.event}":
            return None
        raw = HTTPResponse(body=io.BytesIO(self.fault.body), status=self.fault.status, preload_content=False)
        return AWSResponse(url=request.url, status_code=self.fault.status, headers={}, raw=raw)


@pytest.fixture()
def sent_requests(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SentRequests:
    """Create the estate in moto, then give the collector canary credentials and record what it sends."""
    isolate_aws_env(monkeypatch, moto_server, tmp_path)
    create_estate()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)

    recorder = SentRequests()
    open_session = aws_collector._open_session

    def open_recorded_session(profile: str | None) -> boto3.Session:
        session = open_session(profile)
        session.events.register("before-send", recorder.before_send)
        return session

    monkeypatch.setattr(aws_collector, "_open_session", open_recorded_session)
    return recorder


def unreachable_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(aws_collector, "RETRY_CONFIG", Config(retries={"mode": "standard", "max_attempts": 1}))


@pytest.mark.parametrize("case", AWS_CASES)
def test_aws_keys_never_output(
    case: AwsCase, sent_requests: SentRequests, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sent_requests.fault = case.fault
    if case.unreachable:
        unreachable_endpoint(monkeypatch)

    with caplog.at_level(logging.DEBUG):
        result, snapshot = collect(tmp_path)
    written = snapshot_text(tmp_path / "snapshot.json.gz")
    gaps = [gap["resource"] for gap in snapshot["coverage_gaps"]] if snapshot else []

    assert result.exit_code == case.expected_exit_code, result.output
    assert gaps == case.expected_gaps
    assert sent_requests.authorizations != []
    assert {authorization.split("/")[0] for authorization in sent_requests.authorizations} == {f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}"}
    assert set(sent_requests.session_tokens) == {SESSION_TOKEN}
    for needle in (SECRET_ACCESS_KEY, SESSION_TOKEN, ACCESS_KEY_ID):
        assert needle not in written
        assert needle not in result.stdout
        assert needle not in result.stderr
        assert logged_with(caplog, needle, prefix="blastradius") == []


def test_aws_collected_snapshot_has_secrets(sent_requests: SentRequests, tmp_path: Path) -> None:
    """The collected case of the table above reads the estate, so its outputs had something to leak into."""
    result, snapshot = collect(tmp_path)

    assert result.exit_code == 0, result.output
    assert snapshot is not None
    assert [secret["name"] for secret in snapshot["aws_accounts"][0]["secrets"]] == ["payments/api-key", "production/db"]


def test_botocore_debug_records_stay_off_stderr(
    sent_requests: SentRequests, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """botocore's own DEBUG records quote the request headers, session token included, but the CLI never prints them.

    The session token here does not contain the canary, so the canary marks the secret access key alone.
    """
    session_token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHsession-token"
    monkeypatch.setenv("AWS_SESSION_TOKEN", session_token)

    with caplog.at_level(logging.DEBUG):
        result, _ = collect(tmp_path)

    assert result.exit_code == 0, result.output
    assert "botocore.endpoint" in logged_with(caplog, session_token)
    assert session_token not in result.stderr
    assert logged_with(caplog, SECRET_ACCESS_KEY) == []


def test_profile_credentials_never_output(
    sent_requests: SentRequests, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[production]\naws_access_key_id = {ACCESS_KEY_ID}\naws_secret_access_key = {SECRET_ACCESS_KEY}\naws_session_token = {SESSION_TOKEN}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))

    with caplog.at_level(logging.DEBUG, logger="blastradius"):
        result, _ = collect(tmp_path, "--aws-profile", "production")
    written = snapshot_text(tmp_path / "snapshot.json.gz")

    assert result.exit_code == 0, result.output
    assert set(sent_requests.session_tokens) == {SESSION_TOKEN}
    for needle in (SECRET_ACCESS_KEY, SESSION_TOKEN, ACCESS_KEY_ID):
        assert needle not in written
        assert needle not in result.stdout
        assert needle not in result.stderr
        assert logged_with(caplog, needle, prefix="blastradius") == []


def test_session_token_line_break_rejected(sent_requests: SentRequests, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", f"{SESSION_TOKEN}\n")

    result, snapshot = collect(tmp_path)

    assert result.exit_code == 2
    assert snapshot is None
    assert result.stderr.endswith(
        "error: the AWS session token contains a line break or another unprintable character: "
        "remove it from the environment variable or the AWS credentials file; no snapshot was written\n"
    )
    assert sent_requests.authorizations == []
