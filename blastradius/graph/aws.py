"""AWS nodes and edges: IAM users and roles, Secrets Manager secrets, KMS keys, and who reaches what.

Edges come from the IAM evaluator: secret reads and overwrites (GetSecretValue with kms:Decrypt for
a customer-managed key), role assumption, IRSA web-identity trust, and IAM changes that let a
principal grant itself more. A decision allowed only under conditions the snapshot cannot decide
becomes a conditional edge.
"""

from __future__ import annotations

import logging
from typing import Any

from blastradius.graph import ids
from blastradius.graph.model import CapabilityGraph
from blastradius.semantics.iam import AccountAuthorizations, UnknownPrincipalError
from blastradius.semantics.iam_decision import Decision
from blastradius.snapshot import coverage_gap

log = logging.getLogger(__name__)


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
        for entry in account.get("kms_keys", []):
            arn = entry["arn"]
            aliases = entry.get("aliases") or []
            name = aliases[0] if aliases else _short(arn)
            self.graph.add_node(ids.aws(arn), "kms_key", name, account=account_id, arn=arn, refs=[arn, *aliases])

    def _add_principal_edges(self, principal: str) -> None:
        source = ids.aws(principal)
        name = self.graph.name(source)
        for capability, kind in (("read", "iam_read_secret"), ("overwrite", "iam_overwrite_secret")):
            verb = "read" if capability == "read" else "overwrite"
            access = self.authorizations.secret_access(principal, capability)
            if capability == "read":
                self._readable[principal] = access
            for secret_arn, decision in access:
                target = ids.aws(secret_arn)
                reason = f"{name} may {verb} {self.graph.name(target)}: {decision_text(decision)}"
                self.graph.add_edge(source, target, kind, reason, evidence=_evidence(decision), conditions=_conditions(decision))
        for role_arn, decision in self.authorizations.assumable_by(principal):
            if role_arn == principal:
                continue
            target = ids.aws(role_arn)
            reason = f"{name} may assume {self.graph.name(target)}: {decision_text(decision)}"
            self.graph.add_edge(source, target, "sts_assume", reason, evidence=_evidence(decision), conditions=_conditions(decision))
        self._add_escalations(principal, source, name)

    def _add_escalations(self, principal: str, source: str, name: str) -> None:
        # NOTE: a change to its own policies is taken to reach every secret of the account. An SCP, a
        # boundary or a resource-policy Deny that the change cannot lift may still block some reads,
        # so for principals with narrow IAM rights this over-reports.
        for action, target_arn, decision in self.authorizations.escalation_paths(principal):
            target = ids.aws(target_arn)
            if target not in self.graph.g or target == source:
                # A change to itself, its groups or its policies: it can grant itself any secret of its account.
                target = self._all_secrets_node(principal.split(":")[4])
            reason = f"{name} may call {action} on {_short(target_arn)}, so it can grant itself more: {decision_text(decision)}"
            self.graph.add_edge(source, target, "iam_escalate", reason,
                                evidence={**_evidence(decision), "action": action, "target": target_arn},
                                conditions=_conditions(decision))

    def _all_secrets_node(self, account_id: str) -> str:
        node = ids.aws_all_secrets(account_id)
        if node not in self.graph.g:
            self.graph.add_node(node, "aws_all_secrets", f"every secret of AWS account {account_id}", account=account_id)
            for secret_node in list(self.graph.nodes_of_kind("cloud_secret")):
                if self.graph.g.nodes[secret_node]["account"] == account_id:
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
