"""`blastradius graph stats`: node and edge counts of a small snapshot, as a table and as JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.snapshot import coverage_gap, write_snapshot
from tests.graph.estate import READ_SECRETS, grant, namespace, role_binding, sa_subject, secret, service_account, snapshot, user_subject

# Namespace `apps` with ServiceAccount `api`, which reads Secret `db`, its implicit `default`
# ServiceAccount and one coverage gap. User bob is bound to a missing role, which gives a build
# warning and no node, because the binding grants nothing.
EXPECTED = {
    "nodes": 11,
    "edges": 10,
    "nodes_by_kind": {"exec_set": 2, "pod_set": 2, "sa_set": 2, "secret": 1, "secret_set": 2, "serviceaccount": 2},
    "edges_by_kind": {"contains": 7, "mounts": 1, "rbac_read_secrets": 1, "runs_as": 1},
    "coverage_gaps": 1,
    "warnings": 1,
}
TABLE_ROW = re.compile(r"^│ (\S+) +│ +(\d+) │$")


@pytest.fixture
def snapshot_file(tmp_path: Path) -> Path:
    objects = [
        namespace("apps"), service_account("apps", "api"), secret("apps", "db"),
        *grant("apps", sa_subject("apps", "api"), READ_SECRETS),
        role_binding("apps", "bob-missing-role", ("ClusterRole", "missing"), user_subject("bob")),
    ]
    snapshot_dict = snapshot(objects, oidc_issuer=None)
    snapshot_dict["coverage_gaps"].append(
        coverage_gap("kubernetes:test", "forbidden", "secrets", "HTTP 403: secrets is forbidden", namespace="kube-system"))
    return write_snapshot(snapshot_dict, tmp_path / "small.json.gz")


def test_stats_json_exact_counts(snapshot_file: Path) -> None:
    result = CliRunner().invoke(app, ["graph", "stats", "-s", str(snapshot_file), "-o", "json"])

    assert result.exit_code == 0
    assert json.loads(result.stdout) == EXPECTED


def test_stats_table_titles(snapshot_file: Path) -> None:
    result = CliRunner().invoke(app, ["graph", "stats", "-s", str(snapshot_file)])
    lines = result.stdout.splitlines()

    assert result.exit_code == 0
    assert [line for line in lines if line.startswith(("nodes:", "edges:"))] == ["nodes: 11", "edges: 10"]
    assert lines[-1] == "coverage gaps: 1, build warnings: 1"


def test_stats_table_rows(snapshot_file: Path) -> None:
    result = CliRunner().invoke(app, ["graph", "stats", "-s", str(snapshot_file)])
    rows = [match.groups() for match in map(TABLE_ROW.match, result.stdout.splitlines()) if match]

    assert rows == [
        *((kind, str(count)) for kind, count in EXPECTED["nodes_by_kind"].items()),
        *((kind, str(count)) for kind, count in EXPECTED["edges_by_kind"].items()),
    ]


def test_stats_warning_logged(snapshot_file: Path) -> None:
    result = CliRunner().invoke(app, ["graph", "stats", "-s", str(snapshot_file), "-o", "json"])

    assert ("WARNING blastradius.cli.common: cluster test: RoleBinding apps/bob-missing-role: roleRef names "
            "ClusterRole missing, which is not in the snapshot; the binding grants nothing until that role exists"
            ) in result.stderr


def test_stats_missing_file_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "absent.json.gz"

    result = CliRunner().invoke(app, ["graph", "stats", "-s", str(missing)])

    assert result.exit_code == 2
    assert result.stderr == f"error: {missing}: snapshot file not found\n"
    assert result.stdout == ""
