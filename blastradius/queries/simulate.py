"""`simulate`: what a leaked principal or credential exposes, and the facts an incident runbook needs.

A scenario names what leaked: a Kubernetes subject, an IAM role or user, a Secret, a store (its
cloud credential, held with full control), the ESO controller's ServiceAccount (`eso-controller`),
or an etcd backup of a cluster (`etcd`: every Kubernetes Secret at once). The simulation walks the
capability graph from there and returns the secrets it reads and overwrites, the identities it can
act as, and what the response needs: identities to block, bindings to remove, ServiceAccounts to
recreate or re-annotate, secrets to rotate and ExternalSecrets to force-sync.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from blastradius.graph import ids
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.common import SECRET_KINDS, QueryResult, chain_text, coverage_notes, scope_of, step_dict
from blastradius.queries.reachability import PRINCIPAL_KINDS, Reach, reach_from
from blastradius.queries.refs import ReferenceLookupError, resolve

log = logging.getLogger(__name__)

ETCD_PRESET = "etcd"
ETCD_NODE = "simulate:etcd-backup"
ETCD_NAME = "etcd backup"
IAM_KINDS = frozenset({"iam_role", "iam_user"})
STORE_KINDS = frozenset({"secretstore", "clustersecretstore"})
# What a simulation may start from: what can leak, as opposed to sets and helper nodes of the graph.
LEAKABLE_KINDS = PRINCIPAL_KINDS | SECRET_KINDS | STORE_KINDS | {"static_keys"}
IDENTITY_KINDS = PRINCIPAL_KINDS | {"static_keys"}
SUBJECT_KINDS = frozenset({"user", "group", "serviceaccount"})

COLUMNS = ["secret", "kind", "scope", "capability", "hops", "via_identity", "conditions", "path"]
ETCD_COLUMNS = ["secret", "kind", "scope", "capability", "exposure_window", "hops", "via_identity", "path"]

# Binding evidence on RBAC edges reads `RoleBinding <ns>/<name>` or `ClusterRoleBinding <name>`.
_BINDING = re.compile(r"^(RoleBinding|ClusterRoleBinding) (\S+)")
# NOTE: the graph records which ServiceAccount a store authenticates through only in the reason of
# its `eso_acts_as` edge, so it is read from there; a change of that wording drops re-annotations.
_THROUGH_SERVICE_ACCOUNT = re.compile(r"through ServiceAccount ([^/\s]+)/([^\s,]+)")
_THROUGH_CONTROLLER = "through the ESO controller's own identity"
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
class IamGap:
    """What a cloud identity's IAM policy lets it read, against what External Secrets syncs with it.

    `readable` are the names of the secrets its `iam_read_secret` edges reach; `synced` the cloud
    secrets that ExternalSecrets copy through stores that authenticate as it.
    """

    identity: str
    arn: str
    readable: tuple[str, ...]
    synced: tuple[str, ...]

    @property
    def unused(self) -> tuple[str, ...]:
        """Secrets the identity can read but no ExternalSecret needs: exposure with no purpose."""
        return tuple(sorted(set(self.readable) - set(self.synced)))

    def headline(self) -> str:
        return f"{self.identity} can read {len(self.readable)} secrets, ESO uses {len(self.synced)}"

    def to_dict(self) -> dict[str, Any]:
        return {"identity": self.identity, "arn": self.arn, "can_read": len(self.readable), "eso_uses": len(self.synced),
                "readable": list(self.readable), "synced": list(self.synced), "unused": list(self.unused)}


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
    """A ServiceAccount whose tokens the leaker holds or can mint, with what rotating them involves."""

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


@dataclass
class Simulation:
    """The outcome of a compromise simulation: exposed secrets as rows, the identities involved, the response."""

    reference: str
    scenario: str
    compromised: list[Identity]
    result: QueryResult
    identities: list[Identity]
    eso_identities: list[Identity]
    namespaces: list[str]
    accounts: list[str]
    iam_gaps: list[IamGap]
    response: Response
    collected_at: str | None = None

    @property
    def readable(self) -> list[dict[str, Any]]:
        return [row for row in self.result.rows if row["capability"] == "read"]

    @property
    def overwritable(self) -> list[dict[str, Any]]:
        return [row for row in self.result.rows if row["capability"] == "overwrite"]

    def summary(self) -> dict[str, Any]:
        """Return the counts and names a reader takes in first: what leaked, what it exposes, the IAM gaps."""
        def count(rows: list[dict[str, Any]]) -> dict[str, int]:
            return {"total": len(rows), "cloud": sum(row["kind"] == "cloud_secret" for row in rows),
                    "kubernetes": sum(row["kind"] == "secret" for row in rows)}

        return {
            "reference": self.reference,
            "scenario": self.scenario,
            "compromised": [identity.name for identity in self.compromised],
            "readable": count(self.readable),
            "overwritable": count(self.overwritable),
            "namespaces": self.namespaces,
            "accounts": self.accounts,
            "identities": [identity.name for identity in self.identities],
            "eso_identities": [identity.name for identity in self.eso_identities],
            "iam_gaps": [gap.to_dict() for gap in self.iam_gaps],
            "headlines": [gap.headline() for gap in self.iam_gaps],
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "summary": self.summary(), "response": asdict(self.response),
                "collected_at": self.collected_at}


@dataclass
class _Scenario:
    """What leaked (`compromised`), where the walk starts, and the graph it walks."""

    kind: str
    compromised: list[str]
    walk: CapabilityGraph
    starts: list[str]
    resolved: list[str]


# --- the simulation ---------------------------------------------------------------------------------


def simulate(graph: CapabilityGraph, reference: str, *, cluster: str | None = None) -> Simulation:
    """Return everything a leak of `reference` exposes and the response steps for this estate.

    Raises ReferenceLookupError when the reference names nothing, several clusters without a
    choice, or something that cannot leak (a namespace set, a KMS key).
    """
    scenario = _scenario(graph, reference, cluster)
    reaches = _reach_all(scenario)
    walk = scenario.walk

    windows = _exposure_windows(graph) if scenario.kind == ETCD_PRESET else {}
    rows = [_secret_row(walk, reach, windows) for reach in reaches if walk.kind(reach.target) in SECRET_KINDS]
    rows.sort(key=lambda row: (row["capability"], row["scope"], row["kind"], row["secret"]))

    compromised = [_identity(walk, node) for node in (scenario.compromised or scenario.starts)]
    acted = [reach for reach in reaches if reach.capability == "read" and walk.kind(reach.target) in IDENTITY_KINDS
             and reach.target not in scenario.compromised]
    identities = sorted((_identity(walk, reach.target, reach) for reach in acted), key=lambda item: item.name)
    held = {identity.node for identity in (*compromised, *identities)}
    eso_identities = _eso_identities(graph, reaches, held)

    notes = coverage_notes(walk, [*scenario.resolved, *scenario.compromised, *(reach.target for reach in reaches)])
    columns = ETCD_COLUMNS if scenario.kind == ETCD_PRESET else COLUMNS
    message = None if rows else f"a leak of {reference} exposes no secret"
    result = QueryResult("simulate", reference, columns, rows, notes, message)

    gaps = _iam_gaps(graph, [identity for identity in (*compromised, *identities, *eso_identities) if identity.kind in IAM_KINDS])
    response = _response(graph, rows, compromised, identities, eso_identities)
    log.info("simulate %s: %d secrets readable, %d overwritable, %d identities", reference,
             sum(row["capability"] == "read" for row in rows), sum(row["capability"] == "overwrite" for row in rows),
             len(identities))
    return Simulation(reference, scenario.kind, compromised, result, identities, eso_identities,
                      _namespaces(walk, rows, identities), _accounts(walk, rows, identities), gaps, response,
                      graph.collected_at)


def _scenario(graph: CapabilityGraph, reference: str, cluster: str | None) -> _Scenario:
    """Resolve the reference into the nodes that leaked and the nodes the walk starts from."""
    bare = reference.strip()
    prefix, _, rest = bare.partition("/")
    if bare == ETCD_PRESET:
        return _etcd_scenario(graph, cluster)
    if rest == ETCD_PRESET and prefix in _clusters(graph):
        return _etcd_scenario(graph, prefix)

    nodes = list(resolve(graph, reference, cluster=cluster, single=True).nodes)
    unsupported = sorted({graph.kind(node) for node in nodes} - LEAKABLE_KINDS)
    if unsupported:
        raise ReferenceLookupError(
            f"{reference!r} names a {', '.join(unsupported)}; simulate takes a Kubernetes subject, an IAM role or "
            "user, a Secret, a store, eso-controller or etcd")
    stores = [node for node in nodes if graph.kind(node) in STORE_KINDS]
    if not stores:
        kind = "eso-controller" if any(graph.g.nodes[node].get("eso_controller") for node in nodes) else "principal"
        return _Scenario(kind, nodes, graph, nodes, nodes)
    credentials = sorted({identity for store in stores for identity in _store_identities(graph, store)})
    others = [node for node in nodes if node not in stores]
    return _Scenario("store", credentials + others, graph, credentials + others, nodes)


def _etcd_scenario(graph: CapabilityGraph, cluster: str | None) -> _Scenario:
    """Walk from a virtual node holding every Secret of one cluster, in a copy of the graph."""
    clusters = _clusters(graph)
    if cluster is None and len(clusters) == 1:
        cluster = clusters[0]
    if cluster not in clusters:
        known = ", ".join(clusters) or "none"
        raise ReferenceLookupError(f"etcd needs one cluster: prefix it with <cluster>/ or pass --cluster (the snapshot has: {known})")

    walk = CapabilityGraph(g=graph.g.copy(), coverage_gaps=graph.coverage_gaps, collected_at=graph.collected_at)
    # Namespace `*` makes every coverage gap of the cluster count for the backup.
    walk.g.add_node(ETCD_NODE, kind="secret_set", name=f"{ETCD_NAME} of cluster {cluster}", cluster=cluster, namespace="*")
    for node in sorted(graph.nodes_of_kind("secret")):
        if graph.g.nodes[node].get("cluster") != cluster:
            continue
        walk.g.add_edge(ETCD_NODE, node, key="contains|etcd", kind="contains", conditions=(), evidence={},
                        reason=f"the etcd backup of cluster {cluster} holds {graph.name(node)}")
    return _Scenario(ETCD_PRESET, [], walk, [ETCD_NODE], [ETCD_NODE])


def _clusters(graph: CapabilityGraph) -> list[str]:
    return sorted({data["cluster"] for _, data in graph.g.nodes(data=True) if data.get("cluster")})


def _store_identities(graph: CapabilityGraph, store: str) -> list[str]:
    """Return the cloud identities a store authenticates as, from every namespace it admits."""
    users = [store] + [target for _, target, data in graph.g.out_edges(store, data=True)
                       if data["kind"] == "contains" and graph.kind(target) == "store_use"]
    return sorted({target for user in users for _, target, data in graph.g.out_edges(user, data=True)
                   if data["kind"] == "eso_acts_as"})


def _reach_all(scenario: _Scenario) -> list[Reach]:
    """Return one reach per (target, capability) over every start: unconditional first, then fewest hops."""
    best: dict[tuple[str, str], Reach] = {}
    for start in scenario.starts:
        for reach in reach_from(scenario.walk, start):
            key = (reach.target, reach.capability)
            if reach.target in scenario.starts and reach.capability == "read":
                continue
            if key not in best or (bool(reach.conditions), reach.hops) < (bool(best[key].conditions), best[key].hops):
                best[key] = reach
    for start in scenario.starts:
        if scenario.walk.kind(start) in SECRET_KINDS:
            best[(start, "read")] = Reach(start, start, "read", ())
    return sorted(best.values(), key=lambda reach: (reach.capability, reach.hops, reach.target))


def _via_identity(graph: CapabilityGraph, reach: Reach) -> str:
    """Return the last identity on the path: the credential that finally reads or writes the secret."""
    for step in reversed(reach.steps):
        if graph.kind(step.target) in IDENTITY_KINDS and step.target != reach.target:
            return graph.name(step.target)
    return graph.name(reach.principal)


def _secret_row(graph: CapabilityGraph, reach: Reach, windows: dict[str, tuple[float | None, str]]) -> dict[str, Any]:
    node = reach.target
    data = graph.g.nodes[node]
    conditions = list(reach.conditions)
    row: dict[str, Any] = {
        "secret": graph.name(node),
        "secret_id": node,
        "kind": data["kind"],
        "arn": data.get("arn"),
        "scope": scope_of(graph, node),
        "capability": reach.capability,
        "hops": reach.hops,
        "via_identity": _via_identity(graph, reach),
        "conditional": bool(conditions),
        "conditions": conditions,
        "path": chain_text(graph, reach.steps),
        "steps": [step_dict(graph, step) for step in reach.steps],
    }
    if reach.principal == ETCD_NODE:
        seconds, text = _row_window(reach, windows)
        row["exposure_window_seconds"] = seconds
        row["exposure_window"] = text
    return row


# --- etcd exposure windows --------------------------------------------------------------------------


def _exposure_windows(graph: CapabilityGraph) -> dict[str, tuple[float | None, str]]:
    """Map each Kubernetes Secret to how old the value in a backup may be, from its ExternalSecrets.

    A Secret that ESO refreshes every interval holds a value at most one interval older than the
    backup. With refreshInterval 0, or refreshPolicy CreatedOnce or OnChange, ESO does not refresh on
    a timer, so the value may be of any age. A Secret no ExternalSecret writes has an unknown age.
    """
    intervals: dict[str, list[tuple[float, str]]] = {}
    for record in graph.external_secrets:
        node = ids.secret(record["cluster"], record["namespace"], record["target"])
        intervals.setdefault(node, []).append((record["refresh_interval_seconds"], record.get("refresh_policy") or "Periodic"))

    windows: dict[str, tuple[float | None, str]] = {}
    for node in graph.nodes_of_kind("secret"):
        found = intervals.get(node)
        if not found:
            windows[node] = (None, "unknown: not managed by External Secrets")
        elif any(seconds <= 0 or policy != "Periodic" for seconds, policy in found):
            windows[node] = (None, "unbounded: External Secrets does not refresh it on a timer")
        else:
            longest = max(seconds for seconds, _ in found)
            windows[node] = (longest, f"up to {format_duration(longest)} before the backup")
    return windows


def _row_window(reach: Reach, windows: dict[str, tuple[float | None, str]]) -> tuple[float | None, str]:
    """Return the window of the Secret the backup holds on this path, or say the value is read live."""
    steps = reach.steps
    if reach.capability == "overwrite":
        return None, "not applicable: overwrite with a credential found in the backup"
    if len(steps) == 1 or (len(steps) == 2 and steps[1].kind in ("copy_of", "pushed_to")):
        return windows.get(steps[0].target, (None, "unknown: not managed by External Secrets"))
    return None, "current value: read with a credential found in the backup"


def format_duration(seconds: float) -> str:
    """Return a duration the way refreshInterval is written: `1h`, `30m`, `1h30m`, `45s`."""
    remaining = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    return "".join(parts) or "0s"


# --- identities, scopes and the IAM gap -------------------------------------------------------------


def _identity(graph: CapabilityGraph, node: str, reach: Reach | None = None) -> Identity:
    data = graph.g.nodes[node]
    return Identity(
        name=data["name"], node=node, kind=data["kind"], arn=data.get("arn"), cluster=data.get("cluster"),
        namespace=data.get("namespace"), conditions=reach.conditions if reach else (),
        path=chain_text(graph, reach.steps) if reach else "",
    )


def _eso_identities(graph: CapabilityGraph, reaches: list[Reach], held: set[str]) -> list[Identity]:
    """Return the cloud identities External Secrets acted as on the leaker's behalf, which it does not hold itself."""
    found: dict[str, Identity] = {}
    for reach in reaches:
        for step in reach.steps:
            if step.kind == "eso_acts_as" and step.target not in held and step.target in graph.g:
                found.setdefault(step.target, _identity(graph, step.target))
    return sorted(found.values(), key=lambda identity: identity.name)


def _namespaces(graph: CapabilityGraph, rows: list[dict[str, Any]], identities: list[Identity]) -> list[str]:
    scopes = {row["scope"] for row in rows if row["kind"] == "secret"}
    scopes |= {scope_of(graph, identity.node) for identity in identities if identity.namespace}
    return sorted(scope for scope in scopes if "/" in scope)


def _accounts(graph: CapabilityGraph, rows: list[dict[str, Any]], identities: list[Identity]) -> list[str]:
    accounts = {graph.g.nodes[row["secret_id"]].get("account") for row in rows}
    accounts |= {graph.g.nodes[identity.node].get("account") for identity in identities}
    return sorted(account for account in accounts if account)


def _store_nodes(graph: CapabilityGraph) -> dict[tuple[str | None, str], str]:
    return {(data.get("cluster"), data["name"]): node for node, data in graph.g.nodes(data=True) if data["kind"] in STORE_KINDS}


def _record_identities(graph: CapabilityGraph, record: dict[str, Any], stores: dict[tuple[str | None, str], str]) -> set[str]:
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


def _iam_gaps(graph: CapabilityGraph, identities: list[Identity]) -> list[IamGap]:
    """Return, per IAM identity, what its policy reads against what ExternalSecrets sync through it.

    NOTE: an ExternalSecret that reads from several stores (per-key `sourceRef.storeRef`) counts
    all its cloud secrets for each store's identity, because its record does not say which key
    came through which store.
    """
    stores = _store_nodes(graph)
    synced: dict[str, set[str]] = {}
    for record in graph.external_secrets:
        for identity in _record_identities(graph, record, stores):
            synced.setdefault(identity, set()).update(record["cloud_secrets"])

    gaps = []
    for identity in sorted({identity.node: identity for identity in identities}.values(), key=lambda item: item.name):
        readable = {graph.name(target) for _, target, data in graph.g.out_edges(identity.node, data=True)
                    if data["kind"] == "iam_read_secret"}
        used = {graph.name(ids.aws(arn)) for arn in synced.get(identity.node, set()) if ids.aws(arn) in graph.g}
        gaps.append(IamGap(identity.name, identity.arn or "", tuple(sorted(readable)), tuple(sorted(used))))
    return gaps


# --- the response -----------------------------------------------------------------------------------


def _response(graph: CapabilityGraph, rows: list[dict[str, Any]], compromised: list[Identity],
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
                holders.append(KeyHolder(holder["cluster"], holder["namespace"], _object_name(graph, source), None))
    return sorted(set(holders), key=lambda holder: (holder.cluster, holder.namespace, holder.name))


def _bindings(graph: CapabilityGraph, subjects: list[Identity]) -> list[Binding]:
    """Return the RoleBindings and ClusterRoleBindings named in the evidence of each subject's own edges."""
    found: set[Binding] = set()
    for subject in subjects:
        for _, _, data in graph.g.out_edges(subject.node, data=True):
            evidence = data["evidence"]
            for text in (evidence.get("binding"), evidence.get("create"), evidence.get("read")):
                match = _BINDING.match(text) if isinstance(text, str) else None
                if match is None:
                    continue
                kind, name = match.groups()
                namespace, _, short = name.rpartition("/") if kind == "RoleBinding" else ("", "", name)
                found.add(Binding(subject.cluster or "", kind, namespace or None, short, subject.name))
    return sorted(found, key=lambda binding: (binding.cluster, binding.kind, binding.namespace or "", binding.name, binding.subject))


def _service_account_tokens(graph: CapabilityGraph, accounts: list[Identity]) -> list[ServiceAccountTokens]:
    """Return each ServiceAccount with its legacy token Secrets and the workloads that run as it."""
    found = []
    for account in sorted({identity.node: identity for identity in accounts}.values(), key=lambda item: item.node):
        token_secrets, workloads = [], []
        for source, _, data in graph.g.in_edges(account.node, data=True):
            if data["kind"] == "token_secret":
                token_secrets.append(_object_name(graph, source))
            elif data["kind"] == "runs_as" and graph.kind(source) == "workload":
                workloads.append(graph.name(source))
        node = graph.g.nodes[account.node]
        found.append(ServiceAccountTokens(node["cluster"], node["namespace"], _object_name(graph, account.node),
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
        found.append(KubernetesSecret(data["cluster"], data["namespace"], _object_name(graph, node), data.get("secret_type"),
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
        account = _store_service_account(graph, source, data["reason"])
        if account is None:
            continue
        cluster, namespace, name = account
        store = data["evidence"].get("store") or graph.name(source)
        stores_by_account.setdefault((cluster, namespace, name, graph.g.nodes[target]["arn"]), set()).add(store)
    return [Reannotation(cluster, namespace, name, role_arn, tuple(sorted(stores)))
            for (cluster, namespace, name, role_arn), stores in sorted(stores_by_account.items())]


def _store_service_account(graph: CapabilityGraph, store: str, reason: str) -> tuple[str, str, str] | None:
    cluster = graph.g.nodes[store]["cluster"]
    match = _THROUGH_SERVICE_ACCOUNT.search(reason)
    if match:
        return cluster, match.group(1), match.group(2)
    if _THROUGH_CONTROLLER in reason:
        for node, data in graph.g.nodes(data=True):
            if data.get("eso_controller") and data.get("cluster") == cluster:
                return cluster, data["namespace"], _object_name(graph, node)
    return None


def _key_holders(graph: CapabilityGraph, blocked: set[str]) -> list[KeyHolder]:
    holders = []
    for source, target, data in graph.g.edges(data=True):
        if data["kind"] == "holds_credentials" and target in blocked and graph.kind(source) == "secret":
            node = graph.g.nodes[source]
            holders.append(KeyHolder(node["cluster"], node["namespace"], _object_name(graph, source), graph.g.nodes[target].get("arn")))
    return sorted(holders, key=lambda holder: (holder.cluster, holder.namespace, holder.name))


def _external_secrets(graph: CapabilityGraph, rows: list[dict[str, Any]], blocked: set[str]) -> list[ExternalSecretSync]:
    """Return each ExternalSecret whose copy or source is exposed, or whose store authenticates as a blocked identity."""
    exposed = {row["secret_id"] for row in rows}
    stores = _store_nodes(graph)
    reasons: dict[tuple[str, str, str, str], set[str]] = {}
    for record in graph.external_secrets:
        key = (record["cluster"], record["namespace"], record["name"], record["target"])
        why = reasons.setdefault(key, set())
        if ids.secret(record["cluster"], record["namespace"], record["target"]) in exposed:
            why.add("its Secret is exposed")
        if any(ids.aws(arn) in exposed for arn in record["cloud_secrets"]):
            why.add("a cloud secret it copies is exposed")
        if _record_identities(graph, record, stores) & blocked:
            why.add("its store authenticates as a blocked identity")
    return [ExternalSecretSync(*key, tuple(sorted(why))) for key, why in sorted(reasons.items()) if why]


def _workloads(graph: CapabilityGraph, syncs: list[ExternalSecretSync]) -> list[WorkloadRestart]:
    """Return the workloads that consume the Secrets of the ExternalSecrets to force-sync."""
    targets = {ids.secret(sync.cluster, sync.namespace, sync.target) for sync in syncs}
    consumers: dict[str, dict[str, str]] = {}
    for source, target, data in graph.g.edges(data=True):
        if data["kind"] == "mounts" and target in targets and graph.kind(source) == "workload":
            consumers.setdefault(source, {})[_object_name(graph, target)] = data["evidence"].get("detail", "")
    found = []
    for node, secrets in sorted(consumers.items()):
        data = graph.g.nodes[node]
        kind, _, _ = data["name"].partition(":")
        found.append(WorkloadRestart(data["cluster"], data["namespace"], kind, _object_name(graph, node), tuple(sorted(secrets)),
                                     any(via in _ENV_VIAS for via in secrets.values())))
    return found


def _object_name(graph: CapabilityGraph, node: str) -> str:
    """Return the Kubernetes object name of a namespaced node: the part after `<namespace>/` of its id."""
    return node.rsplit("/", 1)[-1]
