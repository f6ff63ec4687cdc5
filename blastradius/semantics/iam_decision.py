"""Decisions of the IAM evaluator and the algebra that combines policy layers into one.

A layer (identity policies, a permission boundary, a resource policy, SCPs) grants a request through
one or more alternatives: the statements that allow it, each with the conditions the snapshot could
not decide. Layers combine with `all_of` (both must allow) and `any_of` (either may allow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DecisionEffect = Literal["allow", "deny", "conditional"]


@dataclass(frozen=True)
class Evidence:
    """A policy statement that decided a request.

    `policy` is a managed policy ARN, `inline:<user or role>/<policy name>`,
    `inline:group/<group>/<policy name>`, `resource-policy:<secret ARN>`, `trust-policy:<role ARN>`,
    `key-policy:<key ARN>`, `scp:<id>`, `rcp:<id>` or `boundary:<ARN>`. `statement` is the Sid
    or `#<0-based index>`, and `effect` is `Allow` or `Deny` as written in the policy.
    """

    policy: str
    statement: str
    effect: str


@dataclass(frozen=True)
class Decision:
    """The outcome of one request: allow, deny, or allowed only if `conditions` hold.

    `conditions` are readable lines such as `aws:SourceIp IpAddress 203.0.113.0/24` (must hold),
    `unless aws:CurrentTime DateLessThan 2027-01-01T00:00:00Z` (a Deny that applies when it holds)
    or `unparseable policy arn:... may deny`. `reason` is one sentence for reports.
    """

    effect: DecisionEffect
    conditions: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    reason: str = ""

    @property
    def possible(self) -> bool:
        """Whether the request may succeed: allowed, or allowed under conditions."""
        return self.effect != "deny"


DENY = Decision("deny")
_RANK = {"allow": 2, "conditional": 1, "deny": 0}


def best_of(decisions: list[Decision]) -> Decision:
    """Return the most permissive decision, used when any one of several actions is enough."""
    return max(decisions, key=lambda decision: _RANK[decision.effect], default=DENY)


def both(first: Decision, second: Decision) -> Decision:
    """Return the decision for a request that needs two independent authorizations to succeed."""
    if not first.possible:
        return first
    if not second.possible:
        return second
    conditions = _unique(first.conditions + second.conditions)
    evidence = _unique(first.evidence + second.evidence)
    effect: DecisionEffect = "conditional" if conditions else "allow"
    reason = "; ".join(part for part in (first.reason, second.reason) if part)
    return Decision(effect, conditions, evidence, reason)


def _unique(items: tuple) -> tuple:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class Alternative:
    """One way a layer allows a request: the undecided conditions it needs and the statements behind it."""

    conditions: frozenset[str]
    evidence: tuple[Evidence, ...]


Grant = tuple[Alternative, ...]
NOTHING: Grant = ()
UNLIMITED: Grant = (Alternative(frozenset(), ()),)


def simplify(alternatives: tuple[Alternative, ...] | list[Alternative]) -> Grant:
    """Merge alternatives: one unconditional alternative makes the conditional ones redundant."""
    unconditional = [alternative for alternative in alternatives if not alternative.conditions]
    if unconditional:
        evidence = _unique(tuple(item for alternative in unconditional for item in alternative.evidence))
        return (Alternative(frozenset(), evidence),)
    merged: dict[frozenset[str], tuple[Evidence, ...]] = {}
    for alternative in alternatives:
        merged[alternative.conditions] = _unique(merged.get(alternative.conditions, ()) + alternative.evidence)
    return tuple(Alternative(conditions, evidence) for conditions, evidence in merged.items())


def any_of(*grants: Grant) -> Grant:
    return simplify([alternative for grant in grants for alternative in grant])


def all_of(first: Grant, second: Grant) -> Grant:
    if not first or not second:
        return NOTHING
    return simplify(
        [
            Alternative(left.conditions | right.conditions, _unique(left.evidence + right.evidence))
            for left in first
            for right in second
        ]
    )


def describe_grant(grant: Grant) -> tuple[str, ...]:
    """Return the conditions a grant needs: none, each line of its one alternative, or one `(a) or (b)` line."""
    if not grant or not grant[0].conditions:
        return ()
    if len(grant) == 1:
        return tuple(sorted(grant[0].conditions))
    return (" or ".join("(" + " and ".join(sorted(alternative.conditions)) + ")" for alternative in grant),)


@dataclass(frozen=True)
class DenyMatch:
    """A Deny statement that applies to the request, unless its undecided conditions fail."""

    conditions: tuple[str, ...]
    evidence: Evidence


@dataclass
class Findings:
    """Deny statements and caveats about unparseable policies, collected while the policies are scanned."""

    denies: list[DenyMatch] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)

    def decide(self, grant: Grant, reason_if_denied: str) -> Decision:
        """Turn the combined grant into a Decision; an unconditional Deny wins over every allow."""
        explicit = [deny.evidence for deny in self.denies if not deny.conditions]
        if explicit:
            names = ", ".join(f"{evidence.policy} {evidence.statement}" for evidence in explicit)
            return Decision("deny", (), tuple(explicit), f"explicitly denied by {names}")
        if not grant:
            return Decision("deny", (), (), reason_if_denied)
        conditions = describe_grant(grant)
        conditions += tuple(f"unless {' and '.join(deny.conditions)}" for deny in self.denies)
        conditions += tuple(self.caveats)
        conditions = _unique(conditions)
        evidence = _unique(
            tuple(item for alternative in grant for item in alternative.evidence)
            + tuple(deny.evidence for deny in self.denies)
        )
        if conditions:
            return Decision("conditional", conditions, evidence, "allowed only if the listed conditions hold")
        return Decision("allow", (), evidence, "allowed")
