"""`blastradius snapshot`: inspect snapshot files."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from blastradius.cli.common import TableOrJson, fail
from blastradius.render.escape import terminal_text
from blastradius.snapshot import SnapshotError, load_snapshot, write_snapshot
from blastradius.snapshot.merge import merge_snapshots
from blastradius.snapshot.summary import summarize

app = typer.Typer(help="Inspect snapshot files.", no_args_is_help=True)


@app.command()
def show(
    snapshot_file: Path = typer.Argument(..., help="Snapshot file written by `blastradius collect`."),
    output: TableOrJson = typer.Option(TableOrJson.table, "-o", "--output", help="Output format."),
) -> None:
    """Print a snapshot's sources, object counts per kind and coverage gaps.

    Example: blastradius snapshot show snapshots/example.json.gz -o json
    """
    try:
        summary = summarize(load_snapshot(snapshot_file))
    except SnapshotError as error:
        fail(str(error))

    if output == TableOrJson.json:
        typer.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    _print_summary(summary)


@app.command()
def merge(
    snapshot_files: list[Path] = typer.Argument(..., help="Snapshot files to merge (two or more)."),
    output: Path = typer.Option(..., "-o", "--output", help="Snapshot file to write."),
) -> None:
    """Merge snapshots of different clusters and AWS accounts into one, to analyse them together.

    Example: blastradius snapshot merge snapshots/prod.json.gz snapshots/staging.json.gz -o snapshots/all.json.gz
    """
    try:
        merged = merge_snapshots([(str(path), load_snapshot(path)) for path in snapshot_files])
    except SnapshotError as error:
        fail(str(error))
    try:
        written = write_snapshot(merged, output)
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror or error}")
    typer.echo(f"wrote {written}: {len(merged['clusters'])} cluster(s), {len(merged['aws_accounts'])} AWS account(s)", err=True)


def _print_summary(summary: dict) -> None:
    """Print the summary as tables, with every value from the snapshot as plain text, never as markup."""
    console = Console(soft_wrap=True)
    console.print(_text(
        f"snapshot schema {summary['schema_version']}, collected {summary['collected_at']} "
        f"by blastradius {summary['tool'].get('version', '?')}"
    ))

    for cluster in summary["clusters"]:
        origin = cluster["server"] or ", ".join(cluster["manifests"]) or "unknown"
        table = Table(title=_text(f"cluster {cluster['name']} ({origin})"), title_justify="left")
        table.add_column("kind")
        table.add_column("objects", justify="right")
        for kind, count in cluster["kinds"].items():
            table.add_row(_text(kind), str(count))
        for kind, count in cluster["skipped_kinds"].items():
            table.add_row(_text(f"{kind} (skipped)"), str(count), style="dim")
        console.print(table)

    for account in summary["aws_accounts"]:
        regions = ", ".join(account["regions"]) or "no region"
        table = Table(title=_text(f"AWS account {account['account_id']} ({account['partition']}, {regions})"), title_justify="left")
        table.add_column("entity")
        table.add_column("count", justify="right")
        for name, count in account["counts"].items():
            table.add_row(name.replace("_", " "), str(count))
        console.print(table)

    gaps = summary["coverage_gaps"]
    if not gaps:
        console.print("coverage gaps at collection: none")
        return
    table = Table(title=f"coverage gaps at collection ({len(gaps)}): these parts are unknown, not empty", title_justify="left")
    for column in ("source", "resource", "scope", "reason", "detail"):
        table.add_column(column)
    for gap in gaps:
        scope = gap.get("namespace") or gap.get("region") or "all"
        cells = (gap["source"], gap["resource"], scope, gap["reason"], gap.get("detail") or "")
        table.add_row(*(_text(cell) for cell in cells))
    console.print(table)


def _text(value: str) -> Text:
    return Text(terminal_text(value))
