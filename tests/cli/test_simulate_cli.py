"""`blastradius simulate` on the bundled example estate, driven through typer's CliRunner."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.collectors.aws_files import collect_aws_files
from blastradius.collectors.manifests import collect_manifests
from blastradius.snapshot import assemble, write_snapshot

EXAMPLE = Path(__file__).resolve().parents[2] / "snapshots" / "example"
CANARY = "CANARY-do-not-store-7f3a9c"
CANARY_BASE64_PREFIX = base64.b64encode(CANARY.encode()).decode()[:32]
ESO_GLOBAL = "arn:aws:iam::111122223333:role/eso-global"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:"
EXAMPLE_SECRETS = {
    "secret:dev-sandbox/shared-config", "secret:external-secrets/external-secrets-webhook",
    "secret:production/database-credentials", "secret:production/manual-api-token", "secret:production/payments-api-key",
    "secret:production/shared-tls", "secret:staging/app-config", "secret:staging/aws-credentials",
    "secret:staging/legacy-ci-token", "secret:staging/shared-tls", "secret:staging/stale-config",
}
ESO_GLOBAL_READS = {
    "dev/feature-flags-Vn0Ca9", "eso-credentials/staging-access-key-Hd1Fz5", "production/database/credentials-a1B2c3",
    "production/payments/api-key-Xy7Qp2", "production/payments/api-key-pushed-Lm4Nr8", "shared/config-Bc2Df6",
    "shared/tls-Rs8Uv0", "staging/app/config-Gh5Jk1", "staging/legacy/config-Tz9Wq3", "vault-unseal/keys-Pw6Ey4",
}
ESO_GLOBAL_GAP = ("IAM reach against use: role/eso-global can read 10 secrets, ESO uses 2; not needed by any "
                  "ExternalSecret: dev/feature-flags, eso-credentials/staging-access-key, production/database/credentials, "
                  "production/payments/api-key, production/payments/api-key-pushed, staging/app/config, "
                  "staging/legacy/config, vault-unseal/keys")


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    collection = collect_manifests([str(EXAMPLE / "k8s")], "example")
    collection.extend(collect_aws_files([str(EXAMPLE / "aws.json")]))
    return write_snapshot(assemble(collection), tmp_path_factory.mktemp("snapshot") / "example.json.gz")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_simulate_table_shows_gap(runner: CliRunner, snapshot: Path) -> None:
    result = runner.invoke(app, ["simulate", ESO_GLOBAL, "-s", str(snapshot)], terminal_width=400)

    assert result.exit_code == 0
    assert ESO_GLOBAL_GAP in result.stdout
    assert "Readable: 17 secrets (10 in Secrets Manager, 7 Kubernetes Secrets)" in result.stdout


def test_simulate_json_controller_reaches_every_secret(runner: CliRunner, snapshot: Path) -> None:
    result = runner.invoke(app, ["simulate", "eso-controller", "-s", str(snapshot), "-o", "json"])
    document = json.loads(result.stdout)

    kubernetes = {row["secret"] for row in document["rows"] if row["kind"] == "secret" and row["capability"] == "read"}
    assert result.exit_code == 0
    assert kubernetes == EXAMPLE_SECRETS
    assert document["summary"]["scenario"] == "eso-controller"


def test_simulate_json_gap_numbers(runner: CliRunner, snapshot: Path) -> None:
    result = runner.invoke(app, ["simulate", ESO_GLOBAL, "-s", str(snapshot), "-o", "json"])
    gap, = json.loads(result.stdout)["summary"]["iam_gaps"]

    assert (gap["identity"], gap["can_read"], gap["eso_uses"]) == ("role/eso-global", 10, 2)
    assert gap["synced"] == ["shared/config", "shared/tls"]


def test_simulate_csv_one_row_per_secret(runner: CliRunner, snapshot: Path) -> None:
    result = runner.invoke(app, ["simulate", ESO_GLOBAL, "-s", str(snapshot), "-o", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))

    assert result.exit_code == 0
    assert {row["arn"].removeprefix(SECRET_ARN) for row in rows if row["kind"] == "cloud_secret"} == ESO_GLOBAL_READS
    assert {row["via_identity"] for row in rows} == {"role/eso-global"}


def test_simulate_writes_runbook_file(runner: CliRunner, snapshot: Path, tmp_path: Path) -> None:
    target = tmp_path / "incident" / "eso-global.md"

    result = runner.invoke(app, ["simulate", ESO_GLOBAL, "-s", str(snapshot), "-o", "json", "--runbook", str(target)])

    assert result.exit_code == 0
    assert f"wrote runbook {target}" in result.stderr
    assert target.read_text().startswith(f"# Incident runbook: {ESO_GLOBAL}\n")
    assert target.stat().st_mode & 0o777 == 0o600


@pytest.fixture(scope="module")
def eso_global_runbook(snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    target = tmp_path_factory.mktemp("runbook") / "runbook.md"
    CliRunner().invoke(app, ["simulate", ESO_GLOBAL, "-s", str(snapshot), "--runbook", str(target)])
    return target.read_text().splitlines()


def test_runbook_blocks_eso_global(eso_global_runbook: list[str]) -> None:
    assert ("aws iam put-role-policy --role-name eso-global --policy-name blastradius-incident-deny-all --policy-document "
            """'{"Version": "2012-10-17", "Statement": [{"Sid": "BlastradiusIncidentDenyAll", "Effect": "Deny", """
            """"Action": "*", "Resource": "*"}]}'""") in eso_global_runbook
    assert ('aws cloudtrail lookup-events --region us-east-1 --lookup-attributes '
            'AttributeKey=ResourceName,AttributeValue=arn:aws:iam::111122223333:role/eso-global --start-time "$START"') in eso_global_runbook


def test_runbook_rotates_eso_global_secrets(eso_global_runbook: list[str]) -> None:
    rotated = {line.split("--secret-id ")[1].split()[0].removeprefix(SECRET_ARN) for line in eso_global_runbook
               if line.startswith(("aws secretsmanager rotate-secret", "aws secretsmanager put-secret-value"))}

    assert rotated == ESO_GLOBAL_READS
    assert ("aws secretsmanager rotate-secret --region us-east-1 --secret-id "
            f"{SECRET_ARN}production/database/credentials-a1B2c3") in eso_global_runbook
    assert ("aws secretsmanager rotate-secret --region us-east-1 --secret-id "
            f"{SECRET_ARN}staging/legacy/config-Tz9Wq3") in eso_global_runbook


def test_runbook_reannotates_and_force_syncs(eso_global_runbook: list[str]) -> None:
    force_syncs = [line for line in eso_global_runbook if line.startswith("kubectl annotate externalsecret")]

    assert ("kubectl annotate serviceaccount -n external-secrets eso-global "
            "eks.amazonaws.com/role-arn=arn:aws:iam::111122223333:role/eso-global-v2 --overwrite") in eso_global_runbook
    assert force_syncs == [
        "kubectl annotate externalsecret -n dev-sandbox shared-config force-sync=$(date +%s) --overwrite",
        "kubectl annotate externalsecret -n production database-credentials force-sync=$(date +%s) --overwrite",
        "kubectl annotate externalsecret -n production payments-api-key force-sync=$(date +%s) --overwrite",
        "kubectl annotate externalsecret -n production shared-tls force-sync=$(date +%s) --overwrite",
        "kubectl annotate externalsecret -n staging app-config force-sync=$(date +%s) --overwrite",
        "kubectl annotate externalsecret -n staging shared-tls force-sync=$(date +%s) --overwrite",
        "kubectl annotate externalsecret -n staging stale-config force-sync=$(date +%s) --overwrite",
    ]


def test_runbook_has_no_canary(eso_global_runbook: list[str]) -> None:
    text = "\n".join(eso_global_runbook)

    assert CANARY not in text
    assert CANARY_BASE64_PREFIX not in text


def test_simulate_etcd_csv_has_windows(runner: CliRunner, snapshot: Path) -> None:
    result = runner.invoke(app, ["simulate", "etcd", "-s", str(snapshot), "-o", "csv"])
    rows = {row["secret"]: row["exposure_window"] for row in csv.DictReader(io.StringIO(result.stdout))
            if row["kind"] == "secret" and row["capability"] == "read"}

    assert rows["secret:production/database-credentials"] == "up to 1h before the backup"
    assert rows["secret:staging/app-config"] == "unbounded: External Secrets does not refresh it on a timer"
    assert rows["secret:production/manual-api-token"] == "unknown: not managed by External Secrets"


def test_simulate_unknown_reference_exits_2(runner: CliRunner, snapshot: Path) -> None:
    result = runner.invoke(app, ["simulate", "clustersecretstore:aws-globl", "-s", str(snapshot)])

    assert result.exit_code == 2
    assert "closest matches: clustersecretstore:aws-global" in result.stderr


def test_runbook_directory_target_rejected(runner: CliRunner, snapshot: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", ESO_GLOBAL, "-s", str(snapshot), "--runbook", str(tmp_path)])

    assert result.exit_code == 2
    assert f"--runbook: {tmp_path} is a directory; give the path of a Markdown file" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_runbook_under_file_rejected(runner: CliRunner, snapshot: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder\n")
    target = blocker / "rb.md"

    result = runner.invoke(app, ["simulate", ESO_GLOBAL, "-s", str(snapshot), "--runbook", str(target)])

    assert result.exit_code == 2
    assert f"--runbook: cannot write {target}: " in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_runbook_disk_full_leaves_nothing(runner: CliRunner, snapshot: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("blastradius.files.os.fsync", full_disk)
    target = tmp_path / "rb.md"

    result = runner.invoke(app, ["simulate", ESO_GLOBAL, "-s", str(snapshot), "--runbook", str(target)])

    assert result.exit_code == 2
    assert f"--runbook: cannot write {target}: No space left on device" in result.stderr
    assert list(tmp_path.iterdir()) == []
