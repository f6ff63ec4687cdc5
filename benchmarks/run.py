"""Benchmark blastradius on a synthetic estate, one process per stage, with wall time and peak memory.

    python benchmarks/run.py --size L --json bench-L.json
    python benchmarks/run.py --size L --baseline bench-M.json     # adds the M -> L growth rows

Stages: generate the estate and a 1 % drifted copy (setup, not compared with targets), collect
from files, load the snapshot, build the graph, then the analysis commands through the CLI
(`audit`, `who-can`, `reach`, `simulate`, `diff`). A CLI command that this blastradius does not
have yet is reported as "not available yet". `who-can` and `reach` also run through the query
functions (rows marked "queries API"), which build the graph in the process.

The CLI commands share a graph cache in the work folder, which starts empty: `audit` runs first
and pays for the build (so collect + audit is the whole pipeline), and the queries after it load
the cached graph. The drifted snapshot's graph is cached in a setup stage before `diff`, as a
scheduled drift check finds the previous snapshot's graph cached from its own run.

Peak memory is the `ru_maxrss` that `os.wait4` returns for each stage's own process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BLASTRADIUS = [PYTHON, "-m", "blastradius"]
SIZES = ("S", "M", "L")
MAX_GROWTH = 5.0  # M -> L: at most this many times the time and memory

# Analysis commands through the CLI: stage name, command words, arguments, exit codes that mean
# success, and the target in seconds. `audit` exits 1 when it reports findings at or above
# `--fail-on`, which a synthetic estate always has. `{snapshot}`, `{drifted}` and the query
# references from estate.json are filled in per run.
CLI_STAGES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], frozenset[int], float | None], ...] = (
    ("audit", ("audit",), ("-s", "{snapshot}", "-o", "json"), frozenset({0, 1}), None),
    ("who-can", ("query", "who-can"), ("{production_secret}", "-s", "{snapshot}", "-o", "json"), frozenset({0}), 1.0),
    ("reach", ("query", "reach"), ("{developer_group}", "-s", "{snapshot}", "-o", "json"), frozenset({0}), 1.0),
    ("simulate eso-controller", ("simulate",), ("{eso_controller}", "-s", "{snapshot}", "-o", "json"), frozenset({0}), 5.0),
    ("diff", ("diff",), ("{snapshot}", "{drifted}", "-o", "json"), frozenset({0}), 30.0),
)
# Combined target: these stages together, in seconds and MB of the largest stage's peak.
PIPELINE_STAGES = ("collect", "audit")
PIPELINE_SECONDS = 60.0
PIPELINE_MEMORY_MB = 4096.0


@dataclass
class StageResult:
    """One stage: its command, how it ended, wall seconds, peak resident memory, and the target verdict."""

    name: str
    command: list[str]
    status: str  # ok, failed, timed out, out of memory, skipped, not available yet
    counted: bool = True
    wall_seconds: float | None = None
    peak_rss_mb: float | None = None
    inner: dict[str, Any] = field(default_factory=dict)
    target_seconds: float | None = None
    verdict: str = ""
    detail: str = ""


def run_process(command: list[str], log_stem: Path, timeout: float, memory_limit_mb: float | None = None) -> tuple[int, float, float, bool]:
    """Run a command to completion and return its exit code, wall seconds, peak RSS in MB and whether it timed out.

    Output goes to `<log_stem>.out` and `<log_stem>.err`. `os.wait4` reports the resource usage of
    this child alone, so each stage's peak memory is its own. With `memory_limit_mb`, the child's
    address space is capped (RLIMIT_AS), so a runaway stage fails with MemoryError instead of
    pushing the machine into swap or the OOM killer.
    """
    timed_out = threading.Event()
    started = time.perf_counter()
    with open(f"{log_stem}.out", "wb") as stdout, open(f"{log_stem}.err", "wb") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=REPO, preexec_fn=_address_space_limit(memory_limit_mb))

        def kill() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports ru_maxrss in kilobytes.
    return process.returncode, wall, usage.ru_maxrss / 1024, timed_out.is_set()


def _address_space_limit(memory_limit_mb: float | None) -> Callable[[], None] | None:
    if memory_limit_mb is None:
        return None
    limit = int(memory_limit_mb * 1024 * 1024)

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


@dataclass(frozen=True)
class Limits:
    """Per-stage limits: seconds before the stage is killed, and its address space in MB (None for no cap)."""

    timeout: float
    memory_mb: float | None = None


def run_stage(name: str, command: list[str], workdir: Path, limits: Limits, *, counted: bool = True,
              target_seconds: float | None = None, success_codes: frozenset[int] = frozenset({0})) -> StageResult:
    stem = workdir / "logs" / name.replace(" ", "-").replace("(", "").replace(")", "")
    code, wall, peak, timed_out = run_process(command, stem, limits.timeout, limits.memory_mb)
    result = StageResult(name, command, "ok", counted, round(wall, 3), round(peak, 1), target_seconds=target_seconds)
    if timed_out:
        result.status = "timed out"
        result.detail = f"killed after {limits.timeout:.0f} s"
    elif code not in success_codes and "MemoryError" in Path(f"{stem}.err").read_text(encoding="utf-8", errors="replace"):
        result.status = "out of memory"
        result.detail = f"MemoryError at the limit of {limits.memory_mb:.0f} MB address space"
    elif code not in success_codes:
        result.status = "failed"
        result.detail = f"exit {code}: {_last_line(Path(f'{stem}.err'))}"
    elif any(part.endswith("stages.py") for part in command):
        result.inner = _inner_result(Path(f"{stem}.out"))
    return result


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output on stderr"


def _inner_result(path: Path) -> dict[str, Any]:
    """Return the JSON object a library stage (`stages.py`) prints, or an empty dict when it printed none."""
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if not text.startswith("{") or "\n" in text:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {}


def command_exists(words: tuple[str, ...]) -> bool:
    """Return whether this blastradius has the CLI command (its `--help` exits 0)."""
    completed = subprocess.run([*BLASTRADIUS, *words, "--help"], cwd=REPO, capture_output=True, check=False)
    return completed.returncode == 0


def _generate(size: str, scale: float, seed: int, mutate: float, out: Path) -> list[str]:
    command = [PYTHON, str(REPO / "benchmarks" / "generate.py"), "--size", size, "--scale", str(scale), "--seed", str(seed), "--out", str(out)]
    return command + ["--mutate", str(mutate)] if mutate else command


def _collect(estate: Path, snapshot: Path, metadata: dict[str, Any]) -> list[str]:
    return [*BLASTRADIUS, "collect", "--manifests", str(estate / "k8s"), "--aws-json", str(estate / "aws.json"),
            "--cluster-name", metadata["cluster_name"], "--oidc-issuer", metadata["oidc_issuer"], "-o", str(snapshot)]


def run_benchmark(size: str, scale: float, seed: int, workdir: Path, limits: Limits) -> tuple[list[StageResult], dict[str, Any]]:
    """Run every stage in order, and return the results with the estate's metadata (counts, query references)."""
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    estate, drifted_estate = workdir / "estate", workdir / "estate-drifted"
    snapshot, drifted = workdir / "snapshot.json.gz", workdir / "snapshot-drifted.json.gz"
    results = [
        run_stage("generate", _generate(size, scale, seed, 0.0, estate), workdir, limits, counted=False),
        run_stage("generate drifted copy", _generate(size, scale, seed, 0.01, drifted_estate), workdir, limits, counted=False),
    ]
    if any(result.status != "ok" for result in results):
        return results, {}
    metadata = json.loads((estate / "estate.json").read_text(encoding="utf-8"))

    stages = REPO / "benchmarks" / "stages.py"
    queries = metadata["queries"]
    os.environ["BLASTRADIUS_CACHE_DIR"] = str(workdir / "graph-cache")
    results.append(run_stage("collect", _collect(estate, snapshot, metadata), workdir, limits))
    results.append(run_stage("collect drifted copy", _collect(drifted_estate, drifted, metadata), workdir, limits, counted=False))
    results.append(run_stage("load snapshot", [PYTHON, str(stages), "load", str(snapshot)], workdir, limits))
    results.append(run_stage("build graph", [PYTHON, str(stages), "build", str(snapshot)], workdir, limits))
    # Every later stage builds the graph or loads it built, so it cannot finish where the build alone did not.
    graph_built = results[-1].status == "ok"

    values = {"snapshot": str(snapshot), "drifted": str(drifted), **queries}
    for name, words, arguments, success_codes, target in CLI_STAGES:
        command = [*BLASTRADIUS, *words, *(argument.format(**values) for argument in arguments)]
        if name == "diff" and graph_built:
            cache_drifted = [*BLASTRADIUS, "graph", "stats", "-s", str(drifted)]
            results.append(run_stage("cache drifted graph", cache_drifted, workdir, limits, counted=False))
        if not command_exists(words):
            results.append(StageResult(name, command, "not available yet", target_seconds=target,
                                       detail=f"blastradius has no `{' '.join(words)}` command yet"))
        elif not graph_built:
            results.append(_skipped(name, command, target))
        else:
            results.append(run_stage(name, command, workdir, limits, target_seconds=target, success_codes=success_codes))

    library = (("who-can (queries API)", "who-can", queries["production_secret"], 1.0),
               ("reach (queries API)", "reach", queries["developer_group"], 1.0),
               ("reach eso-controller (queries API)", "reach", queries["eso_controller"], 5.0))
    for name, stage, reference, target in library:
        command = [PYTHON, str(stages), stage, str(snapshot), reference]
        if not graph_built:
            results.append(_skipped(name, command, target))
            continue
        results.append(run_stage(name, command, workdir, limits, target_seconds=target))
    return results, metadata


def _skipped(name: str, command: list[str], target: float | None) -> StageResult:
    return StageResult(name, command, "skipped", target_seconds=target, detail="the build graph stage did not finish")


def judge(results: list[StageResult]) -> list[dict[str, Any]]:
    """Set each stage's verdict against its target, and return the combined targets with theirs."""
    for result in results:
        if not result.counted:
            result.verdict = "setup"
        elif result.status in ("timed out", "out of memory") and result.target_seconds is not None:
            result.verdict = "miss"
        elif result.status != "ok":
            result.verdict = "-"
        elif result.target_seconds is not None:
            result.verdict = "pass" if (result.wall_seconds or 0) < result.target_seconds else "miss"

    by_name = {result.name: result for result in results}
    measured = ("ok", "timed out", "out of memory")
    present = [by_name[name] for name in PIPELINE_STAGES if name in by_name and by_name[name].status in measured]
    missing = [name for name in PIPELINE_STAGES if name not in by_name or by_name[name].status not in measured]
    exceeded = [f"{result.name} {result.status}" for result in present if result.status != "ok"]
    seconds = sum(result.wall_seconds or 0 for result in present)
    memory = max((result.peak_rss_mb or 0 for result in present), default=0.0)
    if exceeded:
        verdict = f"miss: {', '.join(exceeded)}"
    elif missing:
        verdict = f"incomplete: {', '.join(missing)} not measured"
    else:
        verdict = "pass" if seconds < PIPELINE_SECONDS and memory < PIPELINE_MEMORY_MB else "miss"
    return [{
        "target": f"{' + '.join(PIPELINE_STAGES)} < {PIPELINE_SECONDS:.0f} s and < {PIPELINE_MEMORY_MB / 1024:.0f} GB",
        "seconds": round(seconds, 3), "peak_rss_mb": round(memory, 1), "verdict": verdict,
    }]


def growth(results: list[StageResult], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """Compare each stage with the same stage of a baseline run (M for an L run). At most 5x the time and memory passes."""
    before = {stage["name"]: stage for stage in baseline.get("stages", []) if stage["status"] == "ok"}
    rows = []
    for result in results:
        old = before.get(result.name)
        if not result.counted or result.status != "ok" or old is None or not old["wall_seconds"]:
            continue
        time_ratio = (result.wall_seconds or 0) / old["wall_seconds"]
        memory_ratio = (result.peak_rss_mb or 0) / (old["peak_rss_mb"] or 1)
        rows.append({
            "stage": result.name, "time_ratio": round(time_ratio, 2), "memory_ratio": round(memory_ratio, 2),
            "verdict": "pass" if time_ratio <= MAX_GROWTH and memory_ratio <= MAX_GROWTH else "miss",
        })
    return rows


def machine() -> dict[str, Any]:
    """Describe the machine the way docs/performance.md records it."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")), model)
    memory_gb = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = next(int(line.split()[1]) for line in meminfo.read_text().splitlines() if line.startswith("MemTotal:"))
        memory_gb = round(total_kb / 1024 / 1024, 1)
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gb": memory_gb, "python": platform.python_version(),
            "platform": platform.platform()}


def print_report(console: Console, label: str, results: list[StageResult], combined: list[dict[str, Any]],
                 growth_rows: list[dict[str, Any]], counts: dict[str, int]) -> None:
    table = Table(title=f"blastradius benchmark, size {label}", title_justify="left")
    for column, justify in (("stage", "left"), ("status", "left"), ("wall s", "right"), ("peak MB", "right"),
                            ("build s", "right"), ("query s", "right"), ("target", "right"), ("verdict", "left")):
        table.add_column(column, justify=justify, no_wrap=column != "stage")
    notes = []
    for result in results:
        inner = result.inner.get("seconds", {})
        target = f"< {result.target_seconds:g} s" if result.target_seconds is not None else ""
        table.add_row(result.name, result.status, _number(result.wall_seconds, 2), _number(result.peak_rss_mb, 0),
                      _number(inner.get("build"), 2), _number(inner.get("query"), 2), target, result.verdict)
        if result.detail:
            notes.append(f"{result.name}: {result.detail}")
    console.print(table)
    for note in notes:
        console.print(f"  {note}", style="dim")

    for row in combined:
        console.print(f"{row['target']}: {row['seconds']:.1f} s, peak {row['peak_rss_mb']:.0f} MB -> {row['verdict']}")
    if growth_rows:
        growth_table = Table(title=f"growth against the baseline (target: at most {MAX_GROWTH:g}x)", title_justify="left")
        for column in ("stage", "time x", "memory x", "verdict"):
            growth_table.add_column(column)
        for row in growth_rows:
            growth_table.add_row(row["stage"], f"{row['time_ratio']:.2f}", f"{row['memory_ratio']:.2f}", row["verdict"])
        console.print(growth_table)
    if counts:
        console.print("estate: " + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counts.items()))


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark blastradius on a synthetic estate.")
    parser.add_argument("--size", choices=SIZES, default="S", help="Named estate size (default: S).")
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply every count of the size by this factor (default: 1.0).")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the estate generator (default: 1).")
    parser.add_argument("--json", type=Path, help="Write the results as JSON to this file.")
    parser.add_argument("--baseline", type=Path, help="JSON of an earlier run (size M for an L run) to compare growth with.")
    parser.add_argument("--workdir", type=Path, help="Folder for estates, snapshots and stage logs (default: a new temporary folder).")
    parser.add_argument("--keep", action="store_true", help="Keep the work folder after the run.")
    parser.add_argument("--timeout", type=float, default=3600.0, help="Seconds after which a stage is killed (default: 3600).")
    parser.add_argument("--memory-limit-mb", type=float,
                        help="Cap each stage's address space at this many MB; a stage over it fails with MemoryError (default: no cap).")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = _parse_arguments(argv)
    console = Console(width=max(130, shutil.get_terminal_size().columns))
    label = arguments.size if arguments.scale == 1.0 else f"{arguments.size} x {arguments.scale:g}"
    baseline = json.loads(arguments.baseline.read_text(encoding="utf-8")) if arguments.baseline else None
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix=f"blastradius-bench-{arguments.size}-"))
    console.print(f"work folder: {workdir}", style="dim")

    try:
        limits = Limits(arguments.timeout, arguments.memory_limit_mb)
        results, metadata = run_benchmark(arguments.size, arguments.scale, arguments.seed, workdir, limits)
    finally:
        if not arguments.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    combined = judge(results)
    growth_rows = growth(results, baseline) if baseline else []
    print_report(console, label, results, combined, growth_rows, metadata.get("counts", {}))

    if arguments.json:
        report = {"size": arguments.size, "scale": arguments.scale, "seed": arguments.seed, "machine": machine(),
                  "counts": metadata.get("counts", {}), "stages": [asdict(result) for result in results],
                  "combined_targets": combined, "growth": growth_rows,
                  "baseline": {"size": baseline.get("size"), "scale": baseline.get("scale")} if baseline else None}
        arguments.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    failed = [result.name for result in results if result.status in ("failed", "timed out")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
