"""The data behind every picture of the capability graph: nodes, edges, areas and a legend.

The HTML and DOT renderers draw a `Picture` and compute nothing. A picture differs from the graph
so that the chain reads as people draw it: principal → role → cloud identity → secret ARN → the
namespace its copy lands in. The changes also keep it readable at a hundred nodes and more:

- An RBAC edge is split at the role it comes from. The subject points to one node per
  (binding, role) pair, such as "ClusterRole edit via RoleBinding dev-sandbox/dev-team-edit", and
  that node points to what the role allows. One node per pair is exact, because every subject of
  a binding gets the same rights from it. Edges that need two rights at once (`rbac_escalate`,
  the ESO edges) stay on the subject.
- The nodes for the ExternalSecrets, PushSecrets and SecretStores a subject could create in a
  namespace (`HIDDEN_KINDS`) are folded into the edges through them, so a chain reads subject →
  store → cloud identity. A folded edge keeps the kind of its first step and names the folded
  node in `via`.
- Helper sets that lead nowhere (exec into a namespace without pods) or that nobody reaches
  (new pods in any namespace, when no one may create them everywhere) are dropped.
- Parallel edges of one kind between two nodes become one edge with a count and every reason.
- Principals of one kind in one namespace or account that have the same edges in and out are
  drawn as one node with a count, once there are `min_group` of them. Both directions must match,
  so every edge of a group node holds for each member.

With a focus, the picture keeps only the edges on the shortest paths of one target's who-can
(read and overwrite, plus the target's synced copies) or of one principal's reach.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import networkx as nx

from blastradius.graph.catalogue import EDGE_KIND_BY_NAME
from blastradius.graph.ids import NODE_KINDS
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.common import SECRET_KINDS
from blastradius.queries.reachability import PRINCIPAL_KINDS, Reach, reach_from, reaching
from blastradius.queries.refs import resolve

log = logging.getLogger(__name__)

# Nodes that stand for objects a subject could create; a picture folds them into edges.
HIDDEN_KINDS = frozenset({"eso_pull", "eso_push", "eso_custom_store"})

# Nodes that only join other nodes. One with no way in or no way out adds nothing to a picture and is dropped.
HELPER_KINDS = frozenset({"secret_set", "pod_set", "exec_set", "sa_set", "namespace_admin", "aws_all_secrets",
                          "aws_secret_set", "aws_secret_folder", "iam_permission_set", "iam_principal_set", "store_use", *HIDDEN_KINDS})

# RBAC edges that one rule of one binding grants, so they can be drawn through the role node.
RBAC_SPLIT_KINDS = frozenset({"rbac_read_secrets", "rbac_overwrite_secrets", "rbac_create_workloads",
                              "rbac_exec_pods", "rbac_proxy_nodes", "rbac_create_token", "rbac_impersonate"})

ROLE_KIND = "role_binding"
BINDING_EDGE_KIND = "bound_by"

# Kinds that exist only in pictures, with the plain noun or meaning a legend shows.
PICTURE_NODE_KINDS = {ROLE_KIND: "a Role or ClusterRole as one binding grants it"}
PICTURE_EDGE_MEANINGS = {BINDING_EDGE_KIND: "a RoleBinding or ClusterRoleBinding gives the subject a role"}

# Left-to-right column of each node kind, in the order the chain is read.
LAYER_BY_KIND = {
    "user": 0, "group": 0, "serviceaccount": 0, "iam_user": 0,
    ROLE_KIND: 1,
    "namespace_admin": 2, "secret_set": 2, "pod_set": 2, "exec_set": 2, "sa_set": 2, "workload": 2,
    "secretstore": 3, "clustersecretstore": 3, "store_use": 3, "static_keys": 3,
    "eso_pull": 3, "eso_push": 3, "eso_custom_store": 3,
    "iam_role": 4, "kms_key": 4, "iam_permission_set": 4, "iam_principal_set": 4,
    "aws_all_secrets": 5, "aws_secret_set": 5, "aws_secret_folder": 5, "cloud_secret": 5,
    "secret": 6,
}

# Broad families of node kinds; renderers pick one colour per family.
CATEGORY_BY_KIND = {
    "user": "subject", "group": "subject", "serviceaccount": "subject",
    ROLE_KIND: "rbac",
    "namespace_admin": "kubernetes", "secret_set": "kubernetes", "pod_set": "kubernetes", "exec_set": "kubernetes",
    "sa_set": "kubernetes", "workload": "kubernetes",
    "secretstore": "eso", "clustersecretstore": "eso", "store_use": "eso", "static_keys": "eso",
    "eso_pull": "eso", "eso_push": "eso", "eso_custom_store": "eso",
    "iam_role": "identity", "iam_user": "identity", "kms_key": "identity", "iam_permission_set": "identity", "iam_principal_set": "identity",
    "aws_all_secrets": "cloud_secret", "aws_secret_set": "cloud_secret", "aws_secret_folder": "cloud_secret", "cloud_secret": "cloud_secret",
    "secret": "kubernetes_secret",
}

DEFAULT_MIN_GROUP = 3


@dataclass(frozen=True)
class Area:
    """A namespace, a cluster's cluster-wide part, or an AWS account: what a picture draws a box around."""

    id: str
    label: str
    kind: str


@dataclass(frozen=True)
class PictureNode:
    """One node to draw; `members` names the principals a group node stands for (empty otherwise)."""

    id: str
    kind: str
    name: str
    noun: str
    category: str
    layer: int
    area: str
    cluster: str | None = None
    namespace: str | None = None
    account: str | None = None
    members: tuple[str, ...] = ()
    member_ids: tuple[str, ...] = ()
    focus: bool = False


@dataclass(frozen=True)
class PictureEdge:
    """One edge to draw, standing for `count` parallel graph edges of the same kind.

    `grants` comes from the edge catalogue (`control`, `read`, `overwrite`, `use_read`,
    `use_write`); a folded edge takes `overwrite` if any step overwrites, else its last step's.
    `conditions` is the union over the parallel edges; `conditional` is true only when every one
    of them has conditions, because one unconditional edge is enough.
    """

    id: str
    source: str
    target: str
    kind: str
    grants: str
    meaning: str
    reasons: tuple[str, ...]
    conditions: tuple[str, ...]
    conditional: bool
    count: int
    via: tuple[str, ...] = ()


@dataclass
class Picture:
    """Everything a renderer draws: nodes, edges, the areas around them and a legend.

    `explanations` holds, per node id, `reaches` and `reached_by` rows with the steps of each path
    (see `explain_nodes`). It is filled only when the picture is built with `explain=True`,
    because the interactive report needs it and slides do not.
    """

    nodes: list[PictureNode]
    edges: list[PictureEdge]
    areas: list[Area]
    legend: dict[str, list[dict[str, Any]]]
    focus: str | None = None
    explanations: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "focus": self.focus,
            "nodes": [asdict(node) for node in self.nodes],
            "edges": [asdict(edge) for edge in self.edges],
            "areas": [asdict(area) for area in self.areas],
            "legend": self.legend,
            "explanations": self.explanations,
        }


@dataclass(frozen=True)
class _Edge:
    """An edge on its way into the picture, before parallel edges are collapsed."""

    source: str
    target: str
    kind: str
    grants: str
    reason: str
    conditions: tuple[str, ...]
    via: tuple[str, ...] = ()


def build_picture(
    graph: CapabilityGraph,
    focus: str | None = None,
    *,
    cluster: str | None = None,
    min_group: int = DEFAULT_MIN_GROUP,
    explain: bool = False,
) -> Picture:
    """Return the picture of the whole graph, or of one target's who-can or one principal's reach.

    `focus` is a reference as the queries take it (`secret:<ns>/<name>`, an ARN, `group:<name>`,
    ...); `ReferenceLookupError` comes back from `resolve` when it names nothing.
    """
    focus_ids: tuple[str, ...] = ()
    source = graph.g
    if focus is not None:
        focus_ids = resolve(graph, focus, cluster=cluster).nodes
        source = focus_subgraph(graph, focus_ids)
    source = _without_dead_ends(source)

    edges = _split_roles(graph, _fold_hidden(source))
    nodes = _visible_nodes(graph, source, edges, focus_ids)
    nodes, edges = _group_principals(nodes, _collapse(edges), min_group)
    edges = _collapse_picture_edges(edges)

    picture = Picture(
        nodes=sorted(nodes.values(), key=lambda node: (node.layer, node.area, node.name)),
        edges=sorted(edges, key=lambda edge: edge.id),
        areas=_areas(nodes.values()),
        legend=_legend(nodes.values(), edges),
        focus=focus,
    )
    if explain:
        picture.explanations = explain_nodes(graph, picture.nodes)
    log.info("picture: %d nodes, %d edges (focus %s)", len(picture.nodes), len(picture.edges), focus or "none")
    return picture


def focus_subgraph(graph: CapabilityGraph, focus_ids: Iterable[str]) -> nx.MultiDiGraph:
    """Return the subgraph of the edges on the shortest paths to or from the focus nodes.

    A secret (Kubernetes or cloud) is focused by who can obtain or overwrite it, plus the edges to
    its synced copies; anything else by what it reaches.
    """
    keys: set[tuple[str, str, str]] = set()
    nodes: set[str] = set()
    for node in focus_ids:
        nodes.add(node)
        if graph.kind(node) in SECRET_KINDS:
            found = [*reaching(graph, node, "read"), *reaching(graph, node, "overwrite")]
            for _, copy, key, data in graph.g.out_edges(node, keys=True, data=True):
                if data["kind"] == "synced_to":
                    keys.add((node, copy, key))
        else:
            found = reach_from(graph, node)
        keys |= _path_keys(found)
    subgraph = nx.MultiDiGraph(graph.g.edge_subgraph(keys))
    subgraph.add_nodes_from((node, graph.g.nodes[node]) for node in nodes)
    return subgraph


def explain_nodes(graph: CapabilityGraph, nodes: Iterable[PictureNode]) -> dict[str, Any]:
    """Return, per drawn node, what it reaches and which principals reach it, each with its path.

    Paths share most of their steps, so every distinct step is stored once in `steps` (from, to,
    kind, reason, conditions) and a row lists the indexes of its steps in order. A group node is
    explained by its first member, which has the same edges as every other one. Role nodes exist
    only in pictures and get no explanation, because their subjects carry it.
    """
    steps: dict[tuple[str, str, str, str], int] = {}
    step_rows: list[dict[str, Any]] = []

    def step_indexes(reach: Reach) -> list[int]:
        indexes = []
        for step in reach.steps:
            key = (step.source, step.target, step.kind, step.reason)
            if key not in steps:
                steps[key] = len(step_rows)
                step_rows.append({"from": graph.name(step.source), "from_id": step.source, "to": graph.name(step.target),
                                  "to_id": step.target, "kind": step.kind, "reason": step.reason,
                                  "conditions": list(step.conditions)})
            indexes.append(steps[key])
        return indexes

    def row(reach: Reach, other: str) -> dict[str, Any]:
        return {"node": graph.name(other), "node_id": other, "node_kind": graph.kind(other),
                "capability": reach.capability, "hops": reach.hops, "conditions": list(reach.conditions),
                "steps": step_indexes(reach)}

    target_kinds = SECRET_KINDS | PRINCIPAL_KINDS
    explained: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for node in nodes:
        if node.kind == ROLE_KIND:
            continue
        subject = node.member_ids[0] if node.member_ids else node.id
        reaches = [reach for reach in reach_from(graph, subject) if graph.kind(reach.target) in target_kinds]
        explained[node.id] = {
            "reaches": [row(reach, reach.target) for reach in reaches],
            "reached_by": [row(reach, reach.principal) for reach in reaching(graph, subject, "read")],
        }
    return {"steps": step_rows, "nodes": explained}


def _path_keys(found: Iterable[Reach]) -> set[tuple[str, str, str]]:
    """Return the multigraph keys of every step; the graph keys an edge by `<kind>|<reason>`."""
    return {(step.source, step.target, f"{step.kind}|{step.reason}") for reach in found for step in reach.steps}


def _without_dead_ends(source: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Return a copy without helper nodes that nobody reaches or that lead nowhere, repeated until none is left."""
    pruned = source.copy()
    while True:
        dead = [node for node, data in pruned.nodes(data=True)
                if data["kind"] in HELPER_KINDS and (pruned.out_degree(node) == 0 or pruned.in_degree(node) == 0)]
        if not dead:
            return pruned
        pruned.remove_nodes_from(dead)


def _fold_hidden(source: nx.MultiDiGraph) -> list[_Edge]:
    """Return the edges with every hidden node folded into the edges that pass through it."""
    edges = []
    for start, end, data in source.edges(data=True):
        if source.nodes[start]["kind"] in HIDDEN_KINDS:
            continue
        if source.nodes[end]["kind"] not in HIDDEN_KINDS:
            edges.append(_edge(start, end, data))
            continue
        for _, after, next_data in source.out_edges(end, data=True):
            if source.nodes[after]["kind"] in HIDDEN_KINDS:
                log.debug("not folding %s -> %s: two hidden nodes in a row", end, after)
                continue
            edges.append(_folded(start, end, after, data, next_data, source.nodes[end]["name"]))
    return edges


def _edge(source: str, target: str, data: dict[str, Any]) -> _Edge:
    grants = EDGE_KIND_BY_NAME[data["kind"]].grants
    return _Edge(source, target, data["kind"], grants, data["reason"], tuple(data["conditions"]))


def _folded(start: str, hidden: str, end: str, first: dict[str, Any], second: dict[str, Any], hidden_name: str) -> _Edge:
    """Return one edge for `start → hidden → end`, with the first step's kind and both reasons."""
    first_grants = EDGE_KIND_BY_NAME[first["kind"]].grants
    second_grants = EDGE_KIND_BY_NAME[second["kind"]].grants
    grants = "overwrite" if "overwrite" in (first_grants, second_grants) else second_grants
    conditions = tuple(dict.fromkeys((*first["conditions"], *second["conditions"])))
    reason = f"{first['reason']}; then {second['reason']}"
    return _Edge(start, end, first["kind"], grants, reason, conditions, via=(hidden_name,))


def _split_roles(graph: CapabilityGraph, edges: list[_Edge]) -> list[_Edge]:
    """Return the edges with single-binding RBAC edges drawn through a node for their role."""
    split = []
    for edge in edges:
        evidence = _evidence(graph, edge) if edge.kind in RBAC_SPLIT_KINDS else {}
        if not evidence.get("binding") or not evidence.get("role"):
            split.append(edge)
            continue
        role = _role_node_id(graph, edge.source, evidence)
        split.append(_Edge(edge.source, role, BINDING_EDGE_KIND, "control",
                           f"{evidence['binding']} binds {evidence['role']}", ()))
        split.append(_Edge(role, edge.target, edge.kind, edge.grants, edge.reason, edge.conditions))
    return split


def _evidence(graph: CapabilityGraph, edge: _Edge) -> dict[str, Any]:
    data = graph.g.get_edge_data(edge.source, edge.target, f"{edge.kind}|{edge.reason}")
    return data["evidence"] if data else {}


def _role_node_id(graph: CapabilityGraph, subject: str, evidence: dict[str, Any]) -> str:
    cluster = graph.g.nodes[subject].get("cluster")
    return f"k8s:{cluster}:role-binding:{evidence['binding']}|{evidence['role']}"


def _role_node(role_id: str) -> PictureNode:
    """Return the node for a (binding, role) pair; a RoleBinding's namespace is the node's area."""
    _, cluster, _, rest = role_id.split(":", 3)
    binding, role = rest.split("|", 1)
    binding_kind, _, binding_name = binding.partition(" ")
    namespace = binding_name.split("/", 1)[0] if binding_kind == "RoleBinding" and "/" in binding_name else None
    area = f"namespace:{cluster}/{namespace}" if namespace else f"cluster:{cluster}"
    return PictureNode(id=role_id, kind=ROLE_KIND, name=f"{role} via {binding}", noun=PICTURE_NODE_KINDS[ROLE_KIND],
                       category=CATEGORY_BY_KIND[ROLE_KIND], layer=LAYER_BY_KIND[ROLE_KIND], area=area,
                       cluster=cluster, namespace=namespace)


def _visible_nodes(graph: CapabilityGraph, source: nx.MultiDiGraph, edges: list[_Edge],
                   focus_ids: tuple[str, ...]) -> dict[str, PictureNode]:
    """Return the nodes to draw: every node of `source` not hidden, plus the role nodes the edges use."""
    nodes: dict[str, PictureNode] = {}
    for node, data in source.nodes(data=True):
        if data["kind"] in HIDDEN_KINDS:
            continue
        nodes[node] = _picture_node(node, data, focus=node in focus_ids)
    for edge in edges:
        for end in (edge.source, edge.target):
            if end not in nodes:
                nodes[end] = _role_node(end) if end not in graph.g else _picture_node(end, graph.g.nodes[end])
    return nodes


def _picture_node(node: str, data: dict[str, Any], *, focus: bool = False) -> PictureNode:
    return PictureNode(
        id=node,
        kind=data["kind"],
        name=data["name"],
        noun=NODE_KINDS[data["kind"]],
        category=CATEGORY_BY_KIND.get(data["kind"], "kubernetes"),
        layer=LAYER_BY_KIND.get(data["kind"], 2),
        area=_area_id(data),
        cluster=data.get("cluster"),
        namespace=data.get("namespace"),
        account=data.get("account"),
        focus=focus,
    )


def _area_id(data: dict[str, Any]) -> str:
    """Return `account:<id>`, `namespace:<cluster>/<ns>` or `cluster:<cluster>` for cluster-wide nodes."""
    if data.get("account"):
        return f"account:{data['account']}"
    namespace = data.get("namespace")
    if namespace and namespace != "*":
        return f"namespace:{data.get('cluster')}/{namespace}"
    return f"cluster:{data.get('cluster')}"


def _collapse(edges: Iterable[_Edge]) -> list[PictureEdge]:
    """Return one picture edge per (source, target, kind), in a stable order.

    Identical edges count once: splitting three rules of one binding yields three equal
    subject → role edges.
    """
    grouped: dict[tuple[str, str, str], list[_Edge]] = defaultdict(list)
    for edge in dict.fromkeys(edges):
        grouped[(edge.source, edge.target, edge.kind)].append(edge)
    return [_merged(source, target, kind, parallel) for (source, target, kind), parallel in sorted(grouped.items())]


def _merged(source: str, target: str, kind: str, parallel: list[_Edge]) -> PictureEdge:
    grants = "overwrite" if all(edge.grants == "overwrite" for edge in parallel) else parallel[0].grants
    reasons = tuple(sorted({edge.reason for edge in parallel}))
    conditions = tuple(sorted({condition for edge in parallel for condition in edge.conditions}))
    via = tuple(sorted({name for edge in parallel for name in edge.via}))
    return PictureEdge(
        id=f"{source}->{target}:{kind}",
        source=source,
        target=target,
        kind=kind,
        grants=grants,
        meaning=_meaning(kind),
        reasons=reasons,
        conditions=conditions,
        conditional=all(edge.conditions for edge in parallel),
        count=len(parallel),
        via=via,
    )


def _meaning(kind: str) -> str:
    if kind in PICTURE_EDGE_MEANINGS:
        return PICTURE_EDGE_MEANINGS[kind]
    return EDGE_KIND_BY_NAME[kind].meaning


def _group_principals(nodes: dict[str, PictureNode], edges: list[PictureEdge],
                      min_group: int) -> tuple[dict[str, PictureNode], list[PictureEdge]]:
    """Return nodes and edges with similar principals merged into one node with a count."""
    outgoing: dict[str, set[tuple[str, str]]] = defaultdict(set)
    incoming: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for edge in edges:
        outgoing[edge.source].add((edge.kind, edge.target))
        incoming[edge.target].add((edge.kind, edge.source))

    similar: dict[tuple, list[PictureNode]] = defaultdict(list)
    for node in nodes.values():
        if node.kind in PRINCIPAL_KINDS and not node.focus:
            key = (node.kind, node.area, frozenset(outgoing[node.id]), frozenset(incoming[node.id]))
            similar[key].append(node)

    renamed: dict[str, str] = {}
    grouped = dict(nodes)
    for members in similar.values():
        if len(members) < max(min_group, 2):
            continue
        group = _group_node(sorted(members, key=lambda node: node.name))
        for member in members:
            renamed[member.id] = group.id
            del grouped[member.id]
        grouped[group.id] = group
    if not renamed:
        return nodes, edges
    return grouped, [_renamed(edge, renamed) for edge in edges]


def _group_node(members: list[PictureNode]) -> PictureNode:
    first = members[0]
    noun = f"{first.noun}s" if not first.noun.endswith("s") else first.noun
    return PictureNode(
        id=f"grouped:{first.id}",
        kind=first.kind,
        name=f"{len(members)} {noun}",
        noun=first.noun,
        category=first.category,
        layer=first.layer,
        area=first.area,
        cluster=first.cluster,
        namespace=first.namespace,
        account=first.account,
        members=tuple(member.name for member in members),
        member_ids=tuple(member.id for member in members),
    )


def _renamed(edge: PictureEdge, renamed: dict[str, str]) -> PictureEdge:
    source = renamed.get(edge.source, edge.source)
    target = renamed.get(edge.target, edge.target)
    return PictureEdge(f"{source}->{target}:{edge.kind}", source, target, edge.kind, edge.grants, edge.meaning,
                       edge.reasons, edge.conditions, edge.conditional, edge.count, edge.via)


def _collapse_picture_edges(edges: list[PictureEdge]) -> list[PictureEdge]:
    """Merge picture edges that grouping made parallel, adding their counts and reasons."""
    grouped: dict[str, list[PictureEdge]] = defaultdict(list)
    for edge in edges:
        grouped[edge.id].append(edge)
    merged = []
    for parallel in grouped.values():
        first = parallel[0]
        if len(parallel) == 1:
            merged.append(first)
            continue
        merged.append(PictureEdge(
            first.id, first.source, first.target, first.kind, first.grants, first.meaning,
            reasons=tuple(sorted({reason for edge in parallel for reason in edge.reasons})),
            conditions=tuple(sorted({condition for edge in parallel for condition in edge.conditions})),
            conditional=all(edge.conditional for edge in parallel),
            count=sum(edge.count for edge in parallel),
            via=tuple(sorted({name for edge in parallel for name in edge.via})),
        ))
    return merged


def _areas(nodes: Iterable[PictureNode]) -> list[Area]:
    """Return the areas the nodes sit in: namespaces, cluster-wide parts and AWS accounts, sorted."""
    areas = {}
    for node in nodes:
        kind, _, name = node.area.partition(":")
        if kind == "account":
            label = f"AWS account {name}"
        elif kind == "namespace":
            cluster, _, namespace = name.partition("/")
            label = f"namespace {namespace} (cluster {cluster})"
        else:
            label = f"cluster {name}, cluster-wide"
        areas[node.area] = Area(node.area, label, kind)
    return sorted(areas.values(), key=lambda area: (area.kind != "cluster", area.kind, area.id))


def _legend(nodes: Iterable[PictureNode], edges: Iterable[PictureEdge]) -> dict[str, list[dict[str, Any]]]:
    """Return the node kinds and edge kinds the picture uses, with their nouns, meanings and counts."""
    node_counts: dict[str, int] = defaultdict(int)
    for node in nodes:
        node_counts[node.kind] += max(len(node.members), 1)
    edge_counts: dict[str, int] = defaultdict(int)
    for edge in edges:
        edge_counts[edge.kind] += 1

    node_kinds = []
    for kind, count in sorted(node_counts.items(), key=lambda item: (LAYER_BY_KIND.get(item[0], 2), item[0])):
        noun = PICTURE_NODE_KINDS.get(kind) or NODE_KINDS[kind]
        node_kinds.append({"kind": kind, "noun": noun, "category": CATEGORY_BY_KIND.get(kind, "kubernetes"),
                           "count": count})
    edge_kinds = []
    for kind, count in sorted(edge_counts.items()):
        catalogued = EDGE_KIND_BY_NAME.get(kind)
        edge_kinds.append({
            "kind": kind,
            "meaning": _meaning(kind),
            "system": catalogued.system if catalogued else "kubernetes",
            "grants": catalogued.grants if catalogued else "control",
            "count": count,
        })
    return {"node_kinds": node_kinds, "edge_kinds": edge_kinds}
