"""What lets secret-access evaluation scale: principals that evaluate alike, and secrets that look alike.

Two facts keep the cost of "which secrets can each principal read" near the number of policy
statements and matches instead of principals × secrets:

- **Permission sets.** Users and roles of one account with the same policies (in the same order,
  the same boundary, tags, kind and service-linked status) get the same decision on every secret.
  The exception is a policy that tests the caller. It does so with a condition on
  `aws:PrincipalArn`, `aws:username`, `aws:userid` or `aws:SourceIdentity`, a policy variable, or
  a Principal element that names single principals. A secret whose resource or key policy does so in a way that can separate two members
  (it names some members but not all, or its condition holds for some and not others) is
  "personal" to that set and is evaluated per member. So is a secret whose account, or whose key's
  account, has an RCP that separates them. A principal whose own policies look at its identity
  shares with no one, and neither does anyone in an account whose SCPs or RCPs do.
- **Secret classes.** For one principal, two secrets that the same statements cover (by Resource
  pattern), in the same account and region, without a resource policy, and with the same KMS key
  get the same decision, unless a statement tests the secret itself (`secretsmanager:*` or
  resource-tag conditions, a key policy on the encryption context, or a condition value with a
  variable such as `${aws:ResourceTag/team}`). One evaluation per class decides them all.

Both shortcuts are exact: they skip evaluations whose inputs are equal, never approximate them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable, Iterable

from blastradius.semantics.iam_model import AccountModel, AttachedPolicy, Principal, Secret
from blastradius.semantics.iam_policy import EMPTY_CONTEXT, Condition, RequestContext, Statement

# Condition keys whose value differs between two principals that have the same policies.
IDENTITY_KEYS = frozenset({"aws:principalarn", "aws:username", "aws:userid", "aws:sourceidentity"})
# Condition keys whose value differs between two secrets of the same account and region.
RESOURCE_KEY_PREFIXES = ("aws:resourcetag/", "secretsmanager:", "iam:resourcetag/", "kms:encryptioncontext")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def looks_at_identity(statement: Statement) -> bool:
    """Return whether the statement can treat two principals with the same policies differently."""
    patterns = (statement.resources or ()) + (statement.not_resources or ())
    if any("${" in pattern for pattern in patterns):
        return True
    for condition in statement.conditions:
        if condition.key.lower() in IDENTITY_KEYS or any("${" in value for value in condition.values):
            return True
    if statement.not_principals is not None:
        return True
    return any(kind == "AWS" and not _names_everyone_or_account(value) for kind, value in statement.principals or ())


def looks_at_resource(statement: Statement) -> bool:
    """Return whether the statement's conditions can treat two secrets covered by its Resource differently.

    A condition does so when it tests a resource key, or when one of its values is a policy
    variable that names one, as in `aws:PrincipalTag/team` equal to `${aws:ResourceTag/team}`.
    """
    for condition in statement.conditions:
        if condition.key.lower().startswith(RESOURCE_KEY_PREFIXES):
            return True
        if any(_names_resource_key(value) for value in condition.values):
            return True
    return False


def _names_resource_key(value: str) -> bool:
    return any(name.lower().startswith(RESOURCE_KEY_PREFIXES) for name in _VARIABLE.findall(value))


def _names_everyone_or_account(value: str) -> bool:
    return value == "*" or value.isdigit() or value.endswith(":root")


def _statements(policies: Iterable[AttachedPolicy | None]) -> Iterable[Statement]:
    for policy in policies:
        if policy is not None and policy.document is not None:
            yield from policy.document.statements


@dataclass(frozen=True)
class PermissionSet:
    """Principals of one account whose secret decisions are equal: one evaluation serves them all.

    `key` is a short stable digest of the shared policies, usable in node ids; `policies` are the
    labels of those policies in order.
    """

    key: str
    account_id: str
    kind: str
    members: tuple[str, ...]
    policies: tuple[str, ...]


def permission_sets(model: AccountModel) -> dict[str, PermissionSet]:
    """Return the permission set of every principal that shares its policies with another, by principal ARN."""
    closed_accounts = {
        account_id
        for account_id, account in model.accounts.items()
        if any(looks_at_identity(statement) for statement in _statements(account.scps + account.rcps))
    }
    groups: dict[tuple, list[Principal]] = {}
    for principal in model.principals.values():
        if principal.account_id in closed_accounts:
            continue
        if any(looks_at_identity(statement) for statement in _statements([*principal.policies, principal.boundary])):
            continue
        groups.setdefault(_sharing_key(principal), []).append(principal)
    by_member: dict[str, PermissionSet] = {}
    for key, principals in groups.items():
        if len(principals) < 2:
            continue
        members = tuple(sorted(principal.arn for principal in principals))
        first = principals[0]
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:12]
        shared = PermissionSet(digest, first.account_id, first.kind, members, tuple(policy.label for policy in first.policies))
        for member in members:
            by_member[member] = shared
    return by_member


def _sharing_key(principal: Principal) -> tuple:
    return (
        principal.account_id,
        principal.kind,
        principal.path.startswith("/aws-service-role/"),
        tuple(policy.label for policy in principal.policies),
        principal.boundary.label if principal.boundary else None,
        tuple(sorted(principal.tags.items())),
    )


def personal_secrets(model: AccountModel, shared: PermissionSet) -> frozenset[str]:
    """Return the secrets whose resource policy, KMS key policy or RCPs can treat members of `shared` differently."""
    members = {arn: model.principals[arn] for arn in shared.members}
    personal_keys = {arn for arn, key in model.keys.items() if _tells_apart([key.policy], members)}
    # RCPs apply by the account of the secret or key, which need not be the members' account.
    personal_accounts = {account_id for account_id, account in model.accounts.items() if _tells_apart(account.rcps, members)}
    personal = set()
    for arn, secret in model.secrets.items():
        key = model.resolve_key(secret)
        if (key is not None and key.arn in personal_keys) or (secret.policy is not None and _tells_apart([secret.policy], members)):
            personal.add(arn)
        elif secret.account_id in personal_accounts or (key is not None and key.account_id in personal_accounts):
            personal.add(arn)
    return frozenset(personal)


def _tells_apart(policies: list[AttachedPolicy | None], members: dict[str, Principal]) -> bool:
    """Return whether a statement of these resource or key policies can decide differently for two of the members."""
    for statement in _statements(policies):
        if not looks_at_identity(statement):
            continue
        patterns = (statement.resources or ()) + (statement.not_resources or ())
        if any("${" in pattern for pattern in patterns):
            return True
        for element in (statement.principals, statement.not_principals):
            named = {value for kind, value in element or () if kind == "AWS" and not _names_everyone_or_account(value)}
            if named and not _same_for_all(named, members, lambda principal: principal.arn):
                return True
        if any(not _condition_same_for_all(condition, members) for condition in statement.conditions):
            return True
    return False


def _same_for_all(named: set[str], members: dict[str, Principal], value_of: Callable[[Principal], str]) -> bool:
    """Return whether every member is in `named`, or none is. A role session ARN names one session, so it always separates."""
    if any(":assumed-role/" in value for value in named):
        return False
    inside = {value_of(principal) in named for principal in members.values()}
    return len(inside) == 1


# Operators whose outcome for one principal depends only on whether its ARN is among the values.
_LITERAL_OPERATORS = frozenset({"stringequals", "stringnotequals", "arnequals", "arnnotequals", "stringlike",
                                "stringnotlike", "arnlike", "arnnotlike"})


def _condition_same_for_all(condition: Condition, members: dict[str, Principal]) -> bool:
    """Return whether a condition has one outcome for all members: an unknown key, or a test all pass or all fail."""
    key = condition.key.lower()
    if any("${" in value for value in condition.values):
        return False
    if key == "aws:principalarn":
        if condition.operator.lower() in _LITERAL_OPERATORS and not any("*" in v or "?" in v for v in condition.values):
            return _same_for_all(set(condition.values), members, lambda principal: principal.arn)
        return len({condition.evaluate(RequestContext({condition.key: arn})) for arn in members}) == 1
    if key == "aws:username":
        values = {
            condition.evaluate(RequestContext({condition.key: principal.name}) if principal.kind == "user"
                               else RequestContext({}, absent_keys=frozenset({condition.key})))
            for principal in members.values()
        }
        return len(values) == 1
    return True


class StatementMatches:
    """The secrets each statement's Resource (or NotResource) covers, computed once per statement.

    Patterns with policy variables depend on the request and are not cached: `covers` returns None
    for them, and the caller matches them per secret.
    """

    def __init__(self, model: AccountModel) -> None:
        self._model = model
        self._covered: dict[int, frozenset[str] | None] = {}
        self._keep: list[Statement] = []

    def covers(self, statement: Statement) -> frozenset[str] | None:
        """Return the secret ARNs the statement's resource element covers, or None when it uses variables."""
        cached = self._covered.get(id(statement), False)
        if cached is not False:
            return cached
        patterns = statement.resources if statement.resources is not None else statement.not_resources
        if patterns is not None and any("${" in pattern for pattern in patterns):
            covered = None
        elif statement.resources is not None:
            covered = frozenset(
                arn for pattern in statement.resources for arn in self._model.secret_index.matching(pattern, EMPTY_CONTEXT)
            )
        else:
            covered = frozenset(arn for arn in self._model.secrets if statement.matches_resource(arn))
        self._covered[id(statement)] = covered
        self._keep.append(statement)
        return covered
