"""The size limit on input files, checked before a file is read into memory.

Parsing keeps the whole file and every value built from it in memory at once. A 35 MB AWS bundle
(the size-L `aws.json` of benchmarks/generate.py) peaked at about 190 MB resident while
`collect_aws_files` read it, measured with `/usr/bin/time -v`. The limit keeps a stray dump, a
device or a FIFO from exhausting memory before any error can be shown.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from blastradius.collectors.errors import CollectionError

MIB = 1024 * 1024
# The largest single file measured so far is a 68 MB JSON List of 100,000 objects, well inside this.
DEFAULT_MAX_FILE_BYTES = 256 * MIB


class InputTooLargeError(CollectionError):
    """An input file or stream larger than the size limit; the message names it, its size and the limit."""


def read_limited(stream: BinaryIO, name: str, max_bytes: int) -> bytes:
    """Read a whole binary stream, or raise InputTooLargeError when it is longer than `max_bytes`.

    The size that `fstat` reports is checked before anything is read. Then at most `max_bytes + 1`
    bytes are read, which also bounds streams without a size (standard input, FIFOs, devices).
    """
    size = _stream_size(stream)
    if size is not None and size > max_bytes:
        raise InputTooLargeError(too_large_message(name, max_bytes, size))
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputTooLargeError(too_large_message(name, max_bytes, None))
    return data


def too_large_message(name: str, max_bytes: int, size: int | None) -> str:
    """Return the error for an input over the limit, naming it, its size when known and the limit."""
    found = f"{format_size(size)}, larger than" if size is not None else "larger than"
    return f"{name}: {found} the {format_size(max_bytes)} input size limit; split the file or raise --max-file-size"


def format_size(size: int) -> str:
    """Format a byte count in MiB with one decimal from one MiB up, and in bytes below that."""
    if size >= MIB:
        return f"{size / MIB:.1f}".removesuffix(".0") + " MiB"
    return f"{size:,} bytes"


def _stream_size(stream: BinaryIO) -> int | None:
    """Return the size of a regular file, or None for a stream that has no size of its own."""
    try:
        status = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    return status.st_size if status.st_size > 0 else None
