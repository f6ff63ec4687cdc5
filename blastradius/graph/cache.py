"""A per-user cache of built capability graphs, so a query does not rebuild the graph of a snapshot.

A cache entry is the `pickle` of a `CapabilityGraph`, keyed by the SHA-256 of the snapshot file's
bytes, the blastradius version, the Python and networkx versions, and a hash of the package's own
`.py` files. A code change during development therefore never serves a stale graph.

Loading a pickle runs whatever code the file names, so whoever can write the cache folder can run
code as the user. The cache therefore lives in the user's cache folder, never next to the
snapshot, because snapshots may sit in shared folders. Entries are used only when the folder and
the file belong to the current user and neither is writable by group or others. Otherwise the
cache is ignored with a warning, and the graph is built. Set `BLASTRADIUS_NO_CACHE=1` to always
build and store nothing.

Each file starts with a header (magic, payload length, CRC-32 of the payload), so a truncated or
corrupt entry is detected, removed and rebuilt. Entries are written to a temporary file and then
renamed, and only the `MAX_ENTRIES` most recently used ones are kept.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import pickle
import stat
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

import blastradius
from blastradius.graph.model import CapabilityGraph

log = logging.getLogger(__name__)

CACHE_DIR_VARIABLE = "BLASTRADIUS_CACHE_DIR"
NO_CACHE_VARIABLE = "BLASTRADIUS_NO_CACHE"

# An entry of the M benchmark estate is about 84 MB, so few are kept.
MAX_ENTRIES = 8
ENTRY_SUFFIX = ".graph"
TEMP_SUFFIX = ".tmp"
# A write takes seconds, so a temporary file this old was left by a process that was killed.
STALE_TEMP_SECONDS = 3600

MAGIC = b"blastradius-graph-1\n"
HEADER = struct.Struct("<QI")  # payload length in bytes, CRC-32 of the payload
PRIVATE_FOLDER_MODE = 0o700
UNSAFE_MODE_BITS = stat.S_IWGRP | stat.S_IWOTH


class CacheEntryError(Exception):
    """A cache file that is truncated, corrupt or not a capability graph."""


@dataclass(frozen=True)
class CacheEntry:
    """One stored graph: its file, size in bytes and last use (seconds since the epoch)."""

    path: Path
    size: int
    last_used: float


def cached_graph(snapshot_path: str | os.PathLike[str], snapshot: dict[str, Any] | None = None) -> CapabilityGraph:
    """Return the capability graph of a snapshot file, from the cache when it contains one, else build and store it.

    `snapshot` is the already-loaded content of `snapshot_path`, so a caller that needs it anyway
    does not load the file twice on a miss. Without it, a miss loads the file and raises
    `SnapshotError` for an unreadable or malformed snapshot. Cache problems are logged and never
    raised: the graph is then built and returned.
    """
    source = Path(snapshot_path)
    if cache_disabled():
        return _build(source, snapshot)

    folder = cache_dir()
    key = _cache_key(source)
    if key is None or not _prepare_folder(folder):
        return _build(source, snapshot)

    entry = folder / f"{key}{ENTRY_SUFFIX}"
    graph = _load_entry(entry)
    if graph is not None:
        log.info("loaded the graph of %s from the cache file %s", source, entry)
        return graph

    graph = _build(source, snapshot)
    _store_entry(graph, entry)
    evict(folder)
    return graph


def cache_disabled() -> bool:
    """Return whether BLASTRADIUS_NO_CACHE disables the cache (any value except empty or 0)."""
    return os.environ.get(NO_CACHE_VARIABLE, "") not in ("", "0")


def cache_dir() -> Path:
    """Return the cache folder: $BLASTRADIUS_CACHE_DIR, else $XDG_CACHE_HOME/blastradius, else ~/.cache/blastradius."""
    override = os.environ.get(CACHE_DIR_VARIABLE)
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "blastradius"


def entries(folder: Path | None = None) -> list[CacheEntry]:
    """Return the stored graphs of a cache folder, most recently used first, or none when the folder is missing."""
    found = []
    for path in _entry_files(folder or cache_dir()):
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        found.append(CacheEntry(path, info.st_size, info.st_mtime))
    return sorted(found, key=lambda entry: entry.last_used, reverse=True)


def clear(folder: Path | None = None) -> int:
    """Remove every stored graph and temporary file of a cache folder, and return the number of files removed."""
    target = folder or cache_dir()
    removed = 0
    for path in [*_entry_files(target), *_temp_files(target)]:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed


def evict(folder: Path, keep: int = MAX_ENTRIES) -> None:
    """Remove all but the `keep` most recently used entries, and temporary files left by killed writers."""
    for entry in entries(folder)[keep:]:
        entry.path.unlink(missing_ok=True)
        log.info("removed the cache file %s, the least recently used of more than %d", entry.path, keep)
    stale_before = time.time() - STALE_TEMP_SECONDS
    for path in _temp_files(folder):
        try:
            if path.stat().st_mtime < stale_before:
                path.unlink()
        except FileNotFoundError:
            continue


def source_fingerprint() -> str:
    """Return the SHA-256 of blastradius's own `.py` files (relative path and content), in path order."""
    package = Path(blastradius.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


# --- key and folder ------------------------------------------------------------------------------


def _cache_key(source: Path) -> str | None:
    """Return the entry name of a snapshot file, or None when the file cannot be read (the build reports why)."""
    try:
        snapshot_digest = hashlib.sha256(source.read_bytes()).hexdigest()
    except OSError:
        return None
    parts = (
        snapshot_digest,
        blastradius.__version__,
        f"python {sys.version_info.major}.{sys.version_info.minor}",
        f"networkx {nx.__version__}",
        source_fingerprint(),
    )
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def _prepare_folder(folder: Path) -> bool:
    """Create the cache folder (mode 0700) if missing, and return whether it is safe to use."""
    try:
        folder.mkdir(mode=PRIVATE_FOLDER_MODE, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError as error:
        log.warning("cannot create the graph cache folder %s (%s), so the graph is built without the cache",
                    folder, error.strerror or error)
        return False
    problem = _ownership_problem(info)
    if problem is not None:
        log.warning("ignoring the graph cache folder %s because it %s. The graph is built without the cache. "
                    "Run `chmod 700 %s` if the folder is yours, or set %s to a private folder.",
                    folder, problem, folder, CACHE_DIR_VARIABLE)
        return False
    return True


def folder_problem(folder: Path) -> str | None:
    """Return why an existing cache folder would be ignored (another owner, writable by others), or None."""
    try:
        return _ownership_problem(folder.stat())
    except FileNotFoundError:
        return None


def _ownership_problem(info: os.stat_result) -> str | None:
    """Return why a file or folder may not be trusted (another owner, group or other write), or None."""
    if info.st_uid != os.getuid():
        return f"belongs to user id {info.st_uid}, not to the current user {os.getuid()}"
    if info.st_mode & UNSAFE_MODE_BITS:
        return f"is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


# --- reading and writing entries -----------------------------------------------------------------


def _load_entry(entry: Path) -> CapabilityGraph | None:
    """Return the graph stored in an entry, or None when it is missing, untrusted or corrupt.

    A corrupt entry is removed, so the graph built next takes its place.
    """
    try:
        data = _read_trusted(entry)
    except FileNotFoundError:
        return None
    except OSError as error:
        log.warning("cannot read the graph cache file %s (%s), so the graph is built again", entry, error.strerror or error)
        return None
    if data is None:
        return None

    try:
        return _unpickle_graph(_checked_payload(data))
    except CacheEntryError as error:
        log.warning("removed the graph cache file %s because it is %s, so the graph is built again", entry, error)
        entry.unlink(missing_ok=True)
        return None


def _read_trusted(entry: Path) -> bytes | None:
    """Return an entry's bytes, or None (with a warning) when it is not a regular file of the user's own.

    The file is opened without following a symlink, and its owner and mode are checked on the
    open descriptor, so the file that is read is the file that was checked.
    """
    fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        problem = "is not a regular file" if not stat.S_ISREG(info.st_mode) else _ownership_problem(info)
        if problem is not None:
            log.warning("ignoring the graph cache file %s because it %s, so the graph is built again", entry, problem)
            return None
        data = handle.read()
    os.utime(entry)  # the modification time records the last use, for eviction
    return data


def _checked_payload(data: bytes) -> memoryview:
    """Return the pickle inside an entry's bytes, after checking the magic, the length and the CRC-32.

    The pickle is a view of `data`, not a copy, because a large graph's pickle is hundreds of MB.
    """
    header_end = len(MAGIC) + HEADER.size
    if not data.startswith(MAGIC) or len(data) < header_end:
        raise CacheEntryError("not a blastradius graph cache file")
    length, checksum = HEADER.unpack_from(data, len(MAGIC))
    payload = memoryview(data)[header_end:]
    if len(payload) != length:
        raise CacheEntryError(f"truncated: {len(payload)} of {length} payload bytes")
    if zlib.crc32(payload) != checksum:
        raise CacheEntryError("corrupt: the CRC-32 of the payload does not match its header")
    return payload


def _unpickle_graph(payload: memoryview) -> CapabilityGraph:
    """Return the graph in a checked payload, moved out of the garbage collector's sight.

    The collector is paused while the millions of small dictionaries and strings of a large graph
    are created, which cut loading the M benchmark graph from 2.9 s to 0.9 s. `gc.freeze` then
    moves every object in the process to the permanent generation, so later collections do not
    walk the graph again. Reference counting still frees the graph once it is dropped, because it
    contains no reference cycles (a test checks this).
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        graph = pickle.loads(payload)
        gc.freeze()
    # An unpickler fed bad data can raise almost any exception type (EOFError, KeyError, ...).
    except Exception as error:
        raise CacheEntryError(f"corrupt: unpickling failed ({type(error).__name__}: {error})") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    if not isinstance(graph, CapabilityGraph):
        raise CacheEntryError(f"not a capability graph but a {type(graph).__name__}")
    return graph


def _store_entry(graph: CapabilityGraph, entry: Path) -> None:
    """Write a graph to its entry atomically (temporary file with mode 0600, then rename), logging any failure."""
    try:
        payload = pickle.dumps(graph, protocol=pickle.HIGHEST_PROTOCOL)
    # A graph attribute that cannot be pickled (a lock, a lambda) raises one of these.
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        log.warning("cannot store the graph in the cache (%s: %s), so later commands build it again",
                    type(error).__name__, error)
        return

    header = MAGIC + HEADER.pack(len(payload), zlib.crc32(payload))
    try:
        _write_atomically(entry, header, payload)
    except OSError as error:
        log.warning("cannot write the graph cache file %s (%s), so later commands build the graph again",
                    entry, error.strerror or error)
        return
    log.info("stored the graph in the cache file %s (%d bytes)", entry, len(header) + len(payload))


def _write_atomically(entry: Path, header: bytes, payload: bytes) -> None:
    """Write the header and payload to a temporary file next to the entry, then rename it over the entry.

    mkstemp creates the file with mode 0600. A reader sees the old entry, none, or the whole new
    one, never a partial file.
    """
    fd, temp_name = tempfile.mkstemp(prefix=f".{entry.stem}.", suffix=TEMP_SUFFIX, dir=entry.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(header)
            handle.write(payload)
        os.replace(temp_name, entry)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _build(source: Path, snapshot: dict[str, Any] | None) -> CapabilityGraph:
    from blastradius.graph.builder import build_graph
    from blastradius.snapshot import load_snapshot

    return build_graph(snapshot if snapshot is not None else load_snapshot(source))


def _entry_files(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        yield from folder.glob(f"*{ENTRY_SUFFIX}")


def _temp_files(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        yield from folder.glob(f".*{TEMP_SUFFIX}")
