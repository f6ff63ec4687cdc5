"""The live Kubernetes collector, end to end through the kubernetes client against a fake API server."""

from __future__ import annotations

import gzip
import json
import logging
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner
from urllib3.util.retry import Retry

from blastradius.cli.app import app
from blastradius.collectors import kubernetes as live
from blastradius.collectors.errors import CollectionError
from blastradius.snapshot import Collection
from tests.collectors.fake_apiserver import (
    BUILTIN_RESOURCES,
    ESO_GENERATOR_RESOURCES,
    ESO_V1ALPHA1_RESOURCES,
    ESO_V1BETA1_RESOURCES,
    METADATA_ONLY_MEDIA_TYPE,
    POLICY_RESOURCES,
    TEST_ISSUER,
    FakeApiServer,
)

CANARY = "CANARY-do-not-store-7f3a9c"
SOURCE = "kubernetes:prod-eks"


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {"kubernetes.io/metadata.name": name}}}


def service_account(name: str, ns: str = "payments", role_arn: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": ns, "uid": "5b0c7f6e-3d1a-4c55-9d8e-0a1b2c3d4e5f", "resourceVersion": "1042"}
    if role_arn:
        metadata["annotations"] = {"eks.amazonaws.com/role-arn": role_arn}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def canary_secret(name: str = "payments-db", ns: str = "payments") -> dict[str, Any]:
    """A Secret applied with kubectl: its value sits in data and again in the last-applied annotation."""
    last_applied = json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "stringData": {"password": CANARY}})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app.kubernetes.io/name": "payments-api"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied},
        },
        "data": {"password": "Q0FOQVJZLWRvLW5vdC1zdG9yZS03ZjNhOWM=", "username": "cGF5bWVudHM="},
        "stringData": {"dsn": f"postgres://payments:{CANARY}@db:5432/payments"},
    }


def token_secret(name: str = "ci-deployer-token", ns: str = "payments") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {"name": name, "namespace": ns, "annotations": {"kubernetes.io/service-account.name": "ci-deployer"}},
        "data": {"token": "ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNklpSjk=", "ca.crt": "LS0tLS1CRUdJTi0tLS0t"},
    }


def external_secret(api_version: str = "external-secrets.io/v1") -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "ExternalSecret",
        "metadata": {"name": "payments-db", "namespace": "payments"},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "aws-secretsmanager"},
            "target": {"name": "payments-db", "creationPolicy": "Owner"},
            "data": [{"secretKey": "password", "remoteRef": {"key": "production/payments/db"}}],
        },
    }


def push_secret() -> dict[str, Any]:
    return {
        "apiVersion": "external-secrets.io/v1alpha1",
        "kind": "PushSecret",
        "metadata": {"name": "pushsecret-example", "namespace": "teamb"},
        "spec": {
            "secretStoreRefs": [{"name": "teamb-secret-store", "kind": "SecretStore"}],
            "selector": {"secret": {"name": "my-secret"}},
            "data": [{"match": {"secretKey": "key1", "remoteRef": {"remoteKey": "teamb-my-first-parameter"}}}],
        },
    }


def cluster_role(name: str, rules: Any) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules}


def without(resources: tuple[Any, ...], group: str) -> list[Any]:
    return [resource for resource in resources if resource.group != group]


def run_collect(server: FakeApiServer, folder: Path, **overrides: Any) -> Collection:
    arguments: dict[str, Any] = {
        "kubeconfig": str(server.write_kubeconfig(folder)),
        "context": None,
        "in_cluster": False,
        "cluster_name": None,
        "oidc_issuer": None,
        "progress": False,
    }
    arguments.update(overrides)
    return live.collect_cluster(**arguments)


def names_of(collection: Collection, kind: str) -> list[str]:
    return [obj["metadata"]["name"] for obj in collection.clusters[0]["objects"] if obj["kind"] == kind]


def object_named(collection: Collection, kind: str, name: str) -> dict[str, Any]:
    matches = [obj for obj in collection.clusters[0]["objects"] if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def invoke_collect(*arguments: str) -> Any:
    return CliRunner().invoke(app, ["collect", "--no-progress", *arguments])


def read_snapshot(path: Path) -> dict[str, Any]:
    return json.loads(gzip.decompress(path.read_bytes()))


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry twice without waiting, and never retry a refused connection, to keep tests fast."""
    retries = Retry(
        total=2,
        connect=0,
        backoff_factor=0,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=("GET",),
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    monkeypatch.setattr(live, "RETRIES", retries)


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as fake:
        fake.add(namespace("payments"), service_account("payments-api", role_arn="arn:aws:iam::111122223333:role/payments-api"))
        yield fake


# Paging


def test_paging_returns_every_object_once(server: FakeApiServer, tmp_path: Path) -> None:
    expected = sorted(f"worker-{index:04d}" for index in range(1201))
    server.add(*(service_account(name) for name in expected))

    collection = run_collect(server, tmp_path)

    assert sorted(names_of(collection, "ServiceAccount")) == sorted(expected + ["payments-api"])
    assert len(names_of(collection, "ServiceAccount")) == 1202


def test_paging_follows_continue_tokens(server: FakeApiServer, tmp_path: Path) -> None:
    server.add(*(service_account(f"worker-{index:04d}") for index in range(1201)))

    run_collect(server, tmp_path)

    requests = server.requests_to("/api/v1/serviceaccounts")
    assert [request.query.get("limit") for request in requests] == ["500", "500", "500"]
    assert "continue" not in requests[0].query
    assert all(request.query.get("continue") for request in requests[1:])


def test_paging_small_page_size(server: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "PAGE_SIZE", 3)
    server.add(*(cluster_role(f"team-{index}-reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]) for index in range(10)))

    collection = run_collect(server, tmp_path)

    assert sorted(names_of(collection, "ClusterRole")) == sorted(f"team-{index}-reader" for index in range(10))
    assert len(server.requests_to("/apis/rbac.authorization.k8s.io/v1/clusterroles")) == 4


def test_expired_continue_restarts_list(tmp_path: Path) -> None:
    with FakeApiServer(expire_first_continue=True) as server:
        server.add(*(service_account(f"worker-{index:04d}") for index in range(1001)))

        collection = run_collect(server, tmp_path)

        assert len(names_of(collection, "ServiceAccount")) == 1001
        assert len(set(names_of(collection, "ServiceAccount"))) == 1001
        statuses = [bool(request.query.get("continue")) for request in server.requests_to("/api/v1/serviceaccounts")]
        assert statuses == [False, True, False, True, True]


# Discovery


def test_discovery_prefers_v1_over_v1beta1(server: FakeApiServer, tmp_path: Path) -> None:
    server.add(external_secret("external-secrets.io/v1"), external_secret("external-secrets.io/v1beta1"))

    collection = run_collect(server, tmp_path)

    externals = [obj for obj in collection.clusters[0]["objects"] if obj["kind"] == "ExternalSecret"]
    assert [obj["apiVersion"] for obj in externals] == ["external-secrets.io/v1"]
    assert server.requests_to("/apis/external-secrets.io/v1beta1/externalsecrets") == []


def test_discovery_falls_back_to_v1beta1(tmp_path: Path) -> None:
    resources = list(BUILTIN_RESOURCES + ESO_V1BETA1_RESOURCES + ESO_V1ALPHA1_RESOURCES + ESO_GENERATOR_RESOURCES + POLICY_RESOURCES)
    with FakeApiServer(resources=resources) as server:
        server.add(external_secret("external-secrets.io/v1beta1"))

        collection = run_collect(server, tmp_path)

    assert object_named(collection, "ExternalSecret", "payments-db")["apiVersion"] == "external-secrets.io/v1beta1"
    assert collection.coverage_gaps == []


def test_discovery_lists_pushsecret_from_v1alpha1(server: FakeApiServer, tmp_path: Path) -> None:
    server.add(push_secret())

    collection = run_collect(server, tmp_path)

    assert object_named(collection, "PushSecret", "pushsecret-example")["apiVersion"] == "external-secrets.io/v1alpha1"


def test_discovery_skips_unkept_kinds(server: FakeApiServer, tmp_path: Path) -> None:
    run_collect(server, tmp_path)

    assert server.requests_to("/api/v1/configmaps") == []
    assert server.requests_to("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations") == []


def test_full_cluster_has_no_gaps(server: FakeApiServer, tmp_path: Path) -> None:
    collection = run_collect(server, tmp_path)

    assert collection.coverage_gaps == []


def test_missing_eso_crds_give_group_gaps(tmp_path: Path) -> None:
    resources = without(without(BUILTIN_RESOURCES + POLICY_RESOURCES, "external-secrets.io"), "generators.external-secrets.io")
    with FakeApiServer(resources=resources) as server:
        collection = run_collect(server, tmp_path)

    assert [(gap["reason"], gap["resource"]) for gap in collection.coverage_gaps] == [
        ("crd_not_installed", "external-secrets.io"),
        ("crd_not_installed", "generators.external-secrets.io"),
    ]
    assert collection.coverage_gaps[0]["source"] == SOURCE


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        pytest.param(403, "forbidden", id="forbidden"),
        pytest.param(404, "crd_not_installed", id="not-found"),
        pytest.param(429, "throttled", id="throttled"),
        pytest.param(500, "error", id="internal-error"),
        pytest.param(503, "error", id="unavailable"),
    ],
)
def test_list_error_status_gives_gap(server: FakeApiServer, tmp_path: Path, status: int, reason: str) -> None:
    server.add(external_secret())
    server.fail("externalsecrets", status, group="external-secrets.io")

    collection = run_collect(server, tmp_path)

    assert [(gap["reason"], gap["resource"]) for gap in collection.coverage_gaps] == [(reason, "externalsecrets.external-secrets.io")]
    assert collection.coverage_gaps[0]["detail"].startswith(f"HTTP {status}: ")
    assert names_of(collection, "ExternalSecret") == []


def test_throttled_list_is_retried(server: FakeApiServer, tmp_path: Path) -> None:
    server.fail("externalsecrets", 429, group="external-secrets.io")

    run_collect(server, tmp_path)

    assert len(server.requests_to("/apis/external-secrets.io/v1/externalsecrets")) == 3


# Secrets


def test_forbidden_secrets_give_forbidden_gap(server: FakeApiServer, tmp_path: Path) -> None:
    server.add(canary_secret())
    server.forbid("secrets")

    collection = run_collect(server, tmp_path)

    assert collection.coverage_gaps == [
        {
            "source": SOURCE,
            "reason": "forbidden",
            "resource": "secrets",
            "detail": 'HTTP 403: secrets is forbidden: User "system:serviceaccount:blastradius:collector" '
            'cannot list resource "secrets" in API group "" at the cluster scope',
        }
    ]
    assert names_of(collection, "Secret") == []
    assert names_of(collection, "ServiceAccount") == ["payments-api"]


def test_forbidden_secrets_warning_names_consequence(server: FakeApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server.forbid("secrets")

    with caplog.at_level(logging.WARNING, logger=live.__name__):
        run_collect(server, tmp_path)

    assert "who-can results for Secrets will be incomplete" in caplog.text


def test_secrets_listed_only_as_metadata(server: FakeApiServer, tmp_path: Path) -> None:
    server.add(canary_secret(), token_secret())

    run_collect(server, tmp_path)

    accepts = [request.headers.get("accept") for request in server.requests_to("/api/v1/secrets")]
    assert accepts == [METADATA_ONLY_MEDIA_TYPE, METADATA_ONLY_MEDIA_TYPE]


def test_metadata_only_secret_type_unknown(server: FakeApiServer, tmp_path: Path) -> None:
    server.add(canary_secret())

    collection = run_collect(server, tmp_path)

    secret = object_named(collection, "Secret", "payments-db")
    assert secret["type"] is None
    assert secret["keys"] is None
    assert secret["metadata"] == {"name": "payments-db", "namespace": "payments", "labels": {"app.kubernetes.io/name": "payments-api"}}


def test_service_account_token_type_recorded(server: FakeApiServer, tmp_path: Path) -> None:
    server.add(canary_secret(), token_secret())

    collection = run_collect(server, tmp_path)

    assert object_named(collection, "Secret", "ci-deployer-token")["type"] == "kubernetes.io/service-account-token"
    assert object_named(collection, "Secret", "payments-db")["type"] is None


def test_ignored_media_type_keeps_key_names(tmp_path: Path) -> None:
    with FakeApiServer(ignore_metadata_accept=True) as server:
        server.add(canary_secret())

        collection = run_collect(server, tmp_path)

    secret = object_named(collection, "Secret", "payments-db")
    assert secret["type"] == "Opaque"
    assert secret["keys"] == ["dsn", "password", "username"]
    assert CANARY not in json.dumps(collection.clusters)


def test_malformed_object_gives_error_gap(server: FakeApiServer, tmp_path: Path) -> None:
    server.add(cluster_role("broken", "not-a-list"), cluster_role("view-pods", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]))

    collection = run_collect(server, tmp_path)

    assert names_of(collection, "ClusterRole") == ["view-pods"]
    assert [(gap["reason"], gap["resource"]) for gap in collection.coverage_gaps] == [("error", "clusterroles.rbac.authorization.k8s.io")]
    assert "ClusterRole broken" in collection.coverage_gaps[0]["detail"]


def test_progress_on_terminal_collects_all(server: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(live.sys.stderr, "isatty", lambda: True)
    server.add(canary_secret())

    collection = run_collect(server, tmp_path, progress=True)

    assert names_of(collection, "Secret") == ["payments-db"]
    assert capsys.readouterr().out == ""


# Cluster identity and issuer


def test_cluster_named_after_context(server: FakeApiServer, tmp_path: Path) -> None:
    collection = run_collect(server, tmp_path)

    assert collection.clusters[0]["name"] == "prod-eks"
    assert collection.clusters[0]["server"] == server.url


def test_cluster_name_option_wins(server: FakeApiServer, tmp_path: Path) -> None:
    collection = run_collect(server, tmp_path, cluster_name="payments-prod")

    assert collection.clusters[0]["name"] == "payments-prod"


def test_context_option_selects_cluster(server: FakeApiServer, tmp_path: Path) -> None:
    kubeconfig = yaml.safe_load(server.write_kubeconfig(tmp_path).read_text())
    kubeconfig["clusters"].append({"name": "staging-cluster", "cluster": {"server": "http://127.0.0.1:9"}})
    kubeconfig["contexts"].append({"name": "staging", "context": {"cluster": "staging-cluster", "user": "prod-eks-user"}})
    kubeconfig["current-context"] = "staging"
    path = tmp_path / "two-contexts"
    path.write_text(yaml.safe_dump(kubeconfig))

    collection = live.collect_cluster(kubeconfig=str(path), context="prod-eks", in_cluster=False, cluster_name=None, oidc_issuer=None, progress=False)

    assert collection.clusters[0]["name"] == "prod-eks"
    assert collection.clusters[0]["server"] == server.url


def test_issuer_read_from_discovery_document(server: FakeApiServer, tmp_path: Path) -> None:
    collection = run_collect(server, tmp_path)

    assert collection.clusters[0]["oidc_issuer"] == TEST_ISSUER


def test_issuer_option_skips_discovery_document(server: FakeApiServer, tmp_path: Path) -> None:
    collection = run_collect(server, tmp_path, oidc_issuer="https://oidc.example.internal")

    assert collection.clusters[0]["oidc_issuer"] == "https://oidc.example.internal"
    assert server.requests_to("/.well-known/openid-configuration") == []


def test_missing_issuer_is_warning_not_gap(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with FakeApiServer(issuer=None) as server, caplog.at_level(logging.WARNING, logger=live.__name__):
        collection = run_collect(server, tmp_path)

    assert collection.clusters[0]["oidc_issuer"] is None
    assert collection.coverage_gaps == []
    assert "give --oidc-issuer" in caplog.text


# Failures of the whole collection


def test_rejected_token_raises_collection_error(server: FakeApiServer, tmp_path: Path) -> None:
    kubeconfig = server.write_kubeconfig(tmp_path, token="expired-token")

    with pytest.raises(CollectionError, match="rejected the credentials"):
        live.collect_cluster(kubeconfig=str(kubeconfig), context=None, in_cluster=False, cluster_name=None, oidc_issuer=None, progress=False)


def test_missing_kubeconfig_names_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-kubeconfig"

    with pytest.raises(CollectionError, match="no-such-kubeconfig"):
        live.collect_cluster(kubeconfig=str(missing), context=None, in_cluster=False, cluster_name=None, oidc_issuer=None, progress=False)


def test_unknown_context_names_context(server: FakeApiServer, tmp_path: Path) -> None:
    with pytest.raises(CollectionError, match="context staging"):
        run_collect(server, tmp_path, context="staging")


def test_in_cluster_outside_pod_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    with pytest.raises(CollectionError, match="in-cluster ServiceAccount"):
        live.collect_cluster(kubeconfig=None, context=None, in_cluster=True, cluster_name=None, oidc_issuer=None, progress=False)


# Through the CLI


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_cli_writes_snapshot(server: FakeApiServer, tmp_path: Path) -> None:
    output = tmp_path / "prod.json.gz"

    result = invoke_collect("--kubeconfig", str(server.write_kubeconfig(tmp_path)), "-o", str(output))

    assert result.exit_code == 0, result.output
    snapshot = read_snapshot(output)
    assert snapshot["sources"] == [{"type": "kubernetes", "cluster": "prod-eks", "server": server.url, "manifests": []}]
    assert snapshot["clusters"][0]["oidc_issuer"] == TEST_ISSUER
    assert [obj["kind"] for obj in snapshot["clusters"][0]["objects"]] == ["Namespace", "ServiceAccount"]


@pytest.mark.parametrize("ignore_media_type", [pytest.param(False, id="metadata-only"), pytest.param(True, id="server-ignores-media-type")])
def test_cli_never_outputs_canary(tmp_path: Path, ignore_media_type: bool) -> None:
    output = tmp_path / "prod.json.gz"
    with FakeApiServer(ignore_metadata_accept=ignore_media_type) as server:
        server.add(canary_secret(), token_secret())
        kubeconfig = server.write_kubeconfig(tmp_path)

        result = CliRunner().invoke(app, ["--log-level", "debug", "collect", "--no-progress", "--kubeconfig", str(kubeconfig), "-o", str(output)])

    assert result.exit_code == 0, result.output
    assert CANARY not in gzip.decompress(output.read_bytes()).decode()
    assert CANARY not in result.stdout
    assert CANARY not in result.stderr
    assert "payments-db" in gzip.decompress(output.read_bytes()).decode()


def test_cli_missing_crds_exit_zero(tmp_path: Path) -> None:
    output = tmp_path / "prod.json.gz"
    with FakeApiServer(resources=list(BUILTIN_RESOURCES)) as server:
        result = invoke_collect("--kubeconfig", str(server.write_kubeconfig(tmp_path)), "-o", str(output))

    assert result.exit_code == 0, result.output
    assert "external-secrets.io: crd_not_installed" in result.stderr
    assert [gap["resource"] for gap in read_snapshot(output)["coverage_gaps"]] == [
        "external-secrets.io",
        "generators.external-secrets.io",
        "kyverno.io",
        "monitoring.coreos.com",
    ]


def test_cli_missing_crds_strict_exit_one(tmp_path: Path) -> None:
    output = tmp_path / "prod.json.gz"
    with FakeApiServer(resources=list(BUILTIN_RESOURCES)) as server:
        result = invoke_collect("--kubeconfig", str(server.write_kubeconfig(tmp_path)), "-o", str(output), "--strict")

    assert result.exit_code == 1, result.output
    assert output.exists()


def test_cli_forbidden_secrets_reported(server: FakeApiServer, tmp_path: Path) -> None:
    server.forbid("secrets")
    output = tmp_path / "prod.json.gz"

    result = invoke_collect("--kubeconfig", str(server.write_kubeconfig(tmp_path)), "-o", str(output))

    assert result.exit_code == 0, result.output
    assert "kubernetes:prod-eks: secrets: forbidden (HTTP 403: secrets is forbidden" in result.stderr
    assert [gap["reason"] for gap in read_snapshot(output)["coverage_gaps"]] == ["forbidden"]


def test_cli_unreachable_server_exit_two(tmp_path: Path) -> None:
    port = free_port()
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "gone", "user": {"token": "fake-apiserver-bearer-token"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "gone"}}],
        "current-context": "gone",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    output = tmp_path / "gone.json.gz"

    result = invoke_collect("--kubeconfig", str(path), "-o", str(output))

    assert result.exit_code == 2
    assert f"cannot reach the API server at http://127.0.0.1:{port}" in result.stderr
    assert "no snapshot was written" in result.stderr
    assert not output.exists()
    assert list(tmp_path.iterdir()) == [path]


def test_cli_rejected_token_exit_two(server: FakeApiServer, tmp_path: Path) -> None:
    output = tmp_path / "prod.json.gz"

    result = invoke_collect("--kubeconfig", str(server.write_kubeconfig(tmp_path, token="expired-token")), "-o", str(output))

    assert result.exit_code == 2
    assert "rejected the credentials" in result.stderr
    assert not output.exists()


# Version ordering


@pytest.mark.parametrize(
    ("served", "expected"),
    [
        pytest.param(["v1beta1", "v1", "v1alpha1"], ["v1", "v1beta1", "v1alpha1"], id="ga-beta-alpha"),
        pytest.param(["v1beta1", "v1beta2"], ["v1beta2", "v1beta1"], id="higher-beta-first"),
        pytest.param(["v1", "v2"], ["v2", "v1"], id="higher-major-first"),
        pytest.param(["v2alpha1", "v1beta1"], ["v1beta1", "v2alpha1"], id="beta-before-newer-alpha"),
        pytest.param(["foo", "v1"], ["v1", "foo"], id="unknown-scheme-last"),
    ],
)
def test_version_priority_orders_versions(served: list[str], expected: list[str]) -> None:
    assert sorted(served, key=live.version_priority) == expected


versions = st.builds(
    lambda major, stage, minor: f"v{major}{stage}{minor if stage else ''}",
    st.integers(1, 12),
    st.sampled_from(["", "beta", "alpha"]),
    st.integers(1, 9),
)


@given(st.lists(versions, min_size=1, max_size=8))
def test_version_priority_ga_beta_alpha(served: list[str]) -> None:
    stages = ["alpha" if "alpha" in version else "beta" if "beta" in version else "ga" for version in sorted(served, key=live.version_priority)]
    rank = {"ga": 0, "beta": 1, "alpha": 2}
    assert [rank[stage] for stage in stages] == sorted(rank[stage] for stage in stages)
