"""Benchmark stages that call the blastradius library directly, one stage per process.

    python benchmarks/stages.py load SNAPSHOT
    python benchmarks/stages.py build SNAPSHOT
    python benchmarks/stages.py who-can SNAPSHOT REFERENCE
    python benchmarks/stages.py reach SNAPSHOT REFERENCE

The runner starts each stage in its own process to read that process's peak memory. A stage
prints one JSON object on stdout: the seconds each step took inside the process (interpreter
start and imports excluded) and what it found, so a run can be checked for plausibility.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Callable

from blastradius.graph.builder import build_graph
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.reachability import reach_from, reaching
from blastradius.queries.refs import resolve
from blastradius.snapshot import load_snapshot


class _Clock:
    """Seconds per named step, in the order the steps ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, step: str, function: Callable[..., Any], *arguments: Any) -> Any:
        started = time.perf_counter()
        result = function(*arguments)
        self.seconds[step] = round(time.perf_counter() - started, 4)
        return result


def _graph(clock: _Clock, snapshot_path: str) -> CapabilityGraph:
    snapshot = clock.time("load", load_snapshot, snapshot_path)
    return clock.time("build", build_graph, snapshot)


def stage_load(snapshot_path: str) -> dict[str, Any]:
    clock = _Clock()
    snapshot = clock.time("load", load_snapshot, snapshot_path)
    objects = sum(len(cluster["objects"]) for cluster in snapshot["clusters"])
    return {"seconds": clock.seconds, "objects": objects}


def stage_build(snapshot_path: str) -> dict[str, Any]:
    clock = _Clock()
    graph = _graph(clock, snapshot_path)
    stats = graph.stats()
    return {"seconds": clock.seconds, "nodes": stats["nodes"], "edges": stats["edges"], "warnings": stats["warnings"]}


def stage_who_can(snapshot_path: str, reference: str) -> dict[str, Any]:
    """Find every principal that can read the secrets `reference` names."""
    clock = _Clock()
    graph = _graph(clock, snapshot_path)
    nodes = clock.time("resolve", resolve, graph, reference).nodes
    rows = clock.time("query", lambda: [row for node in nodes for row in reaching(graph, node, "read")])
    return {"seconds": clock.seconds, "targets": len(nodes), "rows": len(rows)}


def stage_reach(snapshot_path: str, reference: str) -> dict[str, Any]:
    """Find everything the principals `reference` names can read or overwrite."""
    clock = _Clock()
    graph = _graph(clock, snapshot_path)
    nodes = clock.time("resolve", resolve, graph, reference).nodes
    rows = clock.time("query", lambda: [row for node in nodes for row in reach_from(graph, node)])
    return {"seconds": clock.seconds, "sources": len(nodes), "rows": len(rows)}


STAGES: dict[str, Callable[..., dict[str, Any]]] = {
    "load": stage_load,
    "build": stage_build,
    "who-can": stage_who_can,
    "reach": stage_reach,
}


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if not argv or argv[0] not in STAGES:
        print(f"usage: stages.py {{{','.join(STAGES)}}} SNAPSHOT [REFERENCE]", file=sys.stderr)
        return 2
    result = STAGES[argv[0]](*argv[1:])
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
