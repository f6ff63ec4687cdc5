"""`diff`: drift between two snapshots of one estate, for scheduled checks and CI.

Three sections, each keyed by what stays stable between collections:
- new and lost reachability: (principal, secret, capability) triples keyed by node ids, with the
  path that grants a new triple (in NEW) or granted a lost one (in OLD);
- new and resolved audit findings, keyed by check id and the objects involved;
- the objects behind them: added, removed and changed, with the fields that changed.

Reachability is computed for every principal at once (see `secret_reach`), so a diff costs about
two graph walks, not one per principal. Paths are computed only for the rows listed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from blastradius.config import Config
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.audit import Finding, run_audit
from blastradius.queries.audit.result import finding_row
from blastradius.queries.common import reach_row
from blastradius.queries.object_changes import object_changes
from blastradius.queries.reachability import (
    HOLDING,
    OVERWRITTEN,
    PRINCIPAL_KINDS,
    Reach,
    _forward,
    _forward_path,
    _reverse,
    _reverse_path,
)
from blastradius.queries.secret_reach import SecretIndex, secret_reach

log = logging.getLogger(__name__)

# Rows listed per reachability section by default; the counts always cover every triple.
DEFAULT_ROW_LIMIT = 500

Triple = tuple[str, str, str]


class DiffError(Exception):
    """Two snapshots that cannot be compared; the message names both files."""


@dataclass(frozen=True)
class Estate:
    """One side of a diff: the snapshot file as given, the loaded snapshot and its capability graph."""

    label: str
    snapshot: dict[str, Any]
    graph: CapabilityGraph

    def describe(self) -> dict[str, Any]:
        return {
            "file": self.label,
            "collected_at": self.snapshot.get("collected_at"),
            "schema_version": str(self.snapshot.get("schema_version")),
        }


@dataclass
class ReachChanges:
    """New or lost triples: the listed rows (with paths) and the count of every triple."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "listed": len(self.rows), "rows": self.rows}


@dataclass
class DiffResult:
    """Everything that drifted between OLD and NEW, as plain data for the renderers."""

    old: dict[str, Any]
    new: dict[str, Any]
    new_reach: ReachChanges
    lost_reach: ReachChanges
    new_findings: list[dict[str, Any]]
    resolved_findings: list[dict[str, Any]]
    object_changes: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    @property
    def grew(self) -> bool:
        """True when some principal can read or overwrite a secret it could not before."""
        return self.new_reach.total > 0

    @property
    def unchanged(self) -> bool:
        return not (self.new_reach.total or self.lost_reach.total or self.new_findings or self.resolved_findings
                    or self.object_changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": "diff",
            "old": self.old,
            "new": self.new,
            "grew": self.grew,
            "new_reach": self.new_reach.to_dict(),
            "lost_reach": self.lost_reach.to_dict(),
            "new_findings": self.new_findings,
            "resolved_findings": self.resolved_findings,
            "object_changes": self.object_changes,
            "notes": self.notes,
        }


def diff(old: Estate, new: Estate, *, config: Config | None = None, limit: int | None = DEFAULT_ROW_LIMIT,
         findings: bool = True) -> DiffResult:
    """Compare two estates and return what drifted from OLD to NEW.

    Raises DiffError when the snapshots' schema major versions differ, and ConfigError when the
    configuration overrides the severity of an unknown check. Principals that the configuration trusts are left out of the reachability sections, and a note counts them.
    `limit` caps the rows listed in each reachability section (None lists all). With `findings`
    false the audit is not run, which saves two audits on a large estate, and a note says so.
    """
    config = config or Config()
    notes = schema_notes(old, new)
    notes.extend(coverage_notes(old, new))

    gained, lost, hidden = triple_changes(old.graph, new.graph, config)
    if hidden:
        notes.append(f"{hidden} change(s) of reachability of trusted principals hidden (trusted_principals in {config.source})")
    new_findings: list[dict[str, Any]] = []
    resolved_findings: list[dict[str, Any]] = []
    if findings:
        new_findings, resolved_findings = finding_changes(old, new, config)
    else:
        notes.append("audit findings not compared (--no-findings)")

    return DiffResult(
        old=old.describe(),
        new=new.describe(),
        new_reach=_listed(new.graph, old.graph, gained, limit, "new_target"),
        lost_reach=_listed(old.graph, new.graph, lost, limit, "removed_target"),
        new_findings=new_findings,
        resolved_findings=resolved_findings,
        object_changes=object_changes(old.snapshot, new.snapshot),
        notes=notes,
    )


def schema_notes(old: Estate, new: Estate) -> list[str]:
    """Return a note when the schema minor versions differ; raise DiffError when the majors do."""
    old_version, new_version = str(old.snapshot.get("schema_version")), str(new.snapshot.get("schema_version"))
    if old_version == new_version:
        return []
    old_major, new_major = old_version.split(".", 1)[0], new_version.split(".", 1)[0]
    if old_major != new_major:
        raise DiffError(
            f"cannot compare {old.label} (schema {old_version}) with {new.label} (schema {new_version}): "
            "the major versions differ; collect both snapshots with the same blastradius major version"
        )
    return [f"schema versions differ ({old.label}: {old_version}, {new.label}: {new_version}); "
            f"compared as schema {old_major}.x"]


def coverage_notes(old: Estate, new: Estate) -> list[str]:
    """Return a note for each coverage gap found in only one of the snapshots.

    A gap only in NEW can make reachability look lost when it is only unknown. A gap only in
    OLD can make reachability look new when it was only unseen.
    """
    old_gaps = {_gap_text(gap) for gap in old.graph.coverage_gaps}
    new_gaps = {_gap_text(gap) for gap in new.graph.coverage_gaps}
    notes = [f"coverage gap only in {new.label} (lost reachability there may be unknown, not lost): {text}"
             for text in sorted(new_gaps - old_gaps)]
    notes += [f"coverage gap only in {old.label} (new reachability there may have been unseen before): {text}"
              for text in sorted(old_gaps - new_gaps)]
    return notes


def _gap_text(gap: dict[str, Any]) -> str:
    where = "".join(f" in {key} {gap[key]}" for key in ("namespace", "region") if gap.get(key))
    return f"{gap['source']}: {gap['resource']}{where} ({gap['reason']})"


def triple_changes(old: CapabilityGraph, new: CapabilityGraph, config: Config) -> tuple[list[Triple], list[Triple], int]:
    """Return the gained and lost (principal id, secret id, capability) triples and the hidden count.

    Triples are listed by principal display name, then by secret id. Trusted principals' changes
    are counted in the hidden count instead.
    """
    index = SecretIndex.of([old, new])
    old_principals = set(old.nodes_of_kind(*PRINCIPAL_KINDS))
    new_principals = set(new.nodes_of_kind(*PRINCIPAL_KINDS))
    old_bits = secret_reach(old, index, old_principals)
    new_bits = secret_reach(new, index, new_principals)

    gained: list[Triple] = []
    lost: list[Triple] = []
    hidden = 0
    for principal in sorted(old_principals | new_principals, key=lambda node: (_name(node, new, old), node)):
        before, after = old_bits.get(principal, 0), new_bits.get(principal, 0)
        if before == after:
            continue
        if config.is_trusted(_name(principal, new, old)):
            hidden += (after & ~before).bit_count() + (before & ~after).bit_count()
            continue
        gained.extend((principal, target, capability) for target, capability in index.pairs(after & ~before))
        lost.extend((principal, target, capability) for target, capability in index.pairs(before & ~after))
    return gained, lost, hidden


def finding_changes(old: Estate, new: Estate, config: Config) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the audit findings only NEW has (new) and only OLD has (resolved), as audit rows.

    A finding is keyed by its check id and the objects it names (kind, namespace, name), not by
    its message, because messages carry numbers that move between collections (the age of a
    sync). Staleness is judged at each snapshot's own `collected_at`.
    """
    before = {_finding_key(finding): finding for finding in run_audit(old.snapshot, old.graph, config)}
    after = {_finding_key(finding): finding for finding in run_audit(new.snapshot, new.graph, config)}
    added = [finding_row(finding) for key, finding in after.items() if key not in before]
    resolved = [finding_row(finding) for key, finding in before.items() if key not in after]
    return added, resolved


def _finding_key(finding: Finding) -> tuple:
    objects = tuple((item.get("kind"), item.get("namespace"), item.get("name")) for item in finding.objects)
    return finding.check_id, objects


def _name(node: str, *graphs: CapabilityGraph) -> str:
    for graph in graphs:
        if node in graph.g:
            return graph.name(node)
    raise KeyError(node)


def _listed(graph: CapabilityGraph, other: CapabilityGraph, triples: list[Triple], limit: int | None,
            absent_flag: str) -> ReachChanges:
    """Return rows with paths in `graph` for the first `limit` triples, and the count of all.

    `absent_flag` marks rows whose secret does not exist in `other`: a secret created since OLD
    (`new_target`) or deleted before NEW (`removed_target`).
    """
    listed = triples if limit is None else triples[:limit]
    reaches = _paths(graph, listed)
    rows = []
    for principal, target, capability in listed:
        row = reach_row(graph, reaches[(principal, target, capability)])
        row[absent_flag] = target not in other.g
        rows.append(row)
    return ReachChanges(rows, len(triples))


def _paths(graph: CapabilityGraph, triples: list[Triple]) -> dict[Triple, Reach]:
    """Return one shortest path per triple, walking from each principal or back from each secret.

    Each walk covers a whole principal (forward) or a whole secret (backward), so the cheaper side
    is the one with fewer distinct nodes among the triples. The paths are the ones `reach_from` and
    `reaching` return, but only the listed triples' paths are traced, and the walk that admits
    conditional edges runs only for triples that no unconditional path reaches.
    """
    by_principal: dict[str, set[tuple[str, str]]] = defaultdict(set)
    by_target: dict[tuple[str, str], set[str]] = defaultdict(set)
    for principal, target, capability in triples:
        by_principal[principal].add((target, capability))
        by_target[(target, capability)].add(principal)

    found: dict[Triple, Reach] = {}
    if len(by_principal) <= len(by_target):
        for principal, pairs in by_principal.items():
            found.update(_paths_from(graph, principal, pairs))
    else:
        for (target, capability), principals in by_target.items():
            found.update(_paths_to(graph, target, capability, principals))
    return found


def _paths_from(graph: CapabilityGraph, principal: str, pairs: set[tuple[str, str]]) -> dict[Triple, Reach]:
    """Return the `reach_from` path of each (secret, capability) pair the principal reaches."""
    found: dict[Triple, Reach] = {}
    for unconditional_only in (True, False):
        missing = [(target, capability) for target, capability in sorted(pairs) if (principal, target, capability) not in found]
        if not missing:
            break
        parents = _forward(graph, principal, unconditional_only)
        for target, capability in missing:
            end = (target, HOLDING if capability == "read" else OVERWRITTEN)
            if target != principal and end in parents:
                found[(principal, target, capability)] = Reach(principal, target, capability, _forward_path(parents, end))
    return found


def _paths_to(graph: CapabilityGraph, target: str, capability: str, principals: set[str]) -> dict[Triple, Reach]:
    """Return the `reaching` path of each principal that reaches the secret with the capability."""
    final = HOLDING if capability == "read" else OVERWRITTEN
    found: dict[Triple, Reach] = {}
    for unconditional_only in (True, False):
        missing = [principal for principal in sorted(principals) if (principal, target, capability) not in found]
        if not missing:
            break
        children = _reverse(graph, target, final, unconditional_only)
        for principal in missing:
            start = (principal, HOLDING)
            if principal != target and start in children:
                found[(principal, target, capability)] = Reach(principal, target, capability, _reverse_path(children, start))
    return found
