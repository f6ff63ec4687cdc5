"""Tests for writing and loading snapshot files: atomicity, determinism, permissions and version checks."""

from __future__ import annotations

import gzip
import json
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest

from blastradius.collectors.manifests import collect_manifests
from blastradius.snapshot import SCHEMA_VERSION, SnapshotError, assemble, canonical_bytes, load_snapshot, write_snapshot

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "manifests"
COLLECTED_AT = datetime(2026, 12, 4, 20, 30, tzinfo=timezone.utc)


def _fixture_snapshot() -> dict:
    return assemble(collect_manifests([str(FIXTURES)], "payments-prod"), collected_at=COLLECTED_AT)


def _minimal_snapshot(version: str = SCHEMA_VERSION) -> dict:
    return {
        "schema_version": version,
        "tool": {"name": "blastradius", "version": "0.1.0"},
        "collected_at": "2026-12-04T20:30:00Z",
        "sources": [],
        "clusters": [],
        "aws_accounts": [],
        "coverage_gaps": [],
    }


@pytest.mark.parametrize("name", ["snapshot.json", "snapshot.json.gz"], ids=["plain", "gzip"])
def test_write_load_round_trip(tmp_path: Path, name: str) -> None:
    snapshot = _fixture_snapshot()

    written = write_snapshot(snapshot, tmp_path / name)

    assert written == tmp_path / name
    assert load_snapshot(written) == json.loads(canonical_bytes(snapshot))


def test_gzip_name_compresses(tmp_path: Path) -> None:
    snapshot = _fixture_snapshot()

    raw = write_snapshot(snapshot, tmp_path / "snapshot.json.gz").read_bytes()

    assert raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw) == canonical_bytes(snapshot, compact=True)


def test_plain_name_writes_json(tmp_path: Path) -> None:
    snapshot = _fixture_snapshot()

    raw = write_snapshot(snapshot, tmp_path / "snapshot.json").read_bytes()

    assert raw == canonical_bytes(snapshot)


@pytest.mark.parametrize("name", ["snapshot.json", "snapshot.json.gz"], ids=["plain", "gzip"])
def test_written_file_owner_only(tmp_path: Path, name: str) -> None:
    written = write_snapshot(_minimal_snapshot(), tmp_path / name)

    assert stat.S_IMODE(written.stat().st_mode) == 0o600


def test_write_creates_missing_folder(tmp_path: Path) -> None:
    written = write_snapshot(_minimal_snapshot(), tmp_path / "snapshots" / "prod" / "s.json.gz")

    assert written.is_file()


def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "snapshot.json.gz"
    write_snapshot(_minimal_snapshot(), target)
    old_bytes = target.read_bytes()

    def failing_fsync(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left on device"):
        write_snapshot(_fixture_snapshot(), target)

    assert target.read_bytes() == old_bytes
    assert sorted(path.name for path in tmp_path.iterdir()) == ["snapshot.json.gz"]


def test_failed_rename_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "snapshot.json"

    def failing_replace(source: str, destination: str, **_: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(PermissionError):
        write_snapshot(_minimal_snapshot(), target)

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["snapshot.json", "snapshot.json.gz"], ids=["plain", "gzip"])
def test_same_input_same_bytes(tmp_path: Path, name: str) -> None:
    first = write_snapshot(_fixture_snapshot(), tmp_path / "first" / name).read_bytes()
    second = write_snapshot(_fixture_snapshot(), tmp_path / "second" / name).read_bytes()

    assert first == second


def test_object_order_ignores_path_order() -> None:
    paths = sorted(str(path) for path in FIXTURES.rglob("*.y*ml"))

    forward = assemble(collect_manifests(paths, "c"), collected_at=COLLECTED_AT)
    backward = assemble(collect_manifests(list(reversed(paths)), "c"), collected_at=COLLECTED_AT)

    names = lambda snapshot: [(obj["kind"], obj["metadata"]["name"]) for obj in snapshot["clusters"][0]["objects"]]  # noqa: E731
    assert names(forward) == names(backward)


def test_collected_at_is_utc_text() -> None:
    assert _fixture_snapshot()["collected_at"] == "2026-12-04T20:30:00Z"


def test_newer_minor_version_accepted(tmp_path: Path) -> None:
    path = write_snapshot(_minimal_snapshot("1.7"), tmp_path / "s.json")

    assert load_snapshot(path)["schema_version"] == "1.7"


def test_newer_major_version_rejected(tmp_path: Path) -> None:
    path = write_snapshot(_minimal_snapshot("2.0"), tmp_path / "s.json.gz")

    with pytest.raises(SnapshotError) as raised:
        load_snapshot(path)

    assert str(raised.value) == (
        f"{path}: snapshot schema version 2.0 is newer than this blastradius supports (1.0); upgrade blastradius to read it"
    )


def test_older_major_version_rejected(tmp_path: Path) -> None:
    path = write_snapshot(_minimal_snapshot("0.9"), tmp_path / "s.json")

    with pytest.raises(SnapshotError) as raised:
        load_snapshot(path)

    assert str(raised.value) == (
        f"{path}: snapshot schema version 0.9 is older than 1.0 and no longer supported; collect the snapshot again"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a blastradius snapshot: invalid JSON (Expecting value: line 1 column 1 (char 0))"),
        (b"apiVersion: v1\nkind: List\n", "not a blastradius snapshot: invalid JSON (Expecting value: line 1 column 1 (char 0))"),
        (b"[1, 2]", "not a blastradius snapshot: no schema_version field"),
        (b'{"clusters": []}', "not a blastradius snapshot: no schema_version field"),
        (b'{"schema_version": "one"}', "invalid schema_version 'one'"),
        (b'{"schema_version": "1.0", "clusters": {}}', "malformed snapshot: 'clusters' must be a list"),
        (b"\x89PNG\r\n\x1a\n", "not a blastradius snapshot: invalid JSON ('utf-8' codec can't decode byte 0x89 in position 0: invalid start byte)"),
    ],
    ids=["empty", "yaml", "json-list", "no-version", "version-text", "clusters-type", "binary"],
)
def test_malformed_snapshot_rejected(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(content)

    with pytest.raises(SnapshotError) as raised:
        load_snapshot(path)

    assert str(raised.value) == f"{path}: {message}"


def test_missing_sections_default_empty(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"schema_version": "1.0"}')

    snapshot = load_snapshot(path)

    assert (snapshot["clusters"], snapshot["aws_accounts"], snapshot["coverage_gaps"]) == ([], [], [])


def test_truncated_gzip_rejected(tmp_path: Path) -> None:
    complete = write_snapshot(_fixture_snapshot(), tmp_path / "full.json.gz").read_bytes()
    path = tmp_path / "truncated.json.gz"
    path.write_bytes(complete[: len(complete) // 2])

    with pytest.raises(SnapshotError) as raised:
        load_snapshot(path)

    assert str(raised.value).startswith(f"{path}: corrupt gzip data (")
    assert str(raised.value).endswith("); the file may be truncated")


def test_corrupt_gzip_body_rejected(tmp_path: Path) -> None:
    complete = bytearray(write_snapshot(_fixture_snapshot(), tmp_path / "full.json.gz").read_bytes())
    complete[20:40] = b"\xff" * 20
    path = tmp_path / "corrupt.json.gz"
    path.write_bytes(bytes(complete))

    with pytest.raises(SnapshotError) as raised:
        load_snapshot(path)

    assert str(raised.value).startswith(f"{path}: corrupt gzip data (")


def test_missing_snapshot_rejected(tmp_path: Path) -> None:
    path = tmp_path / "nope.json.gz"

    with pytest.raises(SnapshotError) as raised:
        load_snapshot(path)

    assert str(raised.value) == f"{path}: snapshot file not found"


def _snapshot_with(**sections: object) -> bytes:
    return json.dumps({"schema_version": SCHEMA_VERSION, **sections}).encode()


OBJECT = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": "prod"}}
GAP = {"source": "aws:111122223333", "reason": "access_denied", "resource": "iam:GetAccountAuthorizationDetails"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_snapshot_with(clusters=["prod"]), "clusters[0]: expected an object, got string"),
        (_snapshot_with(clusters=[{"name": 7, "objects": []}]), "clusters[0].name: expected a string, got number"),
        (_snapshot_with(clusters=[{"name": "prod", "objects": {}}]), "clusters[0].objects: expected a list, got object"),
        (_snapshot_with(clusters=[{"name": "prod", "objects": [OBJECT, [OBJECT]]}]),
         "clusters[0].objects[1]: expected an object, got list"),
        (_snapshot_with(clusters=[{"name": "prod", "objects": [{**OBJECT, "kind": None}]}]),
         "clusters[0].objects[0].kind: expected a string, got null"),
        (_snapshot_with(clusters=[{"name": "prod", "objects": [{**OBJECT, "metadata": "app"}]}]),
         "clusters[0].objects[0].metadata: expected an object, got string"),
        (_snapshot_with(clusters=[{"name": "prod", "objects": [{**OBJECT, "metadata": {"name": ["app"]}}]}]),
         "clusters[0].objects[0].metadata.name: expected a string, got list"),
        (_snapshot_with(aws_accounts=[{"account_id": 111122223333}]),
         "aws_accounts[0].account_id: expected a string, got number"),
        (_snapshot_with(aws_accounts=[{"account_id": "111122223333", "roles": {"admin": {}}}]),
         "aws_accounts[0].roles: expected a list, got object"),
        (_snapshot_with(aws_accounts=[{"account_id": "111122223333", "secrets": ["prod/db"]}]),
         "aws_accounts[0].secrets[0]: expected an object, got string"),
        (_snapshot_with(coverage_gaps=[GAP, "forbidden"]), "coverage_gaps[1]: expected an object, got string"),
        (_snapshot_with(coverage_gaps=[{**GAP, "resource": True}]),
         "coverage_gaps[0].resource: expected a string, got boolean"),
    ],
    ids=["cluster-string", "cluster-name-number", "objects-object", "object-list", "kind-null", "metadata-string",
         "name-list", "account-id-number", "roles-object", "secret-string", "gap-string", "gap-resource-bool"],
)
def test_wrong_shape_names_json_path(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(content)

    with pytest.raises(SnapshotError) as raised:
        load_snapshot(path)

    assert str(raised.value) == f"{path}: malformed snapshot: {message}"


def test_huge_schema_version_rejected(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(json.dumps({"schema_version": "9" * 5000}).encode())

    with pytest.raises(SnapshotError) as raised:
        load_snapshot(path)

    assert str(raised.value) == f"{path}: invalid schema_version: 5000 characters long, expected a version such as {SCHEMA_VERSION}"


def test_deeply_nested_json_rejected(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(b'{"schema_version": "1.0", "clusters": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")

    with pytest.raises(SnapshotError) as raised:
        load_snapshot(path)

    assert str(raised.value) == f"{path}: not a blastradius snapshot: JSON nested too deeply to parse"
