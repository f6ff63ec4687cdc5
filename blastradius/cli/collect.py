"""`blastradius collect`: read clusters and AWS accounts into one snapshot file."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from blastradius.cli.common import EXIT_FINDINGS, fail
from blastradius.collectors.errors import CollectionError
from blastradius.collectors.input_limits import DEFAULT_MAX_FILE_BYTES, MIB
from blastradius.render.escape import terminal_text
from blastradius.snapshot import Collection, assemble, write_snapshot

log = logging.getLogger(__name__)


def collect(
    manifests: list[str] = typer.Option(
        [],
        "--manifests",
        help="Manifest file or folder, or - for stdin. Repeatable. A folder is walked recursively for *.yaml, *.yml and "
        "*.json files, and other files are skipped. A manifest file that is not UTF-8 or UTF-16 text (NUL bytes, "
        "invalid UTF-8) is an error.",
    ),
    cluster_name: str | None = typer.Option(None, "--cluster-name", help="Name of the cluster in the snapshot (default: the kubeconfig context, or 'cluster' for manifests)."),
    namespace: str = typer.Option("default", "-n", "--namespace", help="Namespace for namespaced manifest objects that name none, as kubectl apply -n."),
    oidc_issuer: str | None = typer.Option(None, "--oidc-issuer", help="The cluster's ServiceAccount token issuer URL, used to match IRSA trust policies."),
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="Kubeconfig file for a live collection."),
    context: str | None = typer.Option(None, "--context", help="Kubeconfig context for a live collection."),
    in_cluster: bool = typer.Option(False, "--in-cluster", help="Collect the cluster this pod runs in, with its ServiceAccount."),
    aws: bool = typer.Option(False, "--aws", help="Collect the AWS account of the current credentials."),
    aws_profile: str | None = typer.Option(None, "--aws-profile", help="AWS profile for --aws."),
    aws_regions: list[str] = typer.Option([], "--aws-region", help="AWS region to collect Secrets Manager and KMS from. Repeatable."),
    aws_json: list[Path] = typer.Option([], "--aws-json", help="AWS CLI output or blastradius bundle file. Repeatable."),
    max_file_size: int = typer.Option(
        DEFAULT_MAX_FILE_BYTES // MIB,
        "--max-file-size",
        min=1,
        help="Largest manifest or --aws-json file to read, in MiB. A larger file is rejected before it is read.",
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Snapshot file to write (default: snapshots/<cluster>.json.gz)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when the collection has coverage gaps."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress display on stderr during live collection."),
) -> None:
    """Collect Kubernetes objects, External Secrets resources and AWS IAM into a snapshot.

    Examples:

      blastradius collect --manifests snapshots/example/k8s --aws-json snapshots/example/aws.json --cluster-name example -o snapshots/example.json.gz

      blastradius collect --context prod-eks --aws --aws-profile prod --aws-region us-east-1 -o snapshots/prod.json.gz
    """
    live_cluster = bool(kubeconfig or context or in_cluster)
    if manifests and live_cluster:
        fail("--manifests cannot be combined with --kubeconfig, --context or --in-cluster: collect one cluster per run")
    if not (manifests or live_cluster or aws or aws_json):
        fail("nothing to collect: give --manifests, --context/--kubeconfig/--in-cluster, --aws or --aws-json")
    if (aws_profile or aws_regions) and not aws:
        fail("--aws-profile and --aws-region apply to a live AWS collection: add --aws")

    max_file_bytes = max_file_size * MIB
    collection = Collection()
    try:
        if manifests:
            from blastradius.collectors.manifests import collect_manifests

            collection.extend(
                collect_manifests(
                    manifests,
                    cluster_name or "cluster",
                    oidc_issuer=oidc_issuer,
                    namespace=namespace,
                    max_file_bytes=max_file_bytes,
                )
            )
        if live_cluster:
            from blastradius.collectors.kubernetes import collect_cluster

            collection.extend(
                collect_cluster(
                    kubeconfig=kubeconfig,
                    context=context,
                    in_cluster=in_cluster,
                    cluster_name=cluster_name,
                    oidc_issuer=oidc_issuer,
                    progress=progress,
                )
            )
        if aws_json:
            from blastradius.collectors.aws_files import collect_aws_files

            collection.extend(collect_aws_files([str(path) for path in aws_json], max_file_bytes=max_file_bytes))
        if aws:
            from blastradius.collectors.aws import collect_aws

            collection.extend(collect_aws(profile=aws_profile, regions=aws_regions, progress=progress))
    except CollectionError as error:
        fail(f"{error}; no snapshot was written")

    snapshot = assemble(collection)
    if output is None:
        name = snapshot["clusters"][0]["name"] if snapshot["clusters"] else "aws"
        output = Path("snapshots") / f"{name}.json.gz"
    try:
        written = write_snapshot(snapshot, output)
    except OSError as error:
        fail(f"cannot write the snapshot to {output}: {error.strerror or error}")

    object_count = sum(len(cluster["objects"]) for cluster in snapshot["clusters"])
    gaps = snapshot["coverage_gaps"]
    typer.echo(
        f"wrote {written}: {len(snapshot['clusters'])} cluster(s), {object_count} objects, "
        f"{len(snapshot['aws_accounts'])} AWS account(s), {len(gaps)} coverage gap(s)",
        err=True,
    )
    if gaps:
        typer.echo("coverage gaps (results for these parts will be reported as unknown):", err=True)
        for gap in gaps:
            where = f" in {gap['namespace']}" if gap.get("namespace") else ""
            line = f"  {gap['source']}: {gap['resource']}{where}: {gap['reason']} ({gap['detail']})"
            typer.echo(terminal_text(line), err=True)
        if strict:
            raise typer.Exit(EXIT_FINDINGS)
