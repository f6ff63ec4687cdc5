"""`simulate`: what a leaked principal or credential exposes, and the facts an incident runbook needs.

A scenario names what leaked: a Kubernetes subject, an IAM role or user, a Secret, or a store. A
leaked store means its cloud credential, held with full control. Two presets name the ESO
controller's ServiceAccount (`eso-controller`) and an etcd backup of a cluster (`etcd`, every
Kubernetes Secret at once). The simulation walks the
capability graph from there and returns the secrets it reads and overwrites, the identities it can
act as, and what the response needs: identities to block, bindings to remove, ServiceAccounts to
recreate or re-annotate, secrets to rotate and ExternalSecrets to force-sync.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from blastradius.graph import ids
from blastradius.graph.aws import iam_secret_targets
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.common import SECRET_KINDS, QueryResult, chain_text, coverage_notes, scope_of, step_dict
from blastradius.queries.incident import (
    IAM_KINDS,
    STORE_KINDS,
    Identity,
    Response,
    build_response,
    record_identities,
    store_nodes,
)
from blastradius.queries.reachability import PRINCIPAL_KINDS, Reach, reach_from
from blastradius.queries.refs import ReferenceLookupError, resolve

log = logging.getLogger(__name__)

ETCD_PRESET = "etcd"
ETCD_NODE = "simulate:etcd-backup"
ETCD_NAME = "etcd backup"
# Node kinds a simulation may start from: things that can leak, not the graph's sets and helper nodes.
LEAKABLE_KINDS = PRINCIPAL_KINDS | SECRET_KINDS | STORE_KINDS | {"static_keys"}
IDENTITY_KINDS = PRINCIPAL_KINDS | {"static_keys"}

COLUMNS = ["secret", "kind", "scope", "capability", "hops", "via_identity", "conditions", "path"]
ETCD_COLUMNS = ["secret", "kind", "scope", "capability", "exposure_window", "hops", "via_identity", "path"]



@dataclass(frozen=True)
class IamGap:
    """A cloud identity's IAM read reach, set against what External Secrets syncs with it.

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
    """The leaked nodes (`compromised`), the nodes the walk starts from, and the graph it walks."""

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
    message = None
    if not rows:
        message = f"a leak of {reference} exposes no secret"
        if notes:
            message = f"a leak of {reference} exposes no secret that the snapshot holds; the coverage gaps below leave the rest unknown"
    result = QueryResult("simulate", reference, columns, rows, notes, message)

    gaps = _iam_gaps(graph, [identity for identity in (*compromised, *identities, *eso_identities) if identity.kind in IAM_KINDS])
    response = build_response(graph, rows, compromised, identities, eso_identities)
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

    A Secret that ESO refreshes every interval contains a value at most one interval older than the
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
    """Return the window of the Secret the backup contains on this path, or mark the value as read live."""
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


def _iam_gaps(graph: CapabilityGraph, identities: list[Identity]) -> list[IamGap]:
    """Return, per IAM identity, what its policy reads against what ExternalSecrets sync through it.

    NOTE: an ExternalSecret that reads from several stores (per-key `sourceRef.storeRef`) counts
    all its cloud secrets for each store's identity, because its record does not say which key
    came through which store.
    """
    stores = store_nodes(graph)
    synced: dict[str, set[str]] = {}
    for record in graph.external_secrets:
        for identity in record_identities(graph, record, stores):
            synced.setdefault(identity, set()).update(record["cloud_secrets"])

    gaps = []
    expanded: dict[str, frozenset[str]] = {}
    for identity in sorted({identity.node: identity for identity in identities}.values(), key=lambda item: item.name):
        readable = {graph.name(target) for target in iam_secret_targets(graph, identity.node, expanded=expanded)}
        used = {graph.name(ids.aws(arn)) for arn in synced.get(identity.node, set()) if ids.aws(arn) in graph.g}
        gaps.append(IamGap(identity.name, identity.arn or "", tuple(sorted(readable)), tuple(sorted(used))))
    return gaps


