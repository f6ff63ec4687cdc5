"""Tests for `blastradius collect` and `blastradius snapshot show`, driven through typer's CliRunner."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastradius import __version__
from blastradius.cli.app import app

CANARY = "CANARY-do-not-store-7f3a9c"
CANARY_BASE64 = base64.b64encode(CANARY.encode()).decode()
REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "data" / "manifests"
FIXTURE_KINDS = {
    "ClusterSecretStore": 1,
    "Deployment": 1,
    "ExternalSecret": 1,
    "Namespace": 2,
    "Role": 1,
    "RoleBinding": 1,
    "Secret": 2,
    "ServiceAccount": 1,
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _collect(runner: CliRunner, output: Path, *extra: str, manifests: str = str(FIXTURES)):
    return runner.invoke(app, ["collect", "--manifests", manifests, "--cluster-name", "payments-prod", "-o", str(output), *extra])


def _write_bad_manifest(folder: Path) -> Path:
    path = folder / "broken.yaml"
    path.write_text(f"apiVersion: v1\nkind: Secret\nmetadata:\n  namespace: payments\nstringData:\n  password: {CANARY}\n")
    return path


# --- collect -------------------------------------------------------------------------------------


def test_collect_writes_snapshot(runner: CliRunner, tmp_path: Path) -> None:
    output = tmp_path / "snapshots" / "payments-prod.json.gz"

    result = _collect(runner, output)

    assert result.exit_code == 0
    assert result.stderr == f"wrote {output}: 1 cluster(s), 10 objects, 0 AWS account(s), 0 coverage gap(s)\n"
    assert output.is_file()


def test_collect_snapshot_contents(runner: CliRunner, tmp_path: Path) -> None:
    output = tmp_path / "s.json"

    _collect(runner, output, "--oidc-issuer", "https://oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE")
    snapshot = json.loads(output.read_text())

    assert snapshot["sources"] == [{"type": "kubernetes", "cluster": "payments-prod", "server": None, "manifests": [str(FIXTURES)]}]
    assert snapshot["clusters"][0]["oidc_issuer"] == "https://oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    assert [obj["kind"] for obj in snapshot["clusters"][0]["objects"]] == [
        "ClusterSecretStore",
        "Deployment",
        "ExternalSecret",
        "Namespace",
        "Namespace",
        "Role",
        "RoleBinding",
        "Secret",
        "Secret",
        "ServiceAccount",
    ]


def test_collect_never_stores_canary(runner: CliRunner, tmp_path: Path) -> None:
    output = tmp_path / "s.json.gz"

    result = runner.invoke(app, ["--log-level", "debug", "collect", "--manifests", str(FIXTURES), "--cluster-name", "payments-prod", "-o", str(output)])
    snapshot_text = gzip.decompress(output.read_bytes()).decode()

    assert result.exit_code == 0
    assert "DEBUG blastradius.collectors.manifests" in result.stderr
    for needle in (CANARY, CANARY_BASE64):
        assert needle not in snapshot_text
        assert needle not in result.stdout
        assert needle not in result.stderr


def test_collect_error_never_shows_canary(runner: CliRunner, tmp_path: Path) -> None:
    bad = _write_bad_manifest(tmp_path)

    result = runner.invoke(app, ["--log-level", "debug", "collect", "--manifests", str(bad), "-o", str(tmp_path / "s.json.gz")])

    assert result.exit_code == 2
    assert CANARY not in result.stdout
    assert CANARY not in result.stderr


def test_collect_default_output_path(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    result = runner.invoke(app, ["collect", "--manifests", str(FIXTURES)])

    assert result.exit_code == 0
    assert (tmp_path / "snapshots" / "cluster.json.gz").is_file()


def test_collect_reads_stdin(runner: CliRunner, tmp_path: Path) -> None:
    output = tmp_path / "s.json"
    manifest = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: piped\n"

    result = runner.invoke(app, ["collect", "--manifests", "-", "--cluster-name", "piped", "-o", str(output)], input=manifest)
    snapshot = json.loads(output.read_text())

    assert result.exit_code == 0
    assert snapshot["clusters"][0]["objects"][0]["origin"] == {"file": "<stdin>", "line": 1}


def test_collect_bad_input_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    bad = _write_bad_manifest(tmp_path)
    output = tmp_path / "out" / "s.json.gz"

    result = _collect(runner, output, manifests=str(bad))

    assert result.exit_code == 2
    assert result.stderr == f"error: {bad}:1: document 1: Secret in namespace payments: missing metadata.name; no snapshot was written\n"
    assert not output.exists()
    assert not output.parent.exists()


def test_collect_bad_input_keeps_old_snapshot(runner: CliRunner, tmp_path: Path) -> None:
    output = tmp_path / "s.json.gz"
    _collect(runner, output)
    old_bytes = output.read_bytes()

    result = _collect(runner, output, manifests=str(_write_bad_manifest(tmp_path)))

    assert result.exit_code == 2
    assert output.read_bytes() == old_bytes
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken.yaml", "s.json.gz"]


def test_collect_missing_path_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope"

    result = _collect(runner, tmp_path / "s.json.gz", manifests=str(missing))

    assert result.exit_code == 2
    assert result.stderr == f"error: {missing}: manifest path not found; no snapshot was written\n"


def test_collect_unwritable_output_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the output folder should be\n")
    output = blocker / "s.json.gz"

    result = _collect(runner, output)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot write the snapshot to {output}: ")


def test_collect_strict_without_gaps(runner: CliRunner, tmp_path: Path) -> None:
    result = _collect(runner, tmp_path / "s.json.gz", "--strict")

    assert result.exit_code == 0


def test_collect_manifests_with_context_rejected(runner: CliRunner, tmp_path: Path) -> None:
    result = _collect(runner, tmp_path / "s.json.gz", "--context", "prod-eks")

    assert result.exit_code == 2
    assert result.stderr == (
        "error: --manifests cannot be combined with --kubeconfig, --context or --in-cluster: collect one cluster per run\n"
    )


def test_collect_nothing_given_rejected(runner: CliRunner) -> None:
    result = runner.invoke(app, ["collect"])

    assert result.exit_code == 2
    assert result.stderr.startswith("error: nothing to collect")


# --- snapshot show -------------------------------------------------------------------------------


@pytest.fixture
def fixture_snapshot(runner: CliRunner, tmp_path: Path) -> Path:
    output = tmp_path / "payments-prod.json.gz"
    result = _collect(runner, output)
    assert result.exit_code == 0
    return output


def test_show_json_counts(runner: CliRunner, fixture_snapshot: Path) -> None:
    result = runner.invoke(app, ["snapshot", "show", str(fixture_snapshot), "-o", "json"])
    summary = json.loads(result.stdout)

    assert result.exit_code == 0
    assert summary["schema_version"] == "1.0"
    assert summary["tool"] == {"name": "blastradius", "version": __version__}
    assert summary["coverage_gaps"] == []
    assert summary["aws_accounts"] == []
    assert summary["clusters"] == [
        {
            "name": "payments-prod",
            "server": None,
            "manifests": [str(FIXTURES)],
            "oidc_issuer": None,
            "kinds": FIXTURE_KINDS,
            "skipped_kinds": {"ConfigMap": 1, "Service": 1},
        }
    ]


def test_show_table_counts(runner: CliRunner, fixture_snapshot: Path) -> None:
    result = runner.invoke(app, ["snapshot", "show", str(fixture_snapshot)])
    rows = {}
    for line in result.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if len(cells) == 2 and cells[1].isdigit():
            rows[cells[0]] = int(cells[1])

    assert result.exit_code == 0
    assert f"cluster payments-prod ({FIXTURES})" in result.stdout
    assert rows == {**FIXTURE_KINDS, "ConfigMap (skipped)": 1, "Service (skipped)": 1}
    assert "coverage gaps at collection: none" in result.stdout


def test_show_missing_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json.gz"

    result = runner.invoke(app, ["snapshot", "show", str(missing)])

    assert result.exit_code == 2
    assert result.stderr == f"error: {missing}: snapshot file not found\n"


def test_show_corrupt_file_exits_2(runner: CliRunner, fixture_snapshot: Path) -> None:
    complete = fixture_snapshot.read_bytes()
    fixture_snapshot.write_bytes(complete[: len(complete) // 3])

    result = runner.invoke(app, ["snapshot", "show", str(fixture_snapshot)])

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {fixture_snapshot}: corrupt gzip data (")


def test_show_newer_schema_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "future.json"
    path.write_text('{"schema_version": "2.0", "clusters": []}')

    result = runner.invoke(app, ["snapshot", "show", str(path)])

    assert result.exit_code == 2
    assert "is newer than this blastradius supports (1.0); upgrade blastradius to read it" in result.stderr


# --- entry point ---------------------------------------------------------------------------------


def test_module_entry_prints_version() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "blastradius", "--version"], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False
    )

    assert completed.returncode == 0
    assert completed.stdout == f"blastradius {__version__}\n"


# --- coverage gaps on stderr ---------------------------------------------------------------------


def test_collect_gap_line_escapes_controls(runner: CliRunner, tmp_path: Path) -> None:
    """A secret name from AWS reaches the gap detail; its ANSI colour sequence is printed as an escape."""
    secret_list = {
        "SecretList": [
            {
                "ARN": "arn:aws:secretsmanager:us-east-1:111122223333:secret:production/db-AbCdEf",
                "Name": "production/\x1b[31mdb",
                "KmsKeyId": "alias/production-secrets",
            }
        ]
    }
    secrets_path = tmp_path / "secrets.json"
    secrets_path.write_text(json.dumps(secret_list))

    result = runner.invoke(app, ["collect", "--aws-json", str(secrets_path), "-o", str(tmp_path / "s.json.gz")])

    assert result.exit_code == 0
    assert "\x1b" not in result.stderr
    assert (
        "  aws:111122223333: kms:GetKeyPolicy: not_found (KMS key alias/production-secrets of secret "
        "production/\\x1b[31mdb is not in the given files; who can decrypt it is unknown)\n"
    ) in result.stderr
