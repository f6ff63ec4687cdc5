"""The Markdown reference of the audit catalogue, generated so that `docs/audit-checks.md` cannot drift.

Regenerate the part between the markers with:

    python -c "from blastradius.queries.audit.docs import update_reference; update_reference('docs/audit-checks.md')"
"""

from __future__ import annotations

from pathlib import Path

from blastradius.queries.audit.checks import CHECKS, Check

BEGIN_MARKER = "<!-- generated from blastradius/queries/audit/checks.py: begin -->"
END_MARKER = "<!-- generated from blastradius/queries/audit/checks.py: end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _section(check: Check) -> str:
    return "\n".join([
        f"### {check.id}: {check.title}",
        "",
        f"Default severity: **{check.severity}**.",
        "",
        f"- Detects: {check.detects}",
        f"- Why it matters: {check.why}",
        f"- Recommendation: {check.recommendation}",
        f"- Scope: {check.scope}",
        "",
    ])


def catalogue_markdown(checks: tuple[Check, ...] = CHECKS) -> str:
    """Return the summary table and one section per check, in catalogue order."""
    lines = ["| id | severity | title |", "| --- | --- | --- |"]
    lines += [f"| [`{check.id}`](#{check.id.lower()}-{_anchor(check.title)}) | {check.severity} | {_cell(check.title)} |"
              for check in checks]
    return "\n".join(lines) + "\n\n" + "\n".join(_section(check) for check in checks)


def _anchor(title: str) -> str:
    kept = "".join(char for char in title.lower() if char.isalnum() or char in " -")
    return kept.replace(" ", "-")


def generated_part(text: str) -> str:
    """Return the text between the markers of a reference page; raises ValueError when a marker is missing."""
    start = text.index(BEGIN_MARKER) + len(BEGIN_MARKER)
    return text[start:text.index(END_MARKER)].strip("\n") + "\n"


def update_reference(path: str | Path) -> None:
    """Rewrite the generated part of a reference page from the catalogue, keeping the text around it."""
    page = Path(path)
    text = page.read_text(encoding="utf-8")
    head = text[:text.index(BEGIN_MARKER) + len(BEGIN_MARKER)]
    tail = text[text.index(END_MARKER):]
    page.write_text(f"{head}\n{catalogue_markdown()}\n{tail}", encoding="utf-8")
