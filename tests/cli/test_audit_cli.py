"""Tests for `blastradius audit`, driven through typer's CliRunner, on the example estate."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.queries.audit.docs import catalogue_markdown, generated_part

CANARY = "CANARY-do-not-store-7f3a9c"
CANARY_BASE64_PREFIX = base64.b64encode(CANARY.encode()).decode()[:36]
REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "snapshots" / "example"
EXAMPLE_CONFIG = EXAMPLE / "blastradius.toml"
REFERENCE_TIME = "2026-12-01T12:00:00Z"
ACCOUNT_ARN = "arn:aws:iam::111122223333"

# Every finding on the example estate at the reference time, with the example configuration:
# (check id, severity, (kind, namespace, name) of each object).
EXAMPLE_FINDINGS = [
    ("ESO-CSS-BROAD", "high", (("ClusterSecretStore", None, "aws-global"),)),
    ("ESO-STORE-IAM-WIDE", "high", (("IAMRole", None, f"{ACCOUNT_ARN}:role/eso-controller"),
                                    ("SecretStore", "dev-sandbox", "controller-default"))),
    ("ESO-STORE-IAM-WIDE", "high", (("IAMRole", None, f"{ACCOUNT_ARN}:role/eso-global"),
                                    ("ClusterSecretStore", None, "aws-global"))),
    ("ESO-STORE-IAM-WIDE", "high", (("IAMUser", None, f"{ACCOUNT_ARN}:user/eso-staging"),
                                    ("SecretStore", "staging", "aws-staging"))),
    ("ESO-STORE-READS-OWN-CREDENTIALS", "high", (
        ("SecretStore", "staging", "aws-staging"), ("IAMUser", None, f"{ACCOUNT_ARN}:user/eso-staging"),
        ("SecretsManagerSecret", None,
         "arn:aws:secretsmanager:us-east-1:111122223333:secret:eso-credentials/staging-access-key-Hd1Fz5"))),
    ("ESO-SYNC-FAILING", "high", (("ExternalSecret", "production", "payments-api-key"),)),
    ("IAM-PRIVILEGE-ESCALATION", "high", (("IAMRole", None, f"{ACCOUNT_ARN}:role/admin"),)),
    ("IAM-WILDCARD-RESOURCE", "high", (("IAMRole", None, f"{ACCOUNT_ARN}:role/admin"),
                                       ("IAMPolicy", None, "arn:aws:iam::aws:policy/AdministratorAccess"))),
    ("IAM-WILDCARD-RESOURCE", "high", (("IAMRole", None, f"{ACCOUNT_ARN}:role/eso-global"),)),
    ("IRSA-TRUST-UNPINNED", "high", (("IAMRole", None, f"{ACCOUNT_ARN}:role/eso-global"),)),
    ("K8S-ESO-CONTROLLER-CLUSTER-WIDE", "high", (("ClusterRoleBinding", None, "external-secrets-cert-controller"),
                                                 ("ClusterRole", None, "external-secrets-cert-controller"))),
    ("K8S-ESO-CONTROLLER-CLUSTER-WIDE", "high", (("ClusterRoleBinding", None, "external-secrets-controller"),
                                                 ("ClusterRole", None, "external-secrets-controller"))),
    ("ESO-CSS-UNANCHORED-REGEX", "medium", (("ClusterSecretStore", None, "aws-production-only"),)),
    ("ESO-REFRESH-INTERVAL", "medium", (("ExternalSecret", "staging", "app-config"),)),
    ("ESO-STORE-NO-AUTH", "medium", (("SecretStore", "dev-sandbox", "controller-default"),)),
    ("ESO-STORE-STATIC-KEYS", "medium", (("SecretStore", "staging", "aws-staging"), ("Secret", "staging", "aws-credentials"))),
    ("ESO-SYNC-STALE", "medium", (("ExternalSecret", "production", "payments-api-key"),)),
    ("ESO-SYNC-STALE", "medium", (("ExternalSecret", "staging", "stale-config"),)),
    ("IAM-NO-DENY-HIGH-PRIVILEGE", "medium", (("IAMRole", None, f"{ACCOUNT_ARN}:role/eso-controller"),)),
    ("IAM-NO-DENY-HIGH-PRIVILEGE", "medium", (("IAMRole", None, f"{ACCOUNT_ARN}:role/eso-global"),)),
    ("IAM-NO-DENY-HIGH-PRIVILEGE", "medium", (("IAMUser", None, f"{ACCOUNT_ARN}:user/eso-staging"),)),
    ("K8S-ESO-DELETE-RIGHTS", "medium", (("RoleBinding", "production", "sre-admin"),)),
    ("K8S-ESO-EDIT-AGGREGATION", "medium", (("ClusterRole", None, "external-secrets-edit"),
                                            ("RoleBinding", "dev-sandbox", "dev-team-edit"),
                                            ("RoleBinding", "production", "sre-admin"),
                                            ("RoleBinding", "staging", "legacy-ci-edit"))),
    ("K8S-LEGACY-SA-TOKEN", "medium", (("Secret", "staging", "legacy-ci-token"),)),
    ("K8S-SECRET-NOT-ESO-MANAGED", "medium", (("Secret", "production", "manual-api-token"),)),
    ("ESO-CSS-REFERENT-AUTH", "low", (("ClusterSecretStore", None, "aws-production-only"),)),
    ("SNAPSHOT-BUILD-WARNING", "info", ()),
]


@pytest.fixture(scope="module")
def example_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("snapshots") / "example.json.gz"
    result = CliRunner().invoke(app, ["collect", "--manifests", str(EXAMPLE / "k8s"), "--aws-json", str(EXAMPLE / "aws.json"),
                                      "--cluster-name", "example", "-o", str(output)])
    assert result.exit_code == 0, result.stderr
    return output


def _audit(snapshot: Path, *extra: str, config: Path | None = EXAMPLE_CONFIG):
    arguments = ["audit", "-s", str(snapshot), "--now", REFERENCE_TIME, *extra]
    if config is not None:
        arguments += ["--config", str(config)]
    return CliRunner().invoke(app, arguments)


def _rows(result) -> list[dict]:
    return json.loads(result.stdout)["rows"]


def _summary(rows: list[dict]) -> list[tuple]:
    return [(row["check_id"], row["severity"],
             tuple((location["kind"], location["namespace"], location["name"]) for location in row["details"]["locations"]))
            for row in rows]


# --- the example estate ------------------------------------------------------------------------------


def test_example_fails_on_high(example_snapshot: Path) -> None:
    result = _audit(example_snapshot, "--fail-on", "high", "-o", "json")
    assert result.exit_code == 1
    assert _summary(_rows(result)) == EXAMPLE_FINDINGS


def test_example_reports_readme_expectations(example_snapshot: Path) -> None:
    findings = {(check, objects[0]) for check, _, objects in _summary(_rows(_audit(example_snapshot, "-o", "json")))
                if objects}
    assert ("ESO-CSS-BROAD", ("ClusterSecretStore", None, "aws-global")) in findings
    assert ("IAM-WILDCARD-RESOURCE", ("IAMRole", None, f"{ACCOUNT_ARN}:role/eso-global")) in findings
    assert ("IRSA-TRUST-UNPINNED", ("IAMRole", None, f"{ACCOUNT_ARN}:role/eso-global")) in findings
    assert ("ESO-SYNC-FAILING", ("ExternalSecret", "production", "payments-api-key")) in findings


def test_example_leaves_out_guarded_objects(example_snapshot: Path) -> None:
    findings = {(check, objects[0]) for check, _, objects in _summary(_rows(_audit(example_snapshot, "-o", "json")))
                if objects}
    assert ("IRSA-TRUST-UNPINNED", ("IAMRole", None, f"{ACCOUNT_ARN}:role/eso-production")) not in findings
    assert ("IAM-NO-DENY-HIGH-PRIVILEGE", ("IAMRole", None, f"{ACCOUNT_ARN}:role/eso-production")) not in findings
    assert ("ESO-SYNC-STALE", ("ExternalSecret", "production", "database-credentials")) not in findings
    assert ("ESO-REFRESH-INTERVAL", ("ExternalSecret", "staging", "stale-config")) not in findings
    assert ("K8S-SECRET-EDITS-UNBLOCKED", ("Namespace", None, "production")) not in findings


def test_example_stale_message_names_rotation(example_snapshot: Path) -> None:
    stale = [row["message"] for row in _rows(_audit(example_snapshot, "-o", "json")) if row["check_id"] == "ESO-SYNC-STALE"]
    assert stale[1] == (
        "ExternalSecret staging/stale-config: last successful sync 2026-11-28T12:00:00Z is 72 hours old at "
        "2026-12-01T12:00:00Z, more than twice its refreshInterval of 1h; staging/legacy/config rotated at "
        "2026-11-29T03:00:07Z since, so the copy is outdated")


def test_example_without_config_uses_label(example_snapshot: Path) -> None:
    rows = _rows(_audit(example_snapshot, "-o", "json", config=None))
    unmanaged = [row["message"] for row in rows if row["check_id"] == "K8S-SECRET-NOT-ESO-MANAGED"]
    assert unmanaged == [
        'Secret production/manual-api-token in namespace production (protected because it is labelled protected: "true" '
        "(no protected_namespaces configured)) is not managed by ESO: no ExternalSecret owns or targets it, so its value "
        "bypasses the cloud store and its audit log"]


# --- output formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["table", "json", "csv"])
def test_outputs_never_contain_canary(example_snapshot: Path, output: str) -> None:
    result = _audit(example_snapshot, "-o", output)
    assert CANARY not in result.stdout
    assert CANARY_BASE64_PREFIX not in result.stdout


def test_table_output_lists_findings(example_snapshot: Path) -> None:
    result = _audit(example_snapshot, "-o", "table")
    assert "ESO-CSS-BROAD" in result.stdout
    assert "27 finding(s): 12 high, 13 medium, 1 low, 1 info" in result.stdout


def test_csv_output_columns(example_snapshot: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(_audit(example_snapshot, "-o", "csv").stdout)))
    assert list(rows[0])[:4] == ["severity", "check_id", "objects", "message"]
    assert rows[0]["objects"] == "ClusterSecretStore aws-global (" + str(EXAMPLE / "k8s" / "40-cluster-stores.yaml") + ":15)"
    assert len(rows) == len(EXAMPLE_FINDINGS)


def test_json_output_keeps_locations(example_snapshot: Path) -> None:
    first = _rows(_audit(example_snapshot, "-o", "json"))[0]
    assert first["details"]["locations"] == [{"kind": "ClusterSecretStore", "namespace": None, "name": "aws-global",
                                              "file": str(EXAMPLE / "k8s" / "40-cluster-stores.yaml"), "line": 15}]
    assert first["recommendation"].startswith("Add conditions")


# --- exit codes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold, exit_code", [
    pytest.param("low", 1, id="low"),
    pytest.param("medium", 1, id="medium"),
    pytest.param("high", 1, id="high"),
    pytest.param("critical", 0, id="critical"),
])
def test_fail_on_thresholds(example_snapshot: Path, threshold: str, exit_code: int) -> None:
    assert _audit(example_snapshot, "--fail-on", threshold, "-o", "json").exit_code == exit_code


def test_severity_override_fails_critical(example_snapshot: Path, tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text('[severity]\nESO-CSS-BROAD = "critical"\n')
    result = _audit(example_snapshot, "--fail-on", "critical", "-o", "json", config=config)
    assert result.exit_code == 1
    assert [(row["check_id"], row["severity"]) for row in _rows(result) if row["severity"] == "critical"] == [
        ("ESO-CSS-BROAD", "critical")]


def test_bad_toml_names_file(example_snapshot: Path, tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("protected_namespaces = [production\n")
    result = _audit(example_snapshot, config=config)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {config}: invalid TOML: ")


def test_unknown_check_override_names_key(example_snapshot: Path, tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text('[severity]\nESO-NO-SUCH-CHECK = "low"\n')
    result = _audit(example_snapshot, config=config)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {config}: severity.ESO-NO-SUCH-CHECK: unknown check id")


def test_invalid_now_rejected(example_snapshot: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "-s", str(example_snapshot), "--now", "yesterday"])
    assert result.exit_code == 2
    assert result.stderr == "error: --now: 'yesterday' is not an ISO 8601 time; expected for example 2026-12-01T12:00:00Z\n"


def test_missing_snapshot_rejected(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "-s", str(tmp_path / "absent.json.gz")])
    assert result.exit_code == 2
    assert str(tmp_path / "absent.json.gz") in result.stderr


# --- the catalogue reference page ------------------------------------------------------------------------


def test_reference_page_matches_catalogue() -> None:
    page = (REPO_ROOT / "docs" / "audit-checks.md").read_text(encoding="utf-8")
    assert generated_part(page) == catalogue_markdown()


def test_invalid_key_owner_names_key(example_snapshot: Path, tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text('[static_key_owners]\n"staging/aws-credentials" = "eso-staging"\n')
    result = _audit(example_snapshot, config=config)
    assert result.exit_code == 2
    assert result.stderr == (f"error: {config}: static_key_owners.staging/aws-credentials = 'eso-staging' is not an IAM "
                             "user or role ARN\n")
