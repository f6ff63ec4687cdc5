"""`who-can`: every principal that can obtain (or overwrite) a secret, with the path for each."""

from __future__ import annotations

from blastradius.config import Config
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.common import PRINCIPAL_FILTERS, SECRET_KINDS, QueryResult, chain_text, coverage_notes, reach_row, step_dict
from blastradius.queries.reachability import PRINCIPAL_KINDS, Reach, distinct_paths, reaching
from blastradius.queries.refs import resolve

COLUMNS = ["principal", "target", "capability", "hops", "conditions", "path"]


def who_can(
    graph: CapabilityGraph,
    reference: str,
    *,
    capability: str = "read",
    cluster: str | None = None,
    kinds: list[str] | None = None,
    every_path: bool = False,
    config: Config | None = None,
    show_trusted: bool = False,
) -> QueryResult:
    """Return one row per (principal, target) for the targets `reference` names.

    With `every_path`, each distinct path (up to two hops longer than the shortest) gets a row of
    its own. Principals the configuration trusts are left out unless `show_trusted`, and the result's
    message counts the hidden rows.
    """
    targets = resolve(graph, reference, cluster=cluster).nodes
    allowed = frozenset().union(*(PRINCIPAL_FILTERS[kind] for kind in kinds)) if kinds else PRINCIPAL_KINDS
    config = config or Config()

    # A glob that names both Secrets and the sets containing them is resolved to the Secrets. A set is
    # used only where the snapshot contains no Secret objects, as in most GitOps repositories.
    if any(graph.kind(target) in SECRET_KINDS for target in targets):
        targets = tuple(target for target in targets if graph.kind(target) != "secret_set")

    rows = []
    hidden = 0
    involved: list[str] = list(targets)
    for target in targets:
        for reach in reaching(graph, target, capability, principal_kinds=allowed):
            if not show_trusted and config.is_trusted(graph.name(reach.principal)):
                hidden += 1
                continue
            involved.extend(step.target for step in reach.steps)
            if not every_path:
                rows.append(_row(graph, reach))
                continue
            seen_chains: set[str] = set()
            for steps in distinct_paths(graph, reach.principal, target, capability):
                chain = chain_text(graph, steps)
                if chain in seen_chains:
                    # Two paths through the same nodes differ only in evidence, such as another rule of one role.
                    continue
                seen_chains.add(chain)
                row = _row(graph, reach)
                conditions = sorted({condition for step in steps for condition in step.conditions})
                row.update(hops=len(steps), path=chain_text(graph, steps), conditions=conditions,
                           conditional=bool(conditions), steps=[step_dict(graph, step) for step in steps])
                rows.append(row)

    message = None
    if hidden:
        message = f"{hidden} row(s) of trusted principals hidden; pass --all to show them"
    if not rows:
        verb = "overwrite" if capability == "overwrite" else "obtain"
        of_kind = f" of kind {', '.join(kinds)}" if kinds else ""
        message = (message + "; " if message else "") + f"no principal{of_kind} can {verb} {reference}"
    notes = coverage_notes(graph, involved)
    if not rows and notes:
        message += "; parts of the estate were not readable, so this is unknown rather than no access (see the notes)"
    return QueryResult("who-can", reference, COLUMNS, rows, notes, message)


def _row(graph: CapabilityGraph, reach: Reach) -> dict:
    """Return a reach row, with capability `act-as` when the target is itself a principal."""
    row = reach_row(graph, reach)
    if graph.kind(reach.target) in PRINCIPAL_KINDS and reach.capability == "read":
        row["capability"] = "act-as"
    return row
