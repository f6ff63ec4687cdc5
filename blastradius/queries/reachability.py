"""Breadth-first reachability over the capability graph, with the rules the edge catalogue declares.

A path is walked with a small state beside the node:
- `phase` is `normal` while the walker holds what it reached, and `overwrite` after an overwrite
  edge: from there only edges that spread an overwrite (`overwrite_continues`) may follow;
- `use` is set right after External Secrets acts as an identity for the walker (`use_read` or
  `use_write` edges): the next edge must be one whose `after_use` matches, so a store's cloud
  identity lends its secret reads to every subject that can use the store, and nothing else. An edge that
  `passes_use` (a principal to its shared permission set) keeps the pending use for the next edge.

Shortest paths come first. A path over an edge with conditions is conditional; a principal is
reported unconditional when any unconditional path exists.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable

from blastradius.graph.catalogue import EDGE_KIND_BY_NAME, EdgeKind
from blastradius.graph.model import CapabilityGraph

PRINCIPAL_KINDS = frozenset({"user", "group", "serviceaccount", "iam_role", "iam_user"})

# (phase, pending use) at a node.
State = tuple[str, str | None]
HOLDING: State = ("normal", None)
OVERWRITTEN: State = ("overwrite", None)
ALL_STATES: tuple[State, ...] = (HOLDING, ("normal", "read"), ("normal", "write"), OVERWRITTEN)


def _transition(state: State, kind: EdgeKind) -> State | None:
    """Return the state after walking an edge of `kind` from `state`, or None when the edge may not follow."""
    phase, use = state
    if use is not None and kind.passes_use:
        return state
    if use is not None:
        if kind.after_use != use:
            return None
        return OVERWRITTEN if kind.grants == "overwrite" else HOLDING
    if phase == "overwrite":
        return OVERWRITTEN if kind.overwrite_continues else None
    if kind.grants in ("control", "read"):
        return HOLDING
    if kind.grants == "overwrite":
        return OVERWRITTEN
    if kind.grants == "use_read":
        return ("normal", "read")
    if kind.grants == "use_write":
        return ("normal", "write")
    return None


# For each edge kind, the predecessor states that lead to each successor state.
_PREDECESSORS: dict[str, dict[State, tuple[State, ...]]] = {}
for _kind in EDGE_KIND_BY_NAME.values():
    _table: dict[State, list[State]] = {}
    for _before in ALL_STATES:
        _after = _transition(_before, _kind)
        if _after is not None:
            _table.setdefault(_after, []).append(_before)
    _PREDECESSORS[_kind.name] = {after: tuple(befores) for after, befores in _table.items()}


@dataclass(frozen=True)
class Step:
    """One edge of a path, with what explains it."""

    source: str
    target: str
    kind: str
    reason: str
    conditions: tuple[str, ...]
    evidence: dict


@dataclass(frozen=True)
class Reach:
    """A node reached from (or reaching) another, with the capability and one shortest path."""

    principal: str
    target: str
    capability: str
    steps: tuple[Step, ...]

    @property
    def hops(self) -> int:
        return len(self.steps)

    @property
    def conditions(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for step in self.steps:
            for condition in step.conditions:
                seen[condition] = None
        return tuple(seen)


def _step(source: str, target: str, data: dict) -> Step:
    return Step(source, target, data["kind"], data["reason"], data["conditions"], data["evidence"])


def _forward(graph: CapabilityGraph, source: str, unconditional_only: bool) -> dict[tuple[str, State], tuple]:
    parents: dict[tuple[str, State], tuple] = {(source, HOLDING): ()}
    queue = deque([(source, HOLDING)])
    while queue:
        node, state = queue.popleft()
        for _, target, data in graph.g.out_edges(node, data=True):
            if unconditional_only and data["conditions"]:
                continue
            after = _transition(state, EDGE_KIND_BY_NAME[data["kind"]])
            if after is None or (target, after) in parents:
                continue
            parents[(target, after)] = (node, state, data)
            queue.append((target, after))
    return parents


def _forward_path(parents: dict, end: tuple[str, State]) -> tuple[Step, ...]:
    steps = []
    current = end
    while parents[current]:
        node, state, data = parents[current]
        steps.append(_step(node, current[0], data))
        current = (node, state)
    return tuple(reversed(steps))


def reach_from(graph: CapabilityGraph, source: str) -> list[Reach]:
    """Return everything `source` can obtain (capability `read`) or overwrite, one shortest path each.

    A node reached only while External Secrets acts for the source (a store's cloud identity) is not
    reported as obtained: the source cannot act as it, only through it.
    """
    results: dict[tuple[str, str], Reach] = {}
    for unconditional_only in (True, False):
        parents = _forward(graph, source, unconditional_only)
        for (node, state) in parents:
            if node == source or state not in (HOLDING, OVERWRITTEN):
                continue
            capability = "read" if state == HOLDING else "overwrite"
            if (node, capability) not in results:
                results[(node, capability)] = Reach(source, node, capability, _forward_path(parents, (node, state)))
    return sorted(results.values(), key=lambda reach: (reach.capability, reach.hops, reach.target))


def reached_nodes(graph: CapabilityGraph, source: str) -> set[str]:
    """Return every node a walk from `source` reaches, held, overwritten or only used through External Secrets.

    Unlike `reach_from`, this keeps the identities that External Secrets only acts as for the
    source, so a query can explain why a path stops at them.
    """
    return {node for node, _ in _forward(graph, source, unconditional_only=False)}


def _reverse(graph: CapabilityGraph, target: str, final: State, unconditional_only: bool) -> dict[tuple[str, State], tuple]:
    children: dict[tuple[str, State], tuple] = {(target, final): ()}
    queue = deque([(target, final)])
    while queue:
        node, state = queue.popleft()
        for source, _, data in graph.g.in_edges(node, data=True):
            if unconditional_only and data["conditions"]:
                continue
            for before in _PREDECESSORS[data["kind"]].get(state, ()):
                if (source, before) in children:
                    continue
                children[(source, before)] = (node, state, data)
                queue.append((source, before))
    return children


def _reverse_path(children: dict, start: tuple[str, State]) -> tuple[Step, ...]:
    steps = []
    current = start
    while children[current]:
        node, state, data = children[current]
        steps.append(_step(current[0], node, data))
        current = (node, state)
    return tuple(steps)


def reaching(graph: CapabilityGraph, target: str, capability: str = "read", *, principal_kinds: Iterable[str] = PRINCIPAL_KINDS) -> list[Reach]:
    """Return every principal that can obtain (`read`) or `overwrite` the target, one shortest path each.

    Unconditional paths win over conditional ones; among equals the shortest is kept.
    """
    final = HOLDING if capability == "read" else OVERWRITTEN
    kinds = frozenset(principal_kinds)
    results: dict[str, Reach] = {}
    for unconditional_only in (True, False):
        children = _reverse(graph, target, final, unconditional_only)
        for (node, state) in children:
            if state != HOLDING or node == target or node in results:
                continue
            if graph.kind(node) not in kinds:
                continue
            results[node] = Reach(node, target, capability, _reverse_path(children, (node, state)))
    return sorted(results.values(), key=lambda reach: (reach.hops, reach.principal))


def distances_to(graph: CapabilityGraph, target: str, final: State) -> dict[tuple[str, State], int]:
    """Return, for each (node, state) that can reach `target` in state `final`, the number of edges left."""
    distances = {(target, final): 0}
    queue = deque([(target, final)])
    while queue:
        node, state = queue.popleft()
        for source, _, data in graph.g.in_edges(node, data=True):
            for before in _PREDECESSORS[data["kind"]].get(state, ()):
                if (source, before) not in distances:
                    distances[(source, before)] = distances[(node, state)] + 1
                    queue.append((source, before))
    return distances


def distinct_paths(graph: CapabilityGraph, principal: str, target: str, capability: str = "read", *,
                   extra_hops: int = 2, limit: int = 20) -> list[tuple[Step, ...]]:
    """Return up to `limit` distinct simple paths, at most `extra_hops` longer than the shortest, shortest first."""
    final = HOLDING if capability == "read" else OVERWRITTEN
    distances = distances_to(graph, target, final)
    start = (principal, HOLDING)
    if start not in distances:
        return []
    found: list[tuple[Step, ...]] = []

    def walk(node: str, state: State, steps: list[Step], visited: set[str], length: int) -> None:
        if len(found) >= limit:
            return
        if node == target and state == final:
            if len(steps) == length:
                found.append(tuple(steps))
            return
        for _, successor, data in graph.g.out_edges(node, data=True):
            after = _transition(state, EDGE_KIND_BY_NAME[data["kind"]])
            if after is None or successor in visited:
                continue
            remaining = distances.get((successor, after))
            if remaining is None or len(steps) + 1 + remaining > length:
                continue
            visited.add(successor)
            steps.append(_step(node, successor, data))
            walk(successor, after, steps, visited, length)
            steps.pop()
            visited.discard(successor)

    # Search one length at a time, so that the limit never drops a shorter path for a longer one found first.
    for length in range(distances[start], distances[start] + extra_hops + 1):
        walk(principal, HOLDING, [], {principal}, length)
    return found
