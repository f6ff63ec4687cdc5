"""`blastradius diff`: drift between two snapshots, for scheduled checks and CI gates."""

from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path

import typer

from blastradius.cli.common import EXIT_FINDINGS, fail, is_stdout_tty
from blastradius.config import ConfigError, load_config
from blastradius.graph.cache import cached_graph
from blastradius.queries.diff import DEFAULT_ROW_LIMIT, DiffError, DiffResult, Estate
from blastradius.queries.diff import diff as diff_query
from blastradius.snapshot import SnapshotError, load_snapshot

log = logging.getLogger(__name__)


class DiffFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    html = "html"


def diff(
    old: Path = typer.Argument(..., help="The earlier snapshot file."),
    new: Path = typer.Argument(..., help="The later snapshot file."),
    output: DiffFormat = typer.Option(DiffFormat.table, "-o", "--output", help="Output format; markdown suits a CI comment."),
    fail_on_growth: bool = typer.Option(False, "--fail-on-growth",
                                        help="Exit 1 when any principal can read or overwrite a secret it could not before."),
    config: Path | None = typer.Option(None, "--config", help="TOML configuration for the audit; its trusted principals are left out."),
    findings: bool = typer.Option(True, "--findings/--no-findings",
                                  help="Run the audit on both snapshots and compare findings (slow on large estates)."),
    limit: int = typer.Option(DEFAULT_ROW_LIMIT, "--limit", min=0,
                              help="Rows listed per reachability section (0 lists all); counts always cover all."),
) -> None:
    """Show new and lost reachability, new and resolved findings, and changed objects between two snapshots.

    Exit codes: 0 done; 1 with --fail-on-growth when reachability grew; 2 for unreadable or
    incomparable snapshots.

    Example: blastradius diff snapshots/monday.json.gz snapshots/tuesday.json.gz --fail-on-growth -o markdown
    """
    try:
        settings = load_config(config)
    except ConfigError as error:
        fail(str(error))
    before = _load_estate(old)
    after = _load_estate(new)
    try:
        result = diff_query(before, after, config=settings, limit=limit or None, findings=findings)
    except (DiffError, ConfigError) as error:
        fail(str(error))

    _emit(result, output)
    if fail_on_growth and result.grew:
        raise typer.Exit(EXIT_FINDINGS)


def _load_estate(path: Path) -> Estate:
    """Load a snapshot and build its graph, exiting with code 2 when the file cannot be read."""
    try:
        snapshot = load_snapshot(path)
    except SnapshotError as error:
        fail(str(error))
    graph = cached_graph(path, snapshot)
    for warning in graph.warnings:
        log.warning("%s: %s", path, warning)
    return Estate(str(path), snapshot, graph)


def _emit(result: DiffResult, output: DiffFormat) -> None:
    from rich.console import Console

    from blastradius.render.diff import render_html, render_json, render_markdown, render_table

    if output == DiffFormat.json:
        typer.echo(render_json(result))
    elif output == DiffFormat.markdown:
        typer.echo(render_markdown(result), nl=False)
    elif output == DiffFormat.html:
        typer.echo(render_html(result))
    else:
        # Paths are long: off a terminal, use a width that keeps each step on one line.
        render_table(result, Console(width=None if is_stdout_tty() else 200))
