"""Tests for the Kubernetes object normaliser: what each kind keeps and what it drops."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blastradius.collectors.errors import CollectionError
from blastradius.collectors.k8s_objects import (
    KEPT_KINDS,
    LAST_APPLIED_ANNOTATION,
    ObjectError,
    api_group,
    is_kept,
    normalize_object,
)

CANARY = "CANARY-do-not-store-7f3a9c"
CANARY_BASE64 = "Q0FOQVJZLWRvLW5vdC1zdG9yZS03ZjNhOWM="


def _pod_spec(**fields: object) -> dict:
    return {"containers": [{"name": "app", "image": "registry.example.com/app:1.0"}], **fields}


def _deployment(pod_spec: dict, **spec: object) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "payments"},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": {"metadata": {"labels": {"app": "api"}}, "spec": pod_spec}, **spec},
    }


# --- kept kinds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "kind", "expected"),
    [
        ("v1", "Secret", True),
        ("v1", "ConfigMap", False),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", True),
        ("apps/v1", "DaemonSet", True),
        ("batch/v1", "CronJob", True),
        ("batch/v1beta1", "CronJob", True),
        ("external-secrets.io/v1beta1", "ClusterExternalSecret", True),
        ("external-secrets.io/v1", "ClusterPushSecret", True),
        ("generators.external-secrets.io/v1alpha1", "Password", True),
        ("generators.external-secrets.io/v1alpha1", "SomeFutureGenerator", True),
        ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", True),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", False),
        ("kyverno.io/v1", "ClusterPolicy", True),
        ("monitoring.coreos.com/v1", "PrometheusRule", True),
        ("monitoring.coreos.com/v1", "ServiceMonitor", False),
        ("example.com/v1", "Secret", False),
        ("apps/v1", "Pod", False),
    ],
    ids=lambda value: str(value),
)
def test_is_kept_by_group_and_kind(api_version: str, kind: str, expected: bool) -> None:
    assert is_kept(api_version, kind) is expected


def test_kept_kinds_cover_documented_groups() -> None:
    assert set(KEPT_KINDS) == {
        "",
        "rbac.authorization.k8s.io",
        "apps",
        "batch",
        "external-secrets.io",
        "generators.external-secrets.io",
        "admissionregistration.k8s.io",
        "kyverno.io",
        "monitoring.coreos.com",
    }


@pytest.mark.parametrize(("api_version", "group"), [("v1", ""), ("apps/v1", "apps"), ("external-secrets.io/v1beta1", "external-secrets.io")])
def test_api_group_of_api_version(api_version: str, group: str) -> None:
    assert api_group(api_version) == group


# --- metadata ----------------------------------------------------------------------------------


def test_metadata_drops_server_fields() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "payments",
            "labels": {"team": "payments"},
            "annotations": {LAST_APPLIED_ANNOTATION: f'{{"data":"{CANARY}"}}', "owner": "payments-team"},
            "uid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            "resourceVersion": "48213",
            "generation": 3,
            "creationTimestamp": "2026-11-30T09:12:44Z",
            "managedFields": [{"manager": "kubectl", "operation": "Update"}],
            "ownerReferences": [{"apiVersion": "v1", "kind": "Namespace", "name": "root", "uid": "abc", "controller": True}],
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }

    assert normalize_object(obj) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "payments",
            "labels": {"team": "payments"},
            "annotations": {"owner": "payments-team"},
            "ownerReferences": [{"kind": "Namespace", "name": "root"}],
        },
    }


def test_metadata_last_applied_only_annotation() -> None:
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "annotations": {LAST_APPLIED_ANNOTATION: "{}"}}}

    assert normalize_object(obj)["metadata"] == {"name": "a"}


def test_origin_is_stored_as_given() -> None:
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}

    assert normalize_object(obj, {"file": "k8s/ns.yaml", "line": 4})["origin"] == {"file": "k8s/ns.yaml", "line": 4}


# --- Secrets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"type": "Opaque", "data": {"password": CANARY_BASE64, "username": "cGF5bWVudHM="}}, {"type": "Opaque", "keys": ["password", "username"]}),
        ({"stringData": {"token": CANARY}}, {"type": "Opaque", "keys": ["token"]}),
        ({"data": {"b": CANARY_BASE64}, "stringData": {"a": CANARY, "b": CANARY}}, {"type": "Opaque", "keys": ["a", "b"]}),
        ({"type": "kubernetes.io/service-account-token"}, {"type": "kubernetes.io/service-account-token", "keys": []}),
        ({"data": None}, {"type": "Opaque", "keys": []}),
    ],
    ids=["data", "string-data", "both-merged", "no-data", "null-data"],
)
def test_secret_keeps_type_and_key_names(fields: dict, expected: dict) -> None:
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "payments"}, **fields}

    normalized = normalize_object(obj)

    assert {key: normalized[key] for key in ("type", "keys")} == expected
    assert "data" not in normalized
    assert "stringData" not in normalized


def test_secret_partial_metadata_unknown_keys() -> None:
    obj = {
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": {"name": "db", "namespace": "payments", "annotations": {LAST_APPLIED_ANNOTATION: CANARY}},
    }

    assert normalize_object(obj, kind="Secret", api_version="v1") == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "payments"},
        "type": None,
        "keys": None,
    }


def test_partial_metadata_without_kind_rejected() -> None:
    obj = {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": {"name": "db", "namespace": "payments"}}

    with pytest.raises(ObjectError, match=r"^PartialObjectMetadata payments/db: a metadata-only object needs the real kind"):
        normalize_object(obj)


def test_list_item_takes_given_kind() -> None:
    item = {"metadata": {"name": "reader", "namespace": "payments"}, "rules": []}

    normalized = normalize_object(item, kind="Role", api_version="rbac.authorization.k8s.io/v1")

    assert normalized == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "reader", "namespace": "payments"},
        "rules": [],
    }


# --- ServiceAccounts and RBAC --------------------------------------------------------------------


def test_service_account_keeps_secret_names() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "builder", "namespace": "ci"},
        "secrets": [{"name": "builder-token-x7k2p"}, {"name": "builder-dockercfg"}],
        "imagePullSecrets": [{"name": "builder-dockercfg"}],
        "automountServiceAccountToken": False,
    }

    normalized = normalize_object(obj)

    assert normalized["secrets"] == ["builder-token-x7k2p", "builder-dockercfg"]
    assert normalized["automountServiceAccountToken"] is False
    assert "imagePullSecrets" not in normalized


@pytest.mark.parametrize(
    ("obj", "expected_fields"),
    [
        (
            {"kind": "Role", "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]},
            {"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]},
        ),
        (
            {
                "kind": "ClusterRole",
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}}]},
                "rules": None,
            },
            {"rules": [], "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}}]}},
        ),
        (
            {"kind": "ClusterRoleBinding", "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}},
            {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}, "subjects": []},
        ),
        (
            {
                "kind": "RoleBinding",
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "payments-devs"}],
            },
            {
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "payments-devs"}],
            },
        ),
    ],
    ids=["role", "aggregated-cluster-role", "binding-without-subjects", "role-binding"],
)
def test_rbac_kinds_keep_rules_and_bindings(obj: dict, expected_fields: dict) -> None:
    full = {"apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "x"}, **obj}

    normalized = normalize_object(full)

    assert {key: value for key, value in normalized.items() if key not in ("apiVersion", "kind", "metadata")} == expected_fields


# --- pods and workloads --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pod_spec", "expected_refs"),
    [
        ({"volumes": [{"name": "tls", "secret": {"secretName": "api-tls"}}]}, [{"name": "api-tls", "via": "volume"}]),
        (
            {
                "volumes": [
                    {
                        "name": "bundle",
                        "projected": {
                            "sources": [
                                {"secret": {"name": "ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                                {"configMap": {"name": "settings"}},
                                {"serviceAccountToken": {"path": "token", "audience": "vault"}},
                            ]
                        },
                    }
                ]
            },
            [{"name": "ca", "via": "projected"}],
        ),
        (
            {
                "containers": [
                    {
                        "name": "app",
                        "env": [
                            {"name": "LITERAL", "value": CANARY},
                            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                            {"name": "SETTING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "x"}}},
                        ],
                    }
                ]
            },
            [{"name": "db", "via": "env"}],
        ),
        (
            {"containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "app-env"}}, {"configMapRef": {"name": "settings"}}]}]},
            [{"name": "app-env", "via": "envFrom"}],
        ),
        ({"imagePullSecrets": [{"name": "registry-pull"}]}, [{"name": "registry-pull", "via": "imagePullSecret"}]),
        (
            {"initContainers": [{"name": "migrate", "envFrom": [{"secretRef": {"name": "db"}}]}], "containers": [{"name": "app"}]},
            [{"name": "db", "via": "envFrom"}],
        ),
        (
            {
                "volumes": [{"name": "a", "secret": {"secretName": "db"}}, {"name": "b", "secret": {"secretName": "db"}}],
                "containers": [{"name": "app", "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}]}],
            },
            [{"name": "db", "via": "env"}, {"name": "db", "via": "volume"}],
        ),
    ],
    ids=["secret-volume", "projected", "env-secret-key-ref", "env-from", "image-pull-secret", "init-container", "repeats-merged"],
)
def test_pod_secret_refs_by_source(pod_spec: dict, expected_refs: list[dict]) -> None:
    spec = {"containers": [{"name": "app"}], **pod_spec}

    normalized = normalize_object(_deployment(spec))

    assert normalized["pod"]["secretRefs"] == expected_refs


def test_pod_literal_env_value_dropped() -> None:
    spec = _pod_spec(containers=[{"name": "app", "env": [{"name": "PASSWORD", "value": CANARY}]}])

    normalized = normalize_object(_deployment(spec))

    assert CANARY not in json.dumps(normalized)
    assert "spec" not in normalized


def test_pod_summary_of_bare_pod() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "api-7d9c5-x2x4k", "namespace": "payments", "ownerReferences": [{"kind": "ReplicaSet", "name": "api-7d9c5", "uid": "u"}]},
        "spec": _pod_spec(serviceAccount="legacy", nodeName="ip-10-0-1-23.ec2.internal", automountServiceAccountToken=True),
        "status": {"phase": "Running"},
    }

    normalized = normalize_object(obj)

    assert normalized["pod"] == {
        "serviceAccountName": "legacy",
        "automountServiceAccountToken": True,
        "replicas": 1,
        "nodeName": "ip-10-0-1-23.ec2.internal",
        "secretRefs": [],
    }
    assert normalized["metadata"]["ownerReferences"] == [{"kind": "ReplicaSet", "name": "api-7d9c5"}]
    assert "status" not in normalized


@pytest.mark.parametrize(
    ("kind", "api_version", "spec", "expected_replicas"),
    [
        ("Deployment", "apps/v1", {"replicas": 0, "template": {"spec": _pod_spec()}}, 0),
        ("Deployment", "apps/v1", {"template": {"spec": _pod_spec()}}, 1),
        ("StatefulSet", "apps/v1", {"replicas": 3, "template": {"spec": _pod_spec()}}, 3),
        ("ReplicaSet", "apps/v1", {"replicas": 2, "template": {"spec": _pod_spec()}}, 2),
        ("ReplicationController", "v1", {"replicas": 4, "template": {"spec": _pod_spec()}}, 4),
        ("DaemonSet", "apps/v1", {"template": {"spec": _pod_spec()}}, None),
        ("Job", "batch/v1", {"parallelism": 5, "template": {"spec": _pod_spec()}}, 5),
        ("Job", "batch/v1", {"template": {"spec": _pod_spec()}}, 1),
    ],
    ids=["deployment-zero", "deployment-default", "statefulset", "replicaset", "replicationcontroller", "daemonset", "job", "job-default"],
)
def test_workload_replicas_by_kind(kind: str, api_version: str, spec: dict, expected_replicas: int | None) -> None:
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "w", "namespace": "payments"}, "spec": spec}

    assert normalize_object(obj)["pod"]["replicas"] == expected_replicas


def test_cronjob_reads_nested_job_template() -> None:
    obj = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly-backup", "namespace": "payments"},
        "spec": {
            "schedule": "0 2 * * *",
            "jobTemplate": {
                "spec": {
                    "parallelism": 2,
                    "template": {
                        "spec": _pod_spec(
                            serviceAccountName="backup",
                            volumes=[{"name": "creds", "secret": {"secretName": "backup-s3"}}],
                            restartPolicy="OnFailure",
                        )
                    },
                }
            },
        },
    }

    assert normalize_object(obj)["pod"] == {
        "serviceAccountName": "backup",
        "automountServiceAccountToken": None,
        "replicas": 2,
        "nodeName": None,
        "secretRefs": [{"name": "backup-s3", "via": "volume"}],
    }


def test_workload_default_service_account() -> None:
    assert normalize_object(_deployment(_pod_spec()))["pod"]["serviceAccountName"] == "default"


# --- External Secrets and generators -------------------------------------------------------------


def test_fake_store_literal_values_dropped() -> None:
    obj = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": "fake"},
        "spec": {
            "provider": {
                "fake": {
                    "data": [
                        {"key": "/payments/db", "value": CANARY, "version": "v1"},
                        {"key": "/payments/config", "valueMap": {"password": CANARY}},
                    ]
                }
            }
        },
        "status": {"capabilities": "ReadOnly"},
    }
    original = copy.deepcopy(obj)

    normalized = normalize_object(obj)

    assert normalized["spec"] == {"provider": {"fake": {"data": [{"key": "/payments/db", "version": "v1"}, {"key": "/payments/config"}]}}}
    assert normalized["status"] == {"capabilities": "ReadOnly"}
    assert obj == original


def test_aws_store_spec_kept_whole() -> None:
    spec = {
        "provider": {
            "aws": {
                "service": "SecretsManager",
                "region": "eu-central-1",
                "role": "arn:aws:iam::123456789012:role/external-secrets",
                "auth": {"jwt": {"serviceAccountRef": {"name": "eso-payments"}}},
            }
        }
    }
    obj = {"apiVersion": "external-secrets.io/v1beta1", "kind": "SecretStore", "metadata": {"name": "aws", "namespace": "payments"}, "spec": spec}

    normalized = normalize_object(obj)

    assert normalized["spec"] == spec
    assert normalized["status"] == {}


def test_external_secret_keeps_spec_status() -> None:
    spec = {
        "refreshInterval": "1h",
        "secretStoreRef": {"kind": "ClusterSecretStore", "name": "aws"},
        "target": {"name": "db", "creationPolicy": "Owner"},
        "dataFrom": [{"find": {"name": {"regexp": "^payments/"}}}],
    }
    status = {"refreshTime": "2026-12-04T08:00:00Z", "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced"}]}
    obj = {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "db", "namespace": "payments"}, "spec": spec, "status": status}

    normalized = normalize_object(obj)

    assert normalized["spec"] == spec
    assert normalized["status"] == status


@pytest.mark.parametrize(
    ("kind", "spec", "expected_spec"),
    [
        ("Fake", {"data": {"password": CANARY}, "controller": "dev"}, {"controller": "dev"}),
        (
            "ClusterGenerator",
            {"kind": "Fake", "generator": {"fakeSpec": {"data": {"password": CANARY}}}},
            {"kind": "Fake", "generator": {"fakeSpec": {}}},
        ),
        (
            "ClusterGenerator",
            {"kind": "Password", "generator": {"passwordSpec": {"length": 42, "digits": 5}}},
            {"kind": "Password", "generator": {"passwordSpec": {"length": 42, "digits": 5}}},
        ),
        (
            "GeneratorState",
            {
                "garbageCollectionDeadline": "2026-12-05T00:00:00Z",
                "resource": {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Fake", "spec": {"data": {"k": CANARY}}},
                "state": {"token": CANARY},
            },
            {
                "garbageCollectionDeadline": "2026-12-05T00:00:00Z",
                "resource": {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Fake", "spec": {}},
            },
        ),
        (
            "ECRAuthorizationToken",
            {"region": "eu-west-1", "auth": {"jwt": {"serviceAccountRef": {"name": "oci-token-sync"}}}},
            {"region": "eu-west-1", "auth": {"jwt": {"serviceAccountRef": {"name": "oci-token-sync"}}}},
        ),
    ],
    ids=["fake", "cluster-generator-fake", "cluster-generator-password", "generator-state", "ecr"],
)
def test_generator_literal_values_dropped(kind: str, spec: dict, expected_spec: dict) -> None:
    obj = {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": kind, "metadata": {"name": "gen", "namespace": "payments"}, "spec": spec}

    assert normalize_object(obj)["spec"] == expected_spec


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"),
        ("kyverno.io/v1", "ClusterPolicy"),
        ("kyverno.io/v1", "Policy"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
    ],
    ids=lambda value: str(value),
)
def test_policy_kinds_keep_spec_only(api_version: str, kind: str) -> None:
    spec = {"rules": [{"name": "deny-secret-edits"}]}
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "p"}, "spec": spec, "status": {"ready": True}}

    normalized = normalize_object(obj)

    assert normalized["spec"] == spec
    assert "status" not in normalized


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"apiVersion": "v1", "metadata": {"name": "db", "namespace": "payments"}}, "object without kind payments/db: missing kind"),
        ({"kind": "Secret", "metadata": {"name": "db"}}, "Secret db: missing apiVersion"),
        ({"apiVersion": "v1", "kind": "Secret", "metadata": {"namespace": "payments"}}, "Secret in namespace payments: missing metadata.name"),
        ({"apiVersion": "v1", "kind": "Secret"}, "Secret: metadata must be a mapping, got null"),
        ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": 7}}, "Secret db: metadata.namespace must be a string, got integer"),
        ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "labels": ["a"]}}, "Secret db: metadata.labels must be a mapping, got list"),
        ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "labels": {"version": 1.5}}}, "Secret db: metadata.labels must map strings to strings"),
        ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": [CANARY]}, "Secret db: data must be a mapping, got list"),
        ({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}, "rules": "all"}, "Role r: rules must be a list of mappings"),
        ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": "3", "template": {"spec": {}}}}, "Deployment d: the replica count must be an integer, got string"),
        ({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}, "spec": {"jobTemplate": []}}, "CronJob c: spec.jobTemplate must be a mapping, got list"),
    ],
    ids=["no-kind", "no-api-version", "no-name", "no-metadata", "namespace-type", "labels-type", "label-value-type", "secret-data-type", "rules-type", "replicas-type", "job-template-type"],
)
def test_normalize_rejects_malformed_object(obj: dict, message: str) -> None:
    with pytest.raises(ObjectError) as raised:
        normalize_object(obj)

    assert str(raised.value) == message
    assert CANARY not in str(raised.value)


def test_object_error_is_collection_error() -> None:
    assert issubclass(ObjectError, CollectionError)


# --- properties --------------------------------------------------------------------------------

_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_secret_values = st.text(min_size=0, max_size=20).map(lambda text: f"{CANARY}{text}")


@st.composite
def _secrets(draw: st.DrawFn) -> dict:
    data = draw(st.dictionaries(_names, _secret_values, max_size=4))
    string_data = draw(st.dictionaries(_names, _secret_values, max_size=4))
    secret: dict = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": draw(_names), "namespace": draw(_names)}}
    if data:
        secret["data"] = data
    if string_data:
        secret["stringData"] = string_data
    if draw(st.booleans()):
        secret["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: draw(_secret_values)}
    return secret


@given(_secrets())
def test_secret_values_never_survive(secret: dict) -> None:
    original = copy.deepcopy(secret)

    normalized = normalize_object(secret)

    assert CANARY not in json.dumps(normalized)
    assert normalized["keys"] == sorted(set(secret.get("data", {})) | set(secret.get("stringData", {})))
    assert secret == original


@given(
    st.lists(
        st.tuples(_names, st.sampled_from(["volume", "projected", "env", "envFrom", "imagePullSecret"])),
        max_size=8,
    )
)
def test_secret_refs_sorted_and_unique(references: list[tuple[str, str]]) -> None:
    volumes, env, env_from, pull = [], [], [], []
    for index, (name, via) in enumerate(references):
        if via == "volume":
            volumes.append({"name": f"v{index}", "secret": {"secretName": name}})
        elif via == "projected":
            volumes.append({"name": f"v{index}", "projected": {"sources": [{"secret": {"name": name}}]}})
        elif via == "env":
            env.append({"name": f"E{index}", "valueFrom": {"secretKeyRef": {"name": name, "key": "k"}}})
        elif via == "envFrom":
            env_from.append({"secretRef": {"name": name}})
        else:
            pull.append({"name": name})
    spec = {"volumes": volumes, "imagePullSecrets": pull, "containers": [{"name": "app", "env": env, "envFrom": env_from}]}

    refs = normalize_object(_deployment(spec))["pod"]["secretRefs"]

    assert refs == [{"name": name, "via": via} for name, via in sorted(set(references))]


CANARY_TEXT = "CANARY-do-not-store-7f3a9c"


def test_eso_literals_dropped() -> None:
    store = {
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "hook", "namespace": "apps"},
        "spec": {"provider": {"webhook": {
            "url": f"https://user:{CANARY_TEXT}@hooks.example.com/get?token={CANARY_TEXT}",
            "headers": {"Authorization": f"Bearer {CANARY_TEXT}"},
            "body": CANARY_TEXT,
        }}},
    }
    es = {
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "db", "namespace": "apps"},
        "spec": {"target": {"template": {"data": {"dsn": f"postgres://app:{CANARY_TEXT}@db"},
                                         "templateFrom": [{"literal": CANARY_TEXT}]}}},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "SecretSyncedError",
                                   "message": f"invalid payload {CANARY_TEXT}"}]},
    }

    normalized_store = normalize_object(store)
    normalized_es = normalize_object(es)

    assert CANARY_TEXT not in json.dumps([normalized_store, normalized_es])
    assert normalized_store["spec"]["provider"]["webhook"] == {
        "url": "https://hooks.example.com/get", "headers": {"Authorization": ""}}
    assert normalized_es["spec"]["target"]["template"] == {"data": {"dsn": ""}, "templateFrom": [{}]}
    assert normalized_es["status"]["conditions"] == [{"type": "Ready", "status": "False", "reason": "SecretSyncedError"}]
