"""AWS nodes and edges: IAM users and roles, Secrets Manager secrets, KMS keys, and who reaches what.

Edges come from the IAM evaluator: secret reads and overwrites (GetSecretValue with kms:Decrypt for
a customer-managed key), role assumption, IRSA web-identity trust, and IAM changes that let a
principal grant itself more. A decision allowed only under conditions the snapshot cannot decide
becomes a conditional edge.

Two kinds of node keep the edge count near principals + secrets on large accounts:
- principals with the same policies (a group's members, say) reach their common reads through one
  `iam_permission_set` node, and keep edges of their own only for secrets whose resource or key
  policy names principals one by one;
- when one decision covers many secrets (a wildcard or a prefix grant), the principal reaches them
  through the folders they fill (`aws_secret_folder`: every secret whose name starts with `team-a/`,
  for example, which the folders of the account's tree share), or else through one `aws_secret_set` node
  shared by every principal that gets that same set.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from blastradius.graph import ids
from blastradius.graph.model import CapabilityGraph
from blastradius.semantics.iam import AccountAuthorizations, PermissionSet, UnknownPrincipalError
from blastradius.semantics.iam_decision import Decision
from blastradius.snapshot import coverage_gap

log = logging.getLogger(__name__)

# A decision that covers at least this many secrets reaches them through one secret-set node.
SECRET_SET_MIN_SIZE = 50
# Nodes that stand for many secrets: a decision's set, a name folder, or every secret of an account.
SECRET_GROUP_KINDS = frozenset({"aws_secret_set", "aws_secret_folder", "aws_all_secrets"})
_ACCESS_EDGES = (("read", "iam_read_secret", "read"), ("overwrite", "iam_overwrite_secret", "overwrite"))


def decision_text(decision: Decision) -> str:
    """Return the statements behind a decision as `policy statement` phrases joined by semicolons."""
    parts = [f"{evidence.policy} {evidence.statement} ({evidence.effect})" for evidence in decision.evidence]
    return "; ".join(parts) if parts else decision.reason


def _evidence(decision: Decision) -> dict[str, Any]:
    return {
        "statements": [
            {"policy": evidence.policy, "statement": evidence.statement, "effect": evidence.effect}
            for evidence in decision.evidence
        ],
        "decision": decision.effect,
    }


def _conditions(decision: Decision) -> tuple[str, ...]:
    return tuple(decision.conditions) if decision.effect == "conditional" else ()


def _short(arn: str) -> str:
    """Return `role/name`, `user/name` or the secret name: the short form tables print and references accept."""
    resource = arn.split(":", 5)[-1]
    if resource.startswith("secret:"):
        return resource[len("secret:"):]
    return resource


def iam_secret_targets(graph: CapabilityGraph, principal_node: str, kind: str = "iam_read_secret",
                       expanded: dict[str, frozenset[str]] | None = None) -> set[str]:
    """Return the cloud secret nodes an IAM principal's own `kind` edges reach, through its permission set and secret sets.

    `expanded` keeps the secrets of each folder or set node between calls, for callers that ask
    about many principals: those nodes are shared, so each is walked once.
    """
    expanded = {} if expanded is None else expanded
    sources = [principal_node] + [target for _, target, data in graph.g.out_edges(principal_node, data=True)
                                  if data["kind"] == "iam_same_permissions"]
    found: set[str] = set()
    for source in sources:
        for _, target, data in graph.g.out_edges(source, data=True):
            if data["kind"] == kind:
                found |= _secrets_within(graph, target, expanded)
    return found


def _secrets_within(graph: CapabilityGraph, node: str, expanded: dict[str, frozenset[str]]) -> frozenset[str]:
    """Return the cloud secrets a secret, folder or set node stands for."""
    if graph.kind(node) == "cloud_secret":
        return frozenset((node,))
    if graph.kind(node) not in SECRET_GROUP_KINDS:
        return frozenset()
    if node not in expanded:
        expanded[node] = frozenset().union(*(_secrets_within(graph, member, expanded) for _, member in graph.g.out_edges(node)))
    return expanded[node]


@dataclass
class _Folder:
    """The secrets whose names start with one prefix: the subfolders one `/` deeper, and the secrets directly in it."""

    size: int = 0
    subfolders: set[tuple[str, str]] = field(default_factory=set)
    secrets: list[str] = field(default_factory=list)


class AwsGraph:
    """Adds the AWS accounts of a snapshot to the graph."""

    def __init__(self, graph: CapabilityGraph, accounts: list[dict[str, Any]]) -> None:
        self.graph = graph
        self.accounts = accounts
        self.authorizations = AccountAuthorizations(accounts)
        self.secret_names: dict[tuple[str, str], list[str]] = {}
        # Secret ARNs by name alone, as (account id, ARN), so a remote key is found without a scan.
        self._secrets_by_name: dict[str, list[tuple[str, str]]] = {}
        # What each principal may read, kept from the build: the evaluation costs one pass over every secret.
        self._readable: dict[str, list[tuple[str, Decision]]] = {}
        # Secret folders: the name prefixes up to each `/`, per account, with their subfolders and secrets.
        self._folders: dict[tuple[str, str], _Folder] = {}
        self._secret_folders: dict[str, list[tuple[str, str]]] = {}
        self._group_cache: dict[frozenset[str], tuple[list[str], list[str]]] = {}
        graph.warnings.extend(f"aws: {warning}" for warning in self.authorizations.warnings)
        self._record_unreadable_policies()

    def _record_unreadable_policies(self) -> None:
        """Record each policy the evaluator could not use as a coverage gap of its account.

        A policy that cannot be read grants nothing in the evaluation, so results that depend on it
        are unknown rather than "no access". Queries show the gap beside their rows.
        """
        account_ids = [account["account_id"] for account in self.accounts]
        for warning in self.authorizations.warnings:
            named = [account_id for account_id in account_ids if f":{account_id}:" in warning]
            for account_id in named or account_ids:
                self.graph.coverage_gaps.append(coverage_gap(
                    f"aws:{account_id}", "error", "IAM policy evaluation",
                    f"{warning}; access that depends on it is unknown",
                ))

    def principal_node(self, arn: str) -> str | None:
        node = ids.aws(arn)
        return node if node in self.graph.g else None

    def build(self) -> None:
        """Add every account's principals, secrets and keys, then the edges the evaluator allows."""
        for account in self.accounts:
            self._add_account_nodes(account)
        for shared in self.authorizations.permission_sets():
            self._add_permission_set(shared)
        for principal in self.authorizations.principals():
            self._add_principal_edges(principal)

    def _add_account_nodes(self, account: dict[str, Any]) -> None:
        account_id = account["account_id"]
        for kind, entries in (("iam_role", account.get("roles", [])), ("iam_user", account.get("users", []))):
            for entry in entries:
                arn = entry["arn"]
                self.graph.add_node(ids.aws(arn), kind, _short(arn), account=account_id, arn=arn, refs=[arn, _short(arn)],
                                    tags=entry.get("tags") or {})
        for entry in account.get("secrets", []):
            arn = entry["arn"]
            self.graph.add_node(
                ids.aws(arn), "cloud_secret", entry["name"], account=account_id, arn=arn,
                refs=ids.secret_refs(arn, entry["name"]), region=entry.get("region"),
                kms_key_id=entry.get("kms_key_id"), rotation_days=entry.get("rotation_days"),
                rotation_enabled=entry.get("rotation_enabled"), secret_name=entry["name"], tags=entry.get("tags") or {},
            )
            self.secret_names.setdefault((account_id, entry["name"]), []).append(arn)
            self._secrets_by_name.setdefault(entry["name"], []).append((account_id, arn))
            self._file_secret(account_id, entry["name"], arn)
        for entry in account.get("kms_keys", []):
            arn = entry["arn"]
            aliases = entry.get("aliases") or []
            name = aliases[0] if aliases else _short(arn)
            self.graph.add_node(ids.aws(arn), "kms_key", name, account=account_id, arn=arn, refs=[arn, *aliases])

    def _file_secret(self, account_id: str, name: str, arn: str) -> None:
        """Record the secret in the folder of each prefix of its name, from the account's root to its own."""
        chain = [(account_id, name[: index + 1]) for index, char in enumerate(name) if char == "/"]
        chain.insert(0, (account_id, ""))
        for parent, child in zip(chain, chain[1:]):
            self._folders.setdefault(parent, _Folder()).subfolders.add(child)
        for folder in chain:
            self._folders.setdefault(folder, _Folder()).size += 1
        self._folders[chain[-1]].secrets.append(arn)
        self._secret_folders[arn] = chain

    def _add_permission_set(self, shared: PermissionSet) -> None:
        """Add the node that members of a permission set reach their common secret access through."""
        node = ids.iam_permission_set(shared.account_id, shared.key)
        noun = "users" if shared.kind == "user" else "roles"
        policies = ", ".join(_short(label) for label in shared.policies[:3]) or "no policies"
        more = f" and {len(shared.policies) - 3} more" if len(shared.policies) > 3 else ""
        name = f"{len(shared.members)} IAM {noun} with {policies}{more}"
        self.graph.add_node(node, "iam_permission_set", name, account=shared.account_id, members=list(shared.members),
                            policies=list(shared.policies))
        for member in shared.members:
            self.graph.add_edge(ids.aws(member), node, "iam_same_permissions",
                                f"{_short(member)} has the same policies as the other members of {name}",
                                evidence={"policies": list(shared.policies)})
        for capability, kind, verb in _ACCESS_EDGES:
            self._add_access_edges(node, self.authorizations.shared_secret_access(shared, capability), kind, verb)

    def _add_principal_edges(self, principal: str) -> None:
        source = ids.aws(principal)
        name = self.graph.name(source)
        shared = self.authorizations.permission_set(principal)
        for capability, kind, verb in _ACCESS_EDGES:
            if shared is None:
                access = self.authorizations.secret_access(principal, capability)
            else:
                access = self.authorizations.personal_secret_access(principal, capability)
            self._add_access_edges(source, access, kind, verb)
        for role_arn, decision in self.authorizations.assumable_by(principal):
            if role_arn == principal:
                continue
            target = ids.aws(role_arn)
            reason = f"{name} may assume {self.graph.name(target)}: {decision_text(decision)}"
            self.graph.add_edge(source, target, "sts_assume", reason, evidence=_evidence(decision), conditions=_conditions(decision))
        self._add_escalations(principal, source, name)

    def _add_access_edges(self, source: str, access: list[tuple[str, Decision]], kind: str, verb: str) -> None:
        """Add one edge per secret, or one edge to a secret set where a single decision covers many secrets."""
        name = self.graph.name(source)
        by_decision: dict[Decision, list[str]] = {}
        for secret_arn, decision in access:
            by_decision.setdefault(decision, []).append(secret_arn)
        for decision, secret_arns in by_decision.items():
            evidence, conditions, because = _evidence(decision), _conditions(decision), decision_text(decision)
            if len(secret_arns) >= SECRET_SET_MIN_SIZE:
                folders, loose = self._group_targets(secret_arns)
                for target in folders:
                    reason = f"{name} may {verb} the {self.graph.name(target)}: {because}"
                    self.graph.add_edge(source, target, kind, reason, evidence=evidence, conditions=conditions)
                secret_arns = loose
            for secret_arn in secret_arns:
                target = ids.aws(secret_arn)
                reason = f"{name} may {verb} {self.graph.name(target)}: {because}"
                self.graph.add_edge(source, target, kind, reason, evidence=evidence, conditions=conditions)

    def _group_targets(self, secret_arns: list[str]) -> tuple[list[str], list[str]]:
        """Return the folder or set nodes that stand for many secrets, and the secrets still needing an edge each.

        Many principals get the same group of secrets, so the result is kept per group.
        """
        group = frozenset(secret_arns)
        if group not in self._group_cache:
            folders, loose = self._folder_cover(secret_arns)
            if len(folders) + len(loose) > len(secret_arns) // 4:
                folders, loose = [self._set_node(secret_arns)], []
            self._group_cache[group] = (folders, loose)
        return self._group_cache[group]

    def _folder_cover(self, secret_arns: list[str]) -> tuple[list[str], list[str]]:
        """Split secrets into the largest folders they fill completely and the secrets outside them.

        Returns the folder nodes and the ARNs left over; a grant on `team-a/*` becomes one edge to
        the folder `team-a/` instead of one per secret.
        """
        counts: dict[tuple[str, str], int] = {}
        for arn in secret_arns:
            for folder in self._secret_folders[arn]:
                counts[folder] = counts.get(folder, 0) + 1
        filled = {folder for folder, count in counts.items() if count == self._folders[folder].size}
        folders: dict[tuple[str, str], None] = {}
        loose = []
        for arn in secret_arns:
            top = next((folder for folder in self._secret_folders[arn] if folder in filled), None)
            if top is None:
                loose.append(arn)
            else:
                folders[top] = None
        return [self._folder_node(folder) for folder in folders], loose

    def _folder_node(self, folder: tuple[str, str]) -> str:
        """Return the node of a secret folder, adding it with its subfolders and secrets the first time."""
        account_id, prefix = folder
        if not prefix:
            return self._all_secrets_node(account_id)
        node = ids.aws_secret_folder(account_id, prefix)
        name = f"secrets under {prefix}"
        if node in self.graph.g:
            return node
        self.graph.add_node(node, "aws_secret_folder", name, account=account_id, size=self._folders[folder].size)
        for subfolder in sorted(self._folders[folder].subfolders):
            child = self._folder_node(subfolder)
            self.graph.add_edge(node, child, "contains", f"{self.graph.name(child)} are among the {name}")
        for arn in self._folders[folder].secrets:
            secret_node = ids.aws(arn)
            self.graph.add_edge(node, secret_node, "contains", f"{self.graph.name(secret_node)} is one of the {name}")
        return node

    def _set_node(self, arns: list[str]) -> str:
        """Return the node of exactly these secrets, or these IAM principals, adding it with its `contains` edges once."""
        digest = hashlib.sha256("\n".join(sorted(arns)).encode()).hexdigest()[:16]
        node = ids.aws_set(digest)
        if node in self.graph.g:
            return node
        members = [ids.aws(arn) for arn in arns]
        accounts = sorted({self.graph.g.nodes[member]["account"] for member in members})
        if all(self.graph.kind(member) == "cloud_secret" for member in members):
            kind, noun = "aws_secret_set", "secrets"
        else:
            kind, noun = "iam_principal_set", "IAM principals"
        prefix = os.path.commonprefix([self.graph.name(member) for member in members])
        prefix = prefix[: prefix.rfind("/") + 1]
        where = f"under {prefix}" if prefix else f"of AWS account {', '.join(accounts)}"
        name = f"{len(arns):,} {noun} {where}"
        self.graph.add_node(node, kind, name, account=accounts[0] if len(accounts) == 1 else None, size=len(arns))
        for member in members:
            self.graph.add_edge(node, member, "contains", f"{self.graph.name(member)} is one of the {name}")
        return node

    def _add_escalations(self, principal: str, source: str, name: str) -> None:
        """Add an edge per IAM change that lets the principal grant itself more, one per action and decision.

        A change to itself, its groups or its policies reaches every secret of its account. Changes
        to other principals or secrets lead to them, through a set node when one decision covers many.
        """
        # NOTE: a change to its own policies is taken to reach every secret of the account. An SCP, a
        # boundary or a resource-policy Deny that the change cannot lift may still block some reads,
        # so for principals with narrow IAM rights this over-reports.
        grouped: dict[tuple[str, Decision, bool], list[str]] = {}
        for action, target_arn, decision in self.authorizations.escalation_paths(principal):
            target = ids.aws(target_arn)
            to_self = target not in self.graph.g or target == source
            grouped.setdefault((action, decision, to_self), []).append(target_arn)
        for (action, decision, to_self), target_arns in grouped.items():
            evidence = {**_evidence(decision), "action": action, "targets": target_arns}
            because = decision_text(decision)
            if to_self or len(target_arns) >= SECRET_SET_MIN_SIZE:
                target = self._all_secrets_node(principal.split(":")[4]) if to_self else self._set_node(target_arns)
                what = _short(target_arns[0]) if len(target_arns) == 1 else f"{len(target_arns):,} targets such as {_short(target_arns[0])}"
                reason = f"{name} may call {action} on {what}, so it can grant itself more: {because}"
                self.graph.add_edge(source, target, "iam_escalate", reason, evidence=evidence, conditions=_conditions(decision))
                continue
            for target_arn in target_arns:
                reason = f"{name} may call {action} on {_short(target_arn)}, so it can grant itself more: {because}"
                self.graph.add_edge(source, ids.aws(target_arn), "iam_escalate", reason,
                                    evidence={**evidence, "targets": [target_arn]}, conditions=_conditions(decision))

    def _all_secrets_node(self, account_id: str) -> str:
        """Return the node of every secret of the account, with an edge to each: the account's root folder."""
        node = ids.aws_all_secrets(account_id)
        if node not in self.graph.g:
            self.graph.add_node(node, "aws_all_secrets", f"every secret of AWS account {account_id}", account=account_id)
            for arn, chain in self._secret_folders.items():
                if chain[0] == (account_id, ""):
                    secret_node = ids.aws(arn)
                    self.graph.add_edge(node, secret_node, "contains", f"{self.graph.name(secret_node)} is in account {account_id}")
        return node

    # --- lookups for the ESO part ----------------------------------------------------------------

    def web_identity_roles(self, issuer: str, subject: str) -> list[tuple[str, Decision]]:
        return self.authorizations.web_identity_roles(issuer, subject)

    def can_assume(self, caller_arn: str, role_arn: str) -> Decision | None:
        try:
            return self.authorizations.can_assume(caller_arn, role_arn)
        except UnknownPrincipalError:
            return None

    def find_secrets(self, name_or_arn: str, account_hint: str | None = None) -> list[str]:
        """Return the secret ARNs a remote key names: a full ARN, a partial ARN or a name."""
        if name_or_arn.startswith("arn:"):
            node = ids.aws(name_or_arn)
            if node in self.graph.g:
                return [name_or_arn]
            return sorted(arn for (_, _), arns in self.secret_names.items() for arn in arns if arn.startswith(name_or_arn + "-"))
        named = self._secrets_by_name.get(name_or_arn, [])
        return sorted(arn for account_id, arn in named if account_hint is None or account_id == account_hint)

    def readable_secrets(self, principal_arn: str) -> list[tuple[str, Decision]]:
        if principal_arn not in self._readable:
            try:
                self._readable[principal_arn] = self.authorizations.secret_access(principal_arn, "read")
            except UnknownPrincipalError:
                self._readable[principal_arn] = []
        return self._readable[principal_arn]
