"""The live Kubernetes collector under API server faults: errors, stalls and expired tokens mid-list.

Every test runs the real kubernetes client against the fake API server on 127.0.0.1, with two
retries, waits of at most 0.05 s, a read timeout of 0.25 s and pages of two objects, so a handful
of objects spans several pages and the whole file runs in a few seconds.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.collectors import kubernetes as live
from blastradius.snapshot import Collection
from tests.collectors.fake_apiserver import FakeApiServer

SOURCE = "kubernetes:prod-eks"
# The collector's own retry policy, kept before the autouse fixture replaces it with a fast one.
DEFAULT_RETRIES = live.RETRIES
READ_TIMEOUT = 0.25
RETRY_AFTER_CAP = 0.2
DROPPED = "which are left out rather than stored as a partial list"
ROLES = "roles.rbac.authorization.k8s.io"
ROLES_PATH = "/apis/rbac.authorization.k8s.io/v1/roles"
CLUSTER_ROLES_PATH = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
SERVICE_ACCOUNTS_PATH = "/api/v1/serviceaccounts"
EXTERNAL_SECRETS = "externalsecrets.external-secrets.io"
EXPIRED_MESSAGE = (
    "HTTP 410: The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)
DISAPPEARED = (
    "HTTP 404: the server could not find the requested resource; discovery listed externalsecrets.external-secrets.io "
    "in external-secrets.io/v1, so it was removed during the collection (its CRD was deleted or that version is no longer served)"
)


def service_account(name: str, ns: str = "payments") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}


def role(name: str, ns: str = "payments") -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["payments-db"], "verbs": ["get"]}],
    }


def cluster_role(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }


def external_secret(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": "payments"},
        "spec": {
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "aws-secretsmanager"},
            "target": {"name": name},
            "data": [{"secretKey": "password", "remoteRef": {"key": f"production/payments/{name}"}}],
        },
    }


def cluster_secret_store() -> dict[str, Any]:
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": "aws-secretsmanager"},
        "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "eu-west-1"}}},
    }


ROLE_NAMES = ["ci-deployer", "payments-reader", "payments-writer", "secret-rotator", "support-viewer"]
SERVICE_ACCOUNT_NAMES = ["batch-worker", "payments-api", "payments-worker", "reporting"]


def run_collect(server: FakeApiServer, folder: Path) -> Collection:
    return live.collect_cluster(
        kubeconfig=str(server.write_kubeconfig(folder)), context=None, in_cluster=False, cluster_name=None, oidc_issuer=None, progress=False
    )


def names_of(collection: Collection, kind: str) -> list[str]:
    return [obj["metadata"]["name"] for obj in collection.clusters[0]["objects"] if obj["kind"] == kind]


def continue_flags(server: FakeApiServer, path: str) -> list[bool]:
    """Return, for each list request to `path` in order, whether it carried a continue token."""
    return [bool(request.query.get("continue")) for request in server.requests_to(path)]


@pytest.fixture(autouse=True)
def fast_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry twice with tiny waits, cap Retry-After, time out reads quickly and page by two objects."""
    retries = live.LoggedRetry(
        total=2,
        connect=0,
        read=2,
        backoff_factor=0.01,
        backoff_max=0.05,
        retry_after_max=RETRY_AFTER_CAP,  # type: ignore[arg-type]  # urllib3 compares it as a number
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=("GET",),
        raise_on_status=False,
    )
    monkeypatch.setattr(live, "RETRIES", retries)
    monkeypatch.setattr(live, "REQUEST_TIMEOUT", (1.0, READ_TIMEOUT))
    monkeypatch.setattr(live, "PAGE_SIZE", 2)


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as fake:
        fake.add(*(role(name) for name in ROLE_NAMES))
        fake.add(*(service_account(name) for name in SERVICE_ACCOUNT_NAMES))
        yield fake


# HTTP 5xx in the middle of a paged list


@pytest.mark.parametrize("status", [pytest.param(500, id="internal-error"), pytest.param(503, id="unavailable")])
def test_page_error_retried_then_listed(server: FakeApiServer, tmp_path: Path, status: int) -> None:
    server.fail_page("roles", status, page=2, group="rbac.authorization.k8s.io", times=2)

    collection = run_collect(server, tmp_path)

    assert names_of(collection, "Role") == ROLE_NAMES
    assert collection.coverage_gaps == []
    assert continue_flags(server, ROLES_PATH) == [False, True, True, True, True]


def test_page_error_exhausted_gives_gap(server: FakeApiServer, tmp_path: Path) -> None:
    server.fail_page("roles", 500, page=2, group="rbac.authorization.k8s.io")

    collection = run_collect(server, tmp_path)

    assert collection.coverage_gaps == [
        {
            "source": SOURCE,
            "reason": "error",
            "resource": ROLES,
            "detail": f"HTTP 500: Internal error occurred: listing roles failed; failed on page 2 after 2 objects, {DROPPED}",
        }
    ]
    assert names_of(collection, "Role") == []
    assert continue_flags(server, ROLES_PATH) == [False, True, True, True]


def test_page_error_keeps_other_kinds(server: FakeApiServer, tmp_path: Path) -> None:
    server.fail_page("roles", 500, page=2, group="rbac.authorization.k8s.io")

    collection = run_collect(server, tmp_path)

    assert names_of(collection, "ServiceAccount") == SERVICE_ACCOUNT_NAMES


def test_page_retries_are_logged(server: FakeApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server.fail_page("roles", 500, page=2, group="rbac.authorization.k8s.io", times=2)

    with caplog.at_level(logging.INFO, logger=live.__name__):
        run_collect(server, tmp_path)

    retries = [record.getMessage() for record in caplog.records if "retry" in record.getMessage()]
    assert retries == [
        f"GET {ROLES_PATH} failed (HTTP 500): retry 1 of at most 2",
        f"GET {ROLES_PATH} failed (HTTP 500): retry 2 of at most 2",
    ]


# Timeouts: the server stalls past the client's read timeout


def test_stalled_page_retried_then_listed(server: FakeApiServer, tmp_path: Path) -> None:
    server.stall_page("serviceaccounts", page=2, seconds=5, times=1)

    collection = run_collect(server, tmp_path)

    assert names_of(collection, "ServiceAccount") == SERVICE_ACCOUNT_NAMES
    assert collection.coverage_gaps == []
    assert continue_flags(server, SERVICE_ACCOUNTS_PATH) == [False, True, True]


def test_stalled_page_gives_timeout_gap(server: FakeApiServer, tmp_path: Path) -> None:
    server.stall_page("serviceaccounts", page=2, seconds=5)

    collection = run_collect(server, tmp_path)

    assert collection.coverage_gaps == [
        {
            "source": SOURCE,
            "reason": "error",
            "resource": "serviceaccounts",
            "detail": f"timed out: no response within {READ_TIMEOUT} s; failed on page 2 after 2 objects, {DROPPED}",
        }
    ]
    assert names_of(collection, "ServiceAccount") == []
    assert continue_flags(server, SERVICE_ACCOUNTS_PATH) == [False, True, True, True]


def test_dropped_connection_gives_gap(server: FakeApiServer, tmp_path: Path) -> None:
    server.stall_page("serviceaccounts", page=2, seconds=0)

    collection = run_collect(server, tmp_path)

    assert [(gap["reason"], gap["resource"]) for gap in collection.coverage_gaps] == [("error", "serviceaccounts")]
    detail = collection.coverage_gaps[0]["detail"]
    assert detail.startswith("the connection broke before the response was read: ")
    assert detail.endswith(f"; failed on page 2 after 2 objects, {DROPPED}")
    assert names_of(collection, "ServiceAccount") == []


def test_stalled_discovery_gives_group_gap(server: FakeApiServer, tmp_path: Path) -> None:
    server.add(cluster_secret_store())
    server.stall("/apis/external-secrets.io/v1", seconds=5)

    collection = run_collect(server, tmp_path)

    assert collection.coverage_gaps == [
        {
            "source": SOURCE,
            "reason": "error",
            "resource": "external-secrets.io",
            "detail": f"discovery of /apis/external-secrets.io/v1 failed: timed out: no response within {READ_TIMEOUT} s",
        }
    ]
    assert names_of(collection, "Role") == ROLE_NAMES


# 410 Gone on a continue token


def test_expired_token_restarts_without_duplicates(server: FakeApiServer, tmp_path: Path) -> None:
    server.expire_continue("roles", 1, group="rbac.authorization.k8s.io")

    collection = run_collect(server, tmp_path)

    assert names_of(collection, "Role") == ROLE_NAMES
    assert collection.coverage_gaps == []
    assert continue_flags(server, ROLES_PATH) == [False, True, False, True, True]


def test_expired_token_twice_gives_gap(server: FakeApiServer, tmp_path: Path) -> None:
    server.expire_continue("roles", 2, group="rbac.authorization.k8s.io")

    collection = run_collect(server, tmp_path)

    assert collection.coverage_gaps == [
        {
            "source": SOURCE,
            "reason": "error",
            "resource": ROLES,
            "detail": f"{EXPIRED_MESSAGE}; the continue token expired again after the list restarted; "
            f"failed on page 2 after 2 objects, {DROPPED}",
        }
    ]
    assert names_of(collection, "Role") == []
    assert continue_flags(server, ROLES_PATH) == [False, True, False, True]


def test_expired_token_twice_keeps_later_kinds(server: FakeApiServer, tmp_path: Path) -> None:
    server.expire_continue("roles", 2, group="rbac.authorization.k8s.io")

    collection = run_collect(server, tmp_path)

    assert names_of(collection, "ServiceAccount") == SERVICE_ACCOUNT_NAMES


def test_repeated_token_gives_gap(server: FakeApiServer, tmp_path: Path) -> None:
    server.loop_continue("roles", group="rbac.authorization.k8s.io")

    collection = run_collect(server, tmp_path)

    assert collection.coverage_gaps == [
        {
            "source": SOURCE,
            "reason": "error",
            "resource": ROLES,
            "detail": f"the API server repeated a continue token; failed on page 2 after 4 objects, {DROPPED}",
        }
    ]
    assert names_of(collection, "Role") == []


# 429 with Retry-After


def test_retry_after_honoured_then_listed(server: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "RETRIES", live.RETRIES.new(retry_after_max=30))
    server.fail_page("roles", 429, page=2, group="rbac.authorization.k8s.io", times=1, retry_after="1")

    started = time.monotonic()
    collection = run_collect(server, tmp_path)
    elapsed = time.monotonic() - started

    assert names_of(collection, "Role") == ROLE_NAMES
    assert collection.coverage_gaps == []
    assert elapsed >= 1.0


def test_retry_after_capped_then_gap(server: FakeApiServer, tmp_path: Path) -> None:
    server.fail_page("roles", 429, page=1, group="rbac.authorization.k8s.io", retry_after="3600")

    started = time.monotonic()
    collection = run_collect(server, tmp_path)
    elapsed = time.monotonic() - started

    assert collection.coverage_gaps == [
        {"source": SOURCE, "reason": "throttled", "resource": ROLES, "detail": "HTTP 429: Too many requests, please try again later."}
    ]
    assert len(server.requests_to(ROLES_PATH)) == 3
    assert 2 * RETRY_AFTER_CAP <= elapsed < 5


# A CRD that disappears during the run


def test_vanished_crd_gives_disappeared_gap(server: FakeApiServer, tmp_path: Path) -> None:
    server.add(external_secret("payments-db"), cluster_secret_store())
    server.fail("externalsecrets", 404, group="external-secrets.io")

    collection = run_collect(server, tmp_path)

    assert collection.coverage_gaps == [{"source": SOURCE, "reason": "crd_not_installed", "resource": EXTERNAL_SECRETS, "detail": DISAPPEARED}]
    assert names_of(collection, "ExternalSecret") == []
    assert names_of(collection, "ClusterSecretStore") == ["aws-secretsmanager"]


def test_crd_vanished_mid_list_gives_gap(server: FakeApiServer, tmp_path: Path) -> None:
    server.add(*(external_secret(f"payments-{index}") for index in range(5)))
    server.fail_page("externalsecrets", 404, page=3, group="external-secrets.io")

    collection = run_collect(server, tmp_path)

    assert collection.coverage_gaps == [
        {
            "source": SOURCE,
            "reason": "crd_not_installed",
            "resource": EXTERNAL_SECRETS,
            "detail": f"{DISAPPEARED}; failed on page 3 after 4 objects, {DROPPED}",
        }
    ]
    assert names_of(collection, "ExternalSecret") == []


def test_default_retries_are_bounded() -> None:
    retries = DEFAULT_RETRIES

    assert (retries.total, retries.connect, retries.read) == (5, 2, 2)
    assert (retries.backoff_factor, retries.backoff_max, retries.retry_after_max) == (0.5, 10, 30)
    assert retries.status_forcelist == (429, 500, 502, 503, 504)
    assert retries.raise_on_status is False


# The snapshot states exactly what is missing


def test_snapshot_lists_exact_gaps(server: FakeApiServer, tmp_path: Path) -> None:
    server.add(cluster_role("view-pods"), external_secret("payments-db"), cluster_secret_store())
    server.fail_page("roles", 500, page=2, group="rbac.authorization.k8s.io")
    server.stall_page("serviceaccounts", page=2, seconds=5)
    server.fail_page("clusterroles", 429, page=1, group="rbac.authorization.k8s.io", retry_after="3600")
    server.fail("externalsecrets", 404, group="external-secrets.io")
    server.forbid("secrets")
    output = tmp_path / "prod.json.gz"

    result = CliRunner().invoke(app, ["collect", "--no-progress", "--kubeconfig", str(server.write_kubeconfig(tmp_path)), "-o", str(output)])

    assert result.exit_code == 0, result.output
    snapshot = json.loads(gzip.decompress(output.read_bytes()))
    assert snapshot["coverage_gaps"] == [
        {
            "source": SOURCE,
            "reason": "throttled",
            "resource": "clusterroles.rbac.authorization.k8s.io",
            "detail": "HTTP 429: Too many requests, please try again later.",
        },
        {"source": SOURCE, "reason": "crd_not_installed", "resource": EXTERNAL_SECRETS, "detail": DISAPPEARED},
        {
            "source": SOURCE,
            "reason": "error",
            "resource": ROLES,
            "detail": f"HTTP 500: Internal error occurred: listing roles failed; failed on page 2 after 2 objects, {DROPPED}",
        },
        {
            "source": SOURCE,
            "reason": "forbidden",
            "resource": "secrets",
            "detail": 'HTTP 403: secrets is forbidden: User "system:serviceaccount:blastradius:collector" '
            'cannot list resource "secrets" in API group "" at the cluster scope',
        },
        {
            "source": SOURCE,
            "reason": "error",
            "resource": "serviceaccounts",
            "detail": f"timed out: no response within {READ_TIMEOUT} s; failed on page 2 after 2 objects, {DROPPED}",
        },
    ]
    kinds = sorted({obj["kind"] for obj in snapshot["clusters"][0]["objects"]})
    assert kinds == ["ClusterSecretStore"]
