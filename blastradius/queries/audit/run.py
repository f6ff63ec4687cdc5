"""Run the audit catalogue over a snapshot and its graph, and return findings in a stable order."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from blastradius.config import Config, ConfigError
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.audit.checks import CHECK_BY_ID, CHECKS, SEVERITIES, Check
from blastradius.queries.audit.context import AuditContext, Hit

log = logging.getLogger(__name__)

SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


@dataclass
class Finding:
    """One misconfiguration found by one check.

    `objects` locate it: dicts with `kind`, `namespace`, `name`, `file` and `line` (file and line are
    None for AWS objects and for objects read from a live cluster). The first object is where a
    report points. `evidence` contains the facts behind `message` as plain data.
    """

    check_id: str
    severity: str
    title: str
    message: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    recommendation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time (`2026-12-01T12:00:00Z`); a time without offset is UTC. Raises ValueError."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def severities(config: Config) -> dict[str, str]:
    """Return each check's severity after the configuration's overrides.

    Raises ConfigError naming the file and key when an override names an unknown check.
    """
    unknown = sorted(set(config.severity) - set(CHECK_BY_ID))
    if unknown:
        raise ConfigError(f"{config.source or 'configuration'}: severity.{unknown[0]}: unknown check id; "
                          f"known checks: {', '.join(CHECK_BY_ID)}")
    return {check.id: config.severity.get(check.id, check.severity) for check in CHECKS}


def run_audit(snapshot: dict[str, Any], graph: CapabilityGraph, config: Config | None = None,
              collected_at: datetime | None = None) -> list[Finding]:
    """Run every check of the catalogue and return the findings, most severe first.

    `collected_at` is the time at which staleness is judged; by default the snapshot's own
    `collected_at`. Findings are sorted by severity, then check id, then the first object, so two
    runs over the same snapshot give the same list.
    """
    config = config or Config()
    levels = severities(config)
    now = collected_at or parse_time(snapshot.get("collected_at") or datetime.now(timezone.utc).isoformat())
    context = AuditContext(snapshot, graph, config, now)

    findings: list[Finding] = []
    for check in CHECKS:
        hits = _unique(list(check.detect(context)))
        log.debug("check %s: %d finding(s)", check.id, len(hits))
        findings.extend(_finding(check, levels[check.id], hit) for hit in hits)
    log.info("audit: %d finding(s) from %d checks", len(findings), len(CHECKS))
    return sorted(findings, key=_order)


def _unique(hits: list[Hit]) -> list[Hit]:
    seen: set[str] = set()
    unique = []
    for hit in hits:
        if hit.message not in seen:
            seen.add(hit.message)
            unique.append(hit)
    return unique


def _finding(check: Check, severity: str, hit: Hit) -> Finding:
    return Finding(check.id, severity, check.title, hit.message, list(hit.objects), dict(hit.evidence), check.recommendation)


def _order(finding: Finding) -> tuple:
    first = finding.objects[0] if finding.objects else {}
    return (-SEVERITY_RANK[finding.severity], finding.check_id, str(first.get("namespace") or ""),
            str(first.get("name") or ""), finding.message)


def at_or_above(findings: list[Finding], threshold: str) -> list[Finding]:
    """Return the findings whose severity is at least `threshold`."""
    return [finding for finding in findings if SEVERITY_RANK[finding.severity] >= SEVERITY_RANK[threshold]]
