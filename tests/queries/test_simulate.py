"""Compromise simulation over a small estate: exposed secrets per scenario, the IAM reach-vs-use gap, etcd windows."""

from __future__ import annotations

import json

import pytest

from blastradius.graph.model import CapabilityGraph
from blastradius.queries.refs import ReferenceLookupError
from blastradius.queries.simulate import format_duration, simulate
from tests.graph import estate
from tests.semantics import iam_fixtures as aws

APP_READER = aws.role_arn("app-reader")
CONTROLLER_ROLE = aws.role_arn("eso-controller")
APP_STORE = ("SecretStore", "aws-app")


def _frozen_external_secret() -> dict:
    """An ExternalSecret with refreshInterval 0: ESO copies `app/api` once and never refreshes it."""
    es = estate.external_secret("app", "api-sync", APP_STORE, key="app/api", target="api")
    es["spec"]["refreshInterval"] = "0"
    return es


def _objects() -> list[dict]:
    """Namespace `app` with an IRSA store, two synced Secrets, one unmanaged Secret, and a reader; plus the ESO controller."""
    return [
        *estate.eso_controller(),
        estate.namespace("app"),
        estate.service_account("app", "eso-app", role="app-reader"),
        estate.secret_store("app", "aws-app", estate.aws_provider(service_account=("app", "eso-app"))),
        estate.external_secret("app", "db-sync", APP_STORE, key="app/db", target="db"),
        _frozen_external_secret(),
        estate.secret("app", "db"),
        estate.secret("app", "api"),
        estate.secret("app", "manual"),
        estate.deployment("app", "web", "default", mounts=["db"]),
        *estate.grant("app", estate.user_subject("alice@example.com"), estate.READ_SECRETS, name="secret-reader"),
    ]


def _account() -> dict:
    return estate.account(
        secrets=("app/db", "app/api", "billing/token"),
        roles=(
            estate.irsa_role("app-reader", "system:serviceaccount:app:eso-app", "app/*"),
            estate.irsa_role("eso-controller", "system:serviceaccount:external-secrets:external-secrets", "shared/*"),
        ),
    )


@pytest.fixture(scope="module")
def graph() -> CapabilityGraph:
    return estate.build(_objects(), _account())


def exposed(graph: CapabilityGraph, reference: str, capability: str = "read") -> set[str]:
    return {row["secret"] for row in simulate(graph, reference).result.rows if row["capability"] == capability}


APP_COPIES = {"secret:app/db", "secret:app/api"}
APP_CLOUD = {"app/db", "app/api"}
EVERY_SECRET = APP_COPIES | {"secret:app/manual"}


@pytest.mark.parametrize(("reference", "expected"), [
    pytest.param(APP_READER, APP_CLOUD | APP_COPIES, id="iam-role"),
    pytest.param("secretstore:app/aws-app", APP_CLOUD | APP_COPIES, id="store-credential"),
    pytest.param("eso-controller", APP_CLOUD | EVERY_SECRET, id="eso-controller"),
    pytest.param("user:alice@example.com", APP_CLOUD | EVERY_SECRET, id="secret-reader"),
    pytest.param("etcd", APP_CLOUD | EVERY_SECRET, id="etcd"),
])
def test_simulate_readable_secrets_per_scenario(graph: CapabilityGraph, reference: str, expected: set[str]) -> None:
    assert exposed(graph, reference) == expected


def test_simulate_controller_overwrites_every_secret(graph: CapabilityGraph) -> None:
    assert exposed(graph, "eso-controller", "overwrite") == EVERY_SECRET


def test_simulate_store_leaks_its_cloud_identity(graph: CapabilityGraph) -> None:
    simulation = simulate(graph, "secretstore:app/aws-app")

    assert simulation.scenario == "store"
    assert [identity.arn for identity in simulation.compromised] == [APP_READER]


def test_simulate_controller_acts_as_store_identities(graph: CapabilityGraph) -> None:
    simulation = simulate(graph, "eso-controller")

    iam = {identity.arn for identity in simulation.identities if identity.kind == "iam_role"}
    assert simulation.scenario == "eso-controller"
    assert iam == {APP_READER, CONTROLLER_ROLE}


def test_simulate_iam_gap_counts_reach_against_use(graph: CapabilityGraph) -> None:
    gap, = simulate(graph, APP_READER).iam_gaps

    assert gap.readable == ("app/api", "app/db")
    assert gap.synced == ("app/api", "app/db")
    assert gap.unused == ()
    assert gap.headline() == "role/app-reader can read 2 secrets, ESO uses 2"


def test_simulate_iam_gap_lists_unused_reach() -> None:
    objects = [obj for obj in _objects() if obj.get("metadata", {}).get("name") != "api-sync"]
    gap, = simulate(estate.build(objects, _account()), APP_READER).iam_gaps

    assert gap.headline() == "role/app-reader can read 2 secrets, ESO uses 1"
    assert gap.unused == ("app/api",)


def test_simulate_controller_gap_per_identity(graph: CapabilityGraph) -> None:
    gaps = {gap.identity: (len(gap.readable), len(gap.synced)) for gap in simulate(graph, "eso-controller").iam_gaps}

    assert gaps == {"role/app-reader": (2, 2), "role/eso-controller": (0, 0)}


def test_simulate_etcd_exposure_windows(graph: CapabilityGraph) -> None:
    rows = simulate(graph, "etcd").readable

    windows = {row["secret"]: (row["exposure_window_seconds"], row["exposure_window"]) for row in rows}
    assert windows == {
        "secret:app/db": (3600.0, "up to 1h before the backup"),
        "app/db": (3600.0, "up to 1h before the backup"),
        "secret:app/api": (None, "unbounded: External Secrets does not refresh it on a timer"),
        "app/api": (None, "unbounded: External Secrets does not refresh it on a timer"),
        "secret:app/manual": (None, "unknown: not managed by External Secrets"),
    }


def test_simulate_etcd_rows_show_window_column(graph: CapabilityGraph) -> None:
    assert "exposure_window" in simulate(graph, "etcd").result.columns
    assert "exposure_window" not in simulate(graph, APP_READER).result.columns


def test_simulate_scopes_namespaces_and_accounts(graph: CapabilityGraph) -> None:
    simulation = simulate(graph, APP_READER)

    assert simulation.namespaces == ["test/app"]
    assert simulation.accounts == [aws.ACCOUNT]


def test_simulate_response_for_role(graph: CapabilityGraph) -> None:
    response = simulate(graph, APP_READER).response

    assert [identity.arn for identity in response.blocked] == [APP_READER]
    assert [(item.namespace, item.name, item.role_arn, item.stores) for item in response.reannotations] == [
        ("app", "eso-app", APP_READER, ("secretstore:app/aws-app",))]
    assert [(sync.namespace, sync.name) for sync in response.external_secrets] == [("app", "api-sync"), ("app", "db-sync")]
    assert [(workload.kind, workload.name, workload.needs_restart) for workload in response.workloads] == [
        ("deployment", "web", False)]


def test_simulate_response_for_user(graph: CapabilityGraph) -> None:
    response = simulate(graph, "user:alice@example.com").response

    assert [(binding.kind, binding.namespace, binding.name) for binding in response.bindings] == [
        ("RoleBinding", "app", "secret-reader")]
    assert [(secret.namespace, secret.name) for secret in response.rotate_kubernetes] == [("app", "manual")]
    assert response.blocked == []


def test_simulate_unknown_reference_raises(graph: CapabilityGraph) -> None:
    with pytest.raises(ReferenceLookupError, match="closest matches: secretstore:app/aws-app"):
        simulate(graph, "secretstore:app/aws-ap")


def test_simulate_rejects_non_credential_reference(graph: CapabilityGraph) -> None:
    with pytest.raises(ReferenceLookupError, match="names a workload"):
        simulate(graph, "deployment:app/web")


def test_simulate_etcd_unknown_cluster_raises(graph: CapabilityGraph) -> None:
    with pytest.raises(ReferenceLookupError, match="etcd needs one cluster"):
        simulate(graph, "etcd", cluster="elsewhere")


def test_simulate_json_has_no_canary(graph: CapabilityGraph) -> None:
    for reference in ("etcd", "eso-controller", APP_READER):
        assert estate.CANARY not in json.dumps(simulate(graph, reference).to_dict(), default=str)


@pytest.mark.parametrize(("seconds", "text"), [
    pytest.param(3600, "1h", id="hour"),
    pytest.param(5400, "1h30m", id="hour-and-half"),
    pytest.param(45, "45s", id="seconds"),
    pytest.param(90061, "1d1h1m1s", id="every-unit"),
    pytest.param(0, "0s", id="zero"),
])
def test_format_duration_like_refresh_interval(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
