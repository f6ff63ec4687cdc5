"""Roles, ClusterRoles and their bindings for a synthetic estate.

The Kubernetes default roles and the ESO chart's roles come from the verbatim template files
(`TEMPLATE_ROLES`, `TEMPLATE_BINDINGS`). This module adds shared ClusterRoles, some of them
aggregated into `view` and `edit` as operators ship them, a few team Roles per namespace and a
handful of cluster-wide bindings. Each namespace binds the team's developer group (`edit` outside
production, `view` in it), its leads (`admin` in production) and the team Roles.
"""

from __future__ import annotations

import random
from typing import Any

from benchmarks.estate_plan import TEMPLATE_BINDINGS, TEMPLATE_ROLES, Estate, Namespace, PlanError

RBAC_API = "rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"

CORE_READ = ["configmaps", "endpoints", "persistentvolumeclaims", "pods", "services", "serviceaccounts"]
WORKLOADS = ["deployments", "statefulsets", "replicasets", "daemonsets"]

SHARED_CLUSTER_ROLES: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    ("secret-reader", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]),
    ("namespace-deployer", [
        {"apiGroups": ["apps"], "resources": WORKLOADS, "verbs": ["get", "list", "watch", "create", "update", "patch"]},
        {"apiGroups": [""], "resources": ["configmaps", "services"], "verbs": ["get", "list", "watch", "create", "update", "patch"]},
    ]),
    ("pod-debugger", [
        {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/exec", "pods/attach"], "verbs": ["create"]},
    ]),
    ("externalsecret-author", [
        {"apiGroups": ["external-secrets.io"], "resources": ["externalsecrets"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
        {"apiGroups": ["external-secrets.io"], "resources": ["secretstores", "clustersecretstores"], "verbs": ["get", "list", "watch"]},
    ]),
    ("readonly-no-secrets", [{"apiGroups": ["", "apps", "batch"], "resources": CORE_READ + WORKLOADS + ["jobs", "cronjobs"], "verbs": ["get", "list", "watch"]}]),
    ("ci-release", [
        {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "update", "patch"]},
    ]),
    ("token-requester", [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}]),
    ("monitoring-scraper", [
        {"apiGroups": [""], "resources": ["nodes", "nodes/metrics", "nodes/proxy", "pods", "services", "endpoints"], "verbs": ["get", "list", "watch"]},
        {"nonResourceURLs": ["/metrics", "/metrics/*"], "verbs": ["get"]},
    ]),
)
OPERATOR_CRDS = (
    ("cert-manager.io", "certificates"), ("argoproj.io", "rollouts"), ("monitoring.coreos.com", "servicemonitors"),
    ("keda.sh", "scaledobjects"), ("networking.istio.io", "virtualservices"), ("velero.io", "backups"),
    ("postgresql.cnpg.io", "clusters"), ("kafka.strimzi.io", "kafkatopics"),
)
TEAM_ROLE_KINDS = ("app-deployer", "secret-reader", "debugger", "es-editor", "config-editor", "ci-deployer")


def _metadata(name: str, namespace: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    return metadata


def cluster_role(name: str, rules: list[dict[str, Any]], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": _metadata(name, labels=labels), "rules": rules}


def binding(name: str, namespace: str | None, role_kind: str, role_name: str, subjects: list[dict[str, str]]) -> dict[str, Any]:
    kind = "RoleBinding" if namespace is not None else "ClusterRoleBinding"
    return {
        "apiVersion": RBAC_API,
        "kind": kind,
        "metadata": _metadata(name, namespace),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role_name},
        "subjects": subjects,
    }


def group(name: str) -> dict[str, str]:
    return {"apiGroup": RBAC_GROUP, "kind": "Group", "name": name}


def user(name: str) -> dict[str, str]:
    return {"apiGroup": RBAC_GROUP, "kind": "User", "name": name}


def service_account(namespace: str, name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def developer_group(team: str) -> str:
    return f"{team}-developers"


def plan_rbac(estate: Estate, rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the generated roles (ClusterRoles first) and bindings, exactly as many as the counts ask.

    Raises PlanError when the counts leave no room beyond the template roles and bindings.
    """
    role_budget = estate.counts.roles - TEMPLATE_ROLES
    binding_budget = estate.counts.bindings - TEMPLATE_BINDINGS
    if role_budget < len(SHARED_CLUSTER_ROLES) or binding_budget < 4:
        raise PlanError(
            f"roles and bindings: the size asks for {estate.counts.roles} and {estate.counts.bindings}, but the estate "
            f"needs at least {TEMPLATE_ROLES + len(SHARED_CLUSTER_ROLES)} and {TEMPLATE_BINDINGS + 4}; use a larger --scale"
        )

    cluster_roles = _cluster_roles(min(role_budget, len(SHARED_CLUSTER_ROLES) + role_budget // 10))
    team_roles = _team_roles(estate, role_budget - len(cluster_roles), rng)
    bindings = _cluster_bindings(binding_budget)
    bindings += _namespace_bindings(estate, team_roles, binding_budget - len(bindings), rng)
    return cluster_roles + team_roles, bindings


def _cluster_roles(count: int) -> list[dict[str, Any]]:
    roles = [cluster_role(name, rules) for name, rules in SHARED_CLUSTER_ROLES[:count]]
    for index in range(count - len(roles)):
        api_group, resource = OPERATOR_CRDS[(index // 2) % len(OPERATOR_CRDS)]
        generation = index // (2 * len(OPERATOR_CRDS))
        product = api_group.split(".")[0] if generation == 0 else f"{api_group.split('.')[0]}-{generation + 1}"
        if index % 2 == 0:
            labels = {"rbac.authorization.k8s.io/aggregate-to-view": "true"}
            roles.append(cluster_role(f"{product}-{resource}-viewer", [{"apiGroups": [api_group], "resources": [resource], "verbs": ["get", "list", "watch"]}], labels))
        else:
            labels = {"rbac.authorization.k8s.io/aggregate-to-edit": "true", "rbac.authorization.k8s.io/aggregate-to-admin": "true"}
            roles.append(cluster_role(f"{product}-{resource}-editor", [{"apiGroups": [api_group], "resources": [resource], "verbs": ["create", "update", "patch", "delete"]}], labels))
    return roles


def _team_roles(estate: Estate, count: int, rng: random.Random) -> list[dict[str, Any]]:
    namespaces = estate.team_namespaces
    synced = {}
    for external_secret in estate.external_secrets:
        synced.setdefault(external_secret.namespace.name, []).append(external_secret.name)
    order = rng.sample(namespaces, len(namespaces))
    roles = []
    for index in range(count):
        namespace = order[index % len(order)]
        round_number = index // len(order)
        # Each namespace takes the kinds in turn from its own starting point, so names repeat only with a suffix.
        kind = TEAM_ROLE_KINDS[(index % len(order) + round_number) % len(TEAM_ROLE_KINDS)]
        name = kind if round_number < len(TEAM_ROLE_KINDS) else f"{kind}-{round_number // len(TEAM_ROLE_KINDS) + 1}"
        roles.append({
            "apiVersion": RBAC_API,
            "kind": "Role",
            "metadata": _metadata(name, namespace.name),
            "rules": _team_role_rules(kind, synced.get(namespace.name, []), rng),
        })
    return roles


def _team_role_rules(kind: str, synced_secrets: list[str], rng: random.Random) -> list[dict[str, Any]]:
    if kind == "app-deployer":
        return [{"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["get", "list", "watch", "update", "patch"]}]
    if kind == "secret-reader":
        rule: dict[str, Any] = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
        if synced_secrets and rng.random() < 0.7:
            rule["resourceNames"] = sorted(rng.sample(synced_secrets, min(2, len(synced_secrets))))
        return [rule]
    if kind == "debugger":
        return [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]
    if kind == "es-editor":
        return [{"apiGroups": ["external-secrets.io"], "resources": ["externalsecrets"], "verbs": ["get", "list", "watch", "create", "update", "patch"]}]
    if kind == "config-editor":
        return [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]
    return [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch", "create", "update"]},
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "create"]}]


def _cluster_bindings(budget: int) -> list[dict[str, Any]]:
    bindings = [
        binding("platform-admins", None, "ClusterRole", "cluster-admin", [group("platform-admins")]),
        binding("security-auditors-view", None, "ClusterRole", "view", [group("security-auditors"), user("auditor@example.com")]),
        binding("monitoring-scraper", None, "ClusterRole", "monitoring-scraper", [service_account("kube-system", "default")]),
        binding("ci-platform-release", None, "ClusterRole", "ci-release", [group("ci-platform")]),
    ]
    for index in range(min(budget - len(bindings), budget // 2000)):
        bindings.append(binding(f"oncall-{index + 1}-view", None, "ClusterRole", "view", [group(f"oncall-{index + 1}")]))
    return bindings


def _namespace_bindings(estate: Estate, team_roles: list[dict[str, Any]], budget: int, rng: random.Random) -> list[dict[str, Any]]:
    """Return the standard bindings of each namespace in order, cut at the budget, then random ones to fill it."""
    accounts: dict[str, list[str]] = {}
    for account in estate.service_accounts:
        accounts.setdefault(account.namespace, []).append(account.name)

    standard = []
    for namespace in estate.team_namespaces:
        role = "view" if namespace.env == "prod" else "edit"
        standard.append(binding(f"{developer_group(namespace.team)}-{role}", namespace.name, "ClusterRole", role, [group(developer_group(namespace.team))]))
        if namespace.env == "prod":
            standard.append(binding(f"{namespace.team}-leads-admin", namespace.name, "ClusterRole", "admin", [group(f"{namespace.team}-leads")]))
    for role in team_roles:
        namespace = role["metadata"]["namespace"]
        subject_name = rng.choice(accounts[namespace])
        standard.append(binding(role["metadata"]["name"], namespace, "Role", role["metadata"]["name"], [service_account(namespace, subject_name)]))
    bindings = standard[:budget]

    namespaces = estate.team_namespaces
    for index in range(budget - len(bindings)):
        namespace = rng.choice(namespaces)
        role_name = rng.choice(("secret-reader", "pod-debugger", "externalsecret-author", "readonly-no-secrets", "namespace-deployer", "edit", "view"))
        subjects = _random_subjects(namespace, accounts[namespace.name], rng)
        bindings.append(binding(f"{role_name}-{index + 1}", namespace.name, "ClusterRole", role_name, subjects))
    return bindings


def _random_subjects(namespace: Namespace, accounts: list[str], rng: random.Random) -> list[dict[str, str]]:
    subjects = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        pick = rng.random()
        if pick < 0.4:
            subjects.append(service_account(namespace.name, rng.choice(accounts)))
        elif pick < 0.7:
            subjects.append(user(f"dev{rng.randrange(1, 400)}@example.com"))
        else:
            subjects.append(group(rng.choice((developer_group(namespace.team), f"{namespace.team}-oncall", "contractors"))))
    return subjects
