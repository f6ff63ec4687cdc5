"""Audit findings for what the analysis could not see: build warnings and coverage gaps."""

from __future__ import annotations

from typing import Iterator

from blastradius.queries.audit.context import AuditContext, Hit


def build_warnings(ctx: AuditContext) -> Iterator[Hit]:
    """Report each warning of the graph build: objects that contradict each other, or an assumption made."""
    for warning in ctx.graph.warnings:
        yield Hit(warning, [], {"warning": warning})


def coverage_gaps(ctx: AuditContext) -> Iterator[Hit]:
    """Report each coverage gap of the snapshot and of the analysis, because that part is unknown, not empty."""
    for gap in ctx.graph.coverage_gaps:
        where = f" in namespace {gap['namespace']}" if gap.get("namespace") else ""
        where += f" in region {gap['region']}" if gap.get("region") else ""
        message = (f"{gap['source']}: {gap['resource']}{where} is unknown ({gap['reason']}: {gap['detail']}); "
                   f"findings that depend on it may be missing")
        objects = []
        if gap.get("namespace"):
            objects.append({"kind": "Namespace", "namespace": None, "name": gap["namespace"], "file": None, "line": None})
        yield Hit(message, objects, dict(gap))
