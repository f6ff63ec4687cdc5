"""The snapshot: the versioned file that carries everything collected to the offline analysis.

The layout is documented in docs/snapshot-format.md. Collectors produce a `Collection`;
`assemble` turns collections into one snapshot dict; `write_snapshot` stores it atomically and
`load_snapshot` reads and validates it.
"""

from blastradius.snapshot.model import (
    GAP_REASONS,
    SCHEMA_VERSION,
    Collection,
    assemble,
    coverage_gap,
)
from blastradius.snapshot.store import SnapshotError, canonical_bytes, load_snapshot, write_snapshot

__all__ = [
    "GAP_REASONS",
    "SCHEMA_VERSION",
    "Collection",
    "SnapshotError",
    "assemble",
    "canonical_bytes",
    "coverage_gap",
    "load_snapshot",
    "write_snapshot",
]
