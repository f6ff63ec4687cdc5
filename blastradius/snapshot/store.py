"""Writing snapshots atomically, and loading them as untrusted input.

A snapshot file may come from elsewhere (a colleague, a CI artefact, a ticket). Loading bounds the
file's size before reading it and the JSON's size while decompressing it, so a gzip bomb fails
with a message instead of exhausting memory. It then checks the schema version and the types of
every field the analysis indexes by. Keys it does not know are ignored, as a reader of schema
1.x must do for minor versions newer than its own.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from blastradius.files import write_atomically
from blastradius.snapshot.model import SCHEMA_VERSION


MIB = 1024 * 1024
# A snapshot of the M benchmark estate (26,000 objects) is 23 MB of JSON and 0.7 MB gzipped, so an
# L estate, four times M, is an estimated 100 MB of JSON. These limits leave ten times that, and keep json.loads, which
# needs several times the text's size in memory, within reach of a workstation.
MAX_SNAPSHOT_FILE_BYTES = 256 * MIB
MAX_SNAPSHOT_JSON_BYTES = 1024 * MIB
_CHUNK_BYTES = MIB

# A schema_version is `major.minor`; a longer one is not a version, and int() rejects more than
# 4300 digits with a ValueError of its own.
MAX_SCHEMA_VERSION_LENGTH = 32

# The lists of an AWS account section whose entries the graph builder reads as JSON objects.
ACCOUNT_ENTITY_LISTS = ("users", "groups", "roles", "policies", "oidc_providers", "secrets", "kms_keys",
                        "organization_policies")


class SnapshotError(Exception):
    """A snapshot file that cannot be read, parsed or understood."""


def canonical_bytes(snapshot: dict[str, Any], *, compact: bool = False) -> bytes:
    """Serialise a snapshot as UTF-8 JSON with sorted keys, one stable byte form per content.

    The indented form keeps plain `.json` snapshots readable in a diff. The `compact` form, used
    inside `.gz` files, is written by the json module's C encoder, about six times faster.
    """
    if compact:
        return (json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
    return (json.dumps(snapshot, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def write_snapshot(snapshot: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a snapshot atomically with mode 0600 (`files.write_atomically`) and return its path.

    A name ending in `.gz` is gzip-compressed (with a zero mtime, so equal content gives equal
    bytes). The file is readable by its owner only, because a snapshot maps who can reach which
    secret. An interrupted run leaves the previous file, or none, never a truncated one.
    """
    target = Path(path)
    compressed = target.name.endswith(".gz")
    payload = canonical_bytes(snapshot, compact=compressed)
    if compressed:
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    return write_atomically(target, payload)


def _read_bytes(path: Path, max_file_bytes: int, max_json_bytes: int) -> bytes:
    """Return the snapshot's JSON text, decompressed when the file is gzip, within both size limits."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_file_bytes:
                raise SnapshotError(f"{path}: snapshot file is {_size_text(size)}, larger than the "
                                    f"{_size_text(max_file_bytes)} limit for snapshot files")
            raw = _read_at_most(handle, max_file_bytes)
            if raw is None:
                raise SnapshotError(f"{path}: snapshot file is larger than the {_size_text(max_file_bytes)} "
                                    "limit for snapshot files")
    except FileNotFoundError:
        raise SnapshotError(f"{path}: snapshot file not found") from None
    except OSError as error:
        raise SnapshotError(f"{path}: cannot read snapshot: {error.strerror or error}") from None
    if raw[:2] == b"\x1f\x8b":
        return _decompressed(path, raw, max_json_bytes)
    if len(raw) > max_json_bytes:
        raise SnapshotError(f"{path}: snapshot is larger than the {_size_text(max_json_bytes)} limit for snapshot JSON")
    return raw


def _read_at_most(stream: BinaryIO, limit: int) -> bytes | None:
    """Read a stream in chunks to its end, or return None as soon as it contains more than `limit` bytes.

    Chunks, because `read(limit + 1)` allocates the whole limit up front. The size check before
    this covers regular files, and this one covers FIFOs and devices, which report no size.
    """
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(_CHUNK_BYTES):
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _decompressed(path: Path, compressed: bytes, max_json_bytes: int) -> bytes:
    """Decompress gzip data in chunks, raising SnapshotError as soon as the output passes `max_json_bytes`."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as stream:
            text = _read_at_most(stream, max_json_bytes)
    except (OSError, EOFError, zlib.error) as error:
        raise SnapshotError(f"{path}: corrupt gzip data ({error}); the file may be truncated") from None
    if text is None:
        raise SnapshotError(f"{path}: decompressed snapshot is larger than the {_size_text(max_json_bytes)} limit "
                            "for snapshot JSON; the file may be a decompression bomb")
    return text


def _size_text(size: int) -> str:
    if size >= MIB:
        return f"{size / MIB:.1f}".removesuffix(".0") + " MiB"
    return f"{size:,} bytes"


def load_snapshot(path: str | os.PathLike[str], *, max_file_bytes: int = MAX_SNAPSHOT_FILE_BYTES,
                  max_json_bytes: int = MAX_SNAPSHOT_JSON_BYTES) -> dict[str, Any]:
    """Load a snapshot and check that this version of blastradius can read it.

    Raises SnapshotError naming the file for unreadable or malformed files, for a file over
    `max_file_bytes` or JSON over `max_json_bytes` once decompressed, and for a schema major
    version this tool cannot read.
    """
    source = Path(path)
    raw = _read_bytes(source, max_file_bytes, max_json_bytes)
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

    Only the structure that the graph builder and the summaries index by is checked: the fields of
    each Kubernetes object beyond kind and metadata.name are judged later, object by object, with
    a warning.
    """
    checks = (
        _top_level_fault(snapshot),
        *(_cluster_fault(cluster, f"clusters[{index}]") for index, cluster in enumerate(snapshot["clusters"])),
        *(_account_fault(account, f"aws_accounts[{index}]") for index, account in enumerate(snapshot["aws_accounts"])),
        *(_gap_fault(gap, f"coverage_gaps[{index}]") for index, gap in enumerate(snapshot["coverage_gaps"])),
    )
    return next((fault for fault in checks if fault is not None), None)


def _top_level_fault(snapshot: dict[str, Any]) -> str | None:
    if not isinstance(snapshot.get("tool", {}), dict):
        return f"tool: expected an object, got {_json_type(snapshot['tool'])}"
    return _optional_string_fault(snapshot, "collected_at", "collected_at")


def _cluster_fault(cluster: Any, path: str) -> str | None:
    if not isinstance(cluster, dict):
        return f"{path}: expected an object, got {_json_type(cluster)}"
    if not isinstance(cluster.get("name"), str):
        return f"{path}.name: expected a string, got {_json_type(cluster.get('name'))}"
    fault = (_optional_string_fault(cluster, "server", path) or _optional_string_fault(cluster, "oidc_issuer", path)
             or _string_list_fault(cluster, "manifests", path) or _counts_fault(cluster, "skipped_kinds", path))
    if fault is not None:
        return fault
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
    fault = _optional_string_fault(account, "partition", path) or _string_list_fault(account, "regions", path)
    if fault is not None:
        return fault
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
    for field in ("namespace", "region", "detail"):
        fault = _optional_string_fault(gap, field, path)
        if fault is not None:
            return fault
    return None


def _optional_string_fault(section: dict[str, Any], field: str, path: str) -> str | None:
    """Return the fault of a field that must be a string or null when present, or None."""
    value = section.get(field)
    if value is None or isinstance(value, str):
        return None
    where = field if field == path else f"{path}.{field}"
    return f"{where}: expected a string or null, got {_json_type(value)}"


def _string_list_fault(section: dict[str, Any], field: str, path: str) -> str | None:
    """Return the fault of a field that must be a list of strings when present, or None."""
    value = section.get(field, [])
    if not isinstance(value, list):
        return f"{path}.{field}: expected a list, got {_json_type(value)}"
    wrong = next((position for position, item in enumerate(value) if not isinstance(item, str)), None)
    if wrong is not None:
        return f"{path}.{field}[{wrong}]: expected a string, got {_json_type(value[wrong])}"
    return None


def _counts_fault(section: dict[str, Any], field: str, path: str) -> str | None:
    """Return the fault of a field that must be an object of counts (kind → number) when present, or None."""
    value = section.get(field) or {}
    if not isinstance(value, dict):
        return f"{path}.{field}: expected an object, got {_json_type(value)}"
    wrong = next((key for key, count in value.items() if isinstance(count, bool) or not isinstance(count, int)), None)
    if wrong is not None:
        return f"{path}.{field}.{wrong}: expected a number, got {_json_type(value[wrong])}"
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
