"""AWS authorization over a snapshot's AWS account sections: who may read or overwrite which secret.

`AccountAuthorizations` follows the IAM policy evaluation logic of the IAM User Guide ("Policy
evaluation logic", "Cross-account policy evaluation logic") for users and roles:

- An explicit Deny in any applicable policy wins (identity, group, permission boundary, resource,
  trust or key policy, SCP, RCP).
- In the principal's own account the identity policies or the resource policy may allow. Across
  accounts both must.
- A permission boundary limits identity grants and, for roles, resource-policy grants too. An SCP
  of the principal's account must allow.
- A KMS key policy must always allow, directly or by naming the account and leaving the rest to
  IAM. The AWS-managed `aws/secretsmanager` key serves only principals of the secret's account.
- A condition the snapshot cannot decide keeps the request as "conditional", with the condition.

An unparseable policy is reported in `warnings` and grants nothing. When its text mentions Deny
(always, for a boundary or an SCP, which limit by what they leave out) every result it could affect
carries the condition "unparseable policy <label> may deny".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Literal

from blastradius.semantics.iam_decision import NOTHING, Decision, Evidence, Findings, best_of, both, simplify
from blastradius.semantics.iam_evaluate import RequestEvaluator, apply_statement, note_unreadable
from blastradius.semantics.iam_model import (
    ASSUME_ROLE,
    ASSUME_ROLE_WITH_WEB_IDENTITY,
    SECRET_ACTIONS,
    AccountModel,
    OidcProvider,
    Principal,
    Resource,
    Secret,
    UnknownPrincipalError,
    arn_account,
    issuer_url,
)
from blastradius.semantics.iam_policy import Condition, PolicyDocument, RequestContext, Statement, literal_prefix
from blastradius.semantics.iam_sharing import (
    PermissionSet,
    StatementMatches,
    looks_at_resource,
    permission_sets,
    personal_secrets,
)

__all__ = [
    "AccountAuthorizations",
    "Decision",
    "Evidence",
    "EscalationMethod",
    "ESCALATION_METHODS",
    "PermissionSet",
    "COMPUTE_CREATE_ACTIONS",
    "UnknownPrincipalError",
    "WebIdentityTrust",
]

Capability = Literal["read", "overwrite"]

# Secrets Manager calls kms:Decrypt on reads and kms:GenerateDataKey on writes.
KMS_ACTIONS: dict[str, str] = {"read": "kms:Decrypt", "overwrite": "kms:GenerateDataKey"}
AWS_MANAGED_SECRETS_KEY = "alias/aws/secretsmanager"


@dataclass(frozen=True)
class EscalationMethod:
    """An IAM change that lets its caller grant itself more, and the kind of object it targets."""

    action: str
    target_kind: Literal["role", "user", "group", "policy", "secret"]
    effect: str


ESCALATION_METHODS: tuple[EscalationMethod, ...] = (
    EscalationMethod("iam:PutRolePolicy", "role", "writes any inline policy into the role"),
    EscalationMethod("iam:AttachRolePolicy", "role", "attaches any managed policy to the role"),
    EscalationMethod("iam:UpdateAssumeRolePolicy", "role", "rewrites the role's trust policy to admit the caller"),
    EscalationMethod("iam:PutUserPolicy", "user", "writes any inline policy into the user"),
    EscalationMethod("iam:AttachUserPolicy", "user", "attaches any managed policy to the user"),
    EscalationMethod("iam:CreateAccessKey", "user", "creates access keys that act as the user"),
    EscalationMethod("iam:CreateLoginProfile", "user", "sets a console password for the user"),
    EscalationMethod("iam:UpdateLoginProfile", "user", "changes the user's console password"),
    EscalationMethod("iam:PutGroupPolicy", "group", "writes any inline policy into the group"),
    EscalationMethod("iam:AttachGroupPolicy", "group", "attaches any managed policy to the group"),
    EscalationMethod("iam:AddUserToGroup", "group", "adds a user to the group"),
    EscalationMethod("iam:CreatePolicyVersion", "policy", "writes a new default version of the policy"),
    EscalationMethod("iam:SetDefaultPolicyVersion", "policy", "switches the policy to an older version"),
    EscalationMethod("secretsmanager:PutResourcePolicy", "secret", "rewrites the secret's resource policy"),
)

# Compute a caller can create to run code as a role passed with iam:PassRole, by the service
# principal that the role's trust policy must admit.
COMPUTE_CREATE_ACTIONS: dict[str, tuple[str, ...]] = {
    "ec2.amazonaws.com": ("ec2:RunInstances",),
    "lambda.amazonaws.com": ("lambda:CreateFunction",),
    "ecs-tasks.amazonaws.com": ("ecs:RunTask",),
    "glue.amazonaws.com": ("glue:CreateDevEndpoint",),
    "cloudformation.amazonaws.com": ("cloudformation:CreateStack",),
    "codebuild.amazonaws.com": ("codebuild:CreateProject",),
    "sagemaker.amazonaws.com": ("sagemaker:CreateNotebookInstance",),
}


@dataclass(frozen=True)
class WebIdentityTrust:
    """A trust statement that admits tokens of an OIDC provider, described for audits of IRSA trust.

    `subject_patterns` is empty when the statement does not test `sub`, so it admits every
    ServiceAccount of the cluster; `subject_operator` is the operator that tests it.
    """

    role_arn: str
    provider_arn: str
    statement: Evidence
    subject_operator: str | None
    subject_patterns: tuple[str, ...]
    audience_checked: bool


class AccountAuthorizations:
    """Authorization queries over the users, roles and secrets of snapshot AWS account sections.

    Indexes are built once here; queries then evaluate only the resources that some Allow could
    cover. `warnings` lists every policy or reference that could not be used, naming it.
    """

    def __init__(self, aws_accounts: list[dict[str, Any]]) -> None:
        self._model = AccountModel(aws_accounts)
        self._evaluator = RequestEvaluator(self._model)
        self._subject_indexes: dict[str, _SubjectIndex] = {}
        self._matches = StatementMatches(self._model)
        self._permission_sets = permission_sets(self._model)
        self._personal: dict[str, frozenset[str]] = {}
        self._access: dict[tuple[str, str], list[tuple[str, Decision]]] = {}
        self._shared_access: dict[tuple[str, str], list[tuple[str, Decision]]] = {}
        self._escalations: dict[str, list[tuple[str, str, Decision]]] = {}
        self.warnings: list[str] = self._model.warnings

    # Queries -----------------------------------------------------------------------------------

    def principals(self) -> list[str]:
        """Return the ARNs of every user and role, sorted."""
        return sorted(self._model.principals)

    def secret_arns(self) -> list[str]:
        """Return the ARNs of every secret in the model, sorted."""
        return list(self._model.secret_index)

    def evaluate(self, principal_arn: str, action: str, resource_arn: str) -> Decision:
        """Decide one request of a user or role, with every policy type that applies to it."""
        principal = self._model.principal(principal_arn)
        return self._evaluator.evaluate(principal, action, self._model.resource(resource_arn))

    def secret_access(self, principal_arn: str, capability: Capability) -> list[tuple[str, Decision]]:
        """Return the secrets a principal can read or overwrite, with the decision for each, sorted by ARN.

        Only secrets that an identity Allow's Resource covers, or whose resource policy names the
        principal, its account or everyone, are evaluated. The KMS key of each secret must also
        let the principal decrypt (read) or generate a data key (overwrite). Results are kept, and
        a principal in a permission set reuses the set's evaluation for every secret that is not
        personal.
        """
        _check_capability(capability)
        cache_key = (principal_arn, capability)
        if cache_key not in self._access:
            principal = self._model.principal(principal_arn)
            shared = self.permission_set(principal.arn)
            if shared is None:
                candidates = self._secret_candidates(principal, SECRET_ACTIONS[capability])
                access = self._evaluate_secrets(principal, capability, candidates)
            else:
                access = sorted(self.shared_secret_access(shared, capability)
                                + self.personal_secret_access(principal.arn, capability))
            self._access[cache_key] = access
        return self._access[cache_key]

    def permission_set(self, principal_arn: str) -> PermissionSet | None:
        """Return the permission set a user or role shares with others, or None when its decisions are its own."""
        return self._permission_sets.get(principal_arn)

    def permission_sets(self) -> list[PermissionSet]:
        """Return every permission set of two or more principals, by key."""
        return sorted({shared.key: shared for shared in self._permission_sets.values()}.values(), key=lambda s: s.key)

    def shared_secret_access(self, shared: PermissionSet, capability: Capability) -> list[tuple[str, Decision]]:
        """Return the decisions every member of the permission set gets alike: those on secrets that are not personal."""
        _check_capability(capability)
        cache_key = (shared.key, capability)
        if cache_key not in self._shared_access:
            principal = self._model.principal(shared.members[0])
            candidates = self._secret_candidates(principal, SECRET_ACTIONS[capability]) - self._personal_secrets(shared)
            self._shared_access[cache_key] = self._evaluate_secrets(principal, capability, candidates)
        return self._shared_access[cache_key]

    def personal_secret_access(self, principal_arn: str, capability: Capability) -> list[tuple[str, Decision]]:
        """Return the decisions its permission set leaves to the principal: on secrets whose resource or key
        policy can tell the members apart. For a principal in no set, every decision is its own."""
        _check_capability(capability)
        principal = self._model.principal(principal_arn)
        shared = self.permission_set(principal.arn)
        if shared is not None and not self._personal_secrets(shared):
            return []
        candidates = self._secret_candidates(principal, SECRET_ACTIONS[capability])
        if shared is not None:
            candidates &= self._personal_secrets(shared)
        return self._evaluate_secrets(principal, capability, candidates)

    def _personal_secrets(self, shared: PermissionSet) -> frozenset[str]:
        if shared.key not in self._personal:
            self._personal[shared.key] = personal_secrets(self._model, shared)
        return self._personal[shared.key]

    def can_assume(self, caller_arn: str, role_arn: str) -> Decision:
        """Decide sts:AssumeRole of a role by a user or role, trust policy and caller's policies together."""
        if role_arn not in self._model.trusts:
            raise UnknownPrincipalError(f"role {role_arn} is not in the snapshot's AWS accounts")
        return self._evaluator.evaluate(self._model.principal(caller_arn), ASSUME_ROLE, self._model.resource(role_arn))

    def assumable_by(self, caller_arn: str) -> list[tuple[str, Decision]]:
        """Return the roles a user or role can assume: those whose trust names it, its account or everyone."""
        principal = self._model.principal(caller_arn)
        candidates: set[str] = set()
        for key in (principal.arn, principal.account_id, "*", principal.session_key):
            candidates |= self._model.trust_grantees.get(key, set())
        results = []
        for role_arn in sorted(candidates):
            decision = self._evaluator.evaluate(principal, ASSUME_ROLE, self._model.resource(role_arn))
            if decision.possible:
                results.append((role_arn, decision))
        return results

    def web_identity_roles(
        self, issuer: str, subject: str, audience: str = "sts.amazonaws.com"
    ) -> list[tuple[str, Decision]]:
        """Return the roles a token of `issuer` for `subject` can assume with sts:AssumeRoleWithWebIdentity.

        The issuer must be registered as an OIDC provider in the role's account and the trust
        must name that provider. Each decision's reason states whether the trust checks `aud`.
        """
        url = issuer_url(issuer)
        results = []
        for provider in self._model.providers.get(url, []):
            for role_arn in sorted(self._subject_index(provider).candidates(subject)):
                decision = self._web_identity_decision(role_arn, provider, subject, audience)
                if decision.possible:
                    results.append((role_arn, decision))
        return sorted(results, key=lambda row: row[0])

    def web_identity_decision(
        self, role_arn: str, issuer: str, subject: str, audience: str = "sts.amazonaws.com"
    ) -> Decision:
        """Decide sts:AssumeRoleWithWebIdentity of one role for a token of `issuer` for `subject`.

        Evaluates the role's trust against every provider registered for the issuer in the role's
        account, without the candidate filter of `web_identity_roles`. Returns the first decision
        that admits the token, else the first denial.
        """
        if role_arn not in self._model.trusts:
            raise UnknownPrincipalError(f"role {role_arn} is not in the snapshot's AWS accounts")
        providers = [
            provider
            for provider in self._model.providers.get(issuer_url(issuer), [])
            if provider.account_id == arn_account(role_arn)
        ]
        if not providers:
            return Decision("deny", reason=f"no OIDC provider for {issuer} is registered in the account of {role_arn}")
        decisions = [self._web_identity_decision(role_arn, provider, subject, audience) for provider in providers]
        return next((decision for decision in decisions if decision.possible), decisions[0])

    def web_identity_trusts(self, issuer: str) -> list[WebIdentityTrust]:
        """Return every trust statement that admits tokens of `issuer`, with how it tests `sub` and `aud`."""
        url = issuer_url(issuer)
        trusts = []
        for provider in self._model.providers.get(url, []):
            for role_arn in self._web_identity_candidates(provider):
                trusts += self._describe_web_identity_trust(role_arn, provider)
        return trusts

    def escalation_paths(self, principal_arn: str) -> list[tuple[str, str, Decision]]:
        """Return (action, target ARN, decision) for each IAM change that lets the principal grant itself more.

        Covers the methods in ESCALATION_METHODS on any matching target of its own account (and
        secrets of any account), and iam:PassRole of a role whose trust admits a compute service
        together with that service's create action, reported as `iam:PassRole+<create action>`.
        """
        principal = self._model.principal(principal_arn)
        # Members of a permission set have equal statements, none of which tests the caller, so their rows
        # are equal, unless the resource policy or an RCP of a personal secret admits or denies them one by one.
        shared = self.permission_set(principal.arn)
        key = shared.key if shared is not None and not self._personal_secrets(shared) else principal.arn
        if key not in self._escalations:
            self._escalations[key] = self._evaluate_escalations(principal)
        return self._escalations[key]

    def _evaluate_escalations(self, principal: Principal) -> list[tuple[str, str, Decision]]:
        by_arn = any(looks_at_resource(statement) for statement in self._policy_statements(principal))
        rows = []
        for method in ESCALATION_METHODS:
            if method.target_kind == "secret":
                targets = self._escalation_targets(principal, method)
                rows += [(method.action, arn, decision) for arn, decision in self._evaluate_secret_action(principal, method.action, targets)]
                continue
            statements = self._statements_on_targets(principal, (method.action,))
            context = self._evaluator.context(principal, method.action, Resource("", principal.account_id, "other", False))
            decisions: dict[tuple, Decision] = {}
            for target in sorted(self._escalation_targets(principal, method)):
                # IAM users, groups and policies have no policy of their own for iam: calls. So the statements
                # that cover the target decide, with its account, and its tags only when a statement tests them.
                coverage = tuple(statement.matches_resource(target, context) for statement in statements)
                class_key = (coverage, arn_account(target), target if by_arn else None)
                if class_key not in decisions:
                    decisions[class_key] = self._evaluator.evaluate(principal, method.action, self._model.resource(target))
                if decisions[class_key].possible:
                    rows.append((method.action, target, decisions[class_key]))
        rows += self._pass_role_paths(principal)
        return rows

    # Secrets and keys --------------------------------------------------------------------------

    def _secret_candidates(self, principal: Principal, actions: tuple[str, ...]) -> set[str]:
        """Return the secrets some Allow could cover: by identity Resource patterns or by resource policy principals."""
        context = self._evaluator.context(principal, actions[0], Resource("", principal.account_id, "other", False))
        found: set[str] = set()
        for action in actions:
            for _, statement in self._model.identity_statements(principal, action):
                if statement.is_deny:
                    continue
                covered = self._matches.covers(statement)
                if covered is not None:
                    found |= covered
                    continue
                for pattern in statement.resources or ():
                    found.update(self._model.secret_index.matching(pattern, context))
                if statement.resources is None:
                    found.update(arn for arn in self._model.secrets if statement.matches_resource(arn, context))
        for key in (principal.arn, principal.account_id, "*", principal.session_key):
            found |= self._model.secret_grantees.get(key, set())
        return found

    def _evaluate_secrets(self, principal: Principal, capability: Capability, candidates: set[str]) -> list[tuple[str, Decision]]:
        """Decide each candidate secret, evaluating once per class of secrets the principal's statements cannot tell apart."""
        classes = self._secret_classes(principal, SECRET_ACTIONS[capability], candidates, by_key=True)
        return self._decide_per_class(classes, lambda secret: self._secret_decision(principal, secret, capability))

    def _evaluate_secret_action(self, principal: Principal, action: str, candidates: set[str]) -> list[tuple[str, Decision]]:
        """Decide one Secrets Manager action without the KMS key, once per class of equal secrets."""
        classes = self._secret_classes(principal, (action,), candidates, by_key=False)
        return self._decide_per_class(
            classes, lambda secret: self._evaluator.evaluate(principal, action, self._model.secret_resource(secret)))

    def _decide_per_class(self, classes: list[set[str]],
                          decide: Callable[[Secret], Decision | None]) -> list[tuple[str, Decision]]:
        """Decide one member of each class and give its decision to every member. Return the allowed ones, sorted by ARN."""
        results = []
        for members in classes:
            decision = decide(self._model.secrets[min(members)])
            if decision is not None and decision.possible:
                results += [(arn, decision) for arn in members]
        results.sort()
        return results

    def _secret_classes(self, principal: Principal, actions: tuple[str, ...], candidates: set[str], *,
                        by_key: bool) -> list[set[str]]:
        """Split candidate secrets into classes on which every decision of the principal is equal.

        Secrets start grouped by account, region and (with `by_key`) KMS key, and each statement
        that covers part of a class splits it in two (set operations, not a pass per secret). A
        secret with its own resource policy, or a key policy that tests it, is a class of its own,
        and so is every secret when a statement tests the secret itself or uses policy variables.
        """
        statements = self._statements_on_targets(principal, actions)
        covered = [self._matches.covers(statement) for statement in statements]
        if any(secrets is None for secrets in covered) or any(
                looks_at_resource(statement) for statement in self._policy_statements(principal)):
            return [{arn} for arn in candidates]
        apart = candidates & (self._apart_by_key if by_key else self._apart)
        groups = self._groups_by_key if by_key else self._groups
        rest = candidates - apart
        parts = [part for part in (rest & group for group in groups) if part]
        for secrets in covered:
            split = []
            for part in parts:
                inside = part & secrets
                if inside and len(inside) < len(part):
                    split += [inside, part - inside]
                else:
                    split.append(part)
            parts = split
        return [{arn} for arn in apart] + parts

    @cached_property
    def _apart(self) -> frozenset[str]:
        """Secrets with a resource policy of their own: no other secret shares their decisions."""
        return frozenset(arn for arn, secret in self._model.secrets.items() if secret.policy is not None)

    @cached_property
    def _apart_by_key(self) -> frozenset[str]:
        """`_apart`, plus the secrets whose KMS key policy tests the secret (its encryption context)."""
        keyed = (arn for arn, secret in self._model.secrets.items() if self._key_arn(secret) in self._resource_keys)
        return self._apart | frozenset(keyed)

    @cached_property
    def _groups(self) -> list[frozenset[str]]:
        """Secrets grouped by account and region: what a decision without the KMS key depends on besides statements."""
        return self._group_secrets(lambda secret: (secret.account_id, secret.region))

    @cached_property
    def _groups_by_key(self) -> list[frozenset[str]]:
        """Secrets grouped by account, region and KMS key."""
        return self._group_secrets(lambda secret: (secret.account_id, secret.region, self._key_arn(secret) or secret.kms_key_id))

    def _group_secrets(self, key_of: Callable[[Secret], tuple]) -> list[frozenset[str]]:
        groups: dict[tuple, set[str]] = {}
        for arn, secret in self._model.secrets.items():
            groups.setdefault(key_of(secret), set()).add(arn)
        return [frozenset(members) for _, members in sorted(groups.items(), key=lambda item: repr(item[0]))]

    def _key_arn(self, secret: Secret) -> str | None:
        key = self._model.resolve_key(secret)
        return key.arn if key is not None else None

    def _secret_decision(self, principal: Principal, secret: Secret, capability: Capability) -> Decision | None:
        """Decide one secret with its KMS key; None when the principal cannot read or overwrite it."""
        resource = self._model.secret_resource(secret)
        decision = best_of([self._evaluator.evaluate(principal, action, resource) for action in SECRET_ACTIONS[capability]])
        if not decision.possible:
            return None
        decision = both(decision, self._key_decision(principal, secret, capability))
        return decision if decision.possible else None

    def _statements_on_targets(self, principal: Principal, actions: tuple[str, ...]) -> list[Statement]:
        """Return the statements whose Resource is matched against the target's ARN for these actions, in a fixed order."""
        guardrails = [principal.boundary, *self._model.accounts[principal.account_id].scps]
        guardrails += [policy for account in self._model.accounts.values() for policy in account.rcps]
        found: dict[int, Statement] = {}
        for action in actions:
            for _, statement in self._model.identity_statements(principal, action):
                found.setdefault(id(statement), statement)
            for policy in guardrails:
                for statement in policy.document.statements if policy is not None and policy.document else ():
                    if statement.matches_action(action):
                        found.setdefault(id(statement), statement)
        return list(found.values())

    def _policy_statements(self, principal: Principal) -> list[Statement]:
        """Return every statement of the principal's policies, boundary, and the SCPs and RCPs that may apply."""
        policies = [*principal.policies, principal.boundary, *self._model.accounts[principal.account_id].scps]
        policies += [policy for account in self._model.accounts.values() for policy in account.rcps]
        return [statement for policy in policies if policy is not None and policy.document is not None
                for statement in policy.document.statements]

    @cached_property
    def _resource_keys(self) -> frozenset[str]:
        """KMS keys whose policy tests the secret itself (its encryption context or tags)."""
        return frozenset(
            arn for arn, key in self._model.keys.items()
            if key.policy is not None and key.policy.document is not None
            and any(looks_at_resource(statement) for statement in key.policy.document.statements)
        )

    def _key_decision(self, principal: Principal, secret: Secret, capability: Capability) -> Decision:
        """Decide whether the secret's KMS key lets the principal decrypt (read) or encrypt (overwrite) it."""
        action = KMS_ACTIONS[capability]
        key = self._model.resolve_key(secret)
        if key is not None:
            aws_managed = key.manager == "AWS"
        else:
            aws_managed = (secret.kms_key_id or AWS_MANAGED_SECRETS_KEY).endswith(AWS_MANAGED_SECRETS_KEY)
        if aws_managed:
            if principal.account_id == secret.account_id:
                reason = f"the AWS-managed key of account {secret.account_id} serves its principals"
                return Decision("allow", reason=reason)
            return Decision(
                "deny", reason=f"{secret.arn} uses the AWS-managed key, which principals of other accounts cannot use"
            )
        if key is None:
            condition = f"{action} on {secret.kms_key_id} is allowed (the key is not in the snapshot)"
            return Decision("conditional", (condition,), reason="the secret's KMS key is not in the snapshot")
        extra: dict[str, str | tuple[str, ...]] = {
            "kms:ViaService": f"secretsmanager.{secret.region}.amazonaws.com",
            "kms:EncryptionContext:SecretARN": secret.arn,
            "kms:EncryptionContextKeys": ("SecretARN", "SecretVersionId"),
        }
        return self._evaluator.evaluate(principal, action, self._model.resource(key.arn), extra)

    # Web identity ------------------------------------------------------------------------------

    def _web_identity_candidates(self, provider: OidcProvider) -> list[str]:
        """Roles of the provider's own account whose trust names the provider, or everyone."""
        named = self._model.federated_trusts.get(provider.arn, set()) | self._model.federated_trusts.get("*", set())
        return sorted(role_arn for role_arn in named if arn_account(role_arn) == provider.account_id)

    def _subject_index(self, provider: OidcProvider) -> _SubjectIndex:
        """Return the provider's trusts indexed by their `sub` test, built on first use."""
        index = self._subject_indexes.get(provider.arn)
        if index is None:
            index = _SubjectIndex(provider.url)
            for role_arn in self._web_identity_candidates(provider):
                index.add_role(role_arn, self._model.trusts[role_arn].document, provider.arn)
            self._subject_indexes[provider.arn] = index
        return index

    def _web_identity_decision(self, role_arn: str, provider: OidcProvider, subject: str, audience: str) -> Decision:
        """Decide sts:AssumeRoleWithWebIdentity of a role for one token; only the trust policy and RCPs apply."""
        if provider.client_ids and audience not in provider.client_ids:
            return Decision("deny", reason=f"audience {audience} is not a client ID of {provider.arn}")
        trust = self._model.trusts[role_arn]
        findings = Findings()
        if trust.document is None:
            note_unreadable(trust, findings, limits=False)
            return findings.decide(NOTHING, f"the trust policy of {role_arn} could not be parsed")
        context = RequestContext(
            {f"{provider.url}:sub": subject, f"{provider.url}:aud": audience},
            provider_keys_decided=True,
        )
        allows = []
        for statement in trust.document.statements:
            if not statement.matches_action(ASSUME_ROLE_WITH_WEB_IDENTITY):
                continue
            if not _names_provider(statement, provider.arn):
                continue
            alternative = apply_statement(trust.label, statement, context, findings)
            if alternative:
                allows.append(alternative)
        self._apply_web_identity_rcps(role_arn, context, findings)
        decision = findings.decide(simplify(allows), f"the trust policy of {role_arn} does not admit {subject}")
        if not decision.possible:
            return decision
        # Described only for admitted tokens: most ServiceAccount and role pairs are rejected.
        checked = any(item.audience_checked for item in self._describe_web_identity_trust(role_arn, provider))
        audit = "the trust checks aud" if checked else "the trust does not check aud"
        return Decision(decision.effect, decision.conditions, decision.evidence, f"{decision.reason}; {audit}")

    def _apply_web_identity_rcps(self, role_arn: str, context: RequestContext, findings: Findings) -> None:
        account = self._model.accounts[arn_account(role_arn)]
        for policy in account.rcps:
            for statement in policy.document.statements if policy.document else ():
                if not statement.is_deny or not statement.matches_action(ASSUME_ROLE_WITH_WEB_IDENTITY):
                    continue
                if statement.matches_resource(role_arn, context):
                    apply_statement(policy.label, statement, context, findings)

    def _describe_web_identity_trust(self, role_arn: str, provider: OidcProvider) -> list[WebIdentityTrust]:
        trust = self._model.trusts[role_arn]
        described = []
        for statement in trust.document.statements if trust.document else ():
            if statement.is_deny or not statement.matches_action(ASSUME_ROLE_WITH_WEB_IDENTITY):
                continue
            if not _names_provider(statement, provider.arn):
                continue
            subject_tests = [c for c in statement.conditions if c.key.lower() == f"{provider.url}:sub".lower()]
            audience_checked = any(c.key.lower() == f"{provider.url}:aud".lower() for c in statement.conditions)
            described.append(
                WebIdentityTrust(
                    role_arn=role_arn,
                    provider_arn=provider.arn,
                    statement=Evidence(trust.label, statement.label, statement.effect),
                    subject_operator=subject_tests[0].operator if subject_tests else None,
                    subject_patterns=tuple(value for test in subject_tests for value in test.values),
                    audience_checked=audience_checked,
                )
            )
        return described

    # Escalation --------------------------------------------------------------------------------

    def _escalation_targets(self, principal: Principal, method: EscalationMethod) -> set[str]:
        if method.target_kind == "secret":
            return self._secret_candidates(principal, (method.action,))
        index = self._model.iam_index.get((principal.account_id, method.target_kind))
        if index is None:
            return set()
        context = self._evaluator.context(principal, method.action, Resource("", principal.account_id, "other", False))
        targets: set[str] = set()
        for _, statement in self._model.identity_statements(principal, method.action):
            if statement.is_deny:
                continue
            if statement.resources is None:
                return set(index)
            for pattern in statement.resources:
                targets.update(index.matching(pattern, context))
        return targets

    def _pass_role_paths(self, principal: Principal) -> list[tuple[str, str, Decision]]:
        """iam:PassRole of a role that a compute service may assume, with that service's create action."""
        rows = []
        pass_role = EscalationMethod("iam:PassRole", "role", "passes the role to compute")
        for role_arn in sorted(self._escalation_targets(principal, pass_role)):
            for service in sorted(self._model.service_trusts.get(role_arn, set()) & set(COMPUTE_CREATE_ACTIONS)):
                role = self._model.resource(role_arn)
                passed = self._evaluator.evaluate(principal, "iam:PassRole", role, {"iam:PassedToService": service})
                if not passed.possible:
                    continue
                for create_action in COMPUTE_CREATE_ACTIONS[service]:
                    created = self._evaluator.evaluate(principal, create_action, self._model.resource("*"))
                    decision = both(passed, created)
                    if decision.possible:
                        rows.append((f"iam:PassRole+{create_action}", role_arn, decision))
        return rows


def _check_capability(capability: str) -> None:
    if capability not in SECRET_ACTIONS:
        raise ValueError(f"unknown capability {capability!r}; expected 'read' or 'overwrite'")


class _SubjectIndex:
    """The roles whose trust could admit a token of one OIDC provider, looked up by the token's `sub`.

    A statement can allow only if each of its conditions holds, so one `sub` test that rejects the
    subject rules the statement out. A literal `StringEquals` test puts the role under each value,
    and a `StringLike` test without policy variables is filed under the literal text before the
    first wildcard of each value, so a subject is matched only against the patterns whose literal
    part it starts with. Any other statement
    makes the role a candidate for every subject: one without such a test, with an `IfExists` or
    set operator, or with a policy variable. So does an unparseable trust. Candidates still need
    the full trust evaluation.
    """

    def __init__(self, provider_url: str) -> None:
        self._subject_key = f"{provider_url}:sub".lower()
        self._by_subject: dict[str, set[str]] = {}
        self._by_prefix: dict[str, list[tuple[str, Condition]]] = {}
        self._every_subject: set[str] = set()

    def add_role(self, role_arn: str, document: PolicyDocument | None, provider_arn: str) -> None:
        """Index each Allow statement of the role's trust that names the provider."""
        if document is None:
            self._every_subject.add(role_arn)
            return
        for statement in document.statements:
            if statement.is_deny or not statement.matches_action(ASSUME_ROLE_WITH_WEB_IDENTITY):
                continue
            if _names_provider(statement, provider_arn):
                self._add_statement(role_arn, statement)

    def candidates(self, subject: str) -> set[str]:
        """Return the roles with a statement whose `sub` test does not reject `subject`."""
        found = self._by_subject.get(subject, set()) | self._every_subject
        if self._by_prefix:
            context = RequestContext({self._subject_key: subject}, provider_keys_decided=True)
            for end in range(len(subject) + 1):
                for role_arn, test in self._by_prefix.get(subject[:end], ()):
                    if role_arn not in found and test.evaluate(context) is not False:
                        found.add(role_arn)
        return found

    def _add_statement(self, role_arn: str, statement: Statement) -> None:
        subject_tests = [
            test
            for test in statement.conditions
            if test.key.lower() == self._subject_key and not any("${" in value for value in test.values)
        ]
        literal = next((test for test in subject_tests if test.operator.lower() == "stringequals"), None)
        pattern = next((test for test in subject_tests if test.operator.lower() == "stringlike"), None)
        if literal is not None:
            for value in literal.values:
                self._by_subject.setdefault(value, set()).add(role_arn)
        elif pattern is not None:
            for value in pattern.values:
                self._by_prefix.setdefault(literal_prefix(value), []).append((role_arn, pattern))
        else:
            self._every_subject.add(role_arn)


def _names_provider(statement: Statement, provider_arn: str) -> bool:
    """Return whether a trust statement admits tokens of the provider, naming it as Federated or naming everyone."""
    if statement.principals is None:
        return False
    return any(
        (kind == "Federated" and value == provider_arn) or (kind == "AWS" and value == "*")
        for kind, value in statement.principals
    )
