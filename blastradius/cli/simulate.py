"""`blastradius simulate`: what a leaked principal or credential exposes, and the incident runbook."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from blastradius.cli.common import OutputFormat, emit, fail, is_stdout_tty, load_graph
from blastradius.files import write_atomically
from blastradius.queries.refs import ReferenceLookupError
from blastradius.queries.simulate import Simulation
from blastradius.queries.simulate import simulate as simulate_query
from blastradius.render.escape import terminal_text
from blastradius.render.runbook import render_runbook, summary_lines


def simulate(
    principal: str = typer.Argument(..., help="What leaked: system:serviceaccount:<ns>:<name>, user:<name>, group:<name>, "
                                              "an IAM role or user ARN, secretstore:<ns>/<name>, clustersecretstore:<name>, "
                                              "eso-controller, or etcd (a backup of every Secret of a cluster)."),
    snapshot: Path = typer.Option(..., "-s", "--snapshot", help="Snapshot file written by `blastradius collect`."),
    output: OutputFormat = typer.Option(OutputFormat.table, "-o", "--output", help="Output format."),
    runbook: Path | None = typer.Option(None, "--runbook", help="Also write the incident runbook to this Markdown file."),
    cluster: str | None = typer.Option(None, "--cluster", help="Cluster to resolve Kubernetes references and etcd in, "
                                                                "when the snapshot has several."),
) -> None:
    """Simulate a leak: every secret it reads or overwrites, the identities it acts as, and the IAM reach against use.

    Example: blastradius simulate arn:aws:iam::111122223333:role/eso-global -s snapshots/example.json.gz --runbook incident.md
    """
    if runbook is not None and runbook.is_dir():
        fail(f"--runbook: {runbook} is a directory; give the path of a Markdown file")
    graph = load_graph(snapshot)
    try:
        simulation = simulate_query(graph, principal, cluster=cluster)
    except ReferenceLookupError as error:
        fail(str(error))

    _print(simulation, output)
    if runbook is not None:
        try:
            # The runbook maps which secrets a leak exposes, so it gets the snapshot's mode 0600.
            write_atomically(runbook, render_runbook(simulation))
        except OSError as error:
            fail(f"--runbook: cannot write {runbook}: {error.strerror or error}")
        typer.echo(f"wrote runbook {runbook}", err=True)


def _print(simulation: Simulation, output: OutputFormat) -> None:
    if output == OutputFormat.json:
        # Indented for a terminal; compact (and several times faster) when piped to a program.
        indent, separators = (2, None) if is_stdout_tty() else (None, (",", ":"))
        typer.echo(json.dumps(simulation.to_dict(), indent=indent, separators=separators, sort_keys=True, default=str))
        return
    emit(simulation.result, output)
    if output == OutputFormat.table:
        for line in summary_lines(simulation):
            typer.echo(terminal_text(line))
