"""`blastradius report`: write the HTML workshop report, DOT/SVG for slides, GraphML and graph JSON."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

from blastradius.cli.common import EXIT_USAGE, fail
from blastradius.config import Config, ConfigError, load_config
from blastradius.files import write_atomically
from blastradius.graph.cache import cached_graph
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.audit import run_audit
from blastradius.queries.audit.result import finding_row
from blastradius.queries.picture import build_picture, focus_subgraph
from blastradius.queries.refs import ReferenceLookupError, resolve
from blastradius.render.graph_json import render_graph_json
from blastradius.render.graphml import render_graphml
from blastradius.snapshot import SnapshotError, load_snapshot
from blastradius.snapshot.summary import summarize

log = logging.getLogger(__name__)


def report(
    snapshot_file: Path = typer.Option(..., "-s", "--snapshot", help="Snapshot file written by `blastradius collect`."),
    html: Path | None = typer.Option(None, "--html", help="Write the interactive HTML report to this file."),
    dot: Path | None = typer.Option(None, "--dot", help="Write the picture as Graphviz DOT to this file."),
    svg: Path | None = typer.Option(None, "--svg", help="Write the picture as SVG (needs Graphviz's dot program)."),
    graphml: Path | None = typer.Option(None, "--graphml", help="Write the graph as GraphML (Gephi, yEd) to this file."),
    json_file: Path | None = typer.Option(None, "--json", help="Write the graph with kinds and evidence as JSON to this file."),
    focus: str | None = typer.Option(None, "--focus", help="Limit to one secret's who-can or one principal's reach (a query reference)."),
    cluster: str | None = typer.Option(None, "--cluster", help="Cluster to resolve --focus in, when the snapshot has several."),
    config: Path | None = typer.Option(None, "--config", help="TOML configuration for the audit shown in the HTML report."),
) -> None:
    """Write the report in one or more formats; every file is written atomically.

    Exit code 2 also when --svg is given and Graphviz is missing: the DOT source is then written
    next to the SVG path (FILE.dot) with how to install Graphviz, and the other files are written.

    Example: blastradius report -s snapshots/example.json.gz --html report.html --svg graph.svg --focus group:dev-team
    """
    # Imported here because jinja2 and graphviz serve only this command, and every command
    # imports this module at start-up.
    from blastradius.render.dot import render_dot
    from blastradius.render.html import render_html

    if not any((html, dot, svg, graphml, json_file)):
        fail("name at least one output: --html, --dot, --svg, --graphml or --json")
    snapshot, graph = _load(snapshot_file)
    try:
        settings = load_config(config)
        picture = build_picture(graph, focus, cluster=cluster, explain=html is not None)
        subgraph = focus_subgraph(graph, resolve(graph, focus, cluster=cluster).nodes) if focus else None
    except (ReferenceLookupError, ConfigError) as error:
        fail(str(error))

    title = f"blastradius: {focus}" if focus else "blastradius report"
    if html is not None:
        findings = _audit_findings(snapshot, graph, settings)
        _write(html, render_html(picture, summary=summarize(snapshot), stats=graph.stats(), warnings=graph.warnings,
                                 findings=findings, title=title))
    if graphml is not None:
        _write(graphml, render_graphml(subgraph if subgraph is not None else graph.g))
    if json_file is not None:
        _write(json_file, render_graph_json(graph, subgraph))

    dot_source = render_dot(picture, title=title) if dot is not None or svg is not None else ""
    if dot is not None:
        _write(dot, dot_source)
    if svg is not None:
        _write_svg(svg, dot_source)


def _load(snapshot_file: Path) -> tuple[dict[str, Any], CapabilityGraph]:
    try:
        snapshot = load_snapshot(snapshot_file)
    except SnapshotError as error:
        fail(str(error))
    graph = cached_graph(snapshot_file, snapshot)
    for warning in graph.warnings:
        log.warning("%s", warning)
    return snapshot, graph


def _audit_findings(snapshot: dict[str, Any], graph: CapabilityGraph, settings: Config) -> list[dict[str, Any]]:
    return [finding_row(finding) for finding in run_audit(snapshot, graph, settings)]


def _write_svg(svg: Path, dot_source: str) -> None:
    from blastradius.render.dot import GraphvizMissingError, render_svg

    try:
        _write(svg, render_svg(dot_source))
    except GraphvizMissingError as error:
        fallback = svg.with_suffix(".dot")
        _write(fallback, dot_source)
        typer.echo(f"error: {error}", err=True)
        typer.echo(f"wrote the DOT source to {fallback} instead; after installing Graphviz run: "
                   f"dot -Tsvg {fallback} -o {svg}", err=True)
        raise typer.Exit(EXIT_USAGE) from None


def _write(path: Path, content: str | bytes) -> None:
    """Write one output file atomically with mode 0600, exiting with code 2 when it cannot be written."""
    try:
        write_atomically(path, content)
    except OSError as error:
        fail(f"cannot write {path}: {error.strerror or error}")
    typer.echo(f"wrote {path}", err=True)
