"""Audit checks on AWS IAM: wildcard secret reads, self-escalation, missing Deny for high-privilege paths, IRSA trust."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterator

from blastradius.graph import ids
from blastradius.queries.audit.context import AuditContext, Hit, aws_kind, aws_ref, plural, short_arn, store_label
from blastradius.queries.common import secrets_uncollected
from blastradius.semantics.iam_policy import PolicyDocument, PolicyError, Statement

log = logging.getLogger(__name__)

READ_SECRET = "secretsmanager:GetSecretValue"
# Probe name appended to a prefix to ask whether a statement covers every secret under it.
_PROBE = "blastradius-probe-AbCdEf"


@dataclass(frozen=True)
class IdentityPolicy:
    """One identity policy of a user, role or group, with the words and location a report needs."""

    owner_arn: str
    label: str
    policy_arn: str | None
    document: PolicyDocument


def _parse(document: Any, label: str) -> PolicyDocument | None:
    try:
        return PolicyDocument.parse(document, label)
    except PolicyError as error:
        log.debug("%s: %s", label, error)
        return None


def _policies_of(entry: dict[str, Any], managed: dict[str, dict[str, Any]]) -> Iterator[IdentityPolicy]:
    """Yield the inline and attached (default version) policies of one user, role or group entry."""
    arn = entry["arn"]
    for name, raw in sorted((entry.get("inline_policies") or {}).items()):
        document = _parse(raw, f"inline policy {name} of {short_arn(arn)}")
        if document is not None:
            yield IdentityPolicy(arn, f"inline policy {name}", None, document)
    for policy_arn in entry.get("attached_policies") or []:
        raw = (managed.get(policy_arn) or {}).get("document")
        document = _parse(raw, policy_arn) if raw is not None else None
        if document is not None:
            yield IdentityPolicy(arn, f"managed policy {policy_arn.rsplit('/', 1)[-1]}", policy_arn, document)


def _managed_policies(ctx: AuditContext) -> dict[str, dict[str, Any]]:
    return {policy["arn"]: policy for account in ctx.accounts for policy in account.get("policies", [])}


def _covers_every_secret(pattern: str) -> bool:
    """Tell whether a Resource pattern covers every Secrets Manager secret of some account and region.

    `*`, `arn:aws:secretsmanager:*`, `arn:aws:secretsmanager:us-east-1:111122223333:secret:*` and the
    like do; a pattern with a name prefix (`secret:production/*`) does not.
    """
    if pattern == "*":
        return True
    parts = pattern.split(":", 5)
    if parts[0] != "arn":
        return False
    if len(parts) > 2 and parts[2] not in ("secretsmanager", "*"):
        return False
    if len(parts) < 6:
        return parts[-1] == "*"
    return parts[5] in ("*", "secret:*")


def _reads_every_secret(statement: Statement) -> bool:
    if statement.is_deny or not statement.matches_action(READ_SECRET):
        return False
    if statement.not_resources is not None:
        return True
    return statement.resources is None or any(_covers_every_secret(pattern) for pattern in statement.resources)


def iam_wildcard_resource(ctx: AuditContext) -> Iterator[Hit]:
    """Find identity policies that allow GetSecretValue on every secret (`*` or `secret:*`, or NotResource)."""
    managed = _managed_policies(ctx)
    store_identities = _store_identity_arns(ctx)
    for account in ctx.accounts:
        for entry in [*account.get("roles", []), *account.get("users", []), *account.get("groups", [])]:
            for policy in _policies_of(entry, managed):
                wide = [statement for statement in policy.document.statements if _reads_every_secret(statement)]
                if not wide:
                    continue
                yield _wildcard_hit(ctx, policy, wide, store_identities.get(entry["arn"], []))


def _wildcard_hit(ctx: AuditContext, policy: IdentityPolicy, statements: list[Statement], stores: list[str]) -> Hit:
    owner = policy.owner_arn
    labels = ", ".join(f"statement {statement.label}" for statement in statements)
    message = f"{short_arn(owner)}: {policy.label} allows {READ_SECRET} on every secret ({labels})"
    if aws_kind(owner) != "IAMGroup":
        readable = len(ctx.readable_secrets(owner))
        if not readable and secrets_uncollected(ctx.graph, owner.split(":")[4]):
            message += "; which secrets it can read is unknown, because the account's secret list was not collected"
        else:
            message += f"; it can read {plural(readable, 'secret')}"
    if stores:
        message += f"; it is the identity of {', '.join(stores)}"
    objects = [aws_ref(aws_kind(owner), owner)]
    if policy.policy_arn:
        objects.append(aws_ref("IAMPolicy", policy.policy_arn))
    return Hit(message, objects, {"principal": owner, "policy": policy.policy_arn or policy.label,
                                  "statements": [statement.label for statement in statements]})


def iam_privilege_escalation(ctx: AuditContext) -> Iterator[Hit]:
    """Yield each role or user that can change IAM to grant itself more, with the actions that allow it."""
    authorizations = ctx.authorizations
    if authorizations is None:
        return
    for principal in authorizations.principals():
        if ctx.config.is_trusted(short_arn(principal)) or ctx.config.is_trusted(principal):
            continue
        rows = authorizations.escalation_paths(principal)
        if not rows:
            continue
        actions = sorted({action for action, _, _ in rows})
        listed = ", ".join(actions[:4]) + (f" and {len(actions) - 4} more" if len(actions) > 4 else "")
        message = f"{short_arn(principal)} can grant itself more through {plural(len(rows), 'IAM change')}: {listed}"
        yield Hit(message, [aws_ref(aws_kind(principal), principal)],
                  {"principal": principal, "actions": actions, "changes": len(rows)})


def _store_identity_arns(ctx: AuditContext) -> dict[str, list[str]]:
    """Map each AWS principal a store signs in as to the display names of those stores."""
    found: dict[str, list[str]] = {}
    for index in ctx.clusters:
        for store in ctx.stores(index):
            for identity in ctx.store_identities(index, store):
                if identity.arn:
                    found.setdefault(identity.arn, []).append(store_label(store))
    return found


# --- explicit Deny for high-privilege paths ----------------------------------------------------------


def missing_deny_high_privilege(ctx: AuditContext) -> Iterator[Hit]:
    """Find store identities whose policies lack an unconditional Deny for a configured high-privilege prefix."""
    prefixes = ctx.config.high_privilege_prefixes
    if not prefixes:
        return
    managed = _managed_policies(ctx)
    entries = {entry["arn"]: (account, entry) for account in ctx.accounts
               for entry in [*account.get("roles", []), *account.get("users", [])]}
    for arn, stores in sorted(_store_identity_arns(ctx).items()):
        if arn not in entries:
            continue
        account, entry = entries[arn]
        statements = [statement for policy in _effective_policies(account, entry, managed)
                      for statement in policy.document.statements if statement.is_deny and not statement.conditions]
        missing = [prefix for prefix in prefixes if not _denied(statements, account, prefix)]
        if not missing:
            continue
        exposed = [ctx.secret_name(secret) for secret in ctx.readable_secrets(arn)
                   if ctx.secret_name(secret).startswith(tuple(missing))]
        message = (f"{short_arn(arn)}, the identity of {', '.join(stores)}, has no explicit Deny for "
                   f"{', '.join(prefix + '*' for prefix in missing)}, so any Allow added later opens them")
        message += f"; today it reads {', '.join(exposed)} there" if exposed else "; today it reads none of them"
        yield Hit(message, [aws_ref(aws_kind(arn), arn)], {"identity": arn, "missing_prefixes": missing, "readable": exposed})


def _effective_policies(account: dict[str, Any], entry: dict[str, Any], managed: dict[str, dict[str, Any]]) -> list[IdentityPolicy]:
    """Return a principal's own policies, its groups' policies and its permission boundary."""
    policies = list(_policies_of(entry, managed))
    groups = {group["name"]: group for group in account.get("groups", [])}
    for group_name in entry.get("groups") or []:
        if group_name in groups:
            policies.extend(_policies_of(groups[group_name], managed))
    boundary = entry.get("permissions_boundary")
    if boundary:
        policies.extend(_policies_of({"arn": entry["arn"], "attached_policies": [boundary]}, managed))
    return policies


def _denied(statements: list[Statement], account: dict[str, Any], prefix: str) -> bool:
    """Tell whether some Deny covers GetSecretValue on every secret under `prefix` in each region of the account."""
    partition = account.get("partition") or "aws"
    regions = account.get("regions") or sorted({secret.get("region") for secret in account.get("secrets", [])
                                                if secret.get("region")})
    if not regions:
        return False
    for region in regions:
        probe = f"arn:{partition}:secretsmanager:{region}:{account['account_id']}:secret:{prefix}{_PROBE}"
        if not any(statement.matches_action(READ_SECRET) and statement.matches_resource(probe) for statement in statements):
            return False
    return True


# --- IRSA trust -------------------------------------------------------------------------------------


def _web_identity_trusts(ctx: AuditContext) -> list[Any]:
    if ctx.authorizations is None:
        return []
    urls = sorted({provider["url"] for account in ctx.accounts for provider in account.get("oidc_providers", [])})
    trusts = []
    for url in urls:
        trusts.extend(ctx.authorizations.web_identity_trusts(url))
    return trusts


def _admitted_accounts(ctx: AuditContext, role_arn: str) -> list[str]:
    node = ids.aws(role_arn)
    if node not in ctx.graph.g:
        return []
    return sorted({ctx.graph.name(source) for source, _, data in ctx.graph.g.in_edges(node, data=True)
                   if data["kind"] == "irsa_assume"})


def irsa_unpinned(ctx: AuditContext) -> Iterator[Hit]:
    """Find web-identity trusts that do not pin `sub` to one ServiceAccount: no test, or a wildcard pattern."""
    for trust in _web_identity_trusts(ctx):
        operator = trust.subject_operator
        wildcard = [pattern for pattern in trust.subject_patterns if "*" in pattern or "?" in pattern]
        if operator is not None and not (wildcard and "like" in operator.lower()):
            continue
        if operator is None:
            how = "does not test the token's sub, so every ServiceAccount of the cluster may assume it"
        else:
            how = f"tests sub with {operator} {', '.join(wildcard)}, which admits many ServiceAccounts"
        admitted = _admitted_accounts(ctx, trust.role_arn)
        message = (f"the trust policy of {short_arn(trust.role_arn)} (statement {trust.statement.statement}) {how}; "
                   f"{plural(len(admitted), 'ServiceAccount')} of the snapshot can assume it")
        yield Hit(message, [aws_ref("IAMRole", trust.role_arn)],
                  {"provider": trust.provider_arn, "operator": operator, "patterns": list(trust.subject_patterns),
                   "admitted": admitted})


def irsa_no_audience(ctx: AuditContext) -> Iterator[Hit]:
    """Find web-identity trusts that do not test `aud`, so tokens minted for any audience are accepted."""
    for trust in _web_identity_trusts(ctx):
        if trust.audience_checked:
            continue
        message = (f"the trust policy of {short_arn(trust.role_arn)} (statement {trust.statement.statement}) does not "
                   f"test the token's aud, so a ServiceAccount token issued for another audience is accepted")
        yield Hit(message, [aws_ref("IAMRole", trust.role_arn)], {"provider": trust.provider_arn})
