"""The audit catalogue: one declaration per check, as data, with the function that detects it.

Each `Check` carries what a report needs beside the finding itself: a stable id, a title, the
default severity, what it detects, why it matters, what to do, and the limits of the detection
(`scope`). `docs/audit-checks.md` is generated from this table, and a test keeps the two in sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from blastradius.queries.audit import cloud, coverage, kubernetes, stores, sync
from blastradius.queries.audit.context import AuditContext, Hit

SEVERITIES = ("info", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Check:
    """One audit check: its catalogue entry and the function that yields its hits."""

    id: str
    title: str
    severity: str
    detects: str
    why: str
    recommendation: str
    scope: str
    detect: Callable[[AuditContext], Iterator[Hit]]


CHECKS: tuple[Check, ...] = (
    Check(
        "ESO-CSS-BROAD", "Broad ClusterSecretStore", "high",
        "A ClusterSecretStore without conditions, or whose conditions admit namespaces where no ExternalSecret uses it.",
        "Whoever can create an ExternalSecret in an admitted namespace reads every secret the store's identity reads, "
        "and the copy lands in a namespace they control.",
        "Add conditions that list only the namespaces that use the store, or replace it with a SecretStore per namespace.",
        "A ClusterSecretStore that no ExternalSecret uses is reported only when it has no conditions, because which "
        "namespaces ought to use it is unknown.",
        stores.css_broad,
    ),
    Check(
        "ESO-CSS-UNANCHORED-REGEX", "Unanchored namespace regexp", "medium",
        "namespaceRegexes in ClusterSecretStore conditions without both ^ and $ anchors.",
        "ESO matches the regexp anywhere in the name, so `prod` admits `nonprod-sandbox` and every namespace created "
        "later whose name contains it.",
        "Anchor each regexp (`^production$`), or list namespaces by name.",
        "Only the anchors are checked; an anchored regexp with a broad body (`^.*$`) is not reported.",
        stores.css_unanchored_regex,
    ),
    Check(
        "ESO-CSS-REFERENT-AUTH", "Referent authentication", "low",
        "A ClusterSecretStore whose ServiceAccount or Secret references have no namespace.",
        "ESO resolves the reference in the namespace of each ExternalSecret, so each admitted namespace supplies its "
        "own credentials: whoever controls that ServiceAccount or Secret there decides the identity.",
        "Make sure every admitted namespace holds the intended ServiceAccount or Secret, or pin the namespace.",
        "Resolutions are listed for the namespaces the store admits today.",
        stores.css_referent_auth,
    ),
    Check(
        "ESO-STORE-NO-AUTH", "Store without auth", "medium",
        "A SecretStore or ClusterSecretStore without credentials of its own, so ESO uses the controller's identity.",
        "Every namespace that may use the store borrows the controller's cloud identity, which usually reads the most.",
        "Give the store its own IRSA ServiceAccount (auth.jwt.serviceAccountRef) with a role scoped to its paths.",
        "The controller's identity is taken from its ServiceAccount's annotations; ambient node credentials are not "
        "in the snapshot.",
        stores.store_no_auth,
    ),
    Check(
        "ESO-STORE-STATIC-KEYS", "Static keys in a store", "medium",
        "A store that signs in with long-lived access keys kept in a Kubernetes Secret, and who can read that Secret.",
        "Whoever reads the Secret holds the identity with its full cloud reach, from anywhere, until the keys are rotated.",
        "Use IRSA (auth.jwt.serviceAccountRef) instead of access keys; until then restrict who can read the Secret.",
        "The IAM user that owns the keys is recorded nowhere: set static_key_owners in the configuration, or annotate "
        "the Secret with blastradius.io/aws-principal. Trusted principals are counted, not listed.",
        stores.store_static_keys,
    ),
    Check(
        "ESO-STORE-READS-OWN-CREDENTIALS", "Store identity reads its own credentials", "high",
        "A store's static-key identity can read cloud secrets under the configured credential prefixes.",
        "Keys that can read the stored copies of store credentials lead to more credentials, their own included: "
        "the bootstrap loop an explicit Deny on those paths prevents.",
        "Add an explicit Deny on the credential prefixes (for example eso-credentials/*) to every store identity.",
        "Which keys a cloud secret holds is not recorded, so every secret under credential_prefixes counts as store "
        "credentials. Static keys without a known owner are not evaluated.",
        stores.store_reads_own_credentials,
    ),
    Check(
        "ESO-STORE-IAM-WIDE", "Store identity reads more than ESO uses", "high",
        "A store identity that can read secrets no ExternalSecret or PushSecret of its stores uses: it can read N "
        "secrets, ESO uses M.",
        "Anyone who can use the store, or who steals its credentials, reads the other N - M secrets too.",
        "Scope the identity's policy to the paths its ExternalSecrets reference, and use one identity per namespace.",
        "Use is what the snapshot's ExternalSecrets reference today; a dataFrom.find counts every secret it matches.",
        stores.store_reach_wide,
    ),
    Check(
        "IAM-WILDCARD-RESOURCE", "Wildcard IAM resource for secret reads", "high",
        "An identity policy of a role, user or group that allows secretsmanager:GetSecretValue on every secret "
        "(Resource `*`, `secret:*`, or NotResource).",
        "The principal, and anyone who can act as it, reads every secret of the account that no Deny or key policy "
        "protects, including ones created later.",
        "List the secret ARN prefixes the principal needs, and add an explicit Deny for high-privilege paths.",
        "Only the default version of a managed policy counts; permission boundaries grant nothing alone and are not "
        "reported; ListSecrets on `*` is not reported because it has no resource-level permissions.",
        cloud.iam_wildcard_resource,
    ),
    Check(
        "IAM-NO-DENY-HIGH-PRIVILEGE", "No explicit Deny for high-privilege paths", "medium",
        "A store identity whose identity policies, groups and boundary hold no unconditional Deny of "
        "secretsmanager:GetSecretValue for each configured high-privilege prefix.",
        "An explicit Deny overrides any Allow added later by mistake; without it one broad statement opens admin "
        "credentials, unseal keys and store credentials to every namespace that uses the store.",
        "Add a Deny of secretsmanager:* on each high_privilege_prefixes path to every store identity's policy.",
        "SCPs and resource policies are not considered; a Deny with conditions does not count.",
        cloud.missing_deny_high_privilege,
    ),
    Check(
        "IAM-PRIVILEGE-ESCALATION", "IAM principal can grant itself more", "high",
        "A role or user whose policies allow an IAM change that widens its own access. Such changes write or "
        "attach a policy, set a policy version or a trust policy, create access keys or a login for another "
        "principal, add a group member, rewrite a secret's resource policy, or pass a role to new compute.",
        "Whoever controls the principal (a pod with its IRSA token, a leaked key) reaches what the change can "
        "grant, usually every secret of the account, without any policy saying so.",
        "Remove the IAM write actions from the principal, or scope them to resources it cannot use to raise its own "
        "access, and list the principal in trusted_principals if it is a break-glass administrator.",
        "The actions evaluated are those of the escalation catalogue in the IAM semantics; SCPs and boundaries are "
        "applied to the change itself, not to what it would grant afterwards. Trusted principals are not reported.",
        cloud.iam_privilege_escalation,
    ),
    Check(
        "IRSA-TRUST-UNPINNED", "Unpinned IRSA trust", "high",
        "A web-identity trust policy that does not test the token's sub, or tests it with a wildcard pattern.",
        "Every ServiceAccount the pattern admits can assume the role, so anyone who can create a pod or a token in any "
        "of those namespaces gets the role's reach.",
        "Test sub with StringEquals system:serviceaccount:<namespace>:<name> for the one ServiceAccount that needs it.",
        "Trust statements are read for every OIDC provider in the snapshot's accounts; the count of admitted "
        "ServiceAccounts covers the snapshot's clusters.",
        cloud.irsa_unpinned,
    ),
    Check(
        "IRSA-TRUST-NO-AUDIENCE", "IRSA trust without aud", "medium",
        "A web-identity trust policy that does not test the token's aud.",
        "A ServiceAccount token minted for another audience (a webhook, another cloud) can be replayed to assume "
        "the role.",
        "Add StringEquals <provider>:aud = sts.amazonaws.com to the trust statement.",
        "The OIDC provider's client ids still limit audiences at AWS; the check reads only the trust policy.",
        cloud.irsa_no_audience,
    ),
    Check(
        "K8S-ESO-EDIT-AGGREGATION", "ESO edit rights aggregated into edit and admin", "medium",
        "A ClusterRole that grants create on ExternalSecrets, SecretStores or PushSecrets and is aggregated into edit "
        "or admin, which are bound in namespaces a ClusterSecretStore admits.",
        "Everyone with edit or admin in those namespaces can pull any secret the store's identity reads, usually "
        "without anyone having decided so.",
        "Disable the chart's aggregation (rbac.aggregateToEdit and aggregateToAdmin set to false) and grant ESO rights "
        "explicitly, or restrict the ClusterSecretStores with conditions.",
        "Aggregation is computed from the ClusterRoles' labels, as from GitOps manifests.",
        kubernetes.edit_aggregation,
    ),
    Check(
        "K8S-ESO-CONTROLLER-CLUSTER-WIDE", "ESO controller RBAC cluster-wide", "high",
        "A ClusterRoleBinding that gives an ESO ServiceAccount rights on Secrets, or on serviceaccounts/token, in "
        "every namespace.",
        "Compromise of the controller pod or its token reaches every Secret of the cluster, kube-system included, "
        "and every store identity.",
        "Install ESO with scopedRBAC and scopedNamespace, or restrict the ClusterRole with RoleBindings per namespace.",
        "ESO ServiceAccounts are those in the namespace of the controller that blastradius recognises.",
        kubernetes.controller_cluster_wide,
    ),
    Check(
        "ESO-REFRESH-INTERVAL", "refreshInterval never or longer than rotation", "medium",
        "An ExternalSecret with refreshInterval 0 (or refreshPolicy CreatedOnce or OnChange), or an interval longer "
        "than its source's rotation period or a generated credential's lifetime.",
        "After a rotation, breach response included, the Kubernetes copy keeps the old value and applications fail "
        "or keep using a revoked credential.",
        "Set refreshInterval below the rotation period (or the generator's TTL), and force-sync after rotations.",
        "Rotation comes from Secrets Manager's rotation settings; Vault dynamic-secret TTLs are not in the snapshot.",
        sync.refresh_interval,
    ),
    Check(
        "ESO-SYNC-FAILING", "Failing sync", "high",
        "An ExternalSecret whose Ready condition is False.",
        "The Kubernetes Secret keeps its last value; after a rotation the application fails, at a time nothing "
        "predicts.",
        "Read the ExternalSecret's events (kubectl describe externalsecret), fix the store or IAM cause, then force-sync.",
        "Judged from the status in the snapshot; ExternalSecrets a ClusterExternalSecret would create have no status.",
        sync.sync_failing,
    ),
    Check(
        "ESO-SYNC-STALE", "Stale sync", "medium",
        "An ExternalSecret whose last successful sync is older than twice its refreshInterval at the time of the audit.",
        "The copy may be outdated even while Ready is True, and alerts on the Ready condition do not fire for it.",
        "Find why ESO stopped refreshing it (controller down, rate limits), then force-sync.",
        "Time is the snapshot's collected_at unless --now is given; ExternalSecrets that never refresh are left to "
        "ESO-REFRESH-INTERVAL.",
        sync.sync_stale,
    ),
    Check(
        "ESO-SYNC-ALERTS-MISSING", "Missing sync alerts", "medium",
        "A cluster with ExternalSecrets and no PrometheusRule alert on externalsecret_sync_calls_error and "
        "externalsecret_status_condition.",
        "Failed and stale syncs stay silent until an application fails with an outdated credential.",
        "Add PrometheusRule alerts on increase(externalsecret_sync_calls_error[15m]) > 0 and on "
        "externalsecret_status_condition{condition=\"Ready\",status=\"False\"} == 1.",
        "Alerts defined outside PrometheusRule objects (Grafana, another cluster) are not in the snapshot.",
        sync.sync_alerts_missing,
    ),
    Check(
        "K8S-SECRET-EDITS-UNBLOCKED", "No policy against direct Secret edits", "high",
        "A protected namespace where no ValidatingAdmissionPolicy or Kyverno policy covers Secret CREATE and UPDATE.",
        "Anyone with RBAC write access can replace a value ESO manages; the change is live until the next refresh "
        "and bypasses the cloud store's audit log.",
        "Add a ValidatingAdmissionPolicy with a Deny binding that lets only the ESO controller write Secrets there.",
        "Policies are matched by resource rules and namespace selectors; CEL match conditions are not evaluated.",
        kubernetes.secret_edits_unblocked,
    ),
    Check(
        "K8S-SECRET-EDITS-AUDIT-ONLY", "Direct Secret edits only audited", "low",
        "A protected namespace whose only policies on Secret CREATE and UPDATE report rather than block (Kyverno "
        "Audit mode, or a binding without Deny).",
        "Edits are recorded but still take effect.",
        "Switch the policy to Enforce (Kyverno) or add Deny to validationActions once existing Secrets are migrated.",
        "As for K8S-SECRET-EDITS-UNBLOCKED.",
        kubernetes.secret_edits_audit_only,
    ),
    Check(
        "K8S-SECRET-NOT-ESO-MANAGED", "Secret not managed by ESO", "medium",
        "A Secret in a protected namespace that no ExternalSecret owns or targets, other than a service-account token.",
        "Its value lives only in the cluster, outside the cloud store's rotation and audit log.",
        "Move the value into the cloud store and sync it with an ExternalSecret, then delete the Secret.",
        "ESO ownership is read from ownerReferences, the reconcile.external-secrets.io labels and ExternalSecret targets.",
        kubernetes.secrets_not_managed,
    ),
    Check(
        "K8S-LEGACY-SA-TOKEN", "Legacy ServiceAccount token", "medium",
        "A Secret of type kubernetes.io/service-account-token.",
        "The token never expires: whoever reads the Secret acts as the ServiceAccount until the Secret is deleted.",
        "Delete the Secret and use projected, short-lived tokens (TokenRequest).",
        "Reported in every namespace, with the RBAC bindings of the ServiceAccount.",
        kubernetes.legacy_token_secrets,
    ),
    Check(
        "ESO-DELETION-POLICY", "deletionPolicy other than Retain", "medium",
        "An ExternalSecret in a protected namespace whose target.deletionPolicy is Delete or Merge.",
        "When the remote secret is deleted or unreadable, ESO removes the Secret (or its keys) and new pods fail to start.",
        "Set target.deletionPolicy: Retain in protected namespaces.",
        "ExternalSecrets a ClusterExternalSecret creates are reported at the ClusterExternalSecret.",
        kubernetes.deletion_policy,
    ),
    Check(
        "K8S-ESO-DELETE-RIGHTS", "Delete rights on ExternalSecrets", "medium",
        "A subject the configuration does not trust that may delete ExternalSecrets in a protected namespace.",
        "Deleting an ExternalSecret with creationPolicy Owner deletes the Secret it owns: one command takes a "
        "production Secret away.",
        "Remove delete on externalsecrets from non-admin roles in protected namespaces, or list the admins in "
        "trusted_principals.",
        "The ESO controller's ServiceAccount is not reported; groups are reported as bound, their members are unknown.",
        kubernetes.delete_rights,
    ),
    Check(
        "SNAPSHOT-BUILD-WARNING", "Graph build warning", "info",
        "A warning of the graph build: objects that contradict each other, or an assumption the analysis made.",
        "Part of the estate may be analysed on an assumption or not at all.",
        "Read the warning and fix the object or give the missing input (for example --oidc-issuer).",
        "Warnings come from the graph builder, unchanged.",
        coverage.build_warnings,
    ),
    Check(
        "SNAPSHOT-COVERAGE-GAP", "Coverage gap", "info",
        "A part of the estate the collection or the analysis could not read.",
        "Findings and reachability there are unknown, not absent.",
        "Collect again with the missing permissions, or give the information the gap names.",
        "Gaps come from the snapshot and from the graph build.",
        coverage.coverage_gaps,
    ),
)

CHECK_BY_ID: dict[str, Check] = {check.id: check for check in CHECKS}
