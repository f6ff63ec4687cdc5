"""Tests for the SARIF rendering of the audit: schema validity, rules, results and fingerprints."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from blastradius import __version__
from blastradius.cli.app import app
from blastradius.collectors.aws_files import collect_aws_files
from blastradius.collectors.manifests import collect_manifests
from blastradius.config import Config
from blastradius.graph.builder import build_graph
from blastradius.queries.audit import CHECKS, Finding, run_audit, severities
from blastradius.render.sarif import FINGERPRINT_KEY, aws_bundle_files, render_sarif
from blastradius.snapshot import assemble, write_snapshot

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO_ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
REFERENCE_TIME = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
CANARY = "CANARY-do-not-store-7f3a9c"

# (ruleId, level, location file, start line) of each result for the example estate at REFERENCE_TIME.
EXAMPLE_RESULTS = [
    ("ESO-CSS-BROAD", "error", "snapshots/example/k8s/40-cluster-stores.yaml", 15),
    ("ESO-STORE-IAM-WIDE", "error", "snapshots/example/k8s/32-dev-sandbox.yaml", 22),
    ("ESO-STORE-IAM-WIDE", "error", "snapshots/example/k8s/40-cluster-stores.yaml", 15),
    ("ESO-STORE-IAM-WIDE", "error", "snapshots/example/k8s/31-staging.yaml", 86),
    ("ESO-STORE-READS-OWN-CREDENTIALS", "error", "snapshots/example/k8s/31-staging.yaml", 86),
    ("ESO-SYNC-FAILING", "error", "snapshots/example/k8s/30-production.yaml", 141),
    ("IAM-PRIVILEGE-ESCALATION", "error", "snapshots/example/aws.json", None),
    ("IAM-WILDCARD-RESOURCE", "error", "snapshots/example/aws.json", None),
    ("IAM-WILDCARD-RESOURCE", "error", "snapshots/example/aws.json", None),
    ("IRSA-TRUST-UNPINNED", "error", "snapshots/example/aws.json", None),
    ("K8S-ESO-CONTROLLER-CLUSTER-WIDE", "error", "snapshots/example/k8s/20-external-secrets-install.yaml", 350),
    ("K8S-ESO-CONTROLLER-CLUSTER-WIDE", "error", "snapshots/example/k8s/20-external-secrets-install.yaml", 151),
    ("ESO-CSS-UNANCHORED-REGEX", "warning", "snapshots/example/k8s/40-cluster-stores.yaml", 42),
    ("ESO-REFRESH-INTERVAL", "warning", "snapshots/example/k8s/31-staging.yaml", 115),
    ("ESO-STORE-NO-AUTH", "warning", "snapshots/example/k8s/32-dev-sandbox.yaml", 22),
    ("ESO-STORE-STATIC-KEYS", "warning", "snapshots/example/k8s/31-staging.yaml", 86),
    ("ESO-SYNC-STALE", "warning", "snapshots/example/k8s/30-production.yaml", 141),
    ("ESO-SYNC-STALE", "warning", "snapshots/example/k8s/31-staging.yaml", 147),
    ("IAM-NO-DENY-HIGH-PRIVILEGE", "warning", "snapshots/example/aws.json", None),
    ("IAM-NO-DENY-HIGH-PRIVILEGE", "warning", "snapshots/example/aws.json", None),
    ("IAM-NO-DENY-HIGH-PRIVILEGE", "warning", "snapshots/example/aws.json", None),
    ("K8S-ESO-DELETE-RIGHTS", "warning", "snapshots/example/k8s/10-kubernetes-default-rbac.yaml", 22),
    ("K8S-ESO-DELETE-RIGHTS", "warning", "snapshots/example/k8s/30-production.yaml", 5),
    ("K8S-ESO-EDIT-AGGREGATION", "warning", "snapshots/example/k8s/20-external-secrets-install.yaml", 208),
    ("K8S-LEGACY-SA-TOKEN", "warning", "snapshots/example/k8s/31-staging.yaml", 58),
    ("K8S-SECRET-NOT-ESO-MANAGED", "warning", "snapshots/example/k8s/30-production.yaml", 316),
    ("ESO-CSS-REFERENT-AUTH", "note", "snapshots/example/k8s/40-cluster-stores.yaml", 42),
]


@pytest.fixture(scope="module")
def example_snapshot() -> dict[str, Any]:
    """The example estate collected with paths relative to the repository root, as CI would run it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO_ROOT)
        collection = collect_manifests(["snapshots/example/k8s"], "example", oidc_issuer=ISSUER)
        collection.extend(collect_aws_files(["snapshots/example/aws.json"]))
    return assemble(collection, collected_at=REFERENCE_TIME)


@pytest.fixture(scope="module")
def findings(example_snapshot: dict[str, Any]) -> list[Finding]:
    return run_audit(example_snapshot, build_graph(example_snapshot), Config())


@pytest.fixture(scope="module")
def sarif(example_snapshot: dict[str, Any], findings: list[Finding]) -> dict[str, Any]:
    return json.loads(render_sarif(findings, severities(Config()), aws_bundle_files(example_snapshot)))


def _primary(result: dict[str, Any]) -> tuple[str | None, int | None]:
    physical = result["locations"][0].get("physicalLocation", {})
    return physical.get("artifactLocation", {}).get("uri"), physical.get("region", {}).get("startLine")


def test_example_log_matches_schema(sarif: dict[str, Any]) -> None:
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)

    errors = [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(sarif)]

    assert errors == []


def test_driver_names_tool_and_version(sarif: dict[str, Any]) -> None:
    driver = sarif["runs"][0]["tool"]["driver"]

    assert sarif["version"] == "2.1.0"
    assert (driver["name"], driver["version"], driver["informationUri"]) == ("blastradius", __version__, "urn:blastradius:audit")


def test_rules_cover_check_catalogue(sarif: dict[str, Any]) -> None:
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]

    assert [rule["id"] for rule in rules] == [check.id for check in CHECKS]


def test_rule_carries_catalogue_entry(sarif: dict[str, Any]) -> None:
    rule = sarif["runs"][0]["tool"]["driver"]["rules"][0]
    check = CHECKS[0]

    assert rule["id"] == "ESO-CSS-BROAD"
    assert rule["name"] == "BroadClusterSecretStore"
    assert rule["shortDescription"] == {"text": check.title}
    assert rule["fullDescription"] == {"text": check.detects}
    assert rule["help"]["text"] == f"{check.why}\n\nRecommendation: {check.recommendation}\n\nScope: {check.scope}"
    assert rule["defaultConfiguration"] == {"level": "error"}
    assert rule["properties"] == {"tags": ["security", "external-secrets"], "precision": "high", "security-severity": "8.0"}


@pytest.mark.parametrize(
    "severity, level, score",
    [("critical", "error", "9.5"), ("high", "error", "8.0"), ("medium", "warning", "5.5"), ("low", "note", "3.0"),
     ("info", "note", None)],
    ids=["critical", "high", "medium", "low", "info"],
)
def test_severity_override_sets_rule_level(findings: list[Finding], severity: str, level: str, score: str | None) -> None:
    levels = severities(Config(severity={"ESO-CSS-BROAD": severity}))

    rule = json.loads(render_sarif(findings, levels))["runs"][0]["tool"]["driver"]["rules"][0]

    assert rule["defaultConfiguration"]["level"] == level
    assert rule["properties"].get("security-severity") == score


def test_example_results_exact(sarif: dict[str, Any]) -> None:
    results = sarif["runs"][0]["results"]

    assert [(result["ruleId"], result["level"], *_primary(result)) for result in results] == EXAMPLE_RESULTS


def test_result_points_at_manifest_object(sarif: dict[str, Any], findings: list[Finding]) -> None:
    result = sarif["runs"][0]["results"][4]

    assert result["ruleId"] == "ESO-STORE-READS-OWN-CREDENTIALS"
    assert result["message"] == {"text": findings[4].message}
    assert result["locations"] == [{
        "physicalLocation": {"artifactLocation": {"uri": "snapshots/example/k8s/31-staging.yaml"}, "region": {"startLine": 86}},
        "logicalLocations": [{"name": "aws-staging", "fullyQualifiedName": "SecretStore/staging/aws-staging", "kind": "resource"}],
    }]


def test_related_locations_list_other_objects(sarif: dict[str, Any]) -> None:
    static_keys = next(result for result in sarif["runs"][0]["results"] if result["ruleId"] == "ESO-STORE-STATIC-KEYS")

    assert static_keys["relatedLocations"] == [{
        "id": 1,
        "physicalLocation": {"artifactLocation": {"uri": "snapshots/example/k8s/31-staging.yaml"}, "region": {"startLine": 73}},
        "logicalLocations": [{"name": "aws-credentials", "fullyQualifiedName": "Secret/staging/aws-credentials", "kind": "resource"}],
    }]


def test_aws_result_names_entity(sarif: dict[str, Any]) -> None:
    unpinned = next(result for result in sarif["runs"][0]["results"] if result["ruleId"] == "IRSA-TRUST-UNPINNED")

    assert unpinned["locations"][0]["logicalLocations"] == [{
        "name": "arn:aws:iam::111122223333:role/eso-global",
        "fullyQualifiedName": "IAMRole/arn:aws:iam::111122223333:role/eso-global",
        "kind": "resource",
    }]


def test_live_aws_result_has_no_file(findings: list[Finding]) -> None:
    log = json.loads(render_sarif(findings, severities(Config()), aws_files={}))
    unpinned = next(result for result in log["runs"][0]["results"] if result["ruleId"] == "IRSA-TRUST-UNPINNED")

    assert list(unpinned["locations"][0]) == ["logicalLocations"]


def test_fingerprints_unique_per_result(sarif: dict[str, Any]) -> None:
    fingerprints = [result["partialFingerprints"][FINGERPRINT_KEY] for result in sarif["runs"][0]["results"]]

    assert len(set(fingerprints)) == len(fingerprints)


def test_fingerprints_ignore_lines_and_time(example_snapshot: dict[str, Any], sarif: dict[str, Any]) -> None:
    """Moved manifests and a later audit keep each finding's fingerprint."""
    moved = json.loads(json.dumps(example_snapshot))
    for obj in moved["clusters"][0]["objects"]:
        obj["origin"]["line"] += 10
    later = run_audit(moved, build_graph(moved), Config(), collected_at=datetime(2026, 12, 1, 12, 5, tzinfo=timezone.utc))

    log = json.loads(render_sarif(later, severities(Config()), aws_bundle_files(moved)))

    def fingerprints(document: dict[str, Any]) -> list[tuple[str, str]]:
        return [(result["ruleId"], result["partialFingerprints"][FINGERPRINT_KEY]) for result in document["runs"][0]["results"]]

    assert fingerprints(log) == fingerprints(sarif)
    assert _primary(log["runs"][0]["results"][0]) == ("snapshots/example/k8s/40-cluster-stores.yaml", 25)


def test_uri_encodes_spaces_and_absolute_paths(findings: list[Finding]) -> None:
    first = findings[0]
    moved = [Finding(first.check_id, first.severity, first.title, first.message,
                     [dict(first.objects[0], file="gitops/prod stores/stores.yaml")]),
             Finding(first.check_id, first.severity, first.title, first.message,
                     [dict(first.objects[0], file="/srv/gitops/stores.yaml")])]

    log = json.loads(render_sarif(moved, severities(Config())))

    assert [_primary(result)[0] for result in log["runs"][0]["results"]] == [
        "gitops/prod%20stores/stores.yaml", "file:///srv/gitops/stores.yaml"]


def test_audit_cli_writes_sarif(example_snapshot: dict[str, Any], tmp_path: Path) -> None:
    snapshot_file = write_snapshot(example_snapshot, tmp_path / "example.json.gz")

    result = CliRunner().invoke(app, ["audit", "-s", str(snapshot_file), "-o", "sarif", "--fail-on", "critical"])

    assert result.exit_code == 0
    log = json.loads(result.stdout)
    assert [(entry["ruleId"], entry["level"], *_primary(entry)) for entry in log["runs"][0]["results"]] == EXAMPLE_RESULTS
    assert CANARY not in result.stdout
