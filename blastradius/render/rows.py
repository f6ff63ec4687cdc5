"""Render query results as a terminal table, JSON or CSV.

Every cell is text from the snapshot: the table shows control characters as escapes and never
reads markup in it, and CSV cells that a spreadsheet would evaluate get a leading `'`.
"""

from __future__ import annotations

import io
import json
from typing import Any

from rich.console import Console
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from blastradius.queries.common import QueryResult
from blastradius.render.escape import csv_cell, terminal_text


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    if value is None:
        return ""
    return str(value)


def _path_lines(row: dict[str, Any]) -> str:
    """Return a path with one step per line, the way it reads aloud: node, then each edge kind and node."""
    steps = row.get("steps")
    if not steps:
        return _cell(row.get("path"))
    lines = [terminal_text(steps[0]["from"])]
    lines.extend(f"  -[{step['kind']}]-> {terminal_text(step['to'])}" for step in steps)
    return "\n".join(lines)


def render_table(result: QueryResult, console: Console) -> None:
    """Print the result's rows with its columns, then its message and coverage notes.

    A who-can whose rows share one target names it in the title instead of a column. Paths keep
    one step per line when the table fits the console that way, and wrap when it does not.
    """
    if result.rows:
        columns = list(result.columns)
        title = f"{result.query} {result.reference}"
        targets = {_cell(row.get("target")) for row in result.rows}
        if result.query == "who-can" and "target" in columns and len(targets) == 1:
            columns.remove("target")
            title = f"{result.query} {targets.pop()}"
        table = _table(result, columns, title, wrap_paths=False)
        if not _fits(console, table):
            table = _table(result, columns, title, wrap_paths=True)
        console.print(table)
    if result.message:
        console.print(Text(terminal_text(result.message)))
    for note in result.coverage_notes:
        console.print(Text("note: ", style="yellow") + Text(terminal_text(note)))


def _fits(console: Console, table: Table) -> bool:
    """Return whether a table fits the console's width, measured before the console crops its lines."""
    lines = Segment.split_lines(console.render(table, console.options))
    return max((Segment.get_line_length(line) for line in lines), default=0) <= console.width


def _table(result: QueryResult, columns: list[str], title: str, *, wrap_paths: bool) -> Table:
    table = Table(title=Text(terminal_text(title)), title_justify="left", show_lines=True)
    unwrapped = ("hops",) if wrap_paths else ("path", "hops")
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in unwrapped, min_width=min(len(column), 12))
    for row in result.rows:
        cells = (_path_lines(row) if column == "path" else terminal_text(_cell(row.get(column))) for column in columns)
        table.add_row(*(Text(cell) for cell in cells))
    return table


def render_json(result: QueryResult, *, pretty: bool = True) -> str:
    """Return the result as JSON with sorted keys: indented for a reader, or compact for a program.

    Compact output uses the json module's C encoder, several times faster on results of thousands
    of rows with their paths.
    """
    if pretty:
        return json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str)
    return json.dumps(result.to_dict(), sort_keys=True, default=str, separators=(",", ":"))


def flat_rows(result: QueryResult) -> list[dict[str, str]]:
    """Return rows with scalar cells only (lists joined with '; ', nested steps left out), for CSV.

    Each cell passes through `csv_cell`, so no cell starts a spreadsheet formula.
    """
    flat = []
    for row in result.rows:
        flat.append({key: csv_cell(_cell(value)) for key, value in row.items() if key != "steps" and not isinstance(value, dict)})
    return flat


def render_csv(result: QueryResult) -> str:
    """Return the rows as CSV with the result's columns first, then every other scalar field.

    Lines end in CR LF as RFC 4180 has it, because only then does the writer quote a cell that
    contains a lone carriage return, which a reader would otherwise take for the end of the row.
    """
    import pandas as pd  # imported here because it takes 0.3 s and only CSV output needs it

    rows = flat_rows(result)
    if not rows:
        return ",".join(result.columns) + "\r\n"
    frame = pd.DataFrame(rows)
    ordered = [column for column in result.columns if column in frame.columns]
    ordered += [column for column in frame.columns if column not in ordered]
    buffer = io.StringIO()
    frame[ordered].to_csv(buffer, index=False, lineterminator="\r\n")
    return buffer.getvalue()
