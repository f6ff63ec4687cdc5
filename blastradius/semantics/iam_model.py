"""The users, roles, policies, secrets and keys of a snapshot's AWS account sections, indexed.

`AccountModel` parses every policy once and records what it could not use in `warnings`. It builds
the indexes that let queries skip resources no Allow can reach: secrets and IAM objects sorted by
ARN, and resource and trust policies by the principals their Allow statements name.
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

from blastradius.semantics.iam_policy import (
    PolicyDocument,
    PolicyError,
    RequestContext,
    Statement,
    has_wildcard,
    literal_prefix,
    resolve_variables,
    resource_matches,
)

logger = logging.getLogger(__name__)

SECRET_ACTIONS: dict[str, tuple[str, ...]] = {
    "read": ("secretsmanager:GetSecretValue",),
    "overwrite": ("secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret"),
}
INDEXED_SECRET_ACTIONS = SECRET_ACTIONS["read"] + SECRET_ACTIONS["overwrite"] + ("secretsmanager:PutResourcePolicy",)
ASSUME_ROLE = "sts:AssumeRole"
ASSUME_ROLE_WITH_WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"


class UnknownPrincipalError(LookupError):
    """A principal or role ARN that is in none of the snapshot's AWS accounts."""


@dataclass
class AttachedPolicy:
    """A policy as attached somewhere: its label, its document, or None when it could not be read."""

    label: str
    document: PolicyDocument | None
    may_deny: bool = False


@dataclass
class Principal:
    arn: str
    kind: Literal["user", "role"]
    name: str
    path: str
    account_id: str
    partition: str
    tags: dict[str, str]
    policies: list[AttachedPolicy] = field(default_factory=list)
    boundary: AttachedPolicy | None = None

    @property
    def root_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:root"

    @property
    def session_key(self) -> str:
        """Index key of the role's sessions, which resource policies may name by assumed-role ARN."""
        return f"assumed-role:{self.account_id}:{self.name}"


@dataclass
class Resource:
    """The target of a request, with the kind, tags and own policy that the snapshot records."""

    arn: str
    account_id: str
    kind: str
    policy_known: bool
    tags: dict[str, str] | None = None
    policy: AttachedPolicy | None = None


@dataclass
class Secret:
    arn: str
    account_id: str
    region: str
    tags: dict[str, str]
    kms_key_id: str | None
    policy: AttachedPolicy | None


@dataclass
class KmsKey:
    arn: str
    account_id: str
    manager: str
    policy: AttachedPolicy | None


@dataclass
class OidcProvider:
    arn: str
    account_id: str
    url: str
    client_ids: tuple[str, ...]


@dataclass
class Account:
    account_id: str
    partition: str
    scps: list[AttachedPolicy] = field(default_factory=list)
    rcps: list[AttachedPolicy] = field(default_factory=list)


class ArnIndex:
    """Sorted ARNs, searched by the literal prefix of a pattern before its first wildcard."""

    def __init__(self, arns: list[str]) -> None:
        self._sorted = sorted(set(arns))
        self._members = set(self._sorted)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sorted)

    def matching(self, pattern: str, context: RequestContext) -> Iterator[str]:
        """Yield the ARNs a Resource pattern covers, touching only those that share its literal prefix."""
        if "${" in pattern:
            resolved = resolve_variables(pattern, context)
            if resolved is None:
                return
            pattern = resolved
        if not has_wildcard(pattern):
            if pattern in self._members:
                yield pattern
            return
        prefix = literal_prefix(pattern)
        position = bisect_left(self._sorted, prefix)
        while position < len(self._sorted) and self._sorted[position].startswith(prefix):
            if resource_matches(pattern, self._sorted[position]):
                yield self._sorted[position]
            position += 1


def arn_account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def _tags(raw: Any) -> dict[str, str]:
    """Tags as the snapshot stores them (an object) or as AWS prints them (a list of Key/Value)."""
    if isinstance(raw, dict):
        return {str(key): str(value) for key, value in raw.items()}
    if isinstance(raw, list):
        pairs = [item for item in raw if isinstance(item, dict) and "Key" in item]
        return {str(item["Key"]): str(item.get("Value", "")) for item in pairs}
    return {}


def issuer_url(issuer: str) -> str:
    """Strip the scheme and trailing slash from an issuer URL, the form in which IAM names OIDC providers."""
    url = issuer.strip()
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            url = url[len(scheme):]
    return url.rstrip("/")


def _principal_keys(statement: Statement) -> Iterator[str]:
    """Yield the index keys of the AWS principals a statement names.

    The keys are a user or role ARN, an account id (for `:root` ARNs and bare ids), a role's
    session key, or `*` (for everyone and for NotPrincipal, which admits all it does not list).
    """
    if statement.not_principals is not None:
        yield "*"
        return
    for kind, value in statement.principals or ():
        if kind != "AWS":
            continue
        if value.endswith(":root") and ":iam::" in value:
            yield arn_account(value)
        elif ":assumed-role/" in value:
            role_name = value.split(":assumed-role/", 1)[1].split("/", 1)[0]
            yield f"assumed-role:{arn_account(value)}:{role_name}"
        else:
            yield value


# Fields without which an entry of each list of an AWS account section cannot be used.
_REQUIRED_FIELDS = {
    "policies": ("arn",),
    "groups": ("arn", "name"),
    "users": ("arn", "name"),
    "roles": ("arn", "name"),
    "oidc_providers": ("arn", "url"),
    "kms_keys": ("arn",),
    "secrets": ("arn",),
    "organization_policies": ("id",),
}


def _entries(section: dict[str, Any], list_name: str) -> list[dict[str, Any]]:
    """Return one list of an account section, raising ValueError that names an entry missing a required field."""
    entries = section.get(list_name) or []
    for index, entry in enumerate(entries):
        for required in _REQUIRED_FIELDS[list_name]:
            if not isinstance(entry, dict) or not entry.get(required):
                raise ValueError(
                    f"AWS account {section['account_id']}: {list_name}[{index}] is missing the field {required!r}"
                )
    return entries


class AccountModel:
    """Parsed policies and indexes of one or more AWS account sections.

    Everything is built here once; queries only read it, apart from a cache of each principal's
    statements per action.
    """

    def __init__(self, aws_accounts: list[dict[str, Any]]) -> None:
        self.warnings: list[str] = []
        self.accounts: dict[str, Account] = {}
        self.managed: dict[str, AttachedPolicy] = {}
        self.customer_policies: dict[str, list[str]] = {}
        self.group_arns: dict[str, list[str]] = {}
        self.principals: dict[str, Principal] = {}
        self.roles_by_name: dict[tuple[str, str], str] = {}
        self.trusts: dict[str, AttachedPolicy] = {}
        self.secrets: dict[str, Secret] = {}
        self.keys: dict[str, KmsKey] = {}
        self.key_refs: dict[tuple[str, str], str] = {}
        self.providers: dict[str, list[OidcProvider]] = {}
        self.secret_grantees: dict[str, set[str]] = {}
        self.trust_grantees: dict[str, set[str]] = {}
        self.federated_trusts: dict[str, set[str]] = {}
        self.service_trusts: dict[str, set[str]] = {}
        self._statement_cache: dict[tuple[str, str], tuple[tuple[str, Statement], ...]] = {}
        self._missing_reported: set[str] = set()

        sections = [self._checked_section(section, index) for index, section in enumerate(aws_accounts)]
        for section in sections:
            self._load_managed_policies(section)
        for section in sections:
            self._load_account(section)

        self.secret_index = ArnIndex(list(self.secrets))
        self.iam_index = self._build_iam_index()
        logger.debug(
            "IAM model: %d accounts, %d principals, %d managed policies, %d secrets, %d warnings",
            len(self.accounts), len(self.principals), len(self.managed), len(self.secrets), len(self.warnings),
        )

    # Loading -----------------------------------------------------------------------------------

    @staticmethod
    def _checked_section(section: Any, index: int) -> dict[str, Any]:
        if not isinstance(section, dict) or not section.get("account_id"):
            raise ValueError(f"aws_accounts[{index}]: the AWS account section is missing the field 'account_id'")
        return section

    def _parse(self, document: Any, label: str, owner: str) -> AttachedPolicy:
        try:
            return AttachedPolicy(label, PolicyDocument.parse(document, label))
        except PolicyError as error:
            text = document if isinstance(document, str) else json.dumps(document, default=str)
            may_deny = document is None or "deny" in text.lower()
            consequence = "results it could affect say it may deny" if may_deny else "it contains no Deny"
            self.warnings.append(f"{owner}: {error}; treated as granting nothing, and {consequence}")
            return AttachedPolicy(label, None, may_deny)

    def _load_managed_policies(self, section: dict[str, Any]) -> None:
        account_id = str(section["account_id"])
        for entry in _entries(section, "policies"):
            arn = entry["arn"]
            self.managed[arn] = self._parse(entry.get("document"), arn, f"managed policy {arn}")
            if not entry.get("aws_managed", arn.split(":")[4] == "aws"):
                self.customer_policies.setdefault(account_id, []).append(arn)

    def _load_account(self, section: dict[str, Any]) -> None:
        account_id = str(section["account_id"])
        partition = section.get("partition") or "aws"
        account = Account(account_id, partition)
        self.accounts[account_id] = account

        self._load_organization_policies(account, _entries(section, "organization_policies"))
        groups = {group["name"]: self._group_policies(group) for group in _entries(section, "groups")}
        self.group_arns[account_id] = [group["arn"] for group in _entries(section, "groups")]
        for user in _entries(section, "users"):
            self._add_principal(user, "user", account, groups)
        for role in _entries(section, "roles"):
            self._add_principal(role, "role", account, groups)
            self._add_trust(role)
        for provider in _entries(section, "oidc_providers"):
            url = issuer_url(provider["url"])
            self.providers.setdefault(url, []).append(
                OidcProvider(provider["arn"], account_id, url, tuple(provider.get("client_ids") or ()))
            )
        for key in _entries(section, "kms_keys"):
            self._add_key(key, account_id)
        for secret in _entries(section, "secrets"):
            self._add_secret(secret, account_id)

    def _load_organization_policies(self, account: Account, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            policy_id = entry["id"]
            if entry.get("type") == "RESOURCE_CONTROL_POLICY":
                account.rcps.append(self._parse(entry.get("document"), f"rcp:{policy_id}", f"RCP {policy_id}"))
            else:
                account.scps.append(self._parse(entry.get("document"), f"scp:{policy_id}", f"SCP {policy_id}"))

    def _group_policies(self, group: dict[str, Any]) -> list[AttachedPolicy]:
        name = group["name"]
        policies = [
            self._parse(document, f"inline:group/{name}/{policy_name}", f"group {group.get('arn', name)}")
            for policy_name, document in sorted((group.get("inline_policies") or {}).items())
        ]
        policies += [self._managed_policy(arn, f"group {name}") for arn in group.get("attached_policies", [])]
        return policies

    def _managed_policy(self, arn: str, owner: str) -> AttachedPolicy:
        if arn in self.managed:
            return self.managed[arn]
        if arn not in self._missing_reported:
            self._missing_reported.add(arn)
            self.warnings.append(
                f"managed policy {arn} (attached to {owner}) is not in the snapshot; treated as granting "
                "nothing, and results it could affect say it may deny"
            )
        return AttachedPolicy(arn, None, may_deny=True)

    def _add_principal(
        self,
        entry: dict[str, Any],
        kind: Literal["user", "role"],
        account: Account,
        groups: dict[str, list[AttachedPolicy]],
    ) -> None:
        arn, name = entry["arn"], entry["name"]
        principal = Principal(
            arn=arn, kind=kind, name=name, path=entry.get("path") or "/", account_id=account.account_id,
            partition=account.partition, tags=_tags(entry.get("tags")),
        )
        for policy_name, document in sorted((entry.get("inline_policies") or {}).items()):
            principal.policies.append(self._parse(document, f"inline:{name}/{policy_name}", f"{kind} {arn}"))
        for policy_arn in entry.get("attached_policies", []):
            principal.policies.append(self._managed_policy(policy_arn, f"{kind} {arn}"))
        for group_name in entry.get("groups", []) if kind == "user" else ():
            if group_name not in groups:
                fault = f"group {group_name!r} is not in the snapshot, so its policies are ignored"
                self.warnings.append(f"user {arn}: {fault}")
                continue
            principal.policies += groups[group_name]
        boundary_arn = entry.get("permissions_boundary")
        if boundary_arn:
            source = self._managed_policy(boundary_arn, f"{kind} {arn} as permission boundary")
            principal.boundary = AttachedPolicy(f"boundary:{boundary_arn}", source.document, may_deny=True)
        self.principals[arn] = principal
        if kind == "role":
            self.roles_by_name[(account.account_id, name)] = arn

    def _add_trust(self, role: dict[str, Any]) -> None:
        arn = role["arn"]
        trust = self._parse(role.get("trust_policy"), f"trust-policy:{arn}", f"role {arn}")
        self.trusts[arn] = trust
        for statement in trust.document.statements if trust.document else ():
            if statement.is_deny:
                continue
            if statement.matches_action(ASSUME_ROLE):
                for key in _principal_keys(statement):
                    self.trust_grantees.setdefault(key, set()).add(arn)
            for kind, value in statement.principals or ():
                admits_tokens = kind == "Federated" or (kind, value) == ("AWS", "*")
                if admits_tokens and statement.matches_action(ASSUME_ROLE_WITH_WEB_IDENTITY):
                    self.federated_trusts.setdefault(value, set()).add(arn)
                if kind == "Service" and statement.matches_action(ASSUME_ROLE):
                    self.service_trusts.setdefault(arn, set()).add(value)

    def _add_key(self, entry: dict[str, Any], account_id: str) -> None:
        arn = entry["arn"]
        policy = None
        if entry.get("policy") is not None:
            policy = self._parse(entry["policy"], f"key-policy:{arn}", f"KMS key {arn}")
        self.keys[arn] = KmsKey(arn, account_id, entry.get("manager") or "CUSTOMER", policy)
        references = [entry.get("key_id") or arn.rsplit("/", 1)[-1]] + list(entry.get("aliases") or [])
        for reference in references:
            self.key_refs[(account_id, reference)] = arn

    def _add_secret(self, entry: dict[str, Any], account_id: str) -> None:
        arn = entry["arn"]
        raw_policy = entry.get("resource_policy")
        policy = None if raw_policy is None else self._parse(raw_policy, f"resource-policy:{arn}", f"secret {arn}")
        region = entry.get("region") or arn.split(":")[3]
        self.secrets[arn] = Secret(arn, account_id, region, _tags(entry.get("tags")), entry.get("kms_key_id"), policy)
        for statement in policy.document.statements if policy and policy.document else ():
            if not statement.is_deny and any(statement.matches_action(action) for action in INDEXED_SECRET_ACTIONS):
                for key in _principal_keys(statement):
                    self.secret_grantees.setdefault(key, set()).add(arn)

    def _build_iam_index(self) -> dict[tuple[str, str], ArnIndex]:
        arns: dict[tuple[str, str], list[str]] = {}
        for principal in self.principals.values():
            arns.setdefault((principal.account_id, principal.kind), []).append(principal.arn)
        for account_id, group_arns in self.group_arns.items():
            arns.setdefault((account_id, "group"), []).extend(group_arns)
        for account_id, policy_arns in self.customer_policies.items():
            arns.setdefault((account_id, "policy"), []).extend(policy_arns)
        return {key: ArnIndex(values) for key, values in arns.items()}

    # Lookups -----------------------------------------------------------------------------------

    def principal(self, arn: str) -> Principal:
        if arn in self.principals:
            return self.principals[arn]
        if ":assumed-role/" in arn:
            role_name = arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
            role_arn = self.roles_by_name.get((arn_account(arn), role_name))
            if role_arn:
                return self.principals[role_arn]
        raise UnknownPrincipalError(f"principal {arn} is not a user or role of the snapshot's AWS accounts")

    def resource(self, arn: str) -> Resource:
        """Describe the target of a request: its kind, its tags and its own policy, where collected.

        A key collected without its policy, or a resource the snapshot does not hold, gets
        `policy_known=False`, because its policy may allow anything. The evaluator then makes
        cross-account results conditional on that policy.
        """
        account_id = arn_account(arn)
        if arn in self.secrets:
            return self.secret_resource(self.secrets[arn])
        if arn in self.keys:
            key = self.keys[arn]
            return Resource(arn, key.account_id, "kms_key", key.policy is not None, None, key.policy)
        if arn in self.principals:
            principal = self.principals[arn]
            kind = "role" if principal.kind == "role" else "user"
            return Resource(arn, account_id, kind, True, principal.tags, self.trusts.get(arn))
        service = arn.split(":")[2] if arn.startswith("arn:") and arn.count(":") >= 5 else ""
        # IAM users, groups and policies have no resource policy, so nothing is missing about them.
        # Any other resource outside the snapshot has a policy that was not collected.
        known = service == "iam" and account_id in self.accounts
        return Resource(arn, account_id, "kms_key" if service == "kms" else "other", known)

    @staticmethod
    def secret_resource(secret: Secret) -> Resource:
        return Resource(secret.arn, secret.account_id, "secret", True, secret.tags, secret.policy)

    def identity_statements(self, principal: Principal, action: str) -> tuple[tuple[str, Statement], ...]:
        """Return the (policy label, statement) pairs of the principal's identity policies that cover `action`."""
        cache_key = (principal.arn, action.lower())
        if cache_key not in self._statement_cache:
            self._statement_cache[cache_key] = tuple(
                (policy.label, statement)
                for policy in principal.policies
                if policy.document is not None
                for statement in policy.document.statements
                if statement.matches_action(action)
            )
        return self._statement_cache[cache_key]

    def resolve_key(self, secret: Secret) -> KmsKey | None:
        """Find the secret's KMS key by ARN, key id, alias name or alias ARN; None if not collected."""
        reference = secret.kms_key_id or ""
        if reference in self.keys:
            return self.keys[reference]
        if reference.startswith("arn:") and ":alias/" in reference:
            reference = "alias/" + reference.split(":alias/", 1)[1]
        arn = self.key_refs.get((secret.account_id, reference))
        return self.keys[arn] if arn else None
