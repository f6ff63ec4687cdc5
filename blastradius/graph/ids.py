"""Node ids: stable across runs and unique across clusters and accounts.

Kubernetes nodes carry the cluster name (`k8s:<cluster>:...`); AWS nodes are their ARN
(`aws:<arn>`), which already names partition, account and region. Display names are short and
written the way the reference syntax of the queries reads (`system:serviceaccount:ns:name`,
`secret:ns/name`, `clustersecretstore:name`).
"""

from __future__ import annotations

import re

# Node kinds, with the plain-language noun renderers use.
NODE_KINDS: dict[str, str] = {
    "user": "Kubernetes user",
    "group": "Kubernetes group",
    "serviceaccount": "ServiceAccount",
    "secret": "Kubernetes Secret",
    "secret_set": "every Secret of a namespace",
    "pod_set": "pods created in a namespace",
    "exec_set": "running pods of a namespace (exec)",
    "sa_set": "every ServiceAccount of a namespace",
    "workload": "pod or workload",
    "namespace_admin": "any RBAC right in a namespace",
    "eso_pull": "ExternalSecrets created in a namespace",
    "eso_push": "PushSecrets created in a namespace",
    "eso_custom_store": "SecretStores created in a namespace",
    "secretstore": "SecretStore",
    "clustersecretstore": "ClusterSecretStore",
    "store_use": "a ClusterSecretStore used from one namespace (referent authentication)",
    "static_keys": "cloud credentials stored in a Kubernetes Secret",
    "iam_role": "IAM role",
    "iam_user": "IAM user",
    "cloud_secret": "Secrets Manager secret",
    "kms_key": "KMS key",
    "aws_all_secrets": "every secret of an AWS account",
    "aws_secret_set": "Secrets Manager secrets that one policy decision covers",
    "aws_secret_folder": "Secrets Manager secrets whose names start with one path prefix",
    "iam_permission_set": "IAM users or roles with the same policies",
    "iam_principal_set": "IAM users or roles that one policy decision covers",
}

ALL_NAMESPACES = "*"

# Secrets Manager appends a hyphen and six random characters to every secret's ARN.
_SECRET_ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")


def user(cluster: str, name: str) -> str:
    return f"k8s:{cluster}:user:{name}"


def group(cluster: str, name: str) -> str:
    return f"k8s:{cluster}:group:{name}"


def serviceaccount(cluster: str, namespace: str, name: str) -> str:
    return f"k8s:{cluster}:serviceaccount:{namespace}/{name}"


def secret(cluster: str, namespace: str, name: str) -> str:
    return f"k8s:{cluster}:secret:{namespace}/{name}"


def secret_set(cluster: str, namespace: str) -> str:
    return f"k8s:{cluster}:secrets-in:{namespace}"


def pod_set(cluster: str, namespace: str) -> str:
    return f"k8s:{cluster}:pods-in:{namespace}"


def exec_set(cluster: str, namespace: str) -> str:
    return f"k8s:{cluster}:exec-in:{namespace}"


def sa_set(cluster: str, namespace: str) -> str:
    return f"k8s:{cluster}:serviceaccounts-in:{namespace}"


def workload(cluster: str, namespace: str, kind: str, name: str) -> str:
    return f"k8s:{cluster}:workload:{namespace}/{kind}/{name}"


def namespace_admin(cluster: str, namespace: str) -> str:
    return f"k8s:{cluster}:namespace-admin:{namespace}"


def eso_pull(cluster: str, namespace: str) -> str:
    return f"k8s:{cluster}:eso-pull:{namespace}"


def eso_push(cluster: str, namespace: str) -> str:
    return f"k8s:{cluster}:eso-push:{namespace}"


def eso_custom_store(cluster: str, namespace: str) -> str:
    return f"k8s:{cluster}:eso-custom-store:{namespace}"


def secretstore(cluster: str, namespace: str, name: str) -> str:
    return f"k8s:{cluster}:secretstore:{namespace}/{name}"


def clustersecretstore(cluster: str, name: str) -> str:
    return f"k8s:{cluster}:clustersecretstore:{name}"


def store_use(cluster: str, name: str, namespace: str) -> str:
    return f"k8s:{cluster}:clustersecretstore:{name}@{namespace}"


def static_keys(cluster: str, namespace: str, name: str) -> str:
    return f"k8s:{cluster}:static-keys:{namespace}/{name}"


def aws(arn: str) -> str:
    return f"aws:{arn}"


def aws_all_secrets(account_id: str) -> str:
    return f"aws:{account_id}:all-secrets"


def aws_secret_folder(account_id: str, prefix: str) -> str:
    return f"aws:{account_id}:secrets-under:{prefix}"


def aws_set(digest: str) -> str:
    """Return the id of a set of secrets or principals that one decision covers, named by a digest of its members' ARNs."""
    return f"aws:set:{digest}"


def iam_permission_set(account_id: str, key: str) -> str:
    return f"aws:{account_id}:permission-set:{key}"


def secret_refs(arn: str, name: str) -> list[str]:
    """Return the references a Secrets Manager secret answers to: its ARN, the ARN without suffix, its name."""
    refs = [arn, name]
    stripped = _SECRET_ARN_SUFFIX.sub("", arn)
    if stripped != arn:
        refs.append(stripped)
    return refs
