"""Table tests for the External Secrets Operator semantics."""

from __future__ import annotations

import copy
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from blastradius.semantics import eso
from blastradius.semantics.eso import (
    ControllerIdentity,
    EsoError,
    GeneratorRef,
    PushFlow,
    RemoteRef,
    StoreIdentity,
    StoreRef,
)

CANARY = "CANARY-do-not-store-7f3a9c"
REAL_INPUTS = Path(__file__).resolve().parents[2] / ".." / "shared" / "real-inputs" / "eso-examples"
COLLECTED_AT = datetime(2026, 12, 4, 20, 30, tzinfo=timezone.utc)

CONTROLLER_ROLE = "arn:aws:iam::111122223333:role/eso-controller"
PAYMENTS_ROLE = "arn:aws:iam::111122223333:role/payments-secrets-reader"
SHARED_ROLE = "arn:aws:iam::111122223333:role/shared-secrets-reader"
CONTROLLER = ControllerIdentity(
    "external-secrets",
    "external-secrets",
    {"aws": CONTROLLER_ROLE, "gcpsm": "eso@platform-prod.iam.gserviceaccount.com", "azurekv": "00000000-aaaa-4bbb-8ccc-controller00"},
    "Deployment external-secrets/external-secrets",
)


# --- fixtures ------------------------------------------------------------------------------------


def service_account(namespace: str, name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}}}


SERVICE_ACCOUNTS = {
    ("payments", "eso-reader"): service_account("payments", "eso-reader", {eso.IRSA_ROLE_ARN_ANNOTATION: PAYMENTS_ROLE}),
    ("shared", "eso-reader"): service_account("shared", "eso-reader", {eso.IRSA_ROLE_ARN_ANNOTATION: SHARED_ROLE}),
    ("payments", "no-irsa"): service_account("payments", "no-irsa"),
    ("payments", "vault-auth"): service_account("payments", "vault-auth"),
    ("payments", "gke-reader"): service_account(
        "payments", "gke-reader", {eso.GKE_SERVICE_ACCOUNT_ANNOTATION: "payments-reader@prod-1.iam.gserviceaccount.com"}
    ),
    ("payments", "azure-reader"): service_account(
        "payments", "azure-reader", {eso.AZURE_CLIENT_ID_ANNOTATION: "11111111-2222-4333-8444-555555555555"}
    ),
}


def cluster_store(provider: dict[str, Any], conditions: list[dict[str, Any]] | None = None, *, api_version: str = "external-secrets.io/v1") -> dict[str, Any]:
    spec: dict[str, Any] = {"provider": provider}
    if conditions is not None:
        spec["conditions"] = conditions
    return {"apiVersion": api_version, "kind": "ClusterSecretStore", "metadata": {"name": "shared-aws"}, "spec": spec}


def namespaced_store(provider: dict[str, Any], *, namespace: str = "payments", conditions: list[dict[str, Any]] | None = None, api_version: str = "external-secrets.io/v1") -> dict[str, Any]:
    store = cluster_store(provider, conditions, api_version=api_version)
    store["kind"] = "SecretStore"
    store["metadata"] = {"name": "aws", "namespace": namespace}
    return store


def aws(auth: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"service": "SecretsManager", "region": "eu-west-1", **fields}
    if auth is not None:
        block["auth"] = auth
    return {"aws": block}


def secret_key_ref(name: str, key: str, namespace: str | None = None) -> dict[str, str]:
    ref = {"name": name, "key": key}
    if namespace:
        ref["namespace"] = namespace
    return ref


STATIC_KEYS = {
    "secretRef": {
        "accessKeyIDSecretRef": secret_key_ref("aws-creds", "access-key-id"),
        "secretAccessKeySecretRef": secret_key_ref("aws-creds", "secret-access-key"),
    }
}


def resolve(store: dict[str, Any], using_namespace: str = "payments", controller: ControllerIdentity | None = CONTROLLER) -> StoreIdentity:
    return eso.resolve_store_identity(store, using_namespace=using_namespace, service_accounts=SERVICE_ACCOUNTS, controller=controller)


def external_secret(spec: dict[str, Any], *, namespace: str = "payments", status: dict[str, Any] | None = None, api_version: str = "external-secrets.io/v1") -> dict[str, Any]:
    es: dict[str, Any] = {"apiVersion": api_version, "kind": "ExternalSecret", "metadata": {"name": "db", "namespace": namespace}, "spec": spec}
    if status is not None:
        es["status"] = status
    return es


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def load_real_input(file_name: str) -> list[dict[str, Any]]:
    path = REAL_INPUTS / file_name
    if not path.exists():
        pytest.skip(f"real ESO examples not found at {REAL_INPUTS}")
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


# --- Go durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("15m0s", 900.0),
        ("1h0m0s", 3600.0),
        ("0", 0.0),
        ("+0", 0.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        (".5m", 30.0),
        ("1.s", 1.0),
        ("-2m", -120.0),
        ("250us", 0.00025),
        ("3µs", 0.000003),
        ("3μs", 0.000003),
        ("10ns", 0.00000001),
        ("1h1m1s1ms", 3661.001),
    ],
    ids=lambda value: str(value),
)
def test_parse_duration_accepts_go_syntax(text: str, seconds: float) -> None:
    assert eso.parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    "text",
    ["", "1", "h", ".", ".h", "1x", "1d", " 1h", "1h ", "1h-30m", "--1h", "1e3s", "0s-"],
    ids=["empty", "no-unit", "no-number", "dot", "dot-unit", "bad-unit", "days", "leading-space", "trailing-space", "inner-sign", "double-sign", "exponent", "trailing-sign"],
)
def test_parse_duration_rejects_malformed(text: str) -> None:
    with pytest.raises(EsoError, match=re.escape(repr(text))):
        eso.parse_duration(text)


def test_parse_duration_absent_returns_none() -> None:
    assert eso.parse_duration(None) is None


def test_parse_duration_rejects_yaml_integer() -> None:
    with pytest.raises(EsoError, match="quoted Go duration"):
        eso.parse_duration(3600)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "seconds"), [(None, 3600.0), ("0", 0.0), ("10m", 600.0)], ids=["default", "never", "explicit"])
def test_refresh_interval_defaults_to_hour(value: str | None, seconds: float) -> None:
    assert eso.refresh_interval_seconds(value) == seconds


def go_duration_string(total_nanoseconds: int) -> str:
    """Format like Go's Duration.String for whole seconds and above, else with ms/us/ns parts."""
    hours, rest = divmod(total_nanoseconds, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds, rest = divmod(rest, 10**9)
    milliseconds, rest = divmod(rest, 10**6)
    microseconds, nanoseconds = divmod(rest, 10**3)
    parts = [(hours, "h"), (minutes, "m"), (seconds, "s"), (milliseconds, "ms"), (microseconds, "us"), (nanoseconds, "ns")]
    return "".join(f"{amount}{unit}" for amount, unit in parts if amount) or "0"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**6 * 3600 * 10**9))
def test_parse_duration_round_trips_components(total_nanoseconds: int) -> None:
    assert eso.parse_duration(go_duration_string(total_nanoseconds)) == pytest.approx(total_nanoseconds / 10**9, rel=1e-12, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(min_value=0, max_value=999), st.sampled_from(["h", "m", "s", "ms"])), min_size=1, max_size=5),
    st.sampled_from(["", "-", "+"]),
)
def test_parse_duration_sums_repeated_units(parts: list[tuple[int, str]], sign: str) -> None:
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    text = sign + "".join(f"{amount}{unit}" for amount, unit in parts)
    expected = sum(amount * scale[unit] for amount, unit in parts) * (-1 if sign == "-" else 1)
    assert eso.parse_duration(text) == pytest.approx(expected, rel=1e-12, abs=1e-12)


# --- store admission -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "namespace_name", "labels", "admitted", "reason"),
    [
        (None, "dev-sandbox", {}, True, "ClusterSecretStore shared-aws has no conditions, so every namespace may use it"),
        ([], "dev-sandbox", {}, True, "ClusterSecretStore shared-aws has no conditions, so every namespace may use it"),
        (
            [{"namespaceRegexes": ["team-a"]}],
            "x-team-a-prod",
            {},
            True,
            "ClusterSecretStore shared-aws admits namespace x-team-a-prod: condition 1 matches (namespaceRegexes: team-a)",
        ),
        (
            [{"namespaces": ["team-a"]}],
            "x-team-a-prod",
            {},
            False,
            "ClusterSecretStore shared-aws: its conditions deny namespace x-team-a-prod (namespaces: [team-a])",
        ),
        (
            [{"namespaces": ["production"]}, {"namespaceRegexes": ["^team-"]}],
            "team-b",
            {},
            True,
            "ClusterSecretStore shared-aws admits namespace team-b: condition 2 matches (namespaceRegexes: ^team-)",
        ),
        (
            [{"namespaces": ["production"]}, {"namespaceRegexes": ["^team-"]}],
            "dev-sandbox",
            {},
            False,
            "ClusterSecretStore shared-aws: its conditions deny namespace dev-sandbox (namespaces: [production]; namespaceRegexes: [^team-])",
        ),
        (
            [{"namespaces": ["production"], "namespaceSelector": {"matchLabels": {"tier": "prod"}}}],
            "billing",
            {"tier": "prod"},
            True,
            "ClusterSecretStore shared-aws admits namespace billing: condition 1 matches (namespaceSelector: tier=prod)",
        ),
        (
            [{"namespaceSelector": {}}],
            "anything-at-all",
            {},
            True,
            "ClusterSecretStore shared-aws admits namespace anything-at-all: condition 1 matches (namespaceSelector: {})",
        ),
        (
            [{"namespaceSelector": {"matchLabels": {"tier": "prod"}}}],
            "dev-sandbox",
            {"tier": "dev"},
            False,
            "ClusterSecretStore shared-aws: its conditions deny namespace dev-sandbox (namespaceSelector: [tier=prod])",
        ),
        (
            [{"namespaceSelector": {"matchLabels": {eso.NAMESPACE_NAME_LABEL: "payments"}}}],
            "payments",
            {},
            True,
            "ClusterSecretStore shared-aws admits namespace payments: condition 1 matches (namespaceSelector: kubernetes.io/metadata.name=payments)",
        ),
        (
            [{}],
            "payments",
            {},
            False,
            "ClusterSecretStore shared-aws: its conditions deny namespace payments (every condition is empty, and an empty condition admits nothing)",
        ),
    ],
    ids=["no-conditions", "empty-list", "regex-unanchored", "name-exact-only", "conditions-ored", "denial-lists-parts", "parts-ored", "empty-selector-all", "selector-miss", "name-label-implicit", "empty-condition"],
)
def test_cluster_store_admission_decides(conditions: list[dict[str, Any]] | None, namespace_name: str, labels: dict[str, str], admitted: bool, reason: str) -> None:
    decision = eso.store_admits_namespace(cluster_store(aws(), conditions), namespace_name, labels)

    assert decision.admitted is admitted
    assert decision.reason == reason
    assert decision.warnings == ()


@pytest.mark.parametrize(
    ("expression", "labels", "admitted"),
    [
        ({"key": "tier", "operator": "In", "values": ["prod", "staging"]}, {"tier": "staging"}, True),
        ({"key": "tier", "operator": "In", "values": ["prod"]}, {}, False),
        ({"key": "tier", "operator": "NotIn", "values": ["dev"]}, {}, True),
        ({"key": "tier", "operator": "NotIn", "values": ["dev"]}, {"tier": "dev"}, False),
        ({"key": "pci", "operator": "Exists"}, {"pci": ""}, True),
        ({"key": "pci", "operator": "DoesNotExist"}, {"pci": "true"}, False),
    ],
    ids=["in-hit", "in-absent", "notin-absent", "notin-hit", "exists", "does-not-exist"],
)
def test_cluster_store_selector_expressions(expression: dict[str, Any], labels: dict[str, str], admitted: bool) -> None:
    store = cluster_store(aws(), [{"namespaceSelector": {"matchExpressions": [expression]}}])

    assert eso.store_admits_namespace(store, "billing", labels).admitted is admitted


def test_cluster_store_rejects_unknown_operator() -> None:
    store = cluster_store(aws(), [{"namespaceSelector": {"matchExpressions": [{"key": "tier", "operator": "Matches"}]}}])

    with pytest.raises(EsoError, match=r"ClusterSecretStore shared-aws spec.conditions\[0\]: invalid label selector: .*'Matches'"):
        eso.store_admits_namespace(store, "billing", {})


@pytest.mark.parametrize(
    ("namespace_name", "admitted", "reason"),
    [
        ("payments", True, "SecretStore payments/aws serves its own namespace payments"),
        ("other", False, "SecretStore payments/aws serves only its own namespace payments, not other"),
    ],
    ids=["own-namespace", "other-namespace"],
)
def test_secret_store_ignores_conditions(namespace_name: str, admitted: bool, reason: str) -> None:
    store = namespaced_store(aws(), conditions=[{"namespaces": ["other"]}])

    decision = eso.store_admits_namespace(store, namespace_name, {})

    assert decision.admitted is admitted
    assert decision.reason == reason


def test_invalid_regex_skipped_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    store = cluster_store(aws(), [{"namespaceRegexes": ["(?=team)", "^team-"]}])
    store["metadata"]["name"] = "regex-warning-store"

    with caplog.at_level(logging.WARNING, logger="blastradius.semantics.eso"):
        decision = eso.store_admits_namespace(store, "team-a", {})

    assert decision.admitted is True
    assert len(decision.warnings) == 1
    assert decision.warnings[0].startswith("ClusterSecretStore regex-warning-store spec.conditions[0]: namespaceRegexes entry '(?=team)' is skipped")
    assert [record.getMessage() for record in caplog.records] == list(decision.warnings)


def test_invalid_regex_warns_once_per_store(caplog: pytest.LogCaptureFixture) -> None:
    store = cluster_store(aws(), [{"namespaceRegexes": ["(?!x)"]}])
    store["metadata"]["name"] = "warn-once-store"

    with caplog.at_level(logging.WARNING, logger="blastradius.semantics.eso"):
        for name in ("a", "b", "c"):
            eso.store_admits_namespace(store, name, {})

    assert len(caplog.records) == 1


condition_strategy = st.fixed_dictionaries(
    {},
    optional={
        "namespaces": st.lists(st.sampled_from(["team-a", "team-b", "prod"]), max_size=2),
        "namespaceRegexes": st.lists(st.sampled_from(["team", "^prod$", "-b", "a$"]), max_size=2),
        "namespaceSelector": st.sampled_from([{}, {"matchLabels": {"tier": "prod"}}, {"matchExpressions": [{"key": "pci", "operator": "Exists"}]}]),
    },
)
namespace_strategy = st.tuples(
    st.sampled_from(["team-a", "team-b", "prod", "x-team-a-prod", "dev"]),
    st.dictionaries(st.sampled_from(["tier", "pci"]), st.sampled_from(["prod", "dev"]), max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(condition_strategy, min_size=1, max_size=3), condition_strategy, namespace_strategy)
def test_adding_condition_keeps_admissions(conditions: list[dict[str, Any]], extra: dict[str, Any], target: tuple[str, dict[str, str]]) -> None:
    name, labels = target
    before = eso.store_admits_namespace(cluster_store(aws(), conditions), name, labels)
    after = eso.store_admits_namespace(cluster_store(aws(), [*conditions, extra]), name, labels)

    assert after.admitted or not before.admitted


# --- providers -----------------------------------------------------------------------------------


def test_store_provider_reads_aws_fields() -> None:
    store = cluster_store(aws(role=SHARED_ROLE, additionalRoles=["arn:aws:iam::222233334444:role/hop"], externalID="eso-prod"))

    provider = eso.store_provider(store)

    assert provider == eso.StoreProvider(
        name="aws",
        service="SecretsManager",
        region="eu-west-1",
        role=SHARED_ROLE,
        additional_roles=("arn:aws:iam::222233334444:role/hop",),
        external_id="eso-prod",
        raw=store["spec"]["provider"]["aws"],
    )


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        ({}, "configures no provider"),
        ({**aws(), "vault": {"server": "https://vault.internal:8200"}}, r"configures 2 providers \(aws, vault\)"),
    ],
    ids=["none", "several"],
)
def test_store_provider_requires_exactly_one(provider: dict[str, Any], message: str) -> None:
    with pytest.raises(EsoError, match=f"ClusterSecretStore shared-aws: spec.provider {message}"):
        eso.store_provider(cluster_store(provider))


def test_store_key_names_scope() -> None:
    assert eso.store_key(cluster_store(aws())) == ("ClusterSecretStore", None, "shared-aws")
    assert eso.store_key(namespaced_store(aws())) == ("SecretStore", "payments", "aws")


def test_store_ref_key_resolves_scope() -> None:
    assert StoreRef("SecretStore", "aws").key("payments") == ("SecretStore", "payments", "aws")
    assert StoreRef("ClusterSecretStore", "shared-aws").key("payments") == ("ClusterSecretStore", None, "shared-aws")


def test_secret_store_without_namespace_names_file() -> None:
    store = namespaced_store(aws())
    del store["metadata"]["namespace"]
    store["origin"] = {"file": "clusters/prod/stores.yaml", "line": 14}

    with pytest.raises(EsoError, match=re.escape("SecretStore aws (clusters/prod/stores.yaml:14): metadata.namespace is missing")):
        eso.store_key(store)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, "ConfigMap x: expected kind SecretStore or ClusterSecretStore"),
        ({**cluster_store(aws()), "apiVersion": "external-secrets.io/v2"}, "unsupported apiVersion 'external-secrets.io/v2'"),
    ],
    ids=["wrong-kind", "unknown-version"],
)
def test_store_functions_reject_foreign_objects(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(EsoError, match=re.escape(message)):
        eso.store_admits_namespace(obj, "payments", {})


# --- store identity: AWS -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("store", "using_namespace", "expected"),
    [
        (
            cluster_store(aws({"jwt": {"serviceAccountRef": {"name": "eso-reader"}}})),
            "payments",
            StoreIdentity(kind="web_identity", provider="aws", service_account=("payments", "eso-reader"), cloud_identity=PAYMENTS_ROLE),
        ),
        (
            cluster_store(aws({"jwt": {"serviceAccountRef": {"name": "eso-reader", "namespace": "shared"}}})),
            "payments",
            StoreIdentity(kind="web_identity", provider="aws", service_account=("shared", "eso-reader"), cloud_identity=SHARED_ROLE),
        ),
        (
            namespaced_store(aws({"jwt": {"serviceAccountRef": {"name": "eso-reader"}}})),
            "payments",
            StoreIdentity(kind="web_identity", provider="aws", service_account=("payments", "eso-reader"), cloud_identity=PAYMENTS_ROLE),
        ),
        (
            namespaced_store(aws()),
            "payments",
            StoreIdentity(kind="controller", provider="aws", service_account=("external-secrets", "external-secrets"), cloud_identity=CONTROLLER_ROLE, uses_controller=True),
        ),
        (
            namespaced_store(aws(STATIC_KEYS)),
            "payments",
            StoreIdentity(
                kind="static_keys",
                provider="aws",
                credentials_secrets=(("payments", "aws-creds", "access-key-id"), ("payments", "aws-creds", "secret-access-key")),
            ),
        ),
        (
            cluster_store(aws(STATIC_KEYS)),
            "billing",
            StoreIdentity(
                kind="static_keys",
                provider="aws",
                credentials_secrets=(("billing", "aws-creds", "access-key-id"), ("billing", "aws-creds", "secret-access-key")),
            ),
        ),
        (
            cluster_store(
                aws(
                    {
                        "secretRef": {
                            "accessKeyIDSecretRef": secret_key_ref("root-keys", "id", "external-secrets"),
                            "secretAccessKeySecretRef": secret_key_ref("root-keys", "secret", "external-secrets"),
                            "sessionTokenSecretRef": secret_key_ref("root-keys", "session", "external-secrets"),
                        }
                    }
                )
            ),
            "billing",
            StoreIdentity(
                kind="static_keys",
                provider="aws",
                credentials_secrets=(
                    ("external-secrets", "root-keys", "id"),
                    ("external-secrets", "root-keys", "secret"),
                    ("external-secrets", "root-keys", "session"),
                ),
            ),
        ),
    ],
    ids=["css-referent-sa", "css-pinned-sa", "secret-store-sa", "no-auth-controller", "static-keys", "css-referent-keys", "css-pinned-keys"],
)
def test_aws_store_identity_resolves(store: dict[str, Any], using_namespace: str, expected: StoreIdentity) -> None:
    assert resolve(store, using_namespace) == expected


def test_aws_assume_chain_orders_roles() -> None:
    store = cluster_store(
        aws(
            {"jwt": {"serviceAccountRef": {"name": "eso-reader"}}},
            role="arn:aws:iam::444455556666:role/final",
            additionalRoles=["arn:aws:iam::222233334444:role/hop-1", "arn:aws:iam::333344445555:role/hop-2"],
        )
    )

    identity = resolve(store)

    assert identity.assume_chain == (
        "arn:aws:iam::222233334444:role/hop-1",
        "arn:aws:iam::333344445555:role/hop-2",
        "arn:aws:iam::444455556666:role/final",
    )


@pytest.mark.parametrize(
    ("store", "problem"),
    [
        (
            cluster_store(aws({"jwt": {"serviceAccountRef": {"name": "missing"}}})),
            "ClusterSecretStore shared-aws: ServiceAccount payments/missing named by auth.jwt.serviceAccountRef is not in the snapshot",
        ),
        (
            cluster_store(aws({"jwt": {"serviceAccountRef": {"name": "no-irsa"}}})),
            "ClusterSecretStore shared-aws: ServiceAccount payments/no-irsa named by auth.jwt.serviceAccountRef has no eks.amazonaws.com/role-arn annotation",
        ),
        (
            namespaced_store(aws({"jwt": {"serviceAccountRef": {"name": "eso-reader", "namespace": "shared"}}})),
            "SecretStore payments/aws: auth.jwt.serviceAccountRef names namespace shared, but only namespace payments can be used here; "
            "ESO rejects a namespaced store that references another namespace",
        ),
        (
            cluster_store(aws({**STATIC_KEYS, "jwt": {"serviceAccountRef": {"name": "eso-reader"}}})),
            "ClusterSecretStore shared-aws: auth sets both jwt and secretRef; ESO uses jwt",
        ),
    ],
    ids=["sa-missing", "sa-without-annotation", "secret-store-foreign-namespace", "jwt-and-keys"],
)
def test_aws_store_identity_reports_problem(store: dict[str, Any], problem: str) -> None:
    assert problem in resolve(store).problems


def test_secret_store_foreign_namespace_stays_home() -> None:
    store = namespaced_store(aws({"jwt": {"serviceAccountRef": {"name": "eso-reader", "namespace": "shared"}}}))

    assert resolve(store).service_account == ("payments", "eso-reader")


def test_jwt_wins_over_keys_in_store() -> None:
    store = cluster_store(aws({**STATIC_KEYS, "jwt": {"serviceAccountRef": {"name": "eso-reader"}}}))

    identity = resolve(store)

    assert identity.kind == "web_identity"
    assert identity.credentials_secrets == ()


@pytest.mark.parametrize(
    ("controller", "problem"),
    [
        (None, "SecretStore payments/aws: falls back to the ESO controller's identity, but no controller was found in the snapshot"),
        (
            ControllerIdentity("external-secrets", "external-secrets", {}),
            "SecretStore payments/aws: falls back to the ESO controller's identity, and its ServiceAccount "
            "external-secrets/external-secrets has no eks.amazonaws.com/role-arn annotation; "
            "the controller pod's ambient credentials (node role, pod identity, environment) apply",
        ),
    ],
    ids=["no-controller", "controller-without-irsa"],
)
def test_controller_fallback_reports_gaps(controller: ControllerIdentity | None, problem: str) -> None:
    identity = resolve(namespaced_store(aws()), controller=controller)

    assert identity.uses_controller is True
    assert identity.cloud_identity is None
    assert identity.problems == (problem,)


@pytest.mark.parametrize("api_version", ["external-secrets.io/v1", "external-secrets.io/v1beta1"], ids=["v1", "v1beta1"])
def test_store_versions_resolve_alike(api_version: str) -> None:
    store = cluster_store(aws({"jwt": {"serviceAccountRef": {"name": "eso-reader"}}}), [{"namespaceRegexes": ["^pay"]}], api_version=api_version)

    assert resolve(store).cloud_identity == PAYMENTS_ROLE
    assert eso.store_admits_namespace(store, "payments", {}).admitted is True


# --- store identity: other providers -------------------------------------------------------------


def vault(auth: dict[str, Any] | None) -> dict[str, Any]:
    block: dict[str, Any] = {"server": "https://vault.internal:8200", "path": "secret", "version": "v2"}
    if auth is not None:
        block["auth"] = auth
    return {"vault": block}


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        (
            vault({"kubernetes": {"mountPath": "kubernetes", "role": "payments", "serviceAccountRef": {"name": "vault-auth"}}}),
            StoreIdentity(kind="vault_kubernetes", provider="vault", service_account=("payments", "vault-auth"), cloud_identity="auth/kubernetes/role/payments"),
        ),
        (
            vault({"kubernetes": {"mountPath": "k8s-prod", "role": "payments", "secretRef": {"name": "vault-jwt"}}}),
            StoreIdentity(kind="vault_kubernetes", provider="vault", credentials_secrets=(("payments", "vault-jwt", "token"),), cloud_identity="auth/k8s-prod/role/payments"),
        ),
        (
            vault({"kubernetes": {"role": "eso"}}),
            StoreIdentity(
                kind="vault_kubernetes",
                provider="vault",
                service_account=("external-secrets", "external-secrets"),
                cloud_identity="auth/kubernetes/role/eso",
                uses_controller=True,
            ),
        ),
        (
            vault({"tokenSecretRef": secret_key_ref("vault-token", "token")}),
            StoreIdentity(kind="vault_token", provider="vault", credentials_secrets=(("payments", "vault-token", "token"),)),
        ),
        (
            vault({"appRole": {"path": "approle", "roleRef": secret_key_ref("approle", "role-id"), "secretRef": secret_key_ref("approle", "secret-id")}}),
            StoreIdentity(
                kind="vault_approle",
                provider="vault",
                credentials_secrets=(("payments", "approle", "role-id"), ("payments", "approle", "secret-id")),
                cloud_identity="auth/approle",
            ),
        ),
        (
            vault({"userPass": {"path": "userpass", "username": "eso", "secretRef": secret_key_ref("vault-user", "password")}}),
            StoreIdentity(kind="vault_userpass", provider="vault", credentials_secrets=(("payments", "vault-user", "password"),), cloud_identity="auth/userpass/users/eso"),
        ),
        (
            {"gcpsm": {"projectID": "prod-1", "auth": {"secretRef": {"secretAccessKeySecretRef": secret_key_ref("gcp-key", "credentials.json")}}}},
            StoreIdentity(kind="gcp_key", provider="gcpsm", credentials_secrets=(("payments", "gcp-key", "credentials.json"),)),
        ),
        (
            {"gcpsm": {"projectID": "prod-1", "auth": {"workloadIdentity": {"serviceAccountRef": {"name": "gke-reader"}}}}},
            StoreIdentity(
                kind="gcp_workload_identity",
                provider="gcpsm",
                service_account=("payments", "gke-reader"),
                cloud_identity="payments-reader@prod-1.iam.gserviceaccount.com",
            ),
        ),
        (
            {"gcpsm": {"projectID": "prod-1"}},
            StoreIdentity(
                kind="controller",
                provider="gcpsm",
                service_account=("external-secrets", "external-secrets"),
                cloud_identity="eso@platform-prod.iam.gserviceaccount.com",
                uses_controller=True,
            ),
        ),
        (
            {
                "azurekv": {
                    "vaultUrl": "https://payments.vault.azure.net",
                    "tenantId": "tenant",
                    "authSecretRef": {"clientId": secret_key_ref("azure-sp", "client-id"), "clientSecret": secret_key_ref("azure-sp", "client-secret")},
                }
            },
            StoreIdentity(
                kind="azure_service_principal",
                provider="azurekv",
                credentials_secrets=(("payments", "azure-sp", "client-id"), ("payments", "azure-sp", "client-secret")),
            ),
        ),
        (
            {"azurekv": {"vaultUrl": "https://payments.vault.azure.net", "authType": "ManagedIdentity", "identityId": "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/eso"}},
            StoreIdentity(
                kind="azure_managed_identity",
                provider="azurekv",
                service_account=("external-secrets", "external-secrets"),
                cloud_identity="/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/eso",
                uses_controller=True,
            ),
        ),
        (
            {"azurekv": {"vaultUrl": "https://payments.vault.azure.net", "authType": "WorkloadIdentity", "serviceAccountRef": {"name": "azure-reader"}}},
            StoreIdentity(
                kind="azure_workload_identity",
                provider="azurekv",
                service_account=("payments", "azure-reader"),
                cloud_identity="11111111-2222-4333-8444-555555555555",
            ),
        ),
        (
            {"azurekv": {"vaultUrl": "https://payments.vault.azure.net", "authType": "WorkloadIdentity"}},
            StoreIdentity(
                kind="azure_workload_identity",
                provider="azurekv",
                service_account=("external-secrets", "external-secrets"),
                cloud_identity="00000000-aaaa-4bbb-8ccc-controller00",
                uses_controller=True,
            ),
        ),
        (
            {"kubernetes": {"remoteNamespace": "platform", "server": {"url": "https://kubernetes.default"}, "auth": {"serviceAccount": {"name": "vault-auth"}}}},
            StoreIdentity(
                kind="kubernetes_service_account",
                provider="kubernetes",
                service_account=("payments", "vault-auth"),
                cloud_identity="system:serviceaccount:payments:vault-auth",
            ),
        ),
        (
            {"kubernetes": {"server": {"url": "https://prod.example:6443"}, "auth": {"token": {"bearerToken": secret_key_ref("remote-token", "token")}}}},
            StoreIdentity(kind="kubernetes_token", provider="kubernetes", credentials_secrets=(("payments", "remote-token", "token"),)),
        ),
    ],
    ids=[
        "vault-k8s-sa",
        "vault-k8s-secret",
        "vault-k8s-controller",
        "vault-token",
        "vault-approle",
        "vault-userpass",
        "gcp-key",
        "gcp-workload-identity",
        "gcp-controller",
        "azure-sp",
        "azure-managed",
        "azure-workload",
        "azure-workload-controller",
        "kubernetes-sa",
        "kubernetes-token",
    ],
)
def test_provider_identity_resolves(provider: dict[str, Any], expected: StoreIdentity) -> None:
    assert resolve(namespaced_store(provider)) == expected


def test_vault_several_methods_uses_first() -> None:
    store = namespaced_store(vault({"kubernetes": {"role": "eso"}, "tokenSecretRef": secret_key_ref("vault-token", "token")}))

    identity = resolve(store)

    assert identity.kind == "vault_token"
    assert identity.problems == ("SecretStore payments/aws: configures several Vault auth methods (tokenSecretRef, kubernetes); ESO uses tokenSecretRef",)


def test_gcp_unannotated_sa_names_principal() -> None:
    store = namespaced_store({"gcpsm": {"projectID": "prod-1", "auth": {"workloadIdentity": {"serviceAccountRef": {"name": "vault-auth"}}}}})

    identity = resolve(store)

    assert identity.cloud_identity is None
    assert identity.problems == (
        "SecretStore payments/aws: ServiceAccount payments/vault-auth has no iam.gke.io/gcp-service-account annotation; "
        "GCP can still grant it directly as principal .../subject/ns/payments/sa/vault-auth",
    )


def test_unmodelled_provider_lists_references() -> None:
    store = namespaced_store(
        {
            "onepassword": {
                "connectHost": "https://onepassword-connect",
                "vaults": {"payments": 1},
                "auth": {"secretRef": {"connectTokenSecretRef": secret_key_ref("op-connect", "token")}},
            }
        }
    )

    identity = resolve(store)

    assert identity.kind == "other"
    assert identity.credentials_secrets == (("payments", "op-connect", "token"),)


def test_fake_provider_keeps_no_values() -> None:
    store = namespaced_store({"fake": {"data": [{"key": "/db/password", "value": CANARY}]}})

    identity = resolve(store)

    assert CANARY not in repr(identity)
    assert CANARY not in repr(eso.store_provider(store))


def test_resolve_accepts_chosen_provider() -> None:
    store = cluster_store({**aws(STATIC_KEYS), "gcpsm": {"projectID": "prod-1"}})
    second = eso.store_providers(store)[1]

    identity = eso.resolve_store_identity(store, using_namespace="payments", service_accounts=SERVICE_ACCOUNTS, controller=CONTROLLER, provider=second)

    assert identity.kind == "controller"
    assert identity.provider == "gcpsm"


# --- controllers ---------------------------------------------------------------------------------


def deployment(namespace_name: str, name: str, labels: dict[str, str], service_account_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace_name, "labels": labels},
        "pod": {"serviceAccountName": service_account_name, "automountServiceAccountToken": None, "replicas": 1, "nodeName": None, "secretRefs": []},
    }


CHART_OBJECTS = [
    deployment("external-secrets", "external-secrets", {"app.kubernetes.io/name": "external-secrets", "app.kubernetes.io/instance": "external-secrets"}, "external-secrets"),
    deployment("external-secrets", "external-secrets-webhook", {"app.kubernetes.io/name": "external-secrets-webhook"}, "external-secrets-webhook"),
    deployment("external-secrets", "external-secrets-cert-controller", {"app.kubernetes.io/name": "external-secrets-cert-controller"}, "external-secrets-cert-controller"),
    service_account("external-secrets", "external-secrets", {eso.IRSA_ROLE_ARN_ANNOTATION: CONTROLLER_ROLE}),
]


def test_find_controllers_reads_chart_deployment() -> None:
    assert eso.find_controllers(CHART_OBJECTS) == [
        ControllerIdentity("external-secrets", "external-secrets", {"aws": CONTROLLER_ROLE}, "Deployment external-secrets/external-secrets")
    ]


def test_find_controllers_falls_back_to_binding() -> None:
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "eso-external-secrets-controller"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "eso-external-secrets-controller"},
        "subjects": [{"kind": "ServiceAccount", "name": "eso", "namespace": "platform"}, {"kind": "Group", "name": "system:masters"}],
    }

    assert eso.find_controllers([binding]) == [
        ControllerIdentity("platform", "eso", {}, "ClusterRoleBinding eso-external-secrets-controller to ClusterRole eso-external-secrets-controller")
    ]


def test_find_controllers_without_eso_empty() -> None:
    assert eso.find_controllers([CHART_OBJECTS[1], service_account("default", "default")]) == []


# --- ExternalSecrets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"secretStoreRef": {"name": "aws"}, "data": [{"secretKey": "password", "remoteRef": {"key": "production/db", "property": "password", "version": "AWSCURRENT"}}]},
            [RemoteRef(store=StoreRef("SecretStore", "aws"), key="production/db", property="password", version="AWSCURRENT", secret_key="password")],
        ),
        (
            {
                "secretStoreRef": {"name": "aws", "kind": "SecretStore"},
                "data": [{"secretKey": "api", "remoteRef": {"key": "shared/api"}, "sourceRef": {"storeRef": {"name": "shared-aws", "kind": "ClusterSecretStore"}}}],
            },
            [RemoteRef(store=StoreRef("ClusterSecretStore", "shared-aws"), key="shared/api", secret_key="api")],
        ),
        (
            {"secretStoreRef": {"name": "shared-aws", "kind": "ClusterSecretStore"}, "dataFrom": [{"extract": {"key": "production/db"}}, {"find": {"path": "production/", "name": {"regexp": ".*"}}}]},
            [
                RemoteRef(store=StoreRef("ClusterSecretStore", "shared-aws"), key="production/db", via="dataFrom.extract"),
                RemoteRef(store=StoreRef("ClusterSecretStore", "shared-aws"), key=None, find={"path": "production/", "name": {"regexp": ".*"}}, via="dataFrom.find"),
            ],
        ),
        (
            {"dataFrom": [{"sourceRef": {"generatorRef": {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "ECRAuthorizationToken", "name": "ecr"}}}]},
            [RemoteRef(store=None, key=None, via="generator", generator=GeneratorRef("generators.external-secrets.io/v1alpha1", "ECRAuthorizationToken", "ecr"))],
        ),
    ],
    ids=["data-default-kind", "source-ref-overrides", "extract-and-find", "generator-only"],
)
def test_external_secret_refs_lists_sources(spec: dict[str, Any], expected: list[RemoteRef]) -> None:
    assert eso.external_secret_refs(external_secret(spec)) == expected


def test_external_secret_refs_needs_store() -> None:
    es = external_secret({"data": [{"secretKey": "password", "remoteRef": {"key": "production/db"}}]})

    with pytest.raises(EsoError, match=re.escape("ExternalSecret payments/db: spec.data[0] has no sourceRef and spec.secretStoreRef is not set")):
        eso.external_secret_refs(es)


def test_external_secret_refs_rejects_kind() -> None:
    es = external_secret({"secretStoreRef": {"name": "aws", "kind": "Vault"}, "data": []})

    with pytest.raises(EsoError, match="spec.secretStoreRef.kind 'Vault' is invalid"):
        eso.external_secret_refs(es)


@pytest.mark.parametrize("api_version", ["external-secrets.io/v1", "external-secrets.io/v1beta1"], ids=["v1", "v1beta1"])
def test_external_secret_versions_parse_alike(api_version: str) -> None:
    es = external_secret({"secretStoreRef": {"name": "aws"}, "refreshInterval": "15m", "data": [{"secretKey": "k", "remoteRef": {"key": "production/db"}}]}, api_version=api_version)

    assert eso.external_secret_refs(es) == [RemoteRef(store=StoreRef("SecretStore", "aws"), key="production/db", secret_key="k")]
    assert eso.external_secret_target(es) == eso.Target("payments", "db", "Owner", "Retain", 900.0)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"secretStoreRef": {"name": "aws"}}, eso.Target("payments", "db", "Owner", "Retain", 3600.0)),
        (
            {"secretStoreRef": {"name": "aws"}, "refreshInterval": "0", "target": {"name": "db-credentials", "creationPolicy": "Merge", "deletionPolicy": "Delete"}},
            eso.Target("payments", "db-credentials", "Merge", "Delete", 0.0),
        ),
        (
            {"secretStoreRef": {"name": "aws"}, "refreshPolicy": "CreatedOnce", "target": {"creationPolicy": "None"}},
            eso.Target("payments", "db", "None", "Retain", 3600.0, "CreatedOnce"),
        ),
    ],
    ids=["defaults", "explicit", "created-once"],
)
def test_external_secret_target_lands_locally(spec: dict[str, Any], expected: eso.Target) -> None:
    assert eso.external_secret_target(external_secret(spec)) == expected


@pytest.mark.parametrize(("policy", "writes"), [("Owner", True), ("Orphan", True), ("Merge", True), ("None", False)], ids=["owner", "orphan", "merge", "none"])
def test_target_writes_secret_by_policy(policy: str, writes: bool) -> None:
    target = eso.external_secret_target(external_secret({"secretStoreRef": {"name": "aws"}, "target": {"creationPolicy": policy}}))

    assert target.writes_secret is writes


def test_external_secret_target_names_bad_interval() -> None:
    es = external_secret({"secretStoreRef": {"name": "aws"}, "refreshInterval": "1 hour"})

    with pytest.raises(EsoError, match=re.escape("ExternalSecret payments/db: spec.refreshInterval: invalid duration '1 hour'")):
        eso.external_secret_target(es)


def ready_status(status: str, reason: str, refresh_time: str | None, message: str = "") -> dict[str, Any]:
    result: dict[str, Any] = {"conditions": [{"type": "Ready", "status": status, "reason": reason, "message": message}]}
    if refresh_time:
        result["refreshTime"] = refresh_time
    return result


@pytest.mark.parametrize(
    ("refresh_interval", "status", "expected"),
    [
        (
            "1h",
            ready_status("True", "SecretSynced", "2026-12-04T20:00:00Z", "secret synced"),
            eso.SyncStatus(True, "SecretSynced", "secret synced", datetime(2026, 12, 4, 20, 0, tzinfo=timezone.utc), False, 1800.0),
        ),
        (
            "1h",
            ready_status("True", "SecretSynced", "2026-12-04T18:00:00Z", "secret synced"),
            eso.SyncStatus(True, "SecretSynced", "secret synced", datetime(2026, 12, 4, 18, 0, tzinfo=timezone.utc), True, 9000.0),
        ),
        (
            "10m",
            ready_status("False", "SecretSyncedError", "2026-12-01T09:00:00Z", "could not get secret data from provider"),
            eso.SyncStatus(
                False, "SecretSyncedError", "could not get secret data from provider", datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc), True, 300600.0
            ),
        ),
        (
            "0",
            ready_status("True", "SecretSynced", "2026-01-01T00:00:00Z"),
            eso.SyncStatus(True, "SecretSynced", "", datetime(2026, 1, 1, tzinfo=timezone.utc), False, 29190600.0, refresh_disabled=True),
        ),
        (
            "1h",
            ready_status("False", "SecretSyncedError", None, "could not get secret data from provider"),
            eso.SyncStatus(False, "SecretSyncedError", "could not get secret data from provider", None, False, None),
        ),
        ("1h", None, eso.SyncStatus(None, None, None, None, False, None)),
    ],
    ids=["fresh", "stale", "failing-and-stale", "never-refreshes", "never-synced", "no-status"],
)
def test_sync_status_judges_freshness(refresh_interval: str, status: dict[str, Any] | None, expected: eso.SyncStatus) -> None:
    es = external_secret({"secretStoreRef": {"name": "aws"}, "refreshInterval": refresh_interval}, status=status)

    assert eso.sync_status(es, COLLECTED_AT) == expected


def test_sync_status_naive_time_is_utc() -> None:
    es = external_secret({"secretStoreRef": {"name": "aws"}}, status=ready_status("True", "SecretSynced", "2026-12-04T20:00:00Z"))

    assert eso.sync_status(es, datetime(2026, 12, 4, 20, 30)).age_seconds == 1800.0


def test_sync_status_rejects_bad_time() -> None:
    es = external_secret({"secretStoreRef": {"name": "aws"}}, status={"refreshTime": "yesterday"})

    with pytest.raises(EsoError, match=re.escape("ExternalSecret payments/db: status.refreshTime 'yesterday' is not an RFC 3339 time")):
        eso.sync_status(es, COLLECTED_AT)


# --- ClusterExternalSecrets ----------------------------------------------------------------------

NAMESPACES = [
    namespace("payments", team="payments", tier="prod"),
    namespace("billing", team="billing", tier="prod"),
    namespace("dev-sandbox", tier="dev"),
    namespace("kube-system"),
]


def cluster_external_secret(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterExternalSecret",
        "metadata": {"name": "registry-credentials"},
        "spec": {"externalSecretSpec": {"secretStoreRef": {"name": "shared-aws", "kind": "ClusterSecretStore"}, "dataFrom": [{"extract": {"key": "registry"}}]}, **spec},
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"namespaceSelectors": [{"matchLabels": {"tier": "prod"}}]}, ["billing", "payments"]),
        ({"namespaceSelectors": [{"matchLabels": {"team": "payments"}}, {"matchLabels": {"tier": "dev"}}]}, ["dev-sandbox", "payments"]),
        ({"namespaceSelector": {"matchLabels": {"team": "billing"}}}, ["billing"]),
        ({"namespaces": ["kube-system", "not-created-yet"]}, ["kube-system"]),
        ({"namespaceSelector": {}}, ["billing", "dev-sandbox", "kube-system", "payments"]),
        ({}, []),
    ],
    ids=["selector", "selectors-ored", "legacy-selector", "names-existing-only", "empty-selector-all", "nothing-selected"],
)
def test_cluster_external_secret_fans_out(spec: dict[str, Any], expected: list[str]) -> None:
    assert eso.cluster_external_secret_namespaces(cluster_external_secret(spec), NAMESPACES) == expected


def test_cluster_external_secret_expands_per_namespace() -> None:
    ces = cluster_external_secret({"externalSecretName": "registry", "externalSecretMetadata": {"labels": {"owner": "platform"}}})

    expanded = eso.expand_cluster_external_secret(ces, "billing")

    assert expanded == {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {
            "name": "registry",
            "namespace": "billing",
            "labels": {"owner": "platform"},
            "ownerReferences": [{"kind": "ClusterExternalSecret", "name": "registry-credentials"}],
        },
        "spec": ces["spec"]["externalSecretSpec"],
    }
    assert expanded["spec"] is not ces["spec"]["externalSecretSpec"]


def test_expanded_external_secret_names_default() -> None:
    expanded = eso.expand_cluster_external_secret(cluster_external_secret({}), "payments")

    assert eso.external_secret_target(expanded) == eso.Target("payments", "registry-credentials", "Owner", "Retain", 3600.0)


# --- PushSecrets ---------------------------------------------------------------------------------


def push_spec(**overrides: Any) -> dict[str, Any]:
    return {
        "refreshInterval": "1h",
        "secretStoreRefs": [{"name": "aws", "kind": "SecretStore"}],
        "selector": {"secret": {"name": "db-admin"}},
        "data": [{"match": {"secretKey": "password", "remoteRef": {"remoteKey": "payments/db-admin", "property": "password"}}}],
        **overrides,
    }


def test_push_secret_flows_toward_store() -> None:
    ps = {"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "metadata": {"name": "db-admin", "namespace": "payments"}, "spec": push_spec()}

    assert eso.push_secret_flows(ps) == [
        PushFlow(
            push_secret=("payments", "db-admin"),
            source_secret=("payments", "db-admin"),
            store=StoreRef("SecretStore", "aws"),
            remote_key="payments/db-admin",
            secret_key="password",
            property="password",
        )
    ]


def test_push_secret_store_selector_and_data_to() -> None:
    spec = push_spec(
        secretStoreRefs=[{"labelSelector": {"matchLabels": {"push": "allowed"}}, "kind": "ClusterSecretStore"}],
        data=[],
        dataTo=[{"storeRef": {"name": "shared-aws", "kind": "ClusterSecretStore"}, "match": {"regexp": "^db-"}}],
    )
    ps = {"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "metadata": {"name": "bulk", "namespace": "payments"}, "spec": spec}

    assert eso.push_secret_flows(ps) == [
        PushFlow(push_secret=("payments", "bulk"), source_secret=("payments", "db-admin"), store=StoreRef("ClusterSecretStore", "shared-aws"), remote_key=None, via="dataTo")
    ]


def test_cluster_push_secret_fans_out() -> None:
    cps = {
        "apiVersion": "external-secrets.io/v1alpha1",
        "kind": "ClusterPushSecret",
        "metadata": {"name": "replicate-db"},
        "spec": {"pushSecretName": "db-push", "namespaceSelectors": [{"matchLabels": {"tier": "prod"}}], "pushSecretSpec": push_spec()},
    }

    flows = eso.push_secret_flows(cps, NAMESPACES)

    assert [(flow.push_secret, flow.source_secret) for flow in flows] == [
        (("billing", "db-push"), ("billing", "db-admin")),
        (("payments", "db-push"), ("payments", "db-admin")),
    ]


# --- generators ----------------------------------------------------------------------------------


def ecr_generator(auth: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"region": "eu-west-1", "role": "arn:aws:iam::111122223333:role/ecr-pull"}
    if auth is not None:
        spec["auth"] = auth
    return {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "ECRAuthorizationToken", "metadata": {"name": "ecr", "namespace": "payments"}, "spec": spec}


def generate_identity(generator: dict[str, Any], controller: ControllerIdentity | None = CONTROLLER) -> StoreIdentity:
    return eso.generator_identity(generator, using_namespace="payments", service_accounts=SERVICE_ACCOUNTS, controller=controller)


@pytest.mark.parametrize(
    ("generator", "expected"),
    [
        (
            ecr_generator({"jwt": {"serviceAccountRef": {"name": "eso-reader"}}}),
            StoreIdentity(kind="web_identity", provider="aws", service_account=("payments", "eso-reader"), cloud_identity=PAYMENTS_ROLE, assume_chain=("arn:aws:iam::111122223333:role/ecr-pull",)),
        ),
        (
            ecr_generator(None),
            StoreIdentity(
                kind="controller",
                provider="aws",
                service_account=("external-secrets", "external-secrets"),
                cloud_identity=CONTROLLER_ROLE,
                assume_chain=("arn:aws:iam::111122223333:role/ecr-pull",),
                uses_controller=True,
            ),
        ),
        (
            {
                "apiVersion": "generators.external-secrets.io/v1alpha1",
                "kind": "ClusterGenerator",
                "metadata": {"name": "sts"},
                "spec": {"kind": "STSSessionToken", "generator": {"stsSessionTokenSpec": {"region": "eu-west-1", "auth": {"jwt": {"serviceAccountRef": {"name": "eso-reader"}}}}}},
            },
            StoreIdentity(kind="web_identity", provider="aws", service_account=("payments", "eso-reader"), cloud_identity=PAYMENTS_ROLE),
        ),
        (
            {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Password", "metadata": {"name": "pw", "namespace": "payments"}, "spec": {"length": 32}},
            StoreIdentity(kind="none", provider="generator"),
        ),
        (
            {
                "apiVersion": "generators.external-secrets.io/v1alpha1",
                "kind": "VaultDynamicSecret",
                "metadata": {"name": "db-creds", "namespace": "payments"},
                "spec": {"path": "database/creds/payments", "provider": vault({"kubernetes": {"role": "payments-db", "serviceAccountRef": {"name": "vault-auth"}}})["vault"]},
            },
            StoreIdentity(kind="vault_kubernetes", provider="vault", service_account=("payments", "vault-auth"), cloud_identity="auth/kubernetes/role/payments-db"),
        ),
    ],
    ids=["ecr-irsa", "ecr-controller", "cluster-generator-sts", "password-local", "vault-dynamic"],
)
def test_generator_identity_resolves(generator: dict[str, Any], expected: StoreIdentity) -> None:
    assert generate_identity(generator) == expected


def test_generator_ignores_ref_namespace() -> None:
    identity = generate_identity(ecr_generator({"jwt": {"serviceAccountRef": {"name": "eso-reader", "namespace": "shared"}}}))

    assert identity.service_account == ("payments", "eso-reader")
    assert identity.problems == (
        "ECRAuthorizationToken payments/ecr: auth.jwt.serviceAccountRef names namespace shared, but only namespace payments can be used here; "
        "ESO resolves generator references in the ExternalSecret's namespace and ignores it",
    )


# --- real ESO documentation examples -------------------------------------------------------------


def test_real_full_store_lists_providers() -> None:
    (store,) = load_real_input("full-cluster-secret-store.yaml")

    assert [provider.name for provider in eso.store_providers(store)] == ["aws", "vault", "gcpsm", "kubernetes", "oracle"]
    with pytest.raises(EsoError, match=re.escape("ClusterSecretStore example: spec.provider configures 5 providers (aws, vault, gcpsm, kubernetes, oracle)")):
        eso.store_provider(store)


@pytest.mark.parametrize(
    ("namespace_name", "labels", "admitted"),
    [
        ("namespace-a", {}, True),
        ("namespace-b", {}, True),
        ("namespace-c", {}, False),
        ("namespace-a-dev", {}, True),
        ("x-namespace-b-prod", {}, True),
        ("namespacea", {}, False),
        ("labelled", {"my.namespace.io/some-label": "value"}, True),
        ("labelled", {"my.namespace.io/some-label": "other"}, False),
        ("payments", {}, False),
    ],
    ids=["name-a", "name-b", "unlisted", "regex-prefix", "regex-unanchored", "no-dash", "label-hit", "label-miss", "unrelated"],
)
def test_real_full_store_conditions(namespace_name: str, labels: dict[str, str], admitted: bool) -> None:
    (store,) = load_real_input("full-cluster-secret-store.yaml")

    assert eso.store_admits_namespace(store, namespace_name, labels).admitted is admitted


def test_real_full_store_denial_reason() -> None:
    (store,) = load_real_input("full-cluster-secret-store.yaml")

    assert eso.store_admits_namespace(store, "payments", {}).reason == (
        "ClusterSecretStore example: its conditions deny namespace payments (namespaces: [namespace-a, namespace-b]; "
        "namespaceSelector: [my.namespace.io/some-label=value]; namespaceRegexes: [namespace-a-.*, namespace-b-.*])"
    )


def test_real_full_store_provider_identities() -> None:
    (store,) = load_real_input("full-cluster-secret-store.yaml")
    accounts = {("sa-namespace", "my-serviceaccount"): service_account("sa-namespace", "my-serviceaccount", {eso.IRSA_ROLE_ARN_ANNOTATION: SHARED_ROLE})}

    identities = {
        provider.name: eso.resolve_store_identity(store, using_namespace="namespace-a", service_accounts=accounts, controller=CONTROLLER, provider=provider)
        for provider in eso.store_providers(store)
    }

    assert identities["aws"] == StoreIdentity(
        kind="web_identity",
        provider="aws",
        service_account=("sa-namespace", "my-serviceaccount"),
        cloud_identity=SHARED_ROLE,
        assume_chain=("iam-role",),
        problems=("ClusterSecretStore example: auth sets both jwt and secretRef; ESO uses jwt",),
    )
    assert identities["vault"] == StoreIdentity(
        kind="vault_token",
        provider="vault",
        credentials_secrets=(("secret-admin", "my-secret", "vault-token"),),
        problems=("ClusterSecretStore example: configures several Vault auth methods (tokenSecretRef, appRole, kubernetes); ESO uses tokenSecretRef",),
    )
    assert identities["gcpsm"] == StoreIdentity(kind="gcp_key", provider="gcpsm", credentials_secrets=(("example", "gcpsm-secret", "secret-access-credentials"),))
    assert identities["kubernetes"] == StoreIdentity(
        kind="kubernetes_service_account",
        provider="kubernetes",
        service_account=("example", "example-sa"),
        cloud_identity="system:serviceaccount:example:example-sa",
        problems=("ClusterSecretStore example: ServiceAccount example/example-sa named by auth.serviceAccount is not in the snapshot",),
    )
    assert identities["oracle"].kind == "other"
    assert identities["oracle"].credentials_secrets == (
        ("example-namespace", "oci-secret-name", "privateKey"),
        ("example-namespace", "oci-secret-name", "fingerprint"),
    )


def test_real_aws_store_static_keys() -> None:
    (store,) = load_real_input("aws-sm-store.yaml")
    store = copy.deepcopy(store)
    store["metadata"]["namespace"] = "payments"

    assert eso.store_provider(store) == eso.StoreProvider(
        "aws", "SecretsManager", "eu-central-1", "arn:aws:iam::123456789012:role/external-secrets", (), None, store["spec"]["provider"]["aws"]
    )
    assert resolve(store) == StoreIdentity(
        kind="static_keys",
        provider="aws",
        credentials_secrets=(("payments", "awssm-secret", "access-key"), ("payments", "awssm-secret", "secret-access-key")),
        assume_chain=("arn:aws:iam::123456789012:role/external-secrets",),
    )


def test_real_ecr_generator_prefers_keys() -> None:
    (generator,) = load_real_input("generator-ecr.yaml")

    assert generate_identity(generator) == StoreIdentity(
        kind="static_keys",
        provider="aws",
        credentials_secrets=(("payments", "my-aws-creds", "key-id"), ("payments", "my-aws-creds", "access-secret")),
        assume_chain=("my-role",),
        problems=("ECRAuthorizationToken ecr-gen: auth sets both jwt and secretRef; ESO uses secretRef",),
    )


def test_real_push_secret_flow() -> None:
    (push_secret,) = load_real_input("aws-sm-push-secret-with-metadata.yaml")

    assert eso.push_secret_flows(push_secret) == [
        PushFlow(
            push_secret=("teamb", "pushsecret-example"),
            source_secret=("teamb", "my-secret"),
            store=StoreRef("SecretStore", "teamb-secret-store"),
            remote_key="teamb-my-first-parameter-3",
            secret_key="key1",
        )
    ]


def test_real_find_external_secret() -> None:
    (es,) = load_real_input("getallsecrets-find-by-name.yaml")
    es = copy.deepcopy(es)
    es["metadata"]["namespace"] = "payments"

    assert eso.external_secret_refs(es) == [
        RemoteRef(store=StoreRef("SecretStore", "secretstore-sample"), key=None, find={"name": {"regexp": "key"}}, via="dataFrom.find")
    ]
    assert eso.external_secret_target(es) == eso.Target("payments", "secret-to-be-created", "Owner", "Retain", 3600.0)


def test_real_examples_all_parse() -> None:
    files = sorted(path.name for path in REAL_INPUTS.glob("*.yaml")) if REAL_INPUTS.exists() else []
    if not files:
        pytest.skip(f"real ESO examples not found at {REAL_INPUTS}")

    kinds = sorted(document["kind"] for name in files for document in load_real_input(name))

    assert kinds == ["ClusterSecretStore", "ECRAuthorizationToken", "ExternalSecret", "PushSecret", "SecretStore"]


@pytest.mark.parametrize(("find", "name", "tags", "expected"), [
    ({"name": {"regexp": "^staging/"}}, "staging/app", {}, True),
    ({"name": {"regexp": "^staging/"}}, "prod/app", {}, False),
    ({"path": "team/"}, "team/db", {}, True),
    ({"path": "team/"}, "other/db", {}, False),
    ({"tags": {"env": "prod"}}, "db", {"env": "prod", "team": "a"}, True),
    ({"tags": {"env": "prod"}}, "db", {"env": "dev"}, False),
    ({"name": {"regexp": "("}}, "db", {}, False),
], ids=["regexp-match", "regexp-miss", "path-match", "path-miss", "tags-match", "tags-miss", "invalid-regexp"])
def test_find_matches(find: dict, name: str, tags: dict, expected: bool) -> None:
    assert eso.find_matches(find, name, tags) is expected
