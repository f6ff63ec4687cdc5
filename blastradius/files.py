"""Write output files whole or not at all, readable by their owner only.

Every file blastradius writes (snapshots, reports, runbooks) maps who can reach which secret, and a
scheduled job may read the previous one while the next is written. So each file is written to a
new file in the target's folder, flushed to disk with fsync, then renamed over the target, and
created with mode 0600.

On Linux the new file is opened with `O_TMPFILE`, so it has no name until it is complete: a
process killed while writing leaves nothing behind. Where `O_TMPFILE` is not available (other
systems, some file systems, no `/proc`), the new file is a named `.NAME.*.tmp` file. It is
removed when writing fails with an exception, but a killed process leaves it behind.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600

# The errors that `open(O_TMPFILE)` or the link through /proc raise where they are not supported.
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT, errno.EXDEV}


def write_atomically(path: str | os.PathLike[str], content: str | bytes) -> Path:
    """Write `content` (str as UTF-8) to `path` atomically with mode 0600, and return the path.

    Readers see the previous file or the new one, never a part. Creates the parent folder when it
    is missing. Raises OSError when the folder or file cannot be written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    # Every step names files relative to one open folder, so they all happen in the same folder
    # even if its path changes meanwhile.
    folder = os.open(target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        if not _write_unnamed(folder, target.name, data):
            _write_named(folder, target.name, data)
        _fsync_folder(folder, target.parent)
    finally:
        os.close(folder)
    return target


def _write_unnamed(folder: int, name: str, data: bytes) -> bool:
    """Write through an `O_TMPFILE` file; return False, having left no file, when that is not supported."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return False
    try:
        descriptor = os.open(".", flag | os.O_WRONLY, FILE_MODE, dir_fd=folder)
    except OSError as error:
        if error.errno in _UNSUPPORTED:
            return False
        raise
    try:
        _fill(descriptor, data)
        return _link_over(descriptor, folder, name)
    finally:
        os.close(descriptor)


def _link_over(descriptor: int, folder: int, name: str) -> bool:
    """Give the unnamed file a temporary name through /proc, then rename it over `name`.

    `linkat` cannot replace an existing file, so the rename does that. Returns False when the
    kernel offers no /proc link, before any name exists.
    """
    temporary = f".{name}.{secrets.token_hex(6)}.tmp"
    try:
        os.link(f"/proc/self/fd/{descriptor}", temporary, dst_dir_fd=folder, follow_symlinks=True)
    except OSError as error:
        if error.errno in _UNSUPPORTED:
            return False
        raise
    try:
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        os.unlink(temporary, dir_fd=folder)
        raise
    return True


def _write_named(folder: int, name: str, data: bytes) -> None:
    temporary = f".{name}.{secrets.token_hex(6)}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE, dir_fd=folder)
    try:
        try:
            _fill(descriptor, data)
        finally:
            os.close(descriptor)
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        os.unlink(temporary, dir_fd=folder)
        raise


def _fill(descriptor: int, data: bytes) -> None:
    """Write all of `data`, set mode 0600 whatever the umask, and flush the file to disk."""
    os.fchmod(descriptor, FILE_MODE)
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]
    os.fsync(descriptor)


def _fsync_folder(folder: int, path: Path) -> None:
    """Flush the folder entry of the rename to disk, where the system allows it."""
    try:
        os.fsync(folder)
    except OSError as error:
        log.debug("cannot flush folder %s after the rename: %s", path, error)
