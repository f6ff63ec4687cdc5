"""Every output file is written whole or not at all, and readable by its owner only."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.files import write_atomically
from blastradius.snapshot import write_snapshot
from tests.render.hostile_estate import hostile_snapshot, write_hostile_snapshot

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "snapshots" / "example"
PREVIOUS = b"previous content\n"

# Runs the CLI with os.write patched to write half of the first large block of an output file,
# say so on stdout, and hang there until the parent kills the process.
STALLING_CHILD = """
import os, sys, time
from blastradius.cli.app import app

real_write = os.write

def stalled_write(descriptor, data):
    if descriptor > 2 and len(data) > 64:
        real_write(descriptor, bytes(data[: len(data) // 2]))
        sys.stdout.write("half written\\n")
        sys.stdout.flush()
        time.sleep(60)
    return real_write(descriptor, data)

os.write = stalled_write
app(sys.argv[1:])
"""


@pytest.fixture
def snapshot_file(tmp_path: Path) -> Path:
    return write_hostile_snapshot(tmp_path / "input" / "hostile.json.gz")


@pytest.fixture
def other_cluster_file(tmp_path: Path) -> Path:
    """A snapshot of a second cluster and no AWS account, which merges with `snapshot_file`."""
    snapshot = hostile_snapshot()
    snapshot["clusters"][0]["name"] = "other"
    snapshot["aws_accounts"] = []
    snapshot["coverage_gaps"] = []
    return write_snapshot(snapshot, tmp_path / "input" / "other.json.gz")


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """Set umask 022, under which a plain open() would create files readable by everyone."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def commands(snapshot: Path, target: Path, other: Path = Path("other.json.gz")) -> dict[str, list[str]]:
    """Return each command that writes an output file, writing it to `target`; merge adds `other`."""
    return {
        "collect": ["collect", "--manifests", str(EXAMPLE / "k8s"), "--aws-json", str(EXAMPLE / "aws.json"),
                    "--cluster-name", "example", "-o", str(target)],
        "snapshot-merge": ["snapshot", "merge", str(snapshot), str(other), "-o", str(target)],
        "report-html": ["report", "-s", str(snapshot), "--html", str(target)],
        "report-dot": ["report", "-s", str(snapshot), "--dot", str(target)],
        "report-graphml": ["report", "-s", str(snapshot), "--graphml", str(target)],
        "report-json": ["report", "-s", str(snapshot), "--json", str(target)],
        "simulate-runbook": ["simulate", "eso-controller", "-s", str(snapshot), "--runbook", str(target)],
    }


COMMANDS = list(commands(Path("s"), Path("t")))


@pytest.mark.parametrize("command", COMMANDS, ids=COMMANDS)
def test_output_file_mode_0600(snapshot_file: Path, other_cluster_file: Path, tmp_path: Path, loose_umask: None,
                               command: str) -> None:
    target = tmp_path / "out" / "result"
    target.parent.mkdir()
    target.write_bytes(PREVIOUS)
    target.chmod(0o644)

    result = CliRunner().invoke(app, commands(snapshot_file, target, other_cluster_file)[command])

    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() != PREVIOUS
    assert sorted(path.name for path in target.parent.iterdir()) == ["result"]


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="only O_TMPFILE leaves no named file behind a killed process")
@pytest.mark.parametrize("command", ["collect", "report-html", "simulate-runbook"], ids=["collect", "report-html", "simulate-runbook"])
def test_killed_write_keeps_previous(snapshot_file: Path, tmp_path: Path, command: str) -> None:
    target = tmp_path / "out" / "result"
    target.parent.mkdir()
    target.write_bytes(PREVIOUS)
    child = subprocess.Popen([sys.executable, "-c", STALLING_CHILD, *commands(snapshot_file, target)[command]],
                             cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert child.stdout is not None
        lines = iter(child.stdout.readline, b"")
        assert b"half written\n" in lines
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)

    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == PREVIOUS
    assert sorted(path.name for path in target.parent.iterdir()) == ["result"]


def test_named_fallback_mode_0600(tmp_path: Path, loose_umask: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)

    written = write_atomically(tmp_path / "report.html", "<html></html>\n")

    assert written.read_text(encoding="utf-8") == "<html></html>\n"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report.html"]


@pytest.mark.parametrize("unnamed", [True, False], ids=["o-tmpfile", "named"])
def test_failed_fsync_keeps_previous(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unnamed: bool) -> None:
    target = tmp_path / "runbook.md"
    target.write_bytes(PREVIOUS)
    if not unnamed:
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)

    def full_disk(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        write_atomically(target, "new runbook\n")

    assert target.read_bytes() == PREVIOUS
    assert sorted(path.name for path in tmp_path.iterdir()) == ["runbook.md"]


def test_merge_unwritable_target_exits_2(snapshot_file: Path, other_cluster_file: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder\n", encoding="utf-8")

    result = CliRunner().invoke(app, ["snapshot", "merge", str(snapshot_file), str(other_cluster_file),
                                      "-o", str(blocker / "merged.json.gz")])

    assert result.exit_code == 2
    assert f"cannot write {blocker / 'merged.json.gz'}" in result.stderr
