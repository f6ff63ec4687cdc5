"""Loading a snapshot that came from elsewhere: size limits, gzip bombs, unknown keys, wrong types."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.graph.builder import build_graph
from blastradius.snapshot import SnapshotError, load_snapshot, write_snapshot
from tests.graph import estate

MIB = 1024 * 1024


def small_snapshot() -> dict[str, Any]:
    """A cluster where user `alice` reads Secret `app/db`, and one AWS account."""
    objects = [estate.namespace("app"), estate.secret("app", "db"),
               *estate.grant("app", estate.user_subject("alice"), estate.READ_SECRETS, name="reader")]
    return estate.snapshot(objects, estate.account(secrets=["payments/db"]))


def test_file_over_limit_rejected(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (2 * MIB))

    with pytest.raises(SnapshotError) as raised:
        load_snapshot(path, max_file_bytes=MIB)

    assert str(raised.value) == f"{path}: snapshot file is 2 MiB, larger than the 1 MiB limit for snapshot files"


def test_gzip_bomb_stops_at_limit(tmp_path: Path) -> None:
    path = tmp_path / "bomb.json.gz"
    path.write_bytes(gzip.compress(b" " * (64 * MIB), compresslevel=9))
    tracemalloc.start()
    try:
        with pytest.raises(SnapshotError) as raised:
            load_snapshot(path, max_json_bytes=MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert str(raised.value) == (f"{path}: decompressed snapshot is larger than the 1 MiB limit for snapshot JSON; "
                                 "the file may be a decompression bomb")
    assert path.stat().st_size < MIB
    assert peak < 8 * MIB


def test_plain_json_over_limit_rejected(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (2 * MIB))

    with pytest.raises(SnapshotError) as raised:
        load_snapshot(path, max_json_bytes=MIB)

    assert str(raised.value) == f"{path}: snapshot is larger than the 1 MiB limit for snapshot JSON"


def test_gzip_under_limit_loads(tmp_path: Path) -> None:
    path = write_snapshot(small_snapshot(), tmp_path / "small.json.gz")

    assert load_snapshot(path, max_file_bytes=MIB, max_json_bytes=MIB) == small_snapshot()


def test_unknown_keys_are_ignored(tmp_path: Path) -> None:
    snapshot = small_snapshot()
    snapshot["future_section"] = {"anything": [1, 2]}
    snapshot["clusters"][0]["future_field"] = "x"
    snapshot["clusters"][0]["objects"][0]["future_field"] = {"y": None}
    snapshot["aws_accounts"][0]["future_list"] = [{"arn": "arn:aws:future:::thing"}]
    path = write_snapshot(snapshot, tmp_path / "future.json")

    graph = build_graph(load_snapshot(path))

    assert graph.stats() == build_graph(small_snapshot()).stats()


def set_path(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    """Return a change that sets the field at `keys` of a snapshot to `value`."""
    def change(snapshot: dict[str, Any]) -> None:
        section = snapshot
        for key in keys[:-1]:
            section = section[key]
        section[keys[-1]] = value
    return change


WRONG_TYPES = [
    ("tool-list", set_path("tool", value=[]), "tool: expected an object, got list"),
    ("collected-at-number", set_path("collected_at", value=5), "collected_at: expected a string or null, got number"),
    ("server-number", set_path("clusters", 0, "server", value=1), "clusters[0].server: expected a string or null, got number"),
    ("issuer-list", set_path("clusters", 0, "oidc_issuer", value=[]),
     "clusters[0].oidc_issuer: expected a string or null, got list"),
    ("manifests-string", set_path("clusters", 0, "manifests", value="k8s/"), "clusters[0].manifests: expected a list, got string"),
    ("manifests-number-item", set_path("clusters", 0, "manifests", value=["k8s/", 7]),
     "clusters[0].manifests[1]: expected a string, got number"),
    ("skipped-kinds-list", set_path("clusters", 0, "skipped_kinds", value=["Pod"]),
     "clusters[0].skipped_kinds: expected an object, got list"),
    ("skipped-kinds-string-count", set_path("clusters", 0, "skipped_kinds", value={"Lease": "3"}),
     "clusters[0].skipped_kinds.Lease: expected a number, got string"),
    ("partition-number", set_path("aws_accounts", 0, "partition", value=1),
     "aws_accounts[0].partition: expected a string or null, got number"),
    ("regions-string", set_path("aws_accounts", 0, "regions", value="us-east-1"),
     "aws_accounts[0].regions: expected a list, got string"),
    ("gap-detail-object", set_path("coverage_gaps", value=[{"source": "kubernetes:test", "reason": "forbidden",
                                                            "resource": "secrets", "detail": {"code": 403}}]),
     "coverage_gaps[0].detail: expected a string or null, got object"),
]


@pytest.mark.parametrize(("change", "fault"), [case[1:] for case in WRONG_TYPES], ids=[case[0] for case in WRONG_TYPES])
def test_wrong_type_rejected_by_path(tmp_path: Path, change: Callable[[dict[str, Any]], None], fault: str) -> None:
    snapshot = small_snapshot()
    change(snapshot)
    path = tmp_path / "wrong.json"
    path.write_text(json.dumps(snapshot), encoding="utf-8")

    with pytest.raises(SnapshotError) as raised:
        load_snapshot(path)

    assert str(raised.value) == f"{path}: malformed snapshot: {fault}"


SHOWN_CASES = ["tool-list", "skipped-kinds-string-count", "gap-detail-object"]


@pytest.mark.parametrize("case", SHOWN_CASES, ids=SHOWN_CASES)
def test_wrong_type_snapshot_show_exits_2(tmp_path: Path, case: str) -> None:
    change = next(entry[1] for entry in WRONG_TYPES if entry[0] == case)
    snapshot = small_snapshot()
    change(snapshot)
    path = tmp_path / "wrong.json"
    path.write_text(json.dumps(snapshot), encoding="utf-8")

    result = CliRunner().invoke(app, ["snapshot", "show", str(path)])

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: malformed snapshot: ")


def test_huge_name_loads_within_limit(tmp_path: Path) -> None:
    name = "u" * (4 * MIB)
    objects = [estate.namespace("app"), estate.secret("app", "db"),
               *estate.grant("app", estate.user_subject(name), estate.READ_SECRETS, name="reader")]
    path = write_snapshot(estate.snapshot(objects), tmp_path / "huge.json.gz")

    graph = build_graph(load_snapshot(path))

    assert f"k8s:test:user:{name}" in graph.g


def test_huge_name_over_limit_rejected(tmp_path: Path) -> None:
    objects = [estate.namespace("app"), *estate.grant("app", estate.user_subject("u" * (4 * MIB)), estate.READ_SECRETS)]
    path = write_snapshot(estate.snapshot(objects), tmp_path / "huge.json.gz")

    with pytest.raises(SnapshotError, match="decompressed snapshot is larger than the 1 MiB limit"):
        load_snapshot(path, max_json_bytes=MIB)
