"""`blastradius audit`: check a snapshot for known misconfigurations of ESO, Kubernetes and AWS IAM."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from blastradius.cli.common import EXIT_FINDINGS, OutputFormat, emit, fail
from blastradius.config import ConfigError, load_config
from blastradius.graph.cache import cached_graph
from blastradius.queries.audit import at_or_above, audit_result, parse_time, run_audit, severities
from blastradius.snapshot import SnapshotError, load_snapshot


class AuditFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    sarif = "sarif"


class Threshold(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


def audit(
    snapshot_file: Path = typer.Option(..., "-s", "--snapshot", help="Snapshot file written by `blastradius collect`."),
    output: AuditFormat = typer.Option(AuditFormat.table, "-o", "--output", help="Output format; sarif suits GitHub code scanning."),
    fail_on: Threshold = typer.Option(Threshold.high, "--fail-on", help="Exit 1 when a finding has this severity or higher."),
    config_file: Path | None = typer.Option(None, "--config", help="TOML configuration: protected namespaces, trusted principals, severity overrides."),
    now: str | None = typer.Option(None, "--now", help="ISO 8601 time at which staleness is judged (default: the snapshot's collected_at)."),
) -> None:
    """Run every audit check and print the findings, most severe first.

    Exits 1 when a finding at or above --fail-on exists, 0 otherwise, and 2 on invalid input.

    Example: blastradius audit -s snapshots/example.json.gz --config snapshots/example/blastradius.toml --fail-on high
    """
    try:
        config = load_config(config_file)
    except ConfigError as error:
        fail(str(error))
    reference_time = None
    if now is not None:
        try:
            reference_time = parse_time(now)
        except ValueError:
            fail(f"--now: {now!r} is not an ISO 8601 time; expected for example 2026-12-01T12:00:00Z")
    try:
        snapshot = load_snapshot(snapshot_file)
    except SnapshotError as error:
        fail(str(error))

    graph = cached_graph(snapshot_file, snapshot)
    try:
        findings = run_audit(snapshot, graph, config, collected_at=reference_time)
    except ConfigError as error:
        fail(str(error))
    if output == AuditFormat.sarif:
        from blastradius.render.sarif import aws_bundle_files, render_sarif

        typer.echo(render_sarif(findings, severities(config), aws_bundle_files(snapshot)))
    else:
        emit(audit_result(findings, str(snapshot_file)), OutputFormat(output.value))
    if at_or_above(findings, fail_on.value):
        raise typer.Exit(EXIT_FINDINGS)
