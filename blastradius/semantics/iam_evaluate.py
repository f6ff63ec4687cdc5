"""Evaluation of one request of a user or role against every policy type that applies to it.

The order follows the IAM User Guide ("Policy evaluation logic", "Cross-account policy evaluation
logic"). An explicit Deny anywhere wins. In the principal's own account its identity policies or
the resource's policy may allow, and across accounts both must. A permission boundary limits
identity grants and, for roles, resource-policy grants too. An SCP of the principal's account must
allow. A KMS key policy must allow, directly or by delegating to the account and leaving the rest
to IAM.
"""

from __future__ import annotations

from blastradius.semantics.iam_decision import (
    NOTHING,
    UNLIMITED,
    Alternative,
    Decision,
    DenyMatch,
    Evidence,
    Findings,
    Grant,
    all_of,
    any_of,
    simplify,
)
from blastradius.semantics.iam_model import AccountModel, AttachedPolicy, Principal, Resource
from blastradius.semantics.iam_policy import RequestContext, Statement

# The service whose actions a resource's own policy governs. A trust policy governs only sts calls,
# not iam:PutRolePolicy on the role, and a key policy only kms calls.
_POLICY_SERVICE = {"secret": "secretsmanager", "role": "sts", "kms_key": "kms"}

ContextValues = dict[str, str | tuple[str, ...]]


def _resource_policy_required(resource: Resource, action: str) -> bool:
    """Whether the resource's own policy must allow even in the caller's account.

    A key policy must always allow a KMS call, and a role's trust policy must admit every
    sts:AssumeRole; an identity Allow alone is enough for neither.
    """
    if resource.kind == "kms_key":
        return True
    return resource.kind == "role" and action.split(":", 1)[0].lower() == "sts"


class RequestEvaluator:
    """Evaluator of requests over an AccountModel, without state of its own."""

    def __init__(self, model: AccountModel) -> None:
        self._model = model

    def context(
        self, principal: Principal, action: str, resource: Resource, extra: ContextValues | None = None
    ) -> RequestContext:
        """Build the condition keys the snapshot decides for this request; all others stay unknown."""
        values: dict[str, str | tuple[str, ...]] = {
            "aws:PrincipalArn": principal.arn,
            "aws:PrincipalAccount": principal.account_id,
            "aws:PrincipalType": "User" if principal.kind == "user" else "AssumedRole",
            "aws:PrincipalIsAWSService": "false",
            "aws:SecureTransport": "true",
        }
        absent = {"aws:PrincipalServiceName", "kms:ViaService", "iam:PassedToService"}
        prefixes = ["aws:PrincipalTag/"]
        if principal.kind == "user":
            values["aws:username"] = principal.name
        else:
            absent.add("aws:username")
        if resource.account_id:
            values["aws:ResourceAccount"] = resource.account_id
        for key, value in principal.tags.items():
            values[f"aws:PrincipalTag/{key}"] = value
        if resource.tags is not None:
            prefixes += ["aws:ResourceTag/", "secretsmanager:ResourceTag/", "iam:ResourceTag/"]
            for key, value in resource.tags.items():
                for prefix in ("aws:ResourceTag/", "secretsmanager:ResourceTag/", "iam:ResourceTag/"):
                    values[f"{prefix}{key}"] = value
        if resource.kind == "secret":
            values["secretsmanager:SecretId"] = resource.arn
        if action.lower().startswith("kms:"):
            values["kms:CallerAccount"] = principal.account_id
        values.update(extra or {})
        return RequestContext(values, decidable_prefixes=tuple(prefixes), absent_keys=frozenset(absent))

    def evaluate(
        self, principal: Principal, action: str, resource: Resource, extra: ContextValues | None = None
    ) -> Decision:
        """Decide one request. `extra` adds condition keys that the caller decides, such as kms:ViaService."""
        context = self.context(principal, action, resource, extra)
        findings = Findings()

        identity = self._identity_grant(principal, action, resource.arn, context, findings)
        boundaries = [principal.boundary] if principal.boundary else []
        boundary = self._guardrail_grant(boundaries, action, resource.arn, context, findings)
        scp = self._guardrail_grant(self._scps_for(principal), action, resource.arn, context, findings)
        self._apply_rcps(principal, action, resource, context, findings)
        direct, delegated = self._resource_policy_grant(principal, action, resource, context, findings)

        same_account = resource.account_id in ("", principal.account_id)
        identity_side = all_of(identity, boundary)
        if same_account:
            direct_side = all_of(direct, boundary) if principal.kind == "role" else direct
            if _resource_policy_required(resource, action):
                grant = any_of(direct_side, all_of(delegated, identity_side))
            else:
                grant = any_of(direct_side, identity_side)
        else:
            grant = all_of(any_of(direct, delegated), identity_side)
        reason = self._denial_reason(principal, action, resource, identity, boundary, scp, direct, delegated, grant)
        return findings.decide(all_of(grant, scp), reason)

    def _denial_reason(
        self, principal: Principal, action: str, resource: Resource,
        identity: Grant, boundary: Grant, scp: Grant, direct: Grant, delegated: Grant, grant: Grant,
    ) -> str:
        """Explain an implicit deny by the first layer that failed to allow."""
        if grant and not scp:
            return f"no service control policy of account {principal.account_id} allows {action}"
        if identity and not boundary and principal.boundary:
            return f"the permission boundary {principal.boundary.label} does not allow {action}"
        if resource.kind == "kms_key" and not direct and resource.account_id in ("", principal.account_id):
            if not delegated:
                return f"the key policy of {resource.arn} neither allows {principal.arn} nor delegates {action} to IAM"
            return f"the key policy of {resource.arn} delegates to IAM, but no identity policy allows {action}"
        if resource.kind == "role" and _resource_policy_required(resource, action) and not (direct or delegated):
            return f"the trust policy of {resource.arn} does not admit {principal.arn}"
        if resource.account_id not in ("", principal.account_id):
            if not (direct or delegated):
                return f"cross-account: the resource policy of {resource.arn} does not allow {principal.arn}"
            return f"cross-account: no identity policy of {principal.arn} allows {action}"
        return f"no identity or resource policy allows {action} on {resource.arn}"

    def _identity_grant(
        self, principal: Principal, action: str, resource_arn: str, context: RequestContext, findings: Findings
    ) -> Grant:
        for policy in principal.policies:
            if policy.document is None:
                note_unreadable(policy, findings, limits=False)
        allows = []
        for label, statement in self._model.identity_statements(principal, action):
            if statement.matches_resource(resource_arn, context):
                alternative = apply_statement(label, statement, context, findings)
                if alternative:
                    allows.append(alternative)
        return simplify(allows)

    def _guardrail_grant(
        self, policies: list[AttachedPolicy], action: str, resource_arn: str, context: RequestContext,
        findings: Findings,
    ) -> Grant:
        """Evaluate a boundary or the SCPs: no policies means no limit, and an Allow grants no evidence.

        NOTE: AWS needs an Allow among the SCPs of each level (root, every OU, the account). The
        snapshot does not record the level of each SCP, so an Allow in any SCP counts for all.
        """
        if not policies:
            return UNLIMITED
        allows = []
        for policy in policies:
            if policy.document is None:
                note_unreadable(policy, findings, limits=True)
                allows.append(Alternative(frozenset(), ()))
                continue
            for statement in policy.document.statements:
                if statement.matches_action(action) and statement.matches_resource(resource_arn, context):
                    alternative = apply_statement(policy.label, statement, context, findings)
                    if alternative:
                        allows.append(Alternative(alternative.conditions, ()))
        return simplify(allows)

    def _scps_for(self, principal: Principal) -> list[AttachedPolicy]:
        """SCPs of the principal's account; they do not apply to service-linked roles."""
        if principal.kind == "role" and principal.path.startswith("/aws-service-role/"):
            return []
        return self._model.accounts[principal.account_id].scps

    def _apply_rcps(
        self, principal: Principal, action: str, resource: Resource, context: RequestContext, findings: Findings
    ) -> None:
        """Record the Deny statements of the RCPs of the resource's account.

        Only Deny matters: every account keeps the AWS-managed RCPFullAWSAccess, which allows all.
        """
        account = self._model.accounts.get(resource.account_id)
        for policy in account.rcps if account else ():
            if policy.document is None:
                note_unreadable(policy, findings, limits=False)
                continue
            for statement in policy.document.statements:
                if not statement.is_deny or not statement.matches_action(action):
                    continue
                if not statement.matches_resource(resource.arn, context):
                    continue
                match, extra = principal_match(statement, principal)
                if match:
                    apply_statement(policy.label, statement, context, findings, extra)

    def _resource_policy_grant(
        self, principal: Principal, action: str, resource: Resource, context: RequestContext, findings: Findings
    ) -> tuple[Grant, Grant]:
        """Return (grant naming the principal or everyone, grant naming only its account) of the resource's policy."""
        service = _POLICY_SERVICE.get(resource.kind)
        if resource.policy_known and (service is None or action.split(":", 1)[0].lower() != service):
            return NOTHING, NOTHING
        if not resource.policy_known:
            unknown = f"the resource policy of {resource.arn} (not in the snapshot) allows {action}"
            return NOTHING, (Alternative(frozenset({unknown}), ()),)
        if resource.policy is None:
            return NOTHING, NOTHING
        if resource.policy.document is None:
            note_unreadable(resource.policy, findings, limits=False)
            return NOTHING, NOTHING
        direct, delegated = [], []
        for statement in resource.policy.document.statements:
            if not statement.matches_action(action) or not statement.matches_resource(resource.arn, context):
                continue
            match, extra = principal_match(statement, principal)
            if match is None:
                continue
            alternative = apply_statement(resource.policy.label, statement, context, findings, extra)
            if alternative:
                (direct if match == "direct" else delegated).append(alternative)
        return simplify(direct), simplify(delegated)


def apply_statement(
    label: str, statement: Statement, context: RequestContext, findings: Findings,
    extra_conditions: tuple[str, ...] = (),
) -> Alternative | None:
    """Record a matching Deny in `findings`, or return the Alternative an Allow grants."""
    undecided = statement.evaluate_conditions(context)
    if undecided is None:
        return None
    conditions = extra_conditions + undecided
    evidence = Evidence(label, statement.label, statement.effect)
    if statement.is_deny:
        findings.denies.append(DenyMatch(conditions, evidence))
        return None
    return Alternative(frozenset(conditions), (evidence,))


def note_unreadable(policy: AttachedPolicy, findings: Findings, limits: bool) -> None:
    """Add the caveat of an unparseable policy that may deny: a guardrail (`limits`), or one whose text has Deny."""
    if limits or policy.may_deny:
        findings.caveats.append(f"unparseable policy {policy.label} may deny")


def principal_match(statement: Statement, principal: Principal) -> tuple[str | None, tuple[str, ...]]:
    """Return how a resource-policy statement names the principal: "direct", "account" or None.

    A statement without Principal or NotPrincipal (an SCP or RCP) applies to everyone. An
    assumed-role session ARN names the role only for that session name, kept as a condition.
    """
    if statement.not_principals is not None:
        if statement.is_deny and principal.boundary is not None:
            # IAM User Guide, permissions boundaries: a NotPrincipal Deny always applies to
            # principals that have a boundary, whatever NotPrincipal lists.
            return "direct", ()
        listed = {value for kind, value in statement.not_principals if kind == "AWS"}
        named = principal.arn in listed or any(
            value.startswith(f"arn:{principal.partition}:sts::{principal.account_id}:assumed-role/{principal.name}/")
            for value in listed
        )
        account_listed = principal.account_id in listed or principal.root_arn in listed
        return (None, ()) if named and account_listed else ("direct", ())
    if statement.principals is None:
        return "direct", ()
    match: str | None = None
    for kind, value in statement.principals:
        if kind != "AWS":
            continue
        if value in ("*", principal.arn):
            return "direct", ()
        session_prefix = f"arn:{principal.partition}:sts::{principal.account_id}:assumed-role/{principal.name}/"
        if principal.kind == "role" and value.startswith(session_prefix):
            return "direct", (f"the role session name is {value[len(session_prefix):]}",)
        if value in (principal.account_id, principal.root_arn):
            match = "account"
    return match, ()
