"""The facts an incident response needs from a simulation: identities to block, bindings to remove,
ServiceAccounts to recreate or re-annotate, secrets to rotate, ExternalSecrets to force-sync.

Each is read from the capability graph and the ExternalSecret records, for the nodes a simulation
reached; the runbook renderer turns them into commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from blastradius.graph import ids
from blastradius.graph.model import CapabilityGraph

IAM_KINDS = frozenset({"iam_role", "iam_user"})
STORE_KINDS = frozenset({"secretstore", "clustersecretstore"})
SUBJECT_KINDS = frozenset({"user", "group", "serviceaccount"})
# Binding evidence on RBAC edges reads `RoleBinding <ns>/<name>` or `ClusterRoleBinding <name>`.
_ENV_VIAS = frozenset({"env", "envFrom"})


@dataclass(frozen=True)
class Identity:
    """A principal in the simulation: leaked, acted as, or used by ESO on the leaker's behalf."""

    name: str
    node: str
    kind: str
    arn: str | None = None
    cluster: str | None = None
    namespace: str | None = None
    conditions: tuple[str, ...] = ()
    path: str = ""


@dataclass(frozen=True)
class Binding:
    """An RBAC binding that grants a leaked subject its rights."""

    cluster: str
    kind: str
    namespace: str | None
    name: str
    subject: str


@dataclass(frozen=True)
class ServiceAccountTokens:
    """A ServiceAccount whose tokens the leaker has or can request, with what rotating them involves."""

    cluster: str
    namespace: str
    name: str
    token_secrets: tuple[str, ...]
    workloads: tuple[str, ...]


@dataclass(frozen=True)
class Reannotation:
    """A ServiceAccount through which a store authenticates as a blocked IAM role."""

    cluster: str
    namespace: str
    name: str
    role_arn: str
    stores: tuple[str, ...]


@dataclass(frozen=True)
class KeyHolder:
    """A Kubernetes Secret holding the static access keys of a blocked IAM user."""

    cluster: str
    namespace: str
    name: str
    user_arn: str | None


@dataclass(frozen=True)
class CloudSecret:
    """A Secrets Manager secret to rotate (read) or check (overwrite)."""

    name: str
    arn: str
    region: str | None
    rotation_enabled: bool


@dataclass(frozen=True)
class KubernetesSecret:
    """A Kubernetes Secret that no ExternalSecret manages, so rotating cloud secrets does not renew it."""

    cluster: str
    namespace: str
    name: str
    secret_type: str | None
    credential_of: str | None = None
    credential_kind: str | None = None


@dataclass(frozen=True)
class ExternalSecretSync:
    """An ExternalSecret to force-sync once its sources are rotated or its store works again."""

    cluster: str
    namespace: str
    name: str
    target: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class WorkloadRestart:
    """A workload that consumes a re-synced Secret; env and envFrom only change on a restart."""

    cluster: str
    namespace: str
    kind: str
    name: str
    secrets: tuple[str, ...]
    needs_restart: bool


@dataclass
class Response:
    """The estate's concrete response steps, in the order of the runbook."""

    blocked: list[Identity] = field(default_factory=list)
    unknown_key_owners: list[KeyHolder] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    service_accounts: list[ServiceAccountTokens] = field(default_factory=list)
    investigated: list[Identity] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    rotate_cloud: list[CloudSecret] = field(default_factory=list)
    check_cloud: list[CloudSecret] = field(default_factory=list)
    rotate_kubernetes: list[KubernetesSecret] = field(default_factory=list)
    reannotations: list[Reannotation] = field(default_factory=list)
    key_holders: list[KeyHolder] = field(default_factory=list)
    external_secrets: list[ExternalSecretSync] = field(default_factory=list)
    workloads: list[WorkloadRestart] = field(default_factory=list)


def store_nodes(graph: CapabilityGraph) -> dict[tuple[str | None, str], str]:
    """Map (cluster, display name) of every SecretStore and ClusterSecretStore to its node."""
    return {(data.get("cluster"), data["name"]): node for node, data in graph.g.nodes(data=True) if data["kind"] in STORE_KINDS}


def record_identities(graph: CapabilityGraph, record: dict[str, Any], stores: dict[tuple[str | None, str], str]) -> set[str]:
    """Return the cloud identities the stores of one ExternalSecret authenticate as, from its namespace."""
    found: set[str] = set()
    for store_name in set(record["stores"]):
        store = stores.get((record["cluster"], store_name))
        if store is None:
            continue
        user = ids.store_use(record["cluster"], store_name.removeprefix("clustersecretstore:"), record["namespace"])
        source = user if graph.kind(store) == "clustersecretstore" and user in graph.g else store
        found |= {target for _, target, data in graph.g.out_edges(source, data=True) if data["kind"] == "eso_acts_as"}
    return found


def build_response(graph: CapabilityGraph, rows: list[dict[str, Any]], compromised: list[Identity],
                   identities: list[Identity], eso_identities: list[Identity]) -> Response:
    """Collect the estate's objects each runbook step names, from what the simulation reached."""
    held = [*compromised, *identities]
    blocked = [identity for identity in held if identity.kind in IAM_KINDS]
    blocked_nodes = {identity.node for identity in blocked}
    readable = [row for row in rows if row["capability"] == "read"]

    response = Response(blocked=blocked)
    response.unknown_key_owners = _unknown_key_owners(graph, held)
    response.bindings = _bindings(graph, [identity for identity in compromised if identity.kind in SUBJECT_KINDS])
    response.groups = sorted(identity.name.removeprefix("group:") for identity in compromised if identity.kind == "group")
    response.service_accounts = _service_account_tokens(graph, [identity for identity in held if identity.kind == "serviceaccount"])
    response.investigated = sorted({identity.node: identity for identity in (*blocked, *eso_identities)
                                    if identity.kind in IAM_KINDS}.values(), key=lambda identity: identity.name)
    response.rotate_cloud = _cloud_secrets(graph, readable)
    response.check_cloud = _cloud_secrets(graph, [row for row in rows if row["capability"] == "overwrite"])
    response.regions = sorted({secret.region for secret in (*response.rotate_cloud, *response.check_cloud) if secret.region})
    response.rotate_kubernetes = _unmanaged_secrets(graph, readable)
    response.reannotations = _reannotations(graph, blocked_nodes)
    response.key_holders = _key_holders(graph, blocked_nodes)
    response.external_secrets = _external_secrets(graph, rows, blocked_nodes)
    response.workloads = _workloads(graph, response.external_secrets)
    return response


def _unknown_key_owners(graph: CapabilityGraph, held: list[Identity]) -> list[KeyHolder]:
    """Return the Secrets holding static keys whose IAM owner the snapshot does not know."""
    holders = []
    for identity in held:
        if identity.kind != "static_keys":
            continue
        for source, _, data in graph.g.in_edges(identity.node, data=True):
            if data["kind"] == "holds_credentials":
                holder = graph.g.nodes[source]
                holders.append(KeyHolder(holder["cluster"], holder["namespace"], _object_name(source), None))
    return sorted(set(holders), key=lambda holder: (holder.cluster, holder.namespace, holder.name))


def _bindings(graph: CapabilityGraph, subjects: list[Identity]) -> list[Binding]:
    """Return the RoleBindings and ClusterRoleBindings named in the evidence of each subject's own edges."""
    found: set[Binding] = set()
    for subject in subjects:
        for _, _, data in graph.g.out_edges(subject.node, data=True):
            for binding in data["evidence"].get("bindings", []):
                found.add(Binding(subject.cluster or "", binding["kind"], binding["namespace"], binding["name"], subject.name))
    return sorted(found, key=lambda binding: (binding.cluster, binding.kind, binding.namespace or "", binding.name, binding.subject))


def _service_account_tokens(graph: CapabilityGraph, accounts: list[Identity]) -> list[ServiceAccountTokens]:
    """Return each ServiceAccount with its legacy token Secrets and the workloads that run as it."""
    found = []
    for account in sorted({identity.node: identity for identity in accounts}.values(), key=lambda item: item.node):
        token_secrets, workloads = [], []
        for source, _, data in graph.g.in_edges(account.node, data=True):
            if data["kind"] == "token_secret":
                token_secrets.append(_object_name(source))
            elif data["kind"] == "runs_as" and graph.kind(source) == "workload":
                workloads.append(graph.name(source))
        node = graph.g.nodes[account.node]
        found.append(ServiceAccountTokens(node["cluster"], node["namespace"], _object_name(account.node),
                                          tuple(sorted(token_secrets)), tuple(sorted(workloads))))
    return found


def _cloud_secrets(graph: CapabilityGraph, rows: list[dict[str, Any]]) -> list[CloudSecret]:
    found = []
    for row in rows:
        if row["kind"] != "cloud_secret":
            continue
        data = graph.g.nodes[row["secret_id"]]
        found.append(CloudSecret(data["name"], data["arn"], data.get("region"), bool(data.get("rotation_enabled"))))
    return sorted(found, key=lambda secret: secret.arn)


def _managed_secrets(graph: CapabilityGraph) -> set[str]:
    return {ids.secret(record["cluster"], record["namespace"], record["target"]) for record in graph.external_secrets}


def _unmanaged_secrets(graph: CapabilityGraph, rows: list[dict[str, Any]]) -> list[KubernetesSecret]:
    """Return the readable Kubernetes Secrets that no ExternalSecret writes, with the credentials some hold."""
    managed = _managed_secrets(graph)
    found = []
    for row in rows:
        node = row["secret_id"]
        if row["kind"] != "secret" or node in managed:
            continue
        data = graph.g.nodes[node]
        owners = sorted(target for _, target, edge in graph.g.out_edges(node, data=True)
                        if edge["kind"] in ("holds_credentials", "token_secret"))
        credential = owners[0] if owners else None
        found.append(KubernetesSecret(data["cluster"], data["namespace"], _object_name(node), data.get("secret_type"),
                                      graph.name(credential) if credential else None,
                                      graph.kind(credential) if credential else None))
    return sorted(found, key=lambda secret: (secret.cluster, secret.namespace, secret.name))


def _reannotations(graph: CapabilityGraph, blocked: set[str]) -> list[Reannotation]:
    """Return the ServiceAccounts through which stores authenticate as a blocked role, with those stores."""
    stores_by_account: dict[tuple[str, str, str, str], set[str]] = {}
    for source, target, data in graph.g.edges(data=True):
        if data["kind"] != "eso_acts_as" or target not in blocked or graph.kind(target) != "iam_role":
            continue
        if graph.kind(source) not in STORE_KINDS | {"store_use"}:
            continue
        service_account = data["evidence"].get("service_account")
        if not service_account:
            continue
        cluster = graph.g.nodes[source]["cluster"]
        namespace, name = service_account.split("/", 1)
        store = data["evidence"].get("store") or graph.name(source)
        stores_by_account.setdefault((cluster, namespace, name, graph.g.nodes[target]["arn"]), set()).add(store)
    return [Reannotation(cluster, namespace, name, role_arn, tuple(sorted(stores)))
            for (cluster, namespace, name, role_arn), stores in sorted(stores_by_account.items())]


def _key_holders(graph: CapabilityGraph, blocked: set[str]) -> list[KeyHolder]:
    holders = []
    for source, target, data in graph.g.edges(data=True):
        if data["kind"] == "holds_credentials" and target in blocked and graph.kind(source) == "secret":
            node = graph.g.nodes[source]
            holders.append(KeyHolder(node["cluster"], node["namespace"], _object_name(source), graph.g.nodes[target].get("arn")))
    return sorted(holders, key=lambda holder: (holder.cluster, holder.namespace, holder.name))


def _external_secrets(graph: CapabilityGraph, rows: list[dict[str, Any]], blocked: set[str]) -> list[ExternalSecretSync]:
    """Return each ExternalSecret whose copy or source is exposed, or whose store authenticates as a blocked identity."""
    exposed = {row["secret_id"] for row in rows}
    stores = store_nodes(graph)
    reasons: dict[tuple[str, str, str, str], set[str]] = {}
    for record in graph.external_secrets:
        key = (record["cluster"], record["namespace"], record["name"], record["target"])
        why = reasons.setdefault(key, set())
        if ids.secret(record["cluster"], record["namespace"], record["target"]) in exposed:
            why.add("its Secret is exposed")
        if any(ids.aws(arn) in exposed for arn in record["cloud_secrets"]):
            why.add("a cloud secret it copies is exposed")
        if record_identities(graph, record, stores) & blocked:
            why.add("its store authenticates as a blocked identity")
    return [ExternalSecretSync(*key, tuple(sorted(why))) for key, why in sorted(reasons.items()) if why]


def _workloads(graph: CapabilityGraph, syncs: list[ExternalSecretSync]) -> list[WorkloadRestart]:
    """Return the workloads that consume the Secrets of the ExternalSecrets to force-sync."""
    targets = {ids.secret(sync.cluster, sync.namespace, sync.target) for sync in syncs}
    consumers: dict[str, dict[str, str]] = {}
    for source, target, data in graph.g.edges(data=True):
        if data["kind"] == "mounts" and target in targets and graph.kind(source) == "workload":
            consumers.setdefault(source, {})[_object_name(target)] = data["evidence"].get("detail", "")
    found = []
    for node, secrets in sorted(consumers.items()):
        data = graph.g.nodes[node]
        kind, _, _ = data["name"].partition(":")
        found.append(WorkloadRestart(data["cluster"], data["namespace"], kind, _object_name(node), tuple(sorted(secrets)),
                                     any(via in _ENV_VIAS for via in secrets.values())))
    return found


def _object_name(node: str) -> str:
    """Return the Kubernetes object name of a namespaced node: the part after `<namespace>/` of its id."""
    return node.rsplit("/", 1)[-1]
