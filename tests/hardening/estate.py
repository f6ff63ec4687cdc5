"""A small, valid payments estate as manifests, and the AWS bundle its stores read from.

Hostile-input tests change one field of one of these objects, write the manifests out and check
what `collect`, the graph build and the queries make of it. Every object is valid as written,
so any warning or error comes from the changed field.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

ACCOUNT = "111122223333"
REGION = "us-east-1"
ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
PROVIDER_URL = ISSUER.removeprefix("https://")
DB_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:payments/db-AbCdEf"
CANARY = "CANARY-do-not-store-7f3a9c"
RBAC = "rbac.authorization.k8s.io/v1"
ESO = "external-secrets.io/v1"

Object = dict[str, Any]

MANIFESTS: list[Object] = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments", "labels": {"env": "prod"}}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "external-secrets"}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "payments"},
     "type": "Opaque", "stringData": {"password": CANARY}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vault-token", "namespace": "payments"},
     "data": {"token": "Q0FOQVJZLWRvLW5vdC1zdG9yZS03ZjNhOWM="}},
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
        "name": "api", "namespace": "payments",
        "annotations": {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/payments-api"}}},
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "external-secrets", "namespace": "external-secrets"}},
    {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": "db-reader", "namespace": "payments"},
     "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"], "resourceNames": ["db"]}]},
    {"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": "alice-db-reader", "namespace": "payments"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "db-reader"},
     "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]},
    {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "secret-admin", "labels": {"team": "sre"}},
     "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]},
               {"apiGroups": ["external-secrets.io"], "resources": ["externalsecrets", "secretstores"],
                "verbs": ["create", "update", "patch"]}]},
    {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "sre-aggregate"},
     "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"team": "sre"}}]}},
    {"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": "sre"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "sre-aggregate"},
     "subjects": [{"kind": "Group", "name": "sre", "apiGroup": "rbac.authorization.k8s.io"},
                  {"kind": "ServiceAccount", "name": "api", "namespace": "payments"}]},
    {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "external-secrets-controller"},
     "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch", "create", "update"]}]},
    {"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": "external-secrets-controller"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "external-secrets-controller"},
     "subjects": [{"kind": "ServiceAccount", "name": "external-secrets", "namespace": "external-secrets"}]},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "external-secrets", "namespace": "external-secrets", "labels": {"app.kubernetes.io/name": "external-secrets"}},
     "spec": {"replicas": 1, "template": {"spec": {"serviceAccountName": "external-secrets",
                                                   "containers": [{"name": "controller", "image": "ghcr.io/external-secrets/external-secrets:v0.16.1"}]}}}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "payments"},
     "spec": {"replicas": 2, "template": {"spec": {
         "serviceAccountName": "api",
         "containers": [{"name": "api", "image": "payments/api:1.4",
                         "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                                 {"name": "LOG_LEVEL", "value": CANARY}]}],
         "volumes": [{"name": "token", "secret": {"secretName": "vault-token"}}]}}}},
    {"apiVersion": ESO, "kind": "SecretStore", "metadata": {"name": "aws", "namespace": "payments"},
     "spec": {"provider": {"aws": {"service": "SecretsManager", "region": REGION,
                                   "auth": {"jwt": {"serviceAccountRef": {"name": "api"}}}}}}},
    {"apiVersion": ESO, "kind": "SecretStore", "metadata": {"name": "vault", "namespace": "payments"},
     "spec": {"provider": {"vault": {"server": "https://vault.example.internal:8200", "path": "secret",
                                     "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "payments",
                                                             "serviceAccountRef": {"name": "api"}}}}}}},
    {"apiVersion": ESO, "kind": "ClusterSecretStore", "metadata": {"name": "aws-keys"},
     "spec": {"provider": {"aws": {"service": "SecretsManager", "region": REGION,
                                   "auth": {"secretRef": {
                                       "accessKeyIDSecretRef": {"name": "aws-keys", "key": "id", "namespace": "external-secrets"},
                                       "secretAccessKeySecretRef": {"name": "aws-keys", "key": "secret",
                                                                    "namespace": "external-secrets"}}}}},
              "conditions": [{"namespaceSelector": {"matchLabels": {"env": "prod"}}}]}},
    {"apiVersion": ESO, "kind": "SecretStore", "metadata": {"name": "gcp", "namespace": "payments"},
     "spec": {"provider": {"gcpsm": {"projectID": "payments-prod", "auth": {"workloadIdentity": {
         "clusterLocation": "europe-west1", "clusterName": "prod", "serviceAccountRef": {"name": "api"}}}}}}},
    {"apiVersion": ESO, "kind": "SecretStore", "metadata": {"name": "azure", "namespace": "payments"},
     "spec": {"provider": {"azurekv": {"vaultUrl": "https://payments.vault.azure.net", "authType": "WorkloadIdentity",
                                       "serviceAccountRef": {"name": "api"}}}}},
    {"apiVersion": ESO, "kind": "SecretStore", "metadata": {"name": "cluster-b", "namespace": "payments"},
     "spec": {"provider": {"kubernetes": {"remoteNamespace": "payments", "server": {"url": "https://cluster-b.internal"},
                                          "auth": {"token": {"bearerToken": {"name": "vault-token", "key": "token"}}}}}}},
    {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "ECRAuthorizationToken",
     "metadata": {"name": "ecr", "namespace": "payments"},
     "spec": {"region": REGION, "auth": {"jwt": {"serviceAccountRef": {"name": "api"}}}}},
    {"apiVersion": ESO, "kind": "ExternalSecret", "metadata": {"name": "ecr-pull", "namespace": "payments"},
     "spec": {"refreshInterval": "30m", "target": {"name": "ecr-pull"},
              "dataFrom": [{"sourceRef": {"generatorRef": {"apiVersion": "generators.external-secrets.io/v1alpha1",
                                                           "kind": "ECRAuthorizationToken", "name": "ecr"}}}]}},
    {"apiVersion": ESO, "kind": "ExternalSecret", "metadata": {"name": "db", "namespace": "payments"},
     "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": "aws"},
              "target": {"name": "db", "creationPolicy": "Owner", "template": {"data": {"dsn": CANARY}}},
              "data": [{"secretKey": "password", "remoteRef": {"key": "payments/db", "property": "password"}}],
              "dataFrom": [{"find": {"name": {"regexp": "^payments/"}}}]},
     "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced",
                                "lastTransitionTime": "2026-12-01T10:00:00Z"}]}},
    {"apiVersion": ESO, "kind": "ClusterExternalSecret", "metadata": {"name": "shared-tls"},
     "spec": {"namespaceSelectors": [{"matchLabels": {"env": "prod"}}],
              "externalSecretSpec": {"secretStoreRef": {"kind": "ClusterSecretStore", "name": "aws-keys"},
                                     "target": {"name": "shared-tls"},
                                     "data": [{"secretKey": "tls.key", "remoteRef": {"key": "shared/tls"}}]}}},
    {"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "metadata": {"name": "db-backup", "namespace": "payments"},
     "spec": {"secretStoreRefs": [{"kind": "SecretStore", "name": "aws"}], "selector": {"secret": {"name": "db"}},
              "data": [{"match": {"secretKey": "password", "remoteRef": {"remoteKey": "payments/db-backup"}}}]}},
]


def bundle() -> dict[str, Any]:
    """Return an AWS bundle with the role the `api` ServiceAccount assumes and the secret it reads."""
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{PROVIDER_URL}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{PROVIDER_URL}:sub": "system:serviceaccount:payments:api"}}}]}
    read = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
        "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:payments/*"}]}
    return {
        "Format": "blastradius-aws-bundle/1",
        "AccountId": ACCOUNT,
        "AuthorizationDetails": {
            "UserDetailList": [], "GroupDetailList": [], "Policies": [],
            "RoleDetailList": [{
                "RoleName": "payments-api", "RoleId": "AROAEXAMPLE", "Path": "/",
                "Arn": f"arn:aws:iam::{ACCOUNT}:role/payments-api",
                "AssumeRolePolicyDocument": trust,
                "RolePolicyList": [{"PolicyName": "read-payments", "PolicyDocument": read}],
                "AttachedManagedPolicies": [], "Tags": []}]},
        "SecretList": [{"ARN": DB_SECRET, "Name": "payments/db", "Tags": []}],
        "ResourcePolicies": {},
        "OpenIDConnectProviders": [{"Arn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{PROVIDER_URL}",
                                    "Url": PROVIDER_URL, "ClientIDList": ["sts.amazonaws.com"]}],
    }


def manifests() -> list[Object]:
    """Return a fresh deep copy of the estate's manifests, safe to change."""
    return copy.deepcopy(MANIFESTS)


def find(objects: list[Object], kind: str, name: str) -> Object:
    """Return the one object of `kind` whose metadata.name is `name`."""
    return next(obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name)


def set_field(obj: Object, path: tuple[Any, ...], value: Any) -> None:
    """Set the field at `path` (keys and list indexes) of `obj` to `value`."""
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value


def write_manifests(folder: Path, objects: list[Object]) -> Path:
    """Write the objects as one multi-document YAML file and return its path."""
    path = folder / "estate.yaml"
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False), encoding="utf-8")
    return path


def write_bundle(folder: Path) -> Path:
    path = folder / "aws.json"
    path.write_text(json.dumps(bundle(), indent=1), encoding="utf-8")
    return path
