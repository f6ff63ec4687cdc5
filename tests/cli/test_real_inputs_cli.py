"""The CLI on real third-party files: an AWS authorization-details sample and Kubernetes' bootstrap RBAC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastradius.cli.app import app

REAL_INPUTS = Path(__file__).resolve().parents[2].parent / "shared" / "real-inputs"
AUTH_DETAILS = REAL_INPUTS / "aws-auth-details" / "example-authz-details.json"
BOOTSTRAP_RBAC = REAL_INPUTS / "kubernetes-bootstrap-rbac"
OVERPRIVILEGED = "arn:aws:iam::012345678901:role/OverprivilegedEC2"

pytestmark = pytest.mark.skipif(not REAL_INPUTS.is_dir(), reason=f"real inputs are not present at {REAL_INPUTS}")


@pytest.fixture(scope="module")
def aws_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    snapshot = tmp_path_factory.mktemp("aws") / "aws.json.gz"
    result = CliRunner().invoke(app, ["collect", "--aws-json", str(AUTH_DETAILS), "-o", str(snapshot)])
    assert result.exit_code == 0, result.output
    return snapshot


def test_uncollected_secrets_are_unknown(aws_sample: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", OVERPRIVILEGED, "-s", str(aws_sample), "-o", "json"])
    document = json.loads(result.stdout)
    assert document["message"] == (f"a leak of {OVERPRIVILEGED} exposes no secret that the snapshot holds; "
                                   "the coverage gaps below leave the rest unknown")
    assert document["coverage_notes"] == ["results may be incomplete: secretsmanager:ListSecrets could not be read "
                                          "at collection (not_found: not in the given files)"]


def test_wildcard_read_says_unknown(aws_sample: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "-s", str(aws_sample), "-o", "json"])
    rows = [row for row in json.loads(result.stdout)["rows"]
            if row["check_id"] == "IAM-WILDCARD-RESOURCE" and "role/OverprivilegedEC2" in row["message"]]
    assert [row["message"] for row in rows] == [
        "role/OverprivilegedEC2: inline policy SupYo allows secretsmanager:GetSecretValue on every secret "
        "(statement VisualEditor0); which secrets it can read is unknown, because the account's secret list was not collected"]


def test_bootstrap_rbac_kube_system_readers(tmp_path: Path) -> None:
    snapshot = tmp_path / "rbac.json.gz"
    collected = CliRunner().invoke(app, ["collect", "--manifests", str(BOOTSTRAP_RBAC), "-o", str(snapshot)])
    assert collected.exit_code == 0, collected.output
    result = CliRunner().invoke(app, ["query", "who-can", "secret:kube-system/*", "-s", str(snapshot), "-o", "json"])
    principals = {row["principal"] for row in json.loads(result.stdout)["rows"]}
    assert {"group:system:masters", "user:system:kube-controller-manager",
            "system:serviceaccount:kube-system:namespace-controller"} <= principals
    assert "group:system:authenticated" not in principals


def test_token_creation_reaches_bound_serviceaccount(tmp_path: Path) -> None:
    snapshot = tmp_path / "rbac.json.gz"
    CliRunner().invoke(app, ["collect", "--manifests", str(BOOTSTRAP_RBAC), "-o", str(snapshot)])
    result = CliRunner().invoke(app, ["query", "path", "user:system:kube-controller-manager",
                                      "system:serviceaccount:kube-system:namespace-controller", "-s", str(snapshot), "-o", "json"])
    steps = json.loads(result.stdout)["rows"]
    assert [(step["kind"], step["to"]) for step in steps] == [
        ("rbac_create_token", "every ServiceAccount of the cluster"),
        ("contains", "every ServiceAccount of namespace kube-system"),
        ("contains", "system:serviceaccount:kube-system:namespace-controller"),
    ]


def test_aggregation_controller_can_escalate(tmp_path: Path) -> None:
    snapshot = tmp_path / "rbac.json.gz"
    CliRunner().invoke(app, ["collect", "--manifests", str(BOOTSTRAP_RBAC), "-o", str(snapshot)])
    result = CliRunner().invoke(app, ["query", "reach", "system:serviceaccount:kube-system:clusterrole-aggregation-controller",
                                      "-s", str(snapshot), "-o", "json"])
    paths = {row["target"]: row["path"] for row in json.loads(result.stdout)["rows"]}
    assert paths["every Secret of the cluster"] == (
        "system:serviceaccount:kube-system:clusterrole-aggregation-controller -[rbac_escalate]-> any right in any namespace "
        "-[contains]-> every Secret of the cluster")


def test_sample_escalation_found(aws_sample: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "-s", str(aws_sample), "-o", "json"])
    escalating = sorted(row["details"]["evidence"]["principal"].split(":", 5)[-1] for row in json.loads(result.stdout)["rows"]
                        if row["check_id"] == "IAM-PRIVILEGE-ESCALATION")
    assert "role/OverprivilegedEC2" in escalating
    assert "user/obama" in escalating
