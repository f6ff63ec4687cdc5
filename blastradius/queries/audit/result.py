"""Audit findings as a `QueryResult`, so the table, JSON and CSV renderers print them like any query."""

from __future__ import annotations

from collections import Counter
from typing import Any

from blastradius.queries.audit.run import Finding
from blastradius.queries.common import QueryResult

COLUMNS = ["severity", "check_id", "objects", "message"]


def object_label(location: dict[str, Any]) -> str:
    """Return `Kind namespace/name`, with `(file:line)` when known."""
    name = f"{location['namespace']}/{location['name']}" if location.get("namespace") else str(location.get("name"))
    label = f"{location.get('kind')} {name}"
    if location.get("file"):
        label += f" ({location['file']}:{location.get('line')})"
    return label


def finding_row(finding: Finding) -> dict[str, Any]:
    """Return a finding as a row: scalar columns for tables and CSV, with locations and evidence kept for JSON."""
    return {
        "severity": finding.severity,
        "check_id": finding.check_id,
        "title": finding.title,
        "objects": [object_label(location) for location in finding.objects],
        "message": finding.message,
        "recommendation": finding.recommendation,
        "details": {"locations": finding.objects, "evidence": finding.evidence},
    }


def audit_result(findings: list[Finding], reference: str, coverage_notes: list[str] | None = None) -> QueryResult:
    """Return the findings as a result whose message counts them by severity."""
    counts = Counter(finding.severity for finding in findings)
    if findings:
        summary = ", ".join(f"{counts[level]} {level}" for level in ("critical", "high", "medium", "low", "info") if counts[level])
        message = f"{len(findings)} finding(s): {summary}"
    else:
        message = "no findings"
    return QueryResult("audit", reference, COLUMNS, [finding_row(finding) for finding in findings],
                       coverage_notes or [], message)
