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


# A schema_version is `major.minor`; a longer one is not a version, and int() rejects more than
# 4300 digits with a ValueError of its own.
MAX_SCHEMA_VERSION_LENGTH = 32

# The lists of an AWS account section whose entries the graph builder reads as JSON objects.
ACCOUNT_ENTITY_LISTS = ("users", "groups", "roles", "policies", "oidc_providers", "secrets", "kms_keys",
                        "organization_policies")


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
    except RecursionError:
        raise SnapshotError(f"{source}: not a blastradius snapshot: JSON nested too deeply to parse") from None
    if not isinstance(snapshot, dict) or "schema_version" not in snapshot:
        raise SnapshotError(f"{source}: not a blastradius snapshot: no schema_version field")

    version = str(snapshot["schema_version"])
    if len(version) > MAX_SCHEMA_VERSION_LENGTH:
        raise SnapshotError(f"{source}: invalid schema_version: {len(version)} characters long, "
                            f"expected a version such as {SCHEMA_VERSION}")
    major = version.split(".", 1)[0]
    supported_major = SCHEMA_VERSION.split(".", 1)[0]
    if not (major.isascii() and major.isdigit()):
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
    fault = _shape_fault(snapshot)
    if fault is not None:
        raise SnapshotError(f"{source}: malformed snapshot: {fault}")
    return snapshot


def _shape_fault(snapshot: dict[str, Any]) -> str | None:
    """Return the first field whose type the analysis cannot rely on, as `json.path: problem`, or None.

    Only the structure the graph builder indexes by is checked: the fields of each Kubernetes object
    beyond kind and metadata.name are judged later, object by object, with a warning.
    """
    checks = (
        *(_cluster_fault(cluster, f"clusters[{index}]") for index, cluster in enumerate(snapshot["clusters"])),
        *(_account_fault(account, f"aws_accounts[{index}]") for index, account in enumerate(snapshot["aws_accounts"])),
        *(_gap_fault(gap, f"coverage_gaps[{index}]") for index, gap in enumerate(snapshot["coverage_gaps"])),
    )
    return next((fault for fault in checks if fault is not None), None)


def _cluster_fault(cluster: Any, path: str) -> str | None:
    if not isinstance(cluster, dict):
        return f"{path}: expected an object, got {_json_type(cluster)}"
    if not isinstance(cluster.get("name"), str):
        return f"{path}.name: expected a string, got {_json_type(cluster.get('name'))}"
    objects = cluster.get("objects", [])
    if not isinstance(objects, list):
        return f"{path}.objects: expected a list, got {_json_type(objects)}"
    for position, obj in enumerate(objects):
        where = f"{path}.objects[{position}]"
        if not isinstance(obj, dict):
            return f"{where}: expected an object, got {_json_type(obj)}"
        if not isinstance(obj.get("kind"), str):
            return f"{where}.kind: expected a string, got {_json_type(obj.get('kind'))}"
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            return f"{where}.metadata: expected an object, got {_json_type(metadata)}"
        if not isinstance(metadata.get("name"), str):
            return f"{where}.metadata.name: expected a string, got {_json_type(metadata.get('name'))}"
    return None


def _account_fault(account: Any, path: str) -> str | None:
    if not isinstance(account, dict):
        return f"{path}: expected an object, got {_json_type(account)}"
    if not isinstance(account.get("account_id"), str):
        return f"{path}.account_id: expected a string, got {_json_type(account.get('account_id'))}"
    for field in ACCOUNT_ENTITY_LISTS:
        entries = account.get(field, [])
        if not isinstance(entries, list):
            return f"{path}.{field}: expected a list, got {_json_type(entries)}"
        wrong = next((position for position, entry in enumerate(entries) if not isinstance(entry, dict)), None)
        if wrong is not None:
            return f"{path}.{field}[{wrong}]: expected an object, got {_json_type(entries[wrong])}"
    return None


def _gap_fault(gap: Any, path: str) -> str | None:
    if not isinstance(gap, dict):
        return f"{path}: expected an object, got {_json_type(gap)}"
    for field in ("source", "reason", "resource"):
        if not isinstance(gap.get(field), str):
            return f"{path}.{field}: expected a string, got {_json_type(gap.get(field))}"
    return None


def _json_type(value: Any) -> str:
    """Name a parsed JSON value's type the way JSON does (null, boolean, number, string, list, object)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "list", dict: "object"}.get(type(value), type(value).__name__)
