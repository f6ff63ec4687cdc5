"""Kubernetes manifests for a synthetic estate, laid out the way a GitOps repository keeps them.

`k8s/` holds the cluster-wide files: namespaces, shared RBAC, ClusterSecretStores, and the
Kubernetes default RBAC and ESO chart output, copied verbatim from the example estate. Each
namespace has a folder with its ServiceAccounts, RBAC, workloads, Secrets and External Secrets
objects. Synced Secrets carry ESO's labels and owner references, and ExternalSecrets carry a
`status`, as in a `kubectl get -o yaml` dump. Every Secret value contains the canary, base64-encoded.
"""

from __future__ import annotations

import base64
import random
from pathlib import Path
from typing import Any

from benchmarks.estate_plan import (
    CANARY,
    REGION,
    ExternalSecretPlan,
    Estate,
    K8sSecret,
    Store,
    Workload,
    before_reference,
)
from benchmarks.estate_rbac import plan_rbac

ESO_API = "external-secrets.io/v1"
EXAMPLE_MANIFESTS = Path(__file__).resolve().parent.parent / "snapshots" / "example" / "k8s"
# Copied verbatim: they hold TEMPLATE_ROLES roles, TEMPLATE_BINDINGS bindings, TEMPLATE_SERVICE_ACCOUNTS
# ServiceAccounts, TEMPLATE_SECRETS Secret and TEMPLATE_PODS pods.
TEMPLATE_FILES = ("10-kubernetes-default-rbac.yaml", "20-external-secrets-install.yaml")
SHARED_TLS_UID = "c1e3a5b7-d9f1-4a3c-8e5b-000000000001"

Manifests = dict[str, list[dict[str, Any]]]


def render_manifests(estate: Estate, rng: random.Random) -> Manifests:
    """Return generated manifests by path relative to the output folder, documents in file order."""
    roles, bindings = plan_rbac(estate, rng)
    files: Manifests = {"k8s/00-namespaces.yaml": [_namespace(namespace.name, namespace.labels) for namespace in estate.namespaces]}
    files["k8s/30-cluster-rbac.yaml"] = [doc for doc in roles + bindings if "namespace" not in doc["metadata"]]
    files["k8s/40-cluster-stores.yaml"] = _cluster_store_documents(estate)

    per_namespace: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def put(namespace: str, concern: str, document: dict[str, Any]) -> None:
        per_namespace.setdefault(namespace, {}).setdefault(concern, []).append(document)

    cluster_store_accounts = {store.service_account for store in estate.stores if store.kind == "ClusterSecretStore"}
    for account in estate.service_accounts:
        if (account.namespace, account.name) not in cluster_store_accounts:
            put(account.namespace, "serviceaccounts", _service_account(account.namespace, account.name, account.role_arn, account.token_secret))
    for document in roles + bindings:
        if "namespace" in document["metadata"]:
            put(document["metadata"]["namespace"], "rbac", document)
    for workload in estate.workloads:
        put(workload.namespace, "workloads", _workload(workload))
    for secret in estate.k8s_secrets:
        put(secret.namespace, "secrets", _secret(secret))
    for store in estate.stores:
        if store.kind == "SecretStore":
            put(store.namespace or "", "external-secrets", _store(store))
    for external_secret in estate.external_secrets:
        put(external_secret.namespace.name, "external-secrets", _external_secret(external_secret))

    for namespace in sorted(per_namespace):
        for concern in ("serviceaccounts", "rbac", "workloads", "secrets", "external-secrets"):
            if concern in per_namespace[namespace]:
                files[f"k8s/namespaces/{namespace}/{concern}.yaml"] = per_namespace[namespace][concern]
    return files


def template_texts() -> dict[str, str]:
    """Return the verbatim template files by output path."""
    return {f"k8s/{name}": (EXAMPLE_MANIFESTS / name).read_text(encoding="utf-8") for name in TEMPLATE_FILES}


def _metadata(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata.update({key: value for key, value in extra.items() if value})
    return metadata


def _namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _metadata(name, labels=dict(labels))}


def _service_account(namespace: str, name: str, role_arn: str | None, token_secret: str | None) -> dict[str, Any]:
    annotations = {"eks.amazonaws.com/role-arn": role_arn} if role_arn else None
    document: dict[str, Any] = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(name, namespace, annotations=annotations)}
    if token_secret:
        document["secrets"] = [{"name": token_secret}]
    return document


def _encoded(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _secret(secret: K8sSecret) -> dict[str, Any]:
    labels = annotations = owners = None
    if secret.owner is not None:
        labels = {"reconcile.external-secrets.io/managed": "true"}
        owners = [_owner_reference("ExternalSecret", secret.owner.name, secret.owner.uid)]
    if secret.annotations:
        annotations = dict(secret.annotations)
    data = {key: _encoded(f"{CANARY}-{secret.namespace}-{secret.name}-{key}") for key in secret.keys}
    if secret.type == "kubernetes.io/service-account-token":
        data["namespace"] = _encoded(secret.namespace)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(secret.name, secret.namespace, labels=labels, annotations=annotations, ownerReferences=owners),
        "type": secret.type,
        "data": data,
    }


def _owner_reference(kind: str, name: str, uid: str) -> dict[str, Any]:
    return {"apiVersion": ESO_API, "kind": kind, "name": name, "uid": uid, "controller": True, "blockOwnerDeletion": True}


def _workload(workload: Workload) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": workload.app.name, "app.kubernetes.io/part-of": workload.app.namespace.team}
    pod_spec = _pod_spec(workload)
    if workload.kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": _metadata(workload.name, workload.namespace, labels=labels), "spec": pod_spec}
    template = {"metadata": {"labels": labels}, "spec": pod_spec}
    if workload.kind == "Job":
        pod_spec["restartPolicy"] = "Never"
        spec: dict[str, Any] = {"parallelism": workload.replicas, "backoffLimit": 2, "template": template}
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": _metadata(workload.name, workload.namespace, labels=labels), "spec": spec}
    spec = {"replicas": workload.replicas, "selector": {"matchLabels": {"app.kubernetes.io/name": workload.app.name}}, "template": template}
    if workload.kind == "StatefulSet":
        spec["serviceName"] = workload.name
    return {"apiVersion": "apps/v1", "kind": workload.kind, "metadata": _metadata(workload.name, workload.namespace, labels=labels), "spec": spec}


def _pod_spec(workload: Workload) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": workload.app.name,
        "image": f"registry.example.com/{workload.app.namespace.team}/{workload.app.name}:1.{len(workload.name) % 9}.0",
        "env": [{"name": "LOG_LEVEL", "value": "info"}],
    }
    volumes = []
    pull_secrets = []
    for name, via in workload.secret_refs:
        if via == "volume":
            volumes.append({"name": name, "secret": {"secretName": name}})
            container.setdefault("volumeMounts", []).append({"name": name, "mountPath": f"/etc/secrets/{name}", "readOnly": True})
        elif via == "envFrom":
            container.setdefault("envFrom", []).append({"secretRef": {"name": name}})
        elif via == "env":
            container["env"].append({"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": name, "key": "DATABASE_URL"}}})
        else:
            pull_secrets.append({"name": name})
    spec: dict[str, Any] = {"serviceAccountName": workload.service_account, "containers": [container]}
    if pull_secrets:
        spec["imagePullSecrets"] = pull_secrets
    if volumes:
        spec["volumes"] = volumes
    return spec


def _store_provider(store: Store) -> dict[str, Any]:
    aws: dict[str, Any] = {"service": "SecretsManager", "region": REGION}
    if store.auth == "jwt" and store.service_account is not None:
        namespace, name = store.service_account
        reference = {"name": name} if namespace is None or store.kind == "SecretStore" else {"name": name, "namespace": namespace}
        aws["auth"] = {"jwt": {"serviceAccountRef": reference}}
    elif store.auth == "static":
        secret = store.credentials_secret
        aws["auth"] = {"secretRef": {
            "accessKeyIDSecretRef": {"name": secret, "key": "access-key-id"},
            "secretAccessKeySecretRef": {"name": secret, "key": "secret-access-key"},
        }}
    return {"aws": aws}


def _store(store: Store) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if store.conditions:
        spec["conditions"] = store.conditions
    spec["provider"] = _store_provider(store)
    status = {"capabilities": "ReadWrite", "conditions": [
        {"type": "Ready", "status": "True", "reason": "Valid", "message": "store validated", "lastTransitionTime": before_reference(days=60)},
    ]}
    return {"apiVersion": ESO_API, "kind": store.kind, "metadata": _metadata(store.name, store.namespace), "spec": spec, "status": status}


def _cluster_store_documents(estate: Estate) -> list[dict[str, Any]]:
    documents = []
    for store in estate.stores:
        if store.kind != "ClusterSecretStore":
            continue
        if store.service_account is not None and store.service_account[0] is not None:
            namespace, name = store.service_account
            documents.append(_service_account(namespace, name, store.identity_arn, None))
        documents.append(_store(store))
    if estate.shared_tls_namespaces:
        documents.append(_cluster_external_secret(estate))
    return documents


def _cluster_external_secret(estate: Estate) -> dict[str, Any]:
    return {
        "apiVersion": ESO_API,
        "kind": "ClusterExternalSecret",
        "metadata": _metadata("shared-tls", uid=SHARED_TLS_UID),
        "spec": {
            "externalSecretName": "shared-tls",
            "namespaceSelectors": [{"matchLabels": {"shared-tls": "true"}}],
            "refreshTime": "1m",
            "externalSecretSpec": _external_secret_spec(estate.external_secrets[0]),
        },
        "status": {"externalSecretName": "shared-tls", "provisionedNamespaces": sorted(estate.shared_tls_namespaces)},
    }


def _external_secret_spec(external_secret: ExternalSecretPlan) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "refreshInterval": external_secret.refresh_interval,
        "secretStoreRef": {"kind": external_secret.store.kind, "name": external_secret.store.name},
        "target": {"name": external_secret.name, "creationPolicy": "Owner"},
    }
    if external_secret.owner_ces:
        spec["data"] = [
            {"secretKey": "tls.crt", "remoteRef": {"key": "shared/tls", "property": "certificate"}},
            {"secretKey": "tls.key", "remoteRef": {"key": "shared/tls", "property": "private_key"}},
        ]
    elif external_secret.remote_keys:
        spec["data"] = [{"secretKey": key.rsplit("/", 1)[-1], "remoteRef": {"key": key}} for key in external_secret.remote_keys]
    else:
        spec["dataFrom"] = [{"find": {"path": external_secret.find_path, "name": {"regexp": ".*"}}}]
    return spec


def _external_secret(external_secret: ExternalSecretPlan) -> dict[str, Any]:
    owners = [_owner_reference("ClusterExternalSecret", external_secret.owner_ces, SHARED_TLS_UID)] if external_secret.owner_ces else None
    metadata = _metadata(external_secret.name, external_secret.namespace.name, uid=external_secret.uid, ownerReferences=owners)
    return {
        "apiVersion": ESO_API,
        "kind": "ExternalSecret",
        "metadata": metadata,
        "spec": _external_secret_spec(external_secret),
        "status": _external_secret_status(external_secret),
    }


def _external_secret_status(external_secret: ExternalSecretPlan) -> dict[str, Any]:
    if external_secret.status == "error":
        condition = {"type": "Ready", "status": "False", "reason": "SecretSyncedError", "message": "could not get secret data from provider"}
        refreshed = before_reference(hours=7)
    else:
        condition = {"type": "Ready", "status": "True", "reason": "SecretSynced", "message": "secret synced"}
        refreshed = before_reference(hours=80) if external_secret.status == "stale" else before_reference(minutes=10)
    condition["lastTransitionTime"] = before_reference(days=30)
    return {"binding": {"name": external_secret.name}, "conditions": [condition], "refreshTime": refreshed}
