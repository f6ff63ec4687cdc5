"""`blastradius graph`: build the capability graph of a snapshot and inspect it."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from blastradius.cli.common import TableOrJson, load_graph

app = typer.Typer(help="Build and inspect the capability graph.", no_args_is_help=True)


@app.command()
def stats(
    snapshot_file: Path = typer.Option(..., "-s", "--snapshot", help="Snapshot file written by `blastradius collect`."),
    output: TableOrJson = typer.Option(TableOrJson.table, "-o", "--output", help="Output format."),
) -> None:
    """Print node and edge counts per kind, with the build warnings count.

    Example: blastradius graph stats -s snapshots/example.json.gz -o json
    """
    graph = load_graph(snapshot_file)
    summary = graph.stats()
    if output == TableOrJson.json:
        typer.echo(json.dumps(summary, indent=2, sort_keys=True))
        return

    console = Console(soft_wrap=True)
    for title, counts in (("nodes", summary["nodes_by_kind"]), ("edges", summary["edges_by_kind"])):
        table = Table(title=f"{title}: {summary[title]}", title_justify="left")
        table.add_column("kind")
        table.add_column("count", justify="right")
        for kind, count in counts.items():
            table.add_row(kind, str(count))
        console.print(table)
    console.print(f"coverage gaps: {summary['coverage_gaps']}, build warnings: {summary['warnings']}")
