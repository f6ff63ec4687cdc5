"""`blastradius query`: who can reach a secret, what a principal reaches, and the path between two nodes."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from blastradius.cli.common import OutputFormat, emit, fail, load_graph
from blastradius.config import ConfigError, load_config
from blastradius.queries.path import path as path_query
from blastradius.queries.reach import reach as reach_query
from blastradius.queries.refs import ReferenceLookupError
from blastradius.queries.who_can import who_can as who_can_query

app = typer.Typer(help="Ask who can reach a secret, what a principal reaches, and how.", no_args_is_help=True)

SNAPSHOT_OPTION = typer.Option(..., "-s", "--snapshot", help="Snapshot file written by `blastradius collect`.")
FORMAT_OPTION = typer.Option(OutputFormat.table, "-o", "--output", help="Output format.")
CLUSTER_OPTION = typer.Option(None, "--cluster", help="Cluster to resolve Kubernetes references in, when the snapshot has several.")


class PrincipalKind(str, Enum):
    serviceaccount = "serviceaccount"
    user = "user"
    group = "group"
    iam = "iam"


@app.command("who-can")
def who_can(
    target: str = typer.Argument(..., help="Secret reference: secret:<ns>/<name>, an ARN, a Secrets Manager name, or a glob."),
    snapshot: Path = SNAPSHOT_OPTION,
    output: OutputFormat = FORMAT_OPTION,
    overwrite: bool = typer.Option(False, "--overwrite", help="Who can overwrite the target instead of read it."),
    via: bool = typer.Option(False, "--via", help="Show every distinct path (up to two hops longer than the shortest)."),
    kind: list[PrincipalKind] = typer.Option([], "--kind", help="Only principals of this kind. Repeatable."),
    cluster: str | None = CLUSTER_OPTION,
    config: Path | None = typer.Option(None, "--config", help="TOML configuration naming trusted principals to hide."),
    show_all: bool = typer.Option(False, "--all", help="Also show principals the configuration trusts."),
) -> None:
    """List every principal that can obtain (or overwrite) a secret, with the shortest path for each.

    Example: blastradius query who-can production/database/credentials -s snapshots/example.json.gz
    """
    graph = load_graph(snapshot)
    try:
        settings = load_config(config)
        result = who_can_query(graph, target, capability="overwrite" if overwrite else "read", cluster=cluster,
                               kinds=[item.value for item in kind], every_path=via, config=settings, show_trusted=show_all)
    except (ReferenceLookupError, ConfigError) as error:
        fail(str(error))
    emit(result, output)


@app.command()
def reach(
    principal: str = typer.Argument(..., help="Principal: system:serviceaccount:<ns>:<name>, user:<name>, group:<name>, an IAM ARN, a store or eso-controller."),
    snapshot: Path = SNAPSHOT_OPTION,
    output: OutputFormat = FORMAT_OPTION,
    cluster: str | None = CLUSTER_OPTION,
) -> None:
    """List everything a principal can obtain or overwrite, grouped by namespace and AWS account.

    Example: blastradius query reach group:dev-team -s snapshots/example.json.gz
    """
    graph = load_graph(snapshot)
    try:
        result = reach_query(graph, principal, cluster=cluster)
    except ReferenceLookupError as error:
        fail(str(error))
    emit(result, output)


@app.command()
def path(
    source: str = typer.Argument(..., help="Where the path starts (a principal or any node reference)."),
    target: str = typer.Argument(..., help="Where it ends (usually a secret)."),
    snapshot: Path = SNAPSHOT_OPTION,
    output: OutputFormat = FORMAT_OPTION,
    cluster: str | None = CLUSTER_OPTION,
) -> None:
    """Explain step by step how SOURCE reaches TARGET, or what blocks it.

    Example: blastradius query path group:dev-team production/database/credentials -s snapshots/example.json.gz
    """
    graph = load_graph(snapshot)
    try:
        result = path_query(graph, source, target, cluster=cluster)
    except ReferenceLookupError as error:
        fail(str(error))
    emit(result, output)
