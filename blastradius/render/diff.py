"""Render a diff of two snapshots as a terminal table, JSON, Markdown (for a CI comment) or HTML."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader
from rich.console import Console
from rich.table import Table
from rich.text import Text

from blastradius.queries.diff import DiffResult, ReachChanges
from blastradius.render.escape import html_value, markdown_code, markdown_text, terminal_text

REACH_COLUMNS = ("principal", "target", "capability", "hops", "path")
OBJECT_COLUMNS = ("change", "scope", "kind", "object", "fields", "origin")
FINDING_COLUMNS = ("severity", "check_id", "objects", "message")


def summary_line(result: DiffResult) -> str:
    """Return one sentence with the size of each section, or that nothing changed."""
    if result.unchanged:
        return "no changes: same reachability, same findings and same objects"
    return (f"{result.new_reach.total} new and {result.lost_reach.total} lost reachability triple(s), "
            f"{len(result.new_findings)} new and {len(result.resolved_findings)} resolved finding(s), "
            f"{len(result.object_changes)} changed object(s)")


def object_label(row: dict[str, Any]) -> str:
    """Return `namespace/name` for namespaced objects and the name (or ARN) otherwise."""
    return f"{row['namespace']}/{row['name']}" if row["namespace"] else row["name"]


def reach_target_label(row: dict[str, Any]) -> str:
    """Return the secret's name, marked when it was created after OLD or deleted before NEW."""
    if row.get("new_target"):
        return f"{row['target']} (new secret)"
    if row.get("removed_target"):
        return f"{row['target']} (deleted secret)"
    return row["target"]


def _more_text(changes: ReachChanges) -> str | None:
    hidden = changes.total - len(changes.rows)
    return f"{hidden} more not listed; pass --limit 0 to list every one" if hidden else None


def render_json(result: DiffResult) -> str:
    return json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str)


# --- terminal table -------------------------------------------------------------------------------


def render_table(result: DiffResult, console: Console) -> None:
    """Print the header, each non-empty section as a table, then the notes."""
    console.print(Text(terminal_text(f"diff {_side_text(result.old)} -> {_side_text(result.new)}")))
    console.print(Text(summary_line(result)))
    _print_reach(console, "new reachability", result.new_reach)
    _print_reach(console, "lost reachability", result.lost_reach)
    _print_findings(console, "new findings", result.new_findings)
    _print_findings(console, "resolved findings", result.resolved_findings)
    if result.object_changes:
        table = Table(title=f"changed objects ({len(result.object_changes)})", title_justify="left")
        for column in OBJECT_COLUMNS:
            table.add_column(column, overflow="fold")
        for row in result.object_changes:
            cells = (row["change"], row["scope"], row["kind"], object_label(row), ", ".join(row["fields"]), row["origin"] or "")
            table.add_row(*(Text(terminal_text(cell)) for cell in cells))
        console.print(table)
    for note in result.notes:
        console.print(Text("note: ", style="yellow") + Text(terminal_text(note)))


def _side_text(side: dict[str, Any]) -> str:
    return f"{side['file']} ({side['collected_at']})"


def _print_reach(console: Console, title: str, changes: ReachChanges) -> None:
    if not changes.total:
        return
    table = Table(title=f"{title} ({changes.total})", title_justify="left", show_lines=True)
    for column in REACH_COLUMNS:
        table.add_column(column, overflow="fold", no_wrap=column == "path")
    for row in changes.rows:
        path = "\n".join([terminal_text(row["steps"][0]["from"]),
                          *(f"  -[{step['kind']}]-> {terminal_text(step['to'])}" for step in row["steps"])])
        cells = (terminal_text(row["principal"]), terminal_text(reach_target_label(row)), row["capability"], str(row["hops"]), path)
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
    more = _more_text(changes)
    if more:
        console.print(Text(more))


def _print_findings(console: Console, title: str, findings: list[dict[str, Any]]) -> None:
    if not findings:
        return
    table = Table(title=f"{title} ({len(findings)})", title_justify="left", show_lines=True)
    for column in FINDING_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in findings:
        cells = (row["severity"], row["check_id"], "\n".join(terminal_text(label) for label in row["objects"]),
                 terminal_text(row["message"]))
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)


# --- Markdown ------------------------------------------------------------------------------------


def render_markdown(result: DiffResult) -> str:
    """Return a Markdown report for a pull-request or CI comment.

    Every value from the snapshots sits in a code span, so names cannot inject Markdown or HTML.
    """
    lines = [
        "## blastradius diff",
        "",
        f"{markdown_code(result.old['file'])} ({markdown_text(str(result.old['collected_at']))}) → "
        f"{markdown_code(result.new['file'])} ({markdown_text(str(result.new['collected_at']))})",
        "",
        f"**{summary_line(result)}**",
    ]
    lines += _markdown_reach("New reachability", result.new_reach)
    lines += _markdown_reach("Lost reachability", result.lost_reach)
    lines += _markdown_findings("New findings", result.new_findings)
    lines += _markdown_findings("Resolved findings", result.resolved_findings)
    if result.object_changes:
        lines += ["", f"### Changed objects ({len(result.object_changes)})", "",
                  "| change | scope | kind | object | fields | origin |", "| --- | --- | --- | --- | --- | --- |"]
        for row in result.object_changes:
            fields = ", ".join(markdown_code(name) for name in row["fields"])
            origin = markdown_code(row["origin"]) if row["origin"] else ""
            lines.append(f"| {row['change']} | {markdown_code(row['scope'])} | {markdown_code(row['kind'])} "
                         f"| {markdown_code(object_label(row))} | {fields} | {origin} |")
    if result.notes:
        lines += ["", "### Notes", ""]
        lines += [f"- {markdown_text(note)}" for note in result.notes]
    return "\n".join(lines) + "\n"


def _markdown_reach(title: str, changes: ReachChanges) -> list[str]:
    if not changes.total:
        return []
    lines = ["", f"### {title} ({changes.total})", "", "| principal | secret | capability | path |", "| --- | --- | --- | --- |"]
    for row in changes.rows:
        lines.append(f"| {markdown_code(row['principal'])} | {markdown_code(reach_target_label(row))} | {row['capability']} "
                     f"| {markdown_code(row['path'])} |")
    more = _more_text(changes)
    if more:
        lines += ["", more]
    return lines


def _markdown_findings(title: str, findings: list[dict[str, Any]]) -> list[str]:
    if not findings:
        return []
    lines = ["", f"### {title} ({len(findings)})", "", "| severity | check | objects | message |", "| --- | --- | --- | --- |"]
    for row in findings:
        objects = "<br>".join(markdown_code(label) for label in row["objects"])
        lines.append(f"| {row['severity']} | {markdown_code(row['check_id'])} | {objects} | {markdown_code(row['message'])} |")
    return lines


# --- HTML ----------------------------------------------------------------------------------------

_ENVIRONMENT = Environment(
    loader=PackageLoader("blastradius.render", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=html_value,
)


def render_html(result: DiffResult) -> str:
    """Return a self-contained HTML page (no scripts, no external resources) with every section."""
    template = _ENVIRONMENT.get_template("diff.html.j2")
    return template.render(
        result=result,
        summary=summary_line(result),
        new_more=_more_text(result.new_reach),
        lost_more=_more_text(result.lost_reach),
        object_label=object_label,
        target_label=reach_target_label,
    )
