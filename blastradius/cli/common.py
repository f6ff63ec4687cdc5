"""Exit codes, output formats and error reporting shared by every command."""

from __future__ import annotations

import logging
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from blastradius.snapshot import SnapshotError

if TYPE_CHECKING:
    from blastradius.graph.model import CapabilityGraph
    from blastradius.queries.common import QueryResult

log = logging.getLogger(__name__)

EXIT_OK = 0
# Findings at or above the threshold, coverage gaps under --strict, or growth under --fail-on-growth.
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class TableOrJson(str, Enum):
    table = "table"
    json = "json"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def fail(message: str) -> NoReturn:
    """Print an input or usage error to stderr and exit with code 2.

    Messages often quote names from a snapshot, so their control characters are shown as escapes.
    """
    from blastradius.render.escape import terminal_text

    typer.echo(f"error: {terminal_text(message)}", err=True)
    raise typer.Exit(EXIT_USAGE)


def is_stdout_tty() -> bool:
    return sys.stdout.isatty()


def load_graph(snapshot_file: Path) -> CapabilityGraph:
    """Return a snapshot's capability graph from the graph cache or a new build, exiting 2 when it is unreadable.

    Build warnings (objects that contradict each other) go to the log, one line each, also when
    the graph comes from the cache. BLASTRADIUS_NO_CACHE=1 builds the graph every time.
    """
    from blastradius.graph.cache import cached_graph

    try:
        graph = cached_graph(snapshot_file)
    except SnapshotError as error:
        fail(str(error))
    for warning in graph.warnings:
        log.warning("%s", warning)
    return graph


def emit(result: QueryResult, output: OutputFormat) -> None:
    """Write a query result to stdout in the chosen format."""
    from rich.console import Console

    from blastradius.render.rows import render_csv, render_json, render_table

    if output == OutputFormat.json:
        # Indented for a terminal; compact when piped to a program, where it is written several times faster.
        typer.echo(render_json(result, pretty=is_stdout_tty()))
    elif output == OutputFormat.csv:
        typer.echo(render_csv(result), nl=False)
    else:
        # Paths are long: off a terminal, use a width that keeps each step on one line.
        render_table(result, Console(width=None if is_stdout_tty() else 200))
