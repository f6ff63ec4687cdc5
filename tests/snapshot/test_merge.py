"""Merging snapshots of several clusters and accounts."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.snapshot import Collection, SnapshotError, assemble, load_snapshot, write_snapshot
from blastradius.snapshot.merge import merge_snapshots


def _snapshot(cluster: str | None, account: str | None, when: str) -> dict:
    collection = Collection()
    if cluster:
        collection.clusters.append({"name": cluster, "objects": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}]})
    if account:
        collection.aws_accounts.append({"account_id": account, "partition": "aws", "regions": ["us-east-1"]})
        collection.coverage_gaps.append({"source": f"aws:{account}", "reason": "access_denied",
                                         "resource": "kms:GetKeyPolicy", "detail": "denied"})
    return assemble(collection, collected_at=datetime.fromisoformat(when).replace(tzinfo=timezone.utc))


def test_merge_keeps_every_part() -> None:
    merged = merge_snapshots([("prod.json", _snapshot("prod", "111122223333", "2026-12-02T10:00:00")),
                              ("stage.json", _snapshot("stage", None, "2026-12-01T09:00:00"))])

    assert [cluster["name"] for cluster in merged["clusters"]] == ["prod", "stage"]
    assert [account["account_id"] for account in merged["aws_accounts"]] == ["111122223333"]
    assert merged["coverage_gaps"] == [{"source": "aws:111122223333", "reason": "access_denied",
                                        "resource": "kms:GetKeyPolicy", "detail": "denied"}]
    assert merged["collected_at"] == "2026-12-01T09:00:00Z"


@pytest.mark.parametrize(("first", "second", "message"), [
    (("prod", None), ("prod", None), "b.json: cluster prod is also in a.json"),
    ((None, "111122223333"), ("x", "111122223333"), "b.json: AWS account 111122223333 is also in a.json"),
], ids=["same-cluster", "same-account"])
def test_merge_rejects_overlap(first: tuple, second: tuple, message: str) -> None:
    with pytest.raises(SnapshotError) as raised:
        merge_snapshots([("a.json", _snapshot(*first, "2026-12-01T00:00:00")),
                         ("b.json", _snapshot(*second, "2026-12-01T00:00:00"))])

    assert str(raised.value).startswith(message)


def test_merge_cli_writes_snapshot(tmp_path: Path) -> None:
    write_snapshot(_snapshot("prod", None, "2026-12-01T00:00:00"), tmp_path / "a.json.gz")
    write_snapshot(_snapshot("stage", None, "2026-12-01T00:00:00"), tmp_path / "b.json.gz")

    result = CliRunner().invoke(app, ["snapshot", "merge", str(tmp_path / "a.json.gz"), str(tmp_path / "b.json.gz"),
                                      "-o", str(tmp_path / "all.json.gz")])

    assert result.exit_code == 0, result.output
    assert [cluster["name"] for cluster in load_snapshot(tmp_path / "all.json.gz")["clusters"]] == ["prod", "stage"]


def test_merge_cli_one_file_exits_two(tmp_path: Path) -> None:
    write_snapshot(_snapshot("prod", None, "2026-12-01T00:00:00"), tmp_path / "a.json.gz")

    result = CliRunner().invoke(app, ["snapshot", "merge", str(tmp_path / "a.json.gz"), "-o", str(tmp_path / "all.json.gz")])

    assert result.exit_code == 2
    assert "merge needs at least two snapshots" in result.output
    assert not (tmp_path / "all.json.gz").exists()
