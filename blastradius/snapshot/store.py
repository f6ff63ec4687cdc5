"""Writing snapshots atomically and loading them with a schema-version check."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any

from blastradius.snapshot.model import SCHEMA_VERSION


class SnapshotError(Exception):
    """A snapshot file that cannot be read, parsed or understood."""


def canonical_bytes(snapshot: dict[str, Any]) -> bytes:
    """Serialise a snapshot as UTF-8 JSON with sorted keys, one stable byte form per content."""
    return (json.dumps(snapshot, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def write_snapshot(snapshot: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a snapshot atomically: a temporary file in the target folder, fsync, then rename.

    A name ending in `.gz` is gzip-compressed (with a zero mtime, so equal content gives equal
    bytes). The file is created readable by its owner only, because a snapshot maps who can reach
    which secret. An interrupted run leaves the previous file, or none, never a truncated one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = canonical_bytes(snapshot)
    if target.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)

    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o600)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SnapshotError(f"{path}: snapshot file not found") from None
    except OSError as error:
        raise SnapshotError(f"{path}: cannot read snapshot: {error.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise SnapshotError(f"{path}: corrupt gzip data ({error}); the file may be truncated") from None
    return raw


def load_snapshot(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a snapshot and check that this version of blastradius can read it.

    Raises SnapshotError naming the file for unreadable or malformed files and for a schema major
    version newer than this tool's.
    """
    source = Path(path)
    raw = _read_bytes(source)
    try:
        snapshot = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SnapshotError(f"{source}: not a blastradius snapshot: invalid JSON ({error})") from None
    if not isinstance(snapshot, dict) or "schema_version" not in snapshot:
        raise SnapshotError(f"{source}: not a blastradius snapshot: no schema_version field")

    version = str(snapshot["schema_version"])
    major = version.split(".", 1)[0]
    supported_major = SCHEMA_VERSION.split(".", 1)[0]
    if not major.isdigit():
        raise SnapshotError(f"{source}: invalid schema_version {version!r}")
    if int(major) > int(supported_major):
        raise SnapshotError(
            f"{source}: snapshot schema version {version} is newer than this blastradius supports "
            f"({SCHEMA_VERSION}); upgrade blastradius to read it"
        )
    if int(major) < int(supported_major):
        raise SnapshotError(
            f"{source}: snapshot schema version {version} is older than {SCHEMA_VERSION} and no longer "
            "supported; collect the snapshot again"
        )

    for section in ("clusters", "aws_accounts", "coverage_gaps"):
        if not isinstance(snapshot.get(section, []), list):
            raise SnapshotError(f"{source}: malformed snapshot: {section!r} must be a list")
        snapshot.setdefault(section, [])
    return snapshot
