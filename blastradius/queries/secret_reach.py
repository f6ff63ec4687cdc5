"""The secrets every principal can read or overwrite, computed for all principals in one pass.

`reach_from` walks the graph once per principal, which costs principals × graph on a large estate.
Here the walk runs once over the implicit state graph, whose nodes are (graph node, walker state)
pairs and whose edges follow the walker's transitions, so the result equals `reach_from`'s.
Tarjan's algorithm closes a strongly connected component only after every component it reaches,
so the secrets a component reaches are known when it closes: its own secrets, plus the sets of the
components it points to. Sets are bit sets (Python ints) over a `SecretIndex`. Members of one
component share one int, and so does a component that adds nothing to its only successor's set.
Edge conditions are ignored: a conditional path counts as reach, as in `reach_from`.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

from blastradius.graph.catalogue import EDGE_KINDS
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.common import SECRET_KINDS
from blastradius.queries.reachability import ALL_STATES, HOLDING, OVERWRITTEN, _transition

log = logging.getLogger(__name__)

CAPABILITIES = ("read", "overwrite")

# State numbers: a state graph node is `graph node number * STATE_COUNT + state number`.
STATE_COUNT = len(ALL_STATES)
_HOLDING = ALL_STATES.index(HOLDING)
_OVERWRITTEN = ALL_STATES.index(OVERWRITTEN)
_KIND_NUMBER = {kind.name: number for number, kind in enumerate(EDGE_KINDS)}
# _NEXT_STATE[state][edge kind number]: the state after the edge, or -1 when the edge may not follow.
_NEXT_STATE: tuple[tuple[int, ...], ...] = tuple(
    tuple(-1 if (after := _transition(before, kind)) is None else ALL_STATES.index(after) for kind in EDGE_KINDS)
    for before in ALL_STATES
)
_SET_BIT = re.compile("1")


@dataclass(frozen=True)
class SecretIndex:
    """Bit positions for (secret node id, capability) pairs, shared by the graphs being compared.

    Secret `n` (in sorted id order) reads at bit `2n` and overwrites at bit `2n + 1`, so the sets
    of two graphs built on one index compare with plain bit operations.
    """

    ids: tuple[str, ...]
    position: dict[str, int]

    @classmethod
    def of(cls, graphs: Iterable[CapabilityGraph]) -> SecretIndex:
        """Return the index of every secret node (`secret`, `cloud_secret`) in any of `graphs`."""
        ids = sorted({node for graph in graphs for node in graph.nodes_of_kind(*SECRET_KINDS)})
        return cls(tuple(ids), {node: number for number, node in enumerate(ids)})

    def bit(self, node: str, capability: str) -> int:
        return 1 << (2 * self.position[node] + CAPABILITIES.index(capability))

    def pairs(self, bits: int) -> Iterator[tuple[str, str]]:
        """Yield the (secret node id, capability) pairs of a bit set, in index order."""
        digits = format(bits, "b")[::-1]
        for match in _SET_BIT.finditer(digits):
            number, capability = divmod(match.start(), 2)
            yield self.ids[number], CAPABILITIES[capability]


def secret_reach(graph: CapabilityGraph, index: SecretIndex, sources: Iterable[str]) -> dict[str, int]:
    """Return, for each source node, the bit set of secrets it can read or overwrite through any path.

    A bit is set exactly when `reach_from(graph, source)` would list that secret with that
    capability, conditional paths included. Like `reach_from`, a secret source does not list itself.
    """
    started = time.perf_counter()
    nodes = list(graph.g.nodes)
    number = {node: position for position, node in enumerate(nodes)}
    walker = _StateWalker(_adjacency(graph, number), _own_bits(graph, index, nodes))

    result = {}
    for source in sources:
        bits = walker.bits_from(number[source] * STATE_COUNT + _HOLDING)
        if source in index.position:
            bits &= ~(index.bit(source, "read") | index.bit(source, "overwrite"))
        result[source] = bits
    log.info("computed secret reach of %d nodes over %d state components in %.2fs",
             len(result), walker.component_count, time.perf_counter() - started)
    return result


def _adjacency(graph: CapabilityGraph, number: dict[str, int]) -> list[tuple[tuple[int, int], ...]]:
    """Return, per node number, its distinct out-edges as (target node number, edge kind number)."""
    edges: list[tuple[tuple[int, int], ...]] = [()] * len(number)
    # adjacency() yields networkx's own {target: {key: data}} dicts, much faster than an edge view.
    for source, neighbours in graph.g.adjacency():
        out = {(number[target], _KIND_NUMBER[data["kind"]]) for target, keyed in neighbours.items() for data in keyed.values()}
        edges[number[source]] = tuple(sorted(out))
    return edges


def _own_bits(graph: CapabilityGraph, index: SecretIndex, nodes: list[str]) -> dict[int, int]:
    """Return the bit of each state node that is itself a secret held (read) or overwritten."""
    own = {}
    for position, node in enumerate(nodes):
        if node in index.position:
            own[position * STATE_COUNT + _HOLDING] = index.bit(node, "read")
            own[position * STATE_COUNT + _OVERWRITTEN] = index.bit(node, "overwrite")
    return own


class _StateWalker:
    """Tarjan's strongly connected components over the state graph, with reach sets per component."""

    def __init__(self, adjacency: list[tuple[tuple[int, int], ...]], own: dict[int, int]) -> None:
        self._adjacency = adjacency
        self._own = own
        self._order: dict[int, int] = {}
        self._low: dict[int, int] = {}
        self._stack: list[int] = []
        self._on_stack: set[int] = set()
        self._bits: dict[int, int] = {}
        # Successor lists of the state nodes on the stack, kept until their component closes.
        self._successor_lists: dict[int, list[int]] = {}
        self.component_count = 0

    def _successors(self, state_node: int) -> list[int]:
        node, state = divmod(state_node, STATE_COUNT)
        next_state = _NEXT_STATE[state]
        return [target * STATE_COUNT + after for target, kind in self._adjacency[node] if (after := next_state[kind]) >= 0]

    def _visit(self, state_node: int) -> Iterator[int]:
        """Number a newly found state node, push it, and return an iterator over its successors."""
        self._order[state_node] = self._low[state_node] = len(self._order)
        self._stack.append(state_node)
        self._on_stack.add(state_node)
        successors = self._successors(state_node)
        self._successor_lists[state_node] = successors
        return iter(successors)

    def bits_from(self, start: int) -> int:
        """Return the reach bits of one state node, closing every component it leads to first."""
        if start not in self._bits:
            self._search(start)
        return self._bits[start]

    def _search(self, root: int) -> None:
        work = [(root, self._visit(root))]
        while work:
            node, successors = work[-1]
            descended = False
            for successor in successors:
                if successor not in self._order:
                    work.append((successor, self._visit(successor)))
                    descended = True
                    break
                if successor in self._on_stack:
                    self._low[node] = min(self._low[node], self._order[successor])
            if descended:
                continue

            work.pop()
            if work:
                parent = work[-1][0]
                self._low[parent] = min(self._low[parent], self._low[node])
            if self._low[node] == self._order[node]:
                self._close_component(node)

    def _close_component(self, root: int) -> None:
        members = []
        while True:
            member = self._stack.pop()
            self._on_stack.discard(member)
            members.append(member)
            if member == root:
                break

        inside = set(members)
        own = 0
        reached: dict[int, int] = {}
        for member in members:
            own |= self._own.get(member, 0)
            for successor in self._successor_lists.pop(member):
                if successor not in inside:
                    successor_bits = self._bits[successor]
                    if successor_bits:
                        reached[id(successor_bits)] = successor_bits
        bits = _union(own, list(reached.values()))
        for member in members:
            self._bits[member] = bits
        self.component_count += 1


def _union(own: int, reached: list[int]) -> int:
    """Return own | every reached set, reusing a reached int when it already holds everything."""
    if not reached:
        return own
    if len(reached) == 1 and (own & ~reached[0]) == 0:
        return reached[0]
    bits = own
    for other in reached:
        bits |= other
    return bits
