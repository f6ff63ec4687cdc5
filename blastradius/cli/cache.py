"""`blastradius cache`: inspect and empty the per-user cache of built capability graphs."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import typer

from blastradius.cli.common import TableOrJson

app = typer.Typer(help="Inspect and empty the cache of built capability graphs.", no_args_is_help=True)


@app.command()
def info(
    output: TableOrJson = typer.Option(TableOrJson.table, "-o", "--output", help="Output format."),
) -> None:
    """Print the cache folder, whether the cache is enabled, and each stored graph with its size and last use.

    Example: blastradius cache info -o json
    """
    from blastradius.graph import cache

    folder = cache.cache_dir()
    problem = cache.folder_problem(folder)
    stored = cache.entries(folder)
    summary = {
        "folder": str(folder),
        "enabled": not cache.cache_disabled() and problem is None,
        "problem": problem,
        "max_entries": cache.MAX_ENTRIES,
        "total_bytes": sum(entry.size for entry in stored),
        "entries": [
            {"file": entry.path.name, "bytes": entry.size, "last_used": _iso_time(entry.last_used)} for entry in stored
        ],
    }
    if output == TableOrJson.json:
        typer.echo(json.dumps(summary, indent=2))
        return

    if cache.cache_disabled():
        state = f"disabled by {cache.NO_CACHE_VARIABLE}"
    elif problem is not None:
        state = f"ignored: the folder {problem}"
    else:
        state = "enabled"
    typer.echo(f"folder: {folder} ({state})")
    typer.echo(f"graphs: {len(stored)} of at most {cache.MAX_ENTRIES}, {_megabytes(summary['total_bytes'])}")
    for entry in summary["entries"]:
        typer.echo(f"  {entry['file']}  {_megabytes(entry['bytes'])}  last used {entry['last_used']}")


@app.command()
def clear() -> None:
    """Remove every stored graph. The next command on each snapshot builds its graph again.

    Example: blastradius cache clear
    """
    from blastradius.graph import cache

    folder = cache.cache_dir()
    removed = cache.clear(folder)
    typer.echo(f"removed {removed} file(s) from {folder}")


def _iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
