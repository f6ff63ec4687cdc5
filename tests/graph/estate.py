"""Builders for small estates in the snapshot's shape, and queries that name what the graph reaches.

Kubernetes objects are written as manifests and normalised by the collectors' own normaliser, so
their shape is the one a real collection produces. AWS account sections come from the IAM
fixtures. Query helpers return sets of (principal, target, capability) display names, which
is how the expectations of the graph tests are written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from blastradius.collectors.k8s_objects import normalize_object
from blastradius.graph.builder import build_graph
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.reachability import reach_from, reaching
from blastradius.queries.refs import resolve
from blastradius.snapshot import Collection, assemble
from tests.semantics import iam_fixtures as aws

CLUSTER = "test"
ACCOUNT = aws.ACCOUNT
OTHER_ACCOUNT = aws.OTHER_ACCOUNT
ISSUER = aws.EKS_ISSUER
PROVIDER_ARN = aws.provider_arn()
PROVIDER_URL = aws.EKS_PROVIDER_URL
ESO_API = "external-secrets.io/v1"
CANARY = aws.CANARY

Object = dict[str, Any]
Reached = set[tuple[str, str, str]]


@dataclass(frozen=True)
class Case:
    """One estate, one query on its graph, and the exact result expected."""

    id: str
    objects: list[Object]
    ask: Callable[[CapabilityGraph], Any]
    expected: Any
    accounts: tuple[dict[str, Any], ...] = field(default=())


def sa(ns: str, name: str) -> str:
    """Return the display name of a ServiceAccount, as Kubernetes names it in tokens."""
    return f"system:serviceaccount:{ns}:{name}"


def read(principal: str, *targets: str) -> Reached:
    return {(principal, target, "read") for target in targets}


# --- Kubernetes: core objects ---------------------------------------------------------------------


def namespace(name: str, **labels: str) -> Object:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def service_account(ns: str, name: str, *, role: str | None = None) -> Object:
    """A ServiceAccount; `role` names the IAM role of its `eks.amazonaws.com/role-arn` annotation."""
    metadata: dict[str, Any] = {"name": name, "namespace": ns}
    if role is not None:
        metadata["annotations"] = {"eks.amazonaws.com/role-arn": aws.role_arn(role)}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def secret(ns: str, name: str, *, secret_type: str = "Opaque", annotations: dict[str, str] | None = None) -> Object:
    """A Secret whose one value is the canary, so tests can prove it never reaches output."""
    metadata: dict[str, Any] = {"name": name, "namespace": ns}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Secret", "type": secret_type, "metadata": metadata,
            "stringData": {"value": CANARY}}


def token_secret(ns: str, name: str, account: str) -> Object:
    """A legacy `kubernetes.io/service-account-token` Secret of ServiceAccount `account`."""
    return secret(ns, name, secret_type="kubernetes.io/service-account-token",
                  annotations={"kubernetes.io/service-account.name": account})


def deployment(ns: str, name: str, account: str, *, mounts: Iterable[str] = (), labels: dict[str, str] | None = None) -> Object:
    """A Deployment whose pods run as `account` and mount each Secret of `mounts` as a volume."""
    volumes = [{"name": f"v{index}", "secret": {"secretName": mounted}} for index, mounted in enumerate(mounts)]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "spec": {"replicas": 1, "template": {"spec": {
            "serviceAccountName": account, "volumes": volumes,
            "containers": [{"name": "main", "image": "registry.example.com/app:1.0"}],
        }}},
    }


# --- Kubernetes: RBAC -----------------------------------------------------------------------------


def rule(verbs: Iterable[str], resources: Iterable[str], *, groups: Iterable[str] = ("",),
         names: Iterable[str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}
    if names is not None:
        entry["resourceNames"] = list(names)
    return entry


READ_SECRETS = rule(["get", "list", "watch"], ["secrets"])
CREATE_EXTERNAL_SECRETS = rule(["create", "update", "patch"], ["externalsecrets"], groups=["external-secrets.io"])
CREATE_SECRET_STORES = rule(["create", "update", "patch"], ["secretstores"], groups=["external-secrets.io"])
CLUSTER_ADMIN_RULES = (rule(["*"], ["*"], groups=["*"]), {"nonResourceURLs": ["*"], "verbs": ["*"]})


def role(ns: str, name: str, *rules: dict[str, Any]) -> Object:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": ns}, "rules": list(rules)}


def cluster_role(name: str, *rules: dict[str, Any], labels: dict[str, str] | None = None,
                 aggregate: Iterable[dict[str, str]] | None = None) -> Object:
    """A ClusterRole; `aggregate` lists the label sets of its aggregationRule's selectors."""
    obj: Object = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "metadata": {"name": name, "labels": labels or {}}, "rules": list(rules)}
    if aggregate is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": match} for match in aggregate]}
    return obj


def sa_subject(ns: str, name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


def group_subject(name: str) -> dict[str, str]:
    return {"kind": "Group", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def user_subject(name: str) -> dict[str, str]:
    return {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def role_binding(ns: str, name: str, role_ref: tuple[str, str], *subjects: dict[str, str]) -> Object:
    """A RoleBinding; `role_ref` is (kind, name), kind `Role` or `ClusterRole`."""
    kind, role_name = role_ref
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role_name},
            "subjects": list(subjects)}


def cluster_role_binding(name: str, cluster_role_name: str, *subjects: dict[str, str]) -> Object:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role_name},
            "subjects": list(subjects)}


def grant(ns: str, subject: dict[str, str], *rules: dict[str, Any], name: str = "grant") -> list[Object]:
    """A Role with `rules` in `ns` and a RoleBinding of it to `subject`, both called `name`."""
    return [role(ns, name, *rules), role_binding(ns, name, ("Role", name), subject)]


# --- External Secrets -----------------------------------------------------------------------------


def aws_provider(*, service_account: tuple[str | None, str] | None = None, keys_secret: tuple[str | None, str] | None = None,
                 assume: str | None = None) -> dict[str, Any]:
    """An AWS Secrets Manager provider block.

    `service_account` and `keys_secret` are (namespace or None, name): the first authenticates
    with `auth.jwt`, the second with static keys in `auth.secretRef`; neither means the
    controller's own identity. `assume` names a role that ESO assumes on top.
    """
    block: dict[str, Any] = {"service": "SecretsManager", "region": aws.REGION}
    if service_account is not None:
        ref = _reference(*service_account)
        block["auth"] = {"jwt": {"serviceAccountRef": ref}}
    elif keys_secret is not None:
        block["auth"] = {"secretRef": {
            "accessKeyIDSecretRef": {**_reference(*keys_secret), "key": "access-key-id"},
            "secretAccessKeySecretRef": {**_reference(*keys_secret), "key": "secret-access-key"},
        }}
    if assume is not None:
        block["role"] = aws.role_arn(assume)
    return {"aws": block}


def _reference(ns: str | None, name: str) -> dict[str, str]:
    return {"name": name} if ns is None else {"name": name, "namespace": ns}


def secret_store(ns: str, name: str, provider: dict[str, Any], *, conditions: list[dict[str, Any]] | None = None) -> Object:
    spec: dict[str, Any] = {"provider": provider}
    if conditions is not None:
        spec["conditions"] = conditions
    return {"apiVersion": ESO_API, "kind": "SecretStore", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def cluster_secret_store(name: str, provider: dict[str, Any], *, conditions: list[dict[str, Any]] | None = None) -> Object:
    spec: dict[str, Any] = {"provider": provider}
    if conditions is not None:
        spec["conditions"] = conditions
    return {"apiVersion": ESO_API, "kind": "ClusterSecretStore", "metadata": {"name": name}, "spec": spec}


def external_secret_spec(store: tuple[str, str], *, key: str | None = None, find: dict[str, Any] | None = None,
                         target: str = "synced") -> dict[str, Any]:
    """The spec of an ExternalSecret reading one remote `key`, or everything `find` matches, from `store` (kind, name)."""
    spec: dict[str, Any] = {
        "refreshInterval": "1h",
        "secretStoreRef": {"kind": store[0], "name": store[1]},
        "target": {"name": target, "creationPolicy": "Owner"},
    }
    if key is not None:
        spec["data"] = [{"secretKey": "value", "remoteRef": {"key": key}}]
    if find is not None:
        spec["dataFrom"] = [{"find": find}]
    return spec


def external_secret(ns: str, name: str, store: tuple[str, str], *, key: str | None = None,
                    find: dict[str, Any] | None = None, target: str = "synced") -> Object:
    return {"apiVersion": ESO_API, "kind": "ExternalSecret", "metadata": {"name": name, "namespace": ns},
            "spec": external_secret_spec(store, key=key, find=find, target=target)}


def eso_controller(*, role_name: str = "eso-controller") -> list[Object]:
    """The ESO controller as the official chart installs it: its namespace, ServiceAccount and Deployment.

    The ServiceAccount carries the IRSA annotation of `role_name`, and the controller's
    ClusterRole reads and writes every Secret and creates tokens for every ServiceAccount.
    """
    ns = "external-secrets"
    return [
        namespace(ns),
        service_account(ns, "external-secrets", role=role_name),
        deployment(ns, "external-secrets", "external-secrets", labels={"app.kubernetes.io/name": "external-secrets"}),
        cluster_role("external-secrets-controller",
                     rule(["get", "list", "watch", "create", "update", "patch", "delete"], ["secrets"]),
                     rule(["create"], ["serviceaccounts/token"])),
        cluster_role_binding("external-secrets-controller", "external-secrets-controller", sa_subject(ns, "external-secrets")),
    ]


# --- AWS ------------------------------------------------------------------------------------------


def irsa_trust(subject: str, *, operator: str = "StringEquals", provider: str = PROVIDER_ARN) -> dict[str, Any]:
    """A web-identity trust admitting tokens with audience `sts.amazonaws.com` whose `sub` passes `operator`."""
    url = provider.split(":oidc-provider/", 1)[1]
    condition: dict[str, Any] = {"StringEquals": {f"{url}:aud": "sts.amazonaws.com"}}
    condition.setdefault(operator, {})[f"{url}:sub"] = subject
    return aws.trust({"Federated": provider}, "sts:AssumeRoleWithWebIdentity", Condition=condition)


def read_policy(*patterns: str) -> dict[str, Any]:
    """An inline policy document allowing GetSecretValue on secrets whose names match `patterns`."""
    resources = [f"arn:aws:secretsmanager:{aws.REGION}:{ACCOUNT}:secret:{pattern}" for pattern in patterns]
    return aws.document(aws.allow("secretsmanager:GetSecretValue", resources))


def irsa_role(name: str, subject: str, *readable: str, operator: str = "StringEquals") -> dict[str, Any]:
    """An IRSA role for `subject` that reads the secrets matching `readable`."""
    return aws.role(name, trust_policy=irsa_trust(subject, operator=operator),
                    inline={f"{name}-read": read_policy(*readable)} if readable else {})


def account(*, secrets: Iterable[str] = (), account_id: str = ACCOUNT, **entities: Any) -> dict[str, Any]:
    """An AWS account section with the cluster's OIDC provider and a secret for each name of `secrets`."""
    entities.setdefault("oidc_providers", (aws.oidc_provider(account_id),))
    extra = tuple(entities.pop("secret_entries", ()))
    return aws.account(account_id, secrets=tuple(aws.secret(name, account=account_id) for name in secrets) + extra,
                       **entities)


# --- Snapshots and queries ------------------------------------------------------------------------


def snapshot(objects: Iterable[Object], *accounts: dict[str, Any], oidc_issuer: str | None = ISSUER) -> dict[str, Any]:
    """Assemble a snapshot of one cluster named `test` with the normalised `objects`, and AWS `accounts`."""
    section = {"name": CLUSTER, "server": None, "manifests": [], "oidc_issuer": oidc_issuer,
               "objects": [normalize_object(obj) for obj in objects], "skipped_kinds": {}}
    return assemble(Collection(clusters=[section], aws_accounts=list(accounts)))


def build(objects: Iterable[Object], *accounts: dict[str, Any], oidc_issuer: str | None = ISSUER) -> CapabilityGraph:
    return build_graph(snapshot(objects, *accounts, oidc_issuer=oidc_issuer))


def node(graph: CapabilityGraph, reference: str) -> str:
    return resolve(graph, reference, single=True).nodes[0]


def secret_arn(name: str, account_id: str = ACCOUNT) -> str:
    return aws.secret_arn(name, account_id)


SECRET_KINDS = frozenset({"secret", "cloud_secret"})


def reached_by(graph: CapabilityGraph, reference: str, capability: str = "read") -> Reached:
    """Return (principal, target, capability) for every principal that can obtain or overwrite the target."""
    target = node(graph, reference)
    return {(graph.name(reach.principal), graph.name(target), capability) for reach in reaching(graph, target, capability)}


def reaches(graph: CapabilityGraph, reference: str, kinds: Iterable[str] = SECRET_KINDS) -> Reached:
    """Return (source, target, capability) for everything of `kinds` that the source obtains or overwrites.

    A user or group that no binding gives a right has no node, so it reaches nothing.
    """
    if reference.startswith(("user:", "group:")) and not any(
            reference in data.get("refs", ()) for _, data in graph.g.nodes(data=True)):
        return set()
    source = node(graph, reference)
    wanted = frozenset(kinds)
    return {(graph.name(source), graph.name(reach.target), reach.capability)
            for reach in reach_from(graph, source) if graph.kind(reach.target) in wanted}


def edges(graph: CapabilityGraph, kind: str) -> set[tuple[str, str]]:
    """Return (source, target) display names of every edge of `kind`."""
    return {(graph.name(source), graph.name(target)) for source, target, data in graph.g.edges(data=True)
            if data["kind"] == kind}


def chain(graph: CapabilityGraph, principal: str, target: str, capability: str = "read") -> tuple[str, ...]:
    """Return the edge kinds of the shortest path by which `principal` reaches `target`."""
    principal_node, target_node = node(graph, principal), node(graph, target)
    for reach in reaching(graph, target_node, capability):
        if reach.principal == principal_node:
            return tuple(step.kind for step in reach.steps)
    return ()
