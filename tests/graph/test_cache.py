"""The graph cache: hits and misses, keys, trust checks on the folder and files, corruption and eviction."""

from __future__ import annotations

import json
import logging
import os
import pickle
import stat
import struct
import threading
import weakref
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.graph import builder, cache
from blastradius.graph.model import CapabilityGraph
from blastradius.snapshot import SnapshotError, write_snapshot
from tests.graph.estate import (
    READ_SECRETS, account, grant, irsa_role, namespace, role_binding, sa, sa_subject, secret, secret_arn,
    service_account, snapshot, user_subject,
)
from tests.semantics import iam_fixtures as aws

FOREIGN_UID = 54321
API_ROLE = aws.role_arn("payments-api")


@pytest.fixture
def cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of this test alone, which does not exist yet, with the cache enabled."""
    folder = tmp_path / "cache" / "blastradius"
    monkeypatch.setenv(cache.CACHE_DIR_VARIABLE, str(folder))
    monkeypatch.delenv(cache.NO_CACHE_VARIABLE, raising=False)
    return folder


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the calls of the graph builder: one list item per build."""
    calls: list[int] = []
    real_build = builder.build_graph

    def counting_build(snapshot_dict: dict) -> CapabilityGraph:
        calls.append(1)
        return real_build(snapshot_dict)

    monkeypatch.setattr(builder, "build_graph", counting_build)
    return calls


def _estate() -> dict:
    """Namespace `payments`: ServiceAccount `api` reads Secret `db` and assumes an IRSA role that reads payments/*.

    User bob is bound to a missing role, which gives the graph one build warning.
    """
    objects = [
        namespace("payments"), service_account("payments", "api", role=API_ROLE), secret("payments", "db"),
        *grant("payments", sa_subject("payments", "api"), READ_SECRETS),
        role_binding("payments", "bob-missing-role", ("ClusterRole", "missing"), user_subject("bob")),
    ]
    accounts = account(secrets=["payments/db", "billing/db"],
                       roles=(irsa_role("payments-api", sa("payments", "api"), "payments/*"),))
    return snapshot(objects, accounts)


@pytest.fixture
def snapshot_file(tmp_path: Path) -> Path:
    # Uncompressed, so a test can change one byte and keep the file readable.
    return write_snapshot(_estate(), tmp_path / "payments.json")


def _edges(graph: CapabilityGraph) -> list[tuple]:
    return list(graph.g.edges(keys=True, data=True))


def _entry_names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _only_entry(folder: Path) -> Path:
    (entry,) = folder.glob(f"*{cache.ENTRY_SUFFIX}")
    return entry


def _entry_bytes(payload: bytes) -> bytes:
    return cache.MAGIC + cache.HEADER.pack(len(payload), zlib.crc32(payload)) + payload


# --- hits and misses ---------------------------------------------------------------------------------


def test_second_load_skips_build(cache_folder: Path, snapshot_file: Path, builds: list[int]) -> None:
    first = cache.cached_graph(snapshot_file)
    second = cache.cached_graph(snapshot_file)

    assert len(builds) == 1
    assert second is not first
    assert second.stats() == first.stats()


def test_cached_graph_equals_build(cache_folder: Path, snapshot_file: Path) -> None:
    built = cache.cached_graph(snapshot_file)
    loaded = cache.cached_graph(snapshot_file)

    assert _edges(loaded) == _edges(built)
    assert dict(loaded.g.nodes(data=True)) == dict(built.g.nodes(data=True))
    assert loaded.warnings == built.warnings
    assert len(loaded.warnings) == 1
    assert loaded.collected_at == built.collected_at
    assert loaded.external_secrets == built.external_secrets


@pytest.mark.parametrize(
    ("secret_name", "effect"),
    [("payments/db", "allow"), ("billing/db", "deny")],
    ids=["allowed-secret", "other-team-secret"],
)
def test_cached_authorizations_still_evaluate(cache_folder: Path, snapshot_file: Path, secret_name: str, effect: str) -> None:
    cache.cached_graph(snapshot_file)
    loaded = cache.cached_graph(snapshot_file)

    decision = loaded.authorizations.evaluate(API_ROLE, "secretsmanager:GetSecretValue", secret_arn(secret_name))

    assert decision.effect == effect


def test_dropped_cached_graph_is_freed(cache_folder: Path, snapshot_file: Path) -> None:
    cache.cached_graph(snapshot_file)
    loaded = cache.cached_graph(snapshot_file)
    reference = weakref.ref(loaded)
    authorizations = weakref.ref(loaded.authorizations)

    del loaded

    assert reference() is None
    assert authorizations() is None


def test_miss_stores_private_files(cache_folder: Path, snapshot_file: Path) -> None:
    cache.cached_graph(snapshot_file)

    entry = _only_entry(cache_folder)
    assert _mode(cache_folder) == 0o700
    assert _mode(entry) == 0o600
    assert entry.read_bytes().startswith(cache.MAGIC)


def test_no_cache_variable_builds_every_time(cache_folder: Path, snapshot_file: Path, builds: list[int],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.NO_CACHE_VARIABLE, "1")

    cache.cached_graph(snapshot_file)
    cache.cached_graph(snapshot_file)

    assert len(builds) == 2
    assert not cache_folder.exists()


def test_loaded_snapshot_used_on_miss(cache_folder: Path, snapshot_file: Path, builds: list[int]) -> None:
    other_estate = snapshot([namespace("billing")])

    graph = cache.cached_graph(snapshot_file, other_estate)

    assert len(builds) == 1
    assert [graph.name(node) for node in graph.nodes_of_kind("serviceaccount")] == ["system:serviceaccount:billing:default"]


def test_missing_snapshot_raises_snapshot_error(cache_folder: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json.gz"

    with pytest.raises(SnapshotError, match="missing.json.gz: snapshot file not found"):
        cache.cached_graph(missing)


# --- keys --------------------------------------------------------------------------------------------


def test_one_byte_change_misses(cache_folder: Path, snapshot_file: Path, builds: list[int]) -> None:
    cache.cached_graph(snapshot_file)
    snapshot_file.write_bytes(snapshot_file.read_bytes() + b" ")

    cache.cached_graph(snapshot_file)

    assert len(builds) == 2
    assert len(list(cache_folder.glob(f"*{cache.ENTRY_SUFFIX}"))) == 2


def test_source_change_misses(cache_folder: Path, snapshot_file: Path, builds: list[int],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    cache.cached_graph(snapshot_file)
    monkeypatch.setattr(cache, "source_fingerprint", lambda: "0" * 64)

    cache.cached_graph(snapshot_file)

    assert len(builds) == 2


def test_source_fingerprint_is_stable() -> None:
    first = cache.source_fingerprint()

    assert cache.source_fingerprint() == first
    assert len(first) == 64


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"BLASTRADIUS_CACHE_DIR": "/srv/cache/br", "XDG_CACHE_HOME": "/xdg"}, Path("/srv/cache/br")),
        ({"XDG_CACHE_HOME": "/xdg"}, Path("/xdg/blastradius")),
        ({"XDG_CACHE_HOME": "relative/xdg"}, Path("/home/alice/.cache/blastradius")),
        ({}, Path("/home/alice/.cache/blastradius")),
    ],
    ids=["override", "xdg", "xdg-relative-ignored", "home"],
)
def test_cache_dir_by_environment(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: Path) -> None:
    for variable in ("BLASTRADIUS_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("HOME", "/home/alice")

    assert cache.cache_dir() == expected


# --- trust checks ------------------------------------------------------------------------------------


def _chmod_folder(mode: int) -> Callable[[Path, Path], None]:
    return lambda folder, entry: folder.chmod(mode)


def _chmod_entry(mode: int) -> Callable[[Path, Path], None]:
    return lambda folder, entry: entry.chmod(mode)


def _chown(target: str) -> Callable[[Path, Path], None]:
    def change_owner(folder: Path, entry: Path) -> None:
        if os.geteuid() != 0:
            pytest.skip("giving a file to another user needs root")
        os.chown(folder if target == "folder" else entry, FOREIGN_UID, -1)
    return change_owner


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (_chmod_folder(0o770), "is writable by group or others (mode 0770)"),
        (_chmod_folder(0o703), "is writable by group or others (mode 0703)"),
        (_chmod_entry(0o620), "is writable by group or others (mode 0620)"),
        (_chmod_entry(0o606), "is writable by group or others (mode 0606)"),
        (_chown("folder"), f"belongs to user id {FOREIGN_UID}"),
        (_chown("entry"), f"belongs to user id {FOREIGN_UID}"),
    ],
    ids=["group-writable-folder", "world-writable-folder", "group-writable-file", "world-writable-file",
         "foreign-folder", "foreign-file"],
)
def test_untrusted_cache_is_ignored(cache_folder: Path, snapshot_file: Path, builds: list[int],
                                    caplog: pytest.LogCaptureFixture, tamper: Callable[[Path, Path], None],
                                    problem: str) -> None:
    cache.cached_graph(snapshot_file)
    tamper(cache_folder, _only_entry(cache_folder))

    with caplog.at_level(logging.WARNING, logger=cache.__name__):
        graph = cache.cached_graph(snapshot_file)

    assert len(builds) == 2
    assert graph.stats()["warnings"] == 1
    assert len(caplog.records) == 1
    assert problem in caplog.records[0].getMessage()


def test_symlinked_entry_is_not_followed(cache_folder: Path, snapshot_file: Path, builds: list[int],
                                         tmp_path: Path) -> None:
    cache.cached_graph(snapshot_file)
    entry = _only_entry(cache_folder)
    elsewhere = tmp_path / "elsewhere.graph"
    entry.rename(elsewhere)
    entry.symlink_to(elsewhere)

    cache.cached_graph(snapshot_file)

    assert len(builds) == 2
    assert not entry.is_symlink()


def test_file_as_cache_folder_ignored(cache_folder: Path, snapshot_file: Path, builds: list[int],
                                      caplog: pytest.LogCaptureFixture) -> None:
    cache_folder.parent.mkdir(parents=True)
    cache_folder.write_text("not a folder")

    with caplog.at_level(logging.WARNING, logger=cache.__name__):
        graph = cache.cached_graph(snapshot_file)

    assert len(builds) == 1
    assert graph.stats()["warnings"] == 1
    assert cache_folder.read_text() == "not a folder"
    assert f"cannot create the graph cache folder {cache_folder} (File exists)" in caplog.records[0].getMessage()


# --- corrupt entries ---------------------------------------------------------------------------------


def _truncate(data: bytes) -> bytes:
    return data[:-10]


def _flip_middle_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


CORRUPTIONS = [
    (_truncate, "is truncated"),
    (_flip_middle_byte, "the CRC-32 of the payload does not match"),
    (lambda data: b"", "is not a blastradius graph cache file"),
    (lambda data: b"\x80\x05garbage", "is not a blastradius graph cache file"),
    (lambda data: cache.MAGIC + b"\x01\x02", "is not a blastradius graph cache file"),
    (lambda data: _entry_bytes(b"\x80\x05not a pickle"), "unpickling failed (UnpicklingError"),
    (lambda data: _entry_bytes(pickle.dumps({"nodes": 3})), "not a capability graph but a dict"),
]


@pytest.mark.parametrize(
    ("corrupt", "problem"), CORRUPTIONS,
    ids=["truncated", "flipped-byte", "empty", "bare-pickle", "short-header", "bad-pickle", "wrong-type"],
)
def test_corrupt_entry_is_rebuilt(cache_folder: Path, snapshot_file: Path, builds: list[int],
                                  caplog: pytest.LogCaptureFixture, corrupt: Callable[[bytes], bytes],
                                  problem: str) -> None:
    expected = cache.cached_graph(snapshot_file)
    entry = _only_entry(cache_folder)
    entry.write_bytes(corrupt(entry.read_bytes()))

    with caplog.at_level(logging.WARNING, logger=cache.__name__):
        graph = cache.cached_graph(snapshot_file)

    assert len(builds) == 2
    assert _edges(graph) == _edges(expected)
    assert len(caplog.records) == 1
    assert problem in caplog.records[0].getMessage()


def test_rebuilt_entry_replaces_corrupt_one(cache_folder: Path, snapshot_file: Path, builds: list[int]) -> None:
    cache.cached_graph(snapshot_file)
    entry = _only_entry(cache_folder)
    entry.write_bytes(_truncate(entry.read_bytes()))
    cache.cached_graph(snapshot_file)

    cache.cached_graph(snapshot_file)

    assert len(builds) == 2


# --- writing -----------------------------------------------------------------------------------------


def test_failed_rename_leaves_nothing(cache_folder: Path, snapshot_file: Path, caplog: pytest.LogCaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_replace(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.os, "replace", failing_replace)

    with caplog.at_level(logging.WARNING, logger=cache.__name__):
        graph = cache.cached_graph(snapshot_file)

    assert graph.stats()["warnings"] == 1
    assert _entry_names(cache_folder) == []
    assert "No space left on device" in caplog.records[0].getMessage()


def test_interrupted_write_leaves_nothing(cache_folder: Path, snapshot_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted_replace(source: str, target: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cache.os, "replace", interrupted_replace)

    with pytest.raises(KeyboardInterrupt):
        cache.cached_graph(snapshot_file)

    assert _entry_names(cache_folder) == []


def test_rename_sees_complete_file(cache_folder: Path, snapshot_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, bytes]] = []
    real_replace = os.replace

    def watching_replace(source: str, target: str) -> None:
        seen.append((Path(target).exists(), Path(source).read_bytes()))
        real_replace(source, target)

    monkeypatch.setattr(cache.os, "replace", watching_replace)
    cache.cached_graph(snapshot_file)

    (target_existed, written), = seen
    assert target_existed is False
    assert written == _only_entry(cache_folder).read_bytes()
    assert len(cache._checked_payload(written)) == len(written) - len(cache.MAGIC) - cache.HEADER.size


def test_unpicklable_graph_is_not_stored(cache_folder: Path, snapshot_file: Path, caplog: pytest.LogCaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real_build = builder.build_graph

    def build_with_lock(snapshot_dict: dict) -> CapabilityGraph:
        graph = real_build(snapshot_dict)
        graph.authorizations = threading.Lock()
        return graph

    monkeypatch.setattr(builder, "build_graph", build_with_lock)

    with caplog.at_level(logging.WARNING, logger=cache.__name__):
        graph = cache.cached_graph(snapshot_file)

    assert graph.stats()["warnings"] == 1
    assert _entry_names(cache_folder) == []
    assert "cannot store the graph in the cache (TypeError" in caplog.records[0].getMessage()


# --- eviction ----------------------------------------------------------------------------------------


def _fake_entries(folder: Path, count: int) -> list[Path]:
    """Create `count` entry files, the first one least recently used."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"{index:064x}{cache.ENTRY_SUFFIX}"
        path.write_bytes(b"x")
        os.utime(path, (1_000_000 + index, 1_000_000 + index))
        paths.append(path)
    return paths


def test_eviction_keeps_newest_entries(cache_folder: Path) -> None:
    paths = _fake_entries(cache_folder, cache.MAX_ENTRIES + 2)

    cache.evict(cache_folder)

    assert _entry_names(cache_folder) == sorted(path.name for path in paths[2:])


def test_hit_protects_entry_from_eviction(cache_folder: Path, snapshot_file: Path) -> None:
    cache.cached_graph(snapshot_file)
    used = _only_entry(cache_folder)
    os.utime(used, (1, 1))
    _fake_entries(cache_folder, cache.MAX_ENTRIES)

    cache.cached_graph(snapshot_file)
    cache.evict(cache_folder)

    assert used.exists()
    assert len(list(cache_folder.glob(f"*{cache.ENTRY_SUFFIX}"))) == cache.MAX_ENTRIES


def test_store_evicts_least_recently_used(cache_folder: Path, snapshot_file: Path) -> None:
    oldest, *others = _fake_entries(cache_folder, cache.MAX_ENTRIES)

    cache.cached_graph(snapshot_file)

    assert not oldest.exists()
    assert all(path.exists() for path in others)


@pytest.mark.parametrize(
    ("age_seconds", "kept"),
    [(cache.STALE_TEMP_SECONDS + 60, False), (5, True)],
    ids=["stale-removed", "fresh-kept"],
)
def test_eviction_of_temporary_files(cache_folder: Path, age_seconds: int, kept: bool) -> None:
    cache_folder.mkdir(parents=True)
    temp = cache_folder / f".{'a' * 64}.k3j2{cache.TEMP_SUFFIX}"
    temp.write_bytes(b"partial")
    modified = temp.stat().st_mtime - age_seconds
    os.utime(temp, (modified, modified))

    cache.evict(cache_folder)

    assert temp.exists() is kept


# --- `blastradius cache` -------------------------------------------------------------------------------


def test_cache_info_lists_entries(cache_folder: Path, snapshot_file: Path) -> None:
    cache.cached_graph(snapshot_file)
    entry = _only_entry(cache_folder)

    result = CliRunner().invoke(app, ["cache", "info", "-o", "json"])
    info = json.loads(result.stdout)

    assert result.exit_code == 0
    assert info["folder"] == str(cache_folder)
    assert info["enabled"] is True
    assert info["total_bytes"] == entry.stat().st_size
    assert [item["file"] for item in info["entries"]] == [entry.name]


def test_cache_clear_removes_entries(cache_folder: Path, snapshot_file: Path) -> None:
    cache.cached_graph(snapshot_file)

    result = CliRunner().invoke(app, ["cache", "clear"])

    assert result.exit_code == 0
    assert result.stdout == f"removed 1 file(s) from {cache_folder}\n"
    assert _entry_names(cache_folder) == []


def test_query_command_uses_cache(cache_folder: Path, snapshot_file: Path, builds: list[int]) -> None:
    arguments = ["query", "who-can", "payments/db", "-s", str(snapshot_file), "-o", "json"]

    first = CliRunner().invoke(app, arguments)
    second = CliRunner().invoke(app, arguments)

    assert first.exit_code == 0
    assert second.stdout == first.stdout
    assert len(builds) == 1



def test_cache_info_reports_unsafe_folder(cache_folder: Path) -> None:
    cache_folder.mkdir(parents=True)
    cache_folder.chmod(0o777)

    result = CliRunner().invoke(app, ["cache", "info"])

    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"folder: {cache_folder} (ignored: the folder is writable by group or others (mode 0777))"
