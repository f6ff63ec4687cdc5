"""Audit checks on Kubernetes RBAC and admission around External Secrets."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Iterator

from blastradius.graph.index import LEGACY_TOKEN_TYPE, MALFORMED_OBJECT_ERRORS, ClusterIndex
from blastradius.queries.audit.context import AuditContext, Hit, binding_ref, object_ref, plural, subject_reference
from blastradius.semantics import eso, rbac

ESO_GROUP = "external-secrets.io"
ESO_CREATE_RESOURCES = ("externalsecrets", "secretstores", "pushsecrets")
AGGREGATE_LABELS = {
    "rbac.authorization.k8s.io/aggregate-to-edit": "edit",
    "rbac.authorization.k8s.io/aggregate-to-admin": "admin",
}
SECRET_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
# Labels and owner kinds by which ESO marks the Secrets it writes.
ESO_MANAGED_LABEL = "reconcile.external-secrets.io/managed"
ESO_CREATED_BY_LABEL = "reconcile.external-secrets.io/created-by"
ESO_OWNER_KINDS = ("ExternalSecret", "ClusterExternalSecret")
EDIT_OPERATIONS = ("CREATE", "UPDATE")


def _allowed_verbs(rule: rbac.PolicyRule, verbs: tuple[str, ...], group: str, resource: str, subresource: str = "") -> list[str]:
    return [verb for verb in verbs
            if rbac.rule_allows(rule, verb=verb, api_group=group, resource=resource, subresource=subresource)]


# --- controller RBAC ---------------------------------------------------------------------------------


def controller_cluster_wide(ctx: AuditContext) -> Iterator[Hit]:
    """Find ClusterRoleBindings that give ESO's ServiceAccounts rights on Secrets in every namespace."""
    for index in ctx.clusters:
        eso_namespaces = {controller.namespace for controller in eso.find_controllers(index.objects)}
        by_binding: dict[tuple[str, str], dict[str, Any]] = {}
        for grant in ctx.grants(index):
            subject = grant.subject
            if grant.binding_kind != "ClusterRoleBinding" or subject.kind != "ServiceAccount":
                continue
            if subject.namespace not in eso_namespaces:
                continue
            secret_verbs = _allowed_verbs(grant.rule.rule, SECRET_VERBS, "", "secrets")
            token = rbac.rule_allows(grant.rule.rule, verb="create", api_group="", resource="serviceaccounts",
                                     subresource="token")
            if not secret_verbs and not token:
                continue
            entry = by_binding.setdefault((grant.binding_name, grant.role_name), {
                "grant": grant, "verbs": set(), "token": False, "subjects": set()})
            entry["verbs"].update(secret_verbs)
            entry["token"] = entry["token"] or token
            entry["subjects"].add(subject_reference(subject))
        for (binding, role), entry in sorted(by_binding.items()):
            yield _controller_hit(ctx, index, binding, role, entry)


def _controller_hit(ctx: AuditContext, index: ClusterIndex, binding: str, role: str, entry: dict[str, Any]) -> Hit:
    verbs = [verb for verb in SECRET_VERBS if verb in entry["verbs"]]
    rights = []
    if verbs:
        rights.append(f"{', '.join(verbs)} on secrets")
    if entry["token"]:
        rights.append("create on serviceaccounts/token")
    subjects = ", ".join(sorted(entry["subjects"]))
    message = (f"ClusterRoleBinding {binding} gives {subjects} ClusterRole {role} in every namespace, kube-system "
               f"included: {'; '.join(rights)}; compromise of that ServiceAccount reaches every Secret of the cluster")
    role_ref = next((object_ref(obj) for obj in index.by_kind.get("ClusterRole", [])
                     if (obj.get("metadata") or {}).get("name") == role), None)
    objects = [binding_ref(ctx, index, entry["grant"])] + ([role_ref] if role_ref else [])
    return Hit(message, objects, {"binding": binding, "role": role, "secret_verbs": verbs,
                                  "serviceaccount_token": entry["token"], "subjects": sorted(entry["subjects"])})


# --- aggregation of ESO rights into edit and admin ----------------------------------------------------


def edit_aggregation(ctx: AuditContext) -> Iterator[Hit]:
    """Find ESO create rights aggregated into `edit`/`admin` and bound in namespaces a ClusterSecretStore admits."""
    for index in ctx.clusters:
        roles = {obj["metadata"]["name"]: obj for obj in index.by_kind.get("ClusterRole", []) if obj.get("metadata")}
        aggregated_into = _aggregated_into(roles)
        admitted = _admitting_stores(ctx, index)
        for name, role in sorted(roles.items()):
            targets = [target for label, target in AGGREGATE_LABELS.items()
                       if ((role["metadata"].get("labels") or {}).get(label) == "true") and target in aggregated_into.get(name, ())]
            resources = _eso_create_resources(role)
            if not targets or not resources:
                continue
            bindings = _bindings_of(ctx, index, targets, admitted)
            if not bindings:
                continue
            yield _aggregation_hit(ctx, index, role, targets, resources, bindings, admitted)


def _admitting_stores(ctx: AuditContext, index: ClusterIndex) -> dict[str, list[str]]:
    """Map every namespace of the cluster to the sorted names of the ClusterSecretStores that admit it."""
    admitted: dict[str, list[str]] = {namespace: [] for namespace in index.namespaces}
    for store in index.eso.get(eso.CLUSTER_SECRET_STORE, []):
        for namespace in set(ctx.admitted_namespaces(index, store)):
            if namespace in admitted:
                admitted[namespace].append(store["metadata"]["name"])
    return {namespace: sorted(names) for namespace, names in admitted.items()}


def _aggregated_into(roles: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """Map each ClusterRole to the aggregated ClusterRoles whose effective rules include its rules."""
    try:
        effective = rbac.effective_cluster_role_rules(list(roles.values()))
    except rbac.RbacError:
        return {}
    into: dict[str, set[str]] = {}
    for aggregate, rules in effective.items():
        for rule in rules:
            if rule.source_role != aggregate:
                into.setdefault(rule.source_role, set()).add(aggregate)
    return into


def _eso_create_resources(role: dict[str, Any]) -> list[str]:
    found = []
    for raw in role.get("rules") or []:
        try:
            rule = rbac.PolicyRule.from_dict(raw)
        except rbac.RbacError:
            continue
        found += [resource for resource in ESO_CREATE_RESOURCES
                  if rbac.rule_allows(rule, verb="create", api_group=ESO_GROUP, resource=resource) and resource not in found]
    return found


def _bindings_of(ctx: AuditContext, index: ClusterIndex, roles: list[str], admitted: dict[str, list[str]]) -> list[tuple[rbac.Grant, list[str]]]:
    """Return one grant per binding of the ClusterRoles `roles`, with the admitted namespaces it covers."""
    seen: dict[tuple[str, str | None, str], tuple[rbac.Grant, list[str]]] = {}
    for grant in ctx.grants(index):
        if grant.role_kind != "ClusterRole" or grant.role_name not in roles:
            continue
        namespaces = [grant.scope] if grant.scope else sorted(index.namespaces)
        covered = [namespace for namespace in namespaces if admitted.get(namespace)]
        if covered:
            seen.setdefault((grant.binding_kind, grant.binding_namespace, grant.binding_name), (grant, covered))
    return [seen[key] for key in sorted(seen, key=lambda key: (key[0], key[1] or "", key[2]))]


def _aggregation_hit(ctx: AuditContext, index: ClusterIndex, role: dict[str, Any], targets: list[str], resources: list[str],
                     bindings: list[tuple[rbac.Grant, list[str]]], admitted: dict[str, list[str]]) -> Hit:
    binding_names = [f"{grant.binding_kind} {grant.binding_namespace + '/' if grant.binding_namespace else ''}{grant.binding_name}"
                     for grant, _ in bindings]
    namespaces = sorted({namespace for _, covered in bindings for namespace in covered})
    stores = sorted({store for namespace in namespaces for store in admitted[namespace]})
    admitting = (f"ClusterSecretStore {stores[0]} admits" if len(stores) == 1
                 else f"ClusterSecretStores {', '.join(stores)} admit")
    message = (f"ClusterRole {role['metadata']['name']} (create on {', '.join(resources)}) is aggregated into "
               f"{' and '.join(targets)}, so {plural(len(bindings), 'binding')} of those roles "
               f"({', '.join(binding_names)}) let their subjects create ExternalSecrets in {', '.join(namespaces)}, "
               f"which {admitting}")
    objects = [object_ref(role)] + [binding_ref(ctx, index, grant) for grant, _ in bindings]
    return Hit(message, objects, {"aggregated_into": targets, "resources": resources, "bindings": binding_names,
                                  "namespaces": namespaces, "stores": stores})


# --- admission policies against direct Secret edits --------------------------------------------------


@dataclass(frozen=True)
class SecretEditGuard:
    """An admission policy covering Secret CREATE and UPDATE in a namespace, with whether it blocks them."""

    obj: dict[str, Any]
    enforced: bool


def _namespace_labels(index: ClusterIndex, namespace: str) -> dict[str, str]:
    return {**index.namespaces.get(namespace, {}), "kubernetes.io/metadata.name": namespace}


def _selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """Tell whether a namespace selector (missing: every namespace) matches. Raises LabelSelectorError when invalid."""
    return rbac.label_selector_matches(selector or {}, labels)


def _vap_guards(ctx: AuditContext, index: ClusterIndex, namespace: str) -> Iterator[SecretEditGuard]:
    policies = {obj["metadata"]["name"]: obj for obj in index.by_kind.get("ValidatingAdmissionPolicy", []) if obj.get("metadata")}
    labels = _namespace_labels(index, namespace)
    for binding in index.by_kind.get("ValidatingAdmissionPolicyBinding", []):
        spec = binding.get("spec") or {}
        policy = policies.get(spec.get("policyName"))
        if policy is None:
            continue
        try:
            policy_covers = _vap_policy_covers(policy, labels)
        except MALFORMED_OBJECT_ERRORS as error:
            ctx.skip_malformed(index, policy, error)
            continue
        try:
            binding_covers = _selector_matches((spec.get("matchResources") or {}).get("namespaceSelector"), labels)
        except MALFORMED_OBJECT_ERRORS as error:
            ctx.skip_malformed(index, binding, error)
            continue
        if policy_covers and binding_covers:
            yield SecretEditGuard(policy, "Deny" in (spec.get("validationActions") or []))


def _vap_policy_covers(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    """Tell whether a policy's matchConstraints select Secret CREATE and UPDATE in a namespace with these labels."""
    constraints = (policy.get("spec") or {}).get("matchConstraints") or {}
    return (_vap_rules_cover(constraints.get("resourceRules") or [])
            and _selector_matches(constraints.get("namespaceSelector"), labels))


def _vap_rules_cover(rules: list[Any]) -> bool:
    operations: set[str] = set()
    for rule in rules:
        if not isinstance(rule, dict):
            continue
        groups, resources = rule.get("apiGroups") or [], rule.get("resources") or []
        if ("" in groups or "*" in groups) and ("secrets" in resources or "*" in resources):
            operations.update(rule.get("operations") or [])
    return "*" in operations or all(operation in operations for operation in EDIT_OPERATIONS)


def _kyverno_guards(ctx: AuditContext, index: ClusterIndex, namespace: str) -> Iterator[SecretEditGuard]:
    policies = [policy for policy in index.by_kind.get("ClusterPolicy", []) + index.by_kind.get("Policy", [])
                if str(policy.get("apiVersion", "")).startswith("kyverno.io/")]
    labels = _namespace_labels(index, namespace)
    for policy in policies:
        if policy["kind"] == "Policy" and (policy.get("metadata") or {}).get("namespace") != namespace:
            continue
        spec = policy.get("spec") or {}
        for rule in spec.get("rules") or []:
            if not isinstance(rule, dict) or "validate" not in rule:
                continue
            try:
                covers = _kyverno_rule_covers(rule, namespace, labels)
            except MALFORMED_OBJECT_ERRORS as error:
                ctx.skip_malformed(index, policy, error)
                continue
            if not covers:
                continue
            action = (rule.get("validate") or {}).get("failureAction") or spec.get("validationFailureAction") or "Audit"
            yield SecretEditGuard(policy, str(action).lower() == "enforce")


def _kyverno_filters(block: Any) -> list[dict[str, Any]]:
    if not isinstance(block, dict):
        return []
    filters = list(block.get("any") or []) + list(block.get("all") or [])
    if block.get("resources"):
        filters.append({"resources": block["resources"]})
    return [entry for entry in filters if isinstance(entry, dict)]


def _kyverno_resources_match(resources: dict[str, Any], namespace: str, labels: dict[str, str], *, for_kind: bool) -> bool:
    kinds = resources.get("kinds")
    if for_kind and not any(kind in ("Secret", "v1/Secret", "*") for kind in kinds or []):
        return False
    if not for_kind and kinds and not any(kind in ("Secret", "v1/Secret", "*") for kind in kinds):
        return False
    operations = resources.get("operations")
    if for_kind and operations and not all(operation in operations for operation in EDIT_OPERATIONS):
        return False
    namespaces = resources.get("namespaces")
    if namespaces and not any(fnmatch.fnmatchcase(namespace, pattern) for pattern in namespaces):
        return False
    selector = resources.get("namespaceSelector")
    return selector is None or _selector_matches(selector, labels)


def _kyverno_rule_covers(rule: dict[str, Any], namespace: str, labels: dict[str, str]) -> bool:
    """Tell whether a Kyverno rule matches Secret CREATE and UPDATE in the namespace and does not exclude it."""
    matched = any(_kyverno_resources_match(entry.get("resources") or {}, namespace, labels, for_kind=True)
                  for entry in _kyverno_filters(rule.get("match")))
    if not matched:
        return False
    for entry in _kyverno_filters(rule.get("exclude")):
        resources = entry.get("resources")
        if resources and not entry.get("subjects") and _kyverno_resources_match(resources, namespace, labels, for_kind=False):
            return False
    return True


def _edit_guards(ctx: AuditContext, index: ClusterIndex, namespace: str) -> list[SecretEditGuard]:
    return [*_vap_guards(ctx, index, namespace), *_kyverno_guards(ctx, index, namespace)]


def secret_edits_unblocked(ctx: AuditContext) -> Iterator[Hit]:
    """Find protected namespaces where no admission policy covers direct Secret CREATE and UPDATE."""
    for index in ctx.clusters:
        for namespace, why in ctx.protected_namespaces(index).items():
            if _edit_guards(ctx, index, namespace):
                continue
            message = (f"namespace {namespace} ({why}) has no ValidatingAdmissionPolicy with a Deny binding and no Kyverno "
                       f"policy covering Secret CREATE and UPDATE, so anyone with RBAC write access can replace the "
                       f"values ESO syncs there until the next refresh")
            yield Hit(message, [_namespace_ref(index, namespace)], {"namespace": namespace, "protected_because": why})


def secret_edits_audit_only(ctx: AuditContext) -> Iterator[Hit]:
    """Find protected namespaces where Secret edits are only reported (Kyverno Audit mode, or a binding without Deny)."""
    for index in ctx.clusters:
        for namespace, why in ctx.protected_namespaces(index).items():
            guards = _edit_guards(ctx, index, namespace)
            if not guards or any(guard.enforced for guard in guards):
                continue
            names = ", ".join(f"{guard.obj['kind']} {guard.obj['metadata']['name']}" for guard in guards)
            message = (f"namespace {namespace} ({why}): direct Secret edits are only reported, not blocked, by {names}")
            objects = [_namespace_ref(index, namespace)] + [object_ref(guard.obj) for guard in guards]
            yield Hit(message, objects, {"namespace": namespace, "policies": names})


def _namespace_ref(index: ClusterIndex, namespace: str) -> dict[str, Any]:
    for obj in index.by_kind.get("Namespace", []):
        if (obj.get("metadata") or {}).get("name") == namespace:
            return object_ref(obj)
    return {"kind": "Namespace", "namespace": None, "name": namespace, "file": None, "line": None}


# --- Secrets and ExternalSecrets in protected namespaces ----------------------------------------------


def _eso_managed(secret: dict[str, Any], targets: set[tuple[str, str]]) -> bool:
    metadata = secret.get("metadata") or {}
    labels = metadata.get("labels") or {}
    if labels.get(ESO_MANAGED_LABEL) == "true" or labels.get(ESO_CREATED_BY_LABEL):
        return True
    if any((owner or {}).get("kind") in ESO_OWNER_KINDS for owner in metadata.get("ownerReferences") or []):
        return True
    return (metadata.get("namespace"), metadata.get("name")) in targets


def secrets_not_managed(ctx: AuditContext) -> Iterator[Hit]:
    """Find Secrets in protected namespaces that no ExternalSecret writes (service-account tokens excepted)."""
    for index in ctx.clusters:
        protected = ctx.protected_namespaces(index)
        targets = set()
        for es, _ in ctx.external_secrets(index):
            try:
                target = eso.external_secret_target(es)
            except (eso.EsoError, ValueError):
                continue
            targets.add((target.namespace, target.name))
        for (namespace, name), secret in sorted(index.secrets.items()):
            if namespace not in protected or secret.get("type") == LEGACY_TOKEN_TYPE:
                continue
            if _eso_managed(secret, targets):
                continue
            message = (f"Secret {namespace}/{name} in namespace {namespace} ({protected[namespace]}) is not managed by "
                       f"ESO: no ExternalSecret owns or targets it, so its value bypasses the cloud store and its audit log")
            yield Hit(message, [object_ref(secret)], {"namespace": namespace, "name": name})


def legacy_token_secrets(ctx: AuditContext) -> Iterator[Hit]:
    """Find long-lived `kubernetes.io/service-account-token` Secrets, with the rights of their ServiceAccount."""
    for index in ctx.clusters:
        for (namespace, name), secret in sorted(index.secrets.items()):
            if secret.get("type") != LEGACY_TOKEN_TYPE:
                continue
            subject = rbac.legacy_token_serviceaccount(secret)
            if subject is None:
                continue
            grants = ctx.serviceaccount_grants(index, subject.namespace or namespace, subject.name)
            bindings = sorted({f"{grant.role_kind} {grant.role_name} "
                               f"{'in ' + grant.scope if grant.scope else 'cluster-wide'} "
                               f"({grant.binding_kind} {grant.binding_namespace + '/' if grant.binding_namespace else ''}"
                               f"{grant.binding_name})" for grant in grants})
            rights = f"it is bound to {'; '.join(bindings)}" if bindings else "it has no RBAC bindings"
            message = (f"Secret {namespace}/{name} contains a long-lived token of ServiceAccount "
                       f"{subject.namespace}/{subject.name} that never expires; whoever reads it acts as that "
                       f"ServiceAccount, and {rights}")
            yield Hit(message, [object_ref(secret)], {"serviceaccount": f"{subject.namespace}/{subject.name}",
                                                      "bindings": bindings})


def deletion_policy(ctx: AuditContext) -> Iterator[Hit]:
    """Find ExternalSecrets in protected namespaces whose deletionPolicy is not Retain."""
    for index in ctx.clusters:
        protected = ctx.protected_namespaces(index)
        for es, owner in ctx.external_secrets(index):
            try:
                target = eso.external_secret_target(es)
            except (eso.EsoError, ValueError):
                continue
            if target.namespace not in protected or target.deletion_policy == "Retain":
                continue
            message = (f"ExternalSecret {target.namespace}/{es['metadata']['name']} in {target.namespace} "
                       f"({protected[target.namespace]}) has deletionPolicy {target.deletion_policy}: ESO may delete "
                       f"Secret {target.name} when the source disappears or cannot be read")
            yield Hit(message, [object_ref(owner or es)], {"deletion_policy": target.deletion_policy,
                                                           "namespace": target.namespace})


def delete_rights(ctx: AuditContext) -> Iterator[Hit]:
    """Find subjects the configuration does not trust that may delete ExternalSecrets in protected namespaces."""
    for index in ctx.clusters:
        protected = ctx.protected_namespaces(index)
        controllers = {rbac.serviceaccount_username(controller.namespace, controller.service_account)
                       for controller in eso.find_controllers(index.objects)}
        holders: dict[tuple[str, str], list[rbac.Grant]] = {}
        for grant in ctx.grants(index):
            if not _allowed_verbs(grant.rule.rule, ("delete", "deletecollection"), ESO_GROUP, "externalsecrets"):
                continue
            reference = subject_reference(grant.subject)
            if ctx.config.is_trusted(reference) or reference in controllers:
                continue
            for namespace in [grant.scope] if grant.scope else list(protected):
                if namespace in protected:
                    holders.setdefault((namespace, reference), []).append(grant)
        for (namespace, reference), grants in sorted(holders.items()):
            roles = sorted({f"{grant.role_kind} {grant.role_name}" for grant in grants})
            message = (f"{reference} may delete ExternalSecrets in {namespace} ({protected[namespace]}) through "
                       f"{', '.join(roles)}; with creationPolicy Owner, deleting one deletes the Secret it owns")
            objects = []
            for grant in grants:
                ref = binding_ref(ctx, index, grant)
                if ref not in objects:
                    objects.append(ref)
            yield Hit(message, objects, {"subject": reference, "namespace": namespace, "roles": roles})
