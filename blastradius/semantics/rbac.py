"""Kubernetes RBAC as kube-apiserver's RBAC authorizer evaluates it, over snapshot objects.

Rule matching, ClusterRole aggregation, binding resolution, and the catalogue of capabilities that
matter for secrets. Matching follows the authorizer's helpers in kubernetes/kubernetes
(`pkg/apis/rbac/v1/evaluation_helpers.go`), the walk over bindings follows
`pkg/registry/rbac/validation/rule.go`, and aggregation follows the ClusterRole aggregation
controller. Objects are plain dicts in the snapshot's shape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

logger = logging.getLogger(__name__)

RBAC_API_GROUP = "rbac.authorization.k8s.io"
WILDCARD = "*"

SERVICE_ACCOUNT_TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
SERVICE_ACCOUNT_NAME_ANNOTATION = "kubernetes.io/service-account.name"

_SUBJECT_KINDS = ("User", "Group", "ServiceAccount")
_RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
_INERT = "the binding grants nothing until that role exists"
_RULE_FIELDS = (
    ("verbs", "verbs"),
    ("api_groups", "apiGroups"),
    ("resources", "resources"),
    ("resource_names", "resourceNames"),
    ("non_resource_urls", "nonResourceURLs"),
)
_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class RbacError(ValueError):
    """An RBAC object or rule that the API server would reject. The message names the object and field."""


class LabelSelectorError(ValueError):
    """A label selector that Kubernetes would reject; the message names the field and the fault."""


# --- Rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyRule:
    """One RBAC rule. An empty tuple is an absent field, and `*` entries are wildcards."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, *, path: str = "rule") -> PolicyRule:
        """Parse a rule in the API's shape (`verbs`, `apiGroups`, ...) and validate it as the API server does.

        Raises RbacError naming the field (`rules[2].verbs: ...`, with `path` as the prefix) when a
        field is not a list of strings, `verbs` is empty, a rule mixes resources with non-resource
        URLs, or a resource rule has no `apiGroups` or no `resources`.
        """
        if not isinstance(data, Mapping):
            raise RbacError(f"{path}: expected a mapping with verbs, apiGroups and resources, got {data!r}")
        values = {attribute: _string_tuple(data.get(key), f"{path}.{key}") for attribute, key in _RULE_FIELDS}
        rule = cls(**values)
        _validate_rule(rule, path)
        return rule


def _string_tuple(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise RbacError(f"{path}: expected a list of strings, got {value!r}")
    return tuple(value)


def _validate_rule(rule: PolicyRule, path: str) -> None:
    if not rule.verbs:
        raise RbacError(f"{path}.verbs: a rule needs at least one verb")
    if rule.non_resource_urls:
        if rule.api_groups or rule.resources or rule.resource_names:
            raise RbacError(
                f"{path}.nonResourceURLs: a rule cannot apply to both resources and non-resource URLs; "
                "split it into two rules"
            )
        return
    if not rule.api_groups:
        raise RbacError(f'{path}.apiGroups: a resource rule needs at least one API group ("" is the core group)')
    if not rule.resources:
        raise RbacError(f"{path}.resources: a rule needs resources or nonResourceURLs")


def rule_allows(
    rule: PolicyRule,
    *,
    verb: str,
    api_group: str,
    resource: str,
    subresource: str = "",
    name: str | None = None,
) -> bool:
    """Return whether one rule allows one resource request, as the RBAC authorizer decides it.

    `name` is the object name the request carries, None for a request without one (list, watch,
    create, deletecollection). A rule with resourceNames allows only requests that name one of
    them, so never a nameless request, unless it lists the empty name "": the authorizer compares
    a nameless request's name "" like any other.
    """
    requested_resource = f"{resource}/{subresource}" if subresource else resource
    return (
        _verb_matches(rule.verbs, verb)
        and _api_group_matches(rule.api_groups, api_group)
        and _resource_matches(rule.resources, requested_resource, subresource)
        and _resource_name_matches(rule.resource_names, name or "")
    )


def rule_allows_url(rule: PolicyRule, *, verb: str, path: str) -> bool:
    """Return whether one rule allows a non-resource request such as `get /healthz`.

    A rule URL matches exactly, or as a prefix when it ends in `*` (`/logs/*`, and `*` alone).
    """
    return _verb_matches(rule.verbs, verb) and any(_url_matches(rule_url, path) for rule_url in rule.non_resource_urls)


def _verb_matches(rule_verbs: tuple[str, ...], verb: str) -> bool:
    return WILDCARD in rule_verbs or verb in rule_verbs


def _api_group_matches(rule_groups: tuple[str, ...], api_group: str) -> bool:
    return WILDCARD in rule_groups or api_group in rule_groups


def _resource_matches(rule_resources: tuple[str, ...], requested_resource: str, subresource: str) -> bool:
    # `*` matches every resource and subresource; `*/scale` matches the scale subresource of any
    # resource; anything else, `pods/*` included, matches only the identical string.
    for rule_resource in rule_resources:
        if rule_resource in (WILDCARD, requested_resource):
            return True
        if subresource and rule_resource == f"*/{subresource}":
            return True
    return False


def _resource_name_matches(rule_names: tuple[str, ...], name: str) -> bool:
    return not rule_names or name in rule_names


def _url_matches(rule_url: str, path: str) -> bool:
    if rule_url in (WILDCARD, path):
        return True
    return rule_url.endswith("*") and path.startswith(rule_url.rstrip("*"))


# --- Label selectors --------------------------------------------------------------------------


def label_selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Return whether labels satisfy a Kubernetes label selector.

    `matchLabels` and every `matchExpressions` entry must all hold. As in Kubernetes, an empty
    selector `{}` matches every object and a missing selector (None) matches none. Raises
    LabelSelectorError for an operator other than In, NotIn, Exists and DoesNotExist, for In or
    NotIn without values, for Exists or DoesNotExist with values, and for a selector, matchLabels or
    matchExpressions of the wrong type.
    """
    if selector is None:
        return False
    if not isinstance(selector, Mapping):
        raise LabelSelectorError(f"expected a label selector mapping, got {selector!r}")
    labels = labels or {}
    raw_expressions = selector.get("matchExpressions") or []
    if not isinstance(raw_expressions, list):
        raise LabelSelectorError(f"matchExpressions: expected a list, got {raw_expressions!r}")
    expressions = [_parse_expression(expression, index) for index, expression in enumerate(raw_expressions)]

    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise LabelSelectorError(f"matchLabels: expected a mapping of label keys to values, got {match_labels!r}")
    if any(key not in labels or labels[key] != value for key, value in match_labels.items()):
        return False
    return all(_expression_matches(key, operator, values, labels) for key, operator, values in expressions)


def _parse_expression(expression: Any, index: int) -> tuple[str, str, tuple[str, ...]]:
    path = f"matchExpressions[{index}]"
    if not isinstance(expression, Mapping) or not isinstance(expression.get("key"), str):
        raise LabelSelectorError(f"{path}: expected a mapping with key, operator and values, got {expression!r}")
    operator = expression.get("operator")
    values = tuple(expression.get("values") or ())
    if operator not in _SELECTOR_OPERATORS:
        raise LabelSelectorError(f"{path}.operator: {operator!r} is not one of {', '.join(_SELECTOR_OPERATORS)}")
    if operator in ("In", "NotIn") and not values:
        raise LabelSelectorError(f"{path}.values: operator {operator} needs at least one value")
    if operator in ("Exists", "DoesNotExist") and values:
        raise LabelSelectorError(f"{path}.values: operator {operator} takes no values")
    return expression["key"], operator, values


def _expression_matches(key: str, operator: str, values: tuple[str, ...], labels: Mapping[str, str]) -> bool:
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    return key not in labels


# --- Roles and aggregation --------------------------------------------------------------------


@dataclass(frozen=True)
class AggregatedRule:
    """A rule with the role it is written in and its index in that role's `rules`: a grant's evidence.

    For a Role, or a ClusterRole without aggregation, the source is the role itself. For an
    aggregated ClusterRole it is the ClusterRole whose own rules hold the rule: `admin` receives
    the rules of `system:aggregate-to-view` through `edit` and `view`, with that role as source.
    """

    rule: PolicyRule
    source_role: str
    index: int
    source_kind: str = "ClusterRole"


def effective_cluster_role_rules(cluster_roles: list[dict[str, Any]]) -> dict[str, tuple[AggregatedRule, ...]]:
    """Compute each ClusterRole's rules by name, aggregation included.

    An aggregated ClusterRole receives the rules of every other ClusterRole whose labels match one
    of its `aggregationRule.clusterRoleSelectors`, through chains (`admin` gets `edit`'s, which
    gets `view`'s) and cycles, until nothing changes. Its own `rules` are added too. In a live
    snapshot the aggregation controller has already written the union there, so the result is
    the same. In manifests the controller would replace them, so keeping them can only add rights
    that the role would lose once applied. Raises RbacError naming the ClusterRole for a
    malformed rule or selector.
    """
    roles = {_object_name(role): role for role in cluster_roles}
    own_rules = {name: _own_rules(role) for name, role in roles.items()}
    selectors = {
        name: _aggregation_selectors(role) for name, role in roles.items() if role.get("aggregationRule") is not None
    }
    members = {name: _aggregated_members(name, role_selectors, roles) for name, role_selectors in selectors.items()}
    effective = dict(own_rules)

    # Rule sets only grow, and each round carries every rule at least one step along each chain of
    # aggregation, so they reach the fixpoint within one round per role. The bound also stops the
    # sources kept as evidence from alternating inside a cycle of aggregation.
    for _ in range(len(roles) + 1):
        changed = False
        for name in sorted(members):
            collected = [rule for member in members[name] for rule in effective[member]] + list(own_rules[name])
            merged = _deduplicate(collected)
            changed = changed or merged != effective[name]
            effective[name] = merged
        if not changed:
            break
    return effective


def _aggregated_members(
    name: str, selectors: list[Mapping[str, Any]], roles: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    # Like the controller: selector by selector, matching roles sorted by name, never the role itself.
    members: list[str] = []
    for selector in selectors:
        for other in sorted(roles):
            if other != name and other not in members and label_selector_matches(selector, _labels(roles[other])):
                members.append(other)
    return members


def _deduplicate(rules: Iterable[AggregatedRule]) -> tuple[AggregatedRule, ...]:
    seen: set[PolicyRule] = set()
    unique = []
    for rule in rules:
        if rule.rule not in seen:
            seen.add(rule.rule)
            unique.append(rule)
    return tuple(unique)


def _own_rules(role: Mapping[str, Any]) -> tuple[AggregatedRule, ...]:
    kind = role.get("kind", "ClusterRole")
    raw_rules = role.get("rules") or []
    if not isinstance(raw_rules, list):
        raise RbacError(f"{describe_object(role)}: rules: expected a list, got {raw_rules!r}")
    parsed = []
    for index, raw_rule in enumerate(raw_rules):
        try:
            rule = PolicyRule.from_dict(raw_rule, path=f"rules[{index}]")
        except RbacError as error:
            raise RbacError(f"{describe_object(role)}: {error}") from None
        if kind == "Role" and rule.non_resource_urls:
            raise RbacError(
                f"{describe_object(role)}: rules[{index}].nonResourceURLs: a Role cannot grant non-resource URLs"
            )
        parsed.append(AggregatedRule(rule, _object_name(role), index, kind))
    return tuple(parsed)


def _aggregation_selectors(role: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    aggregation_rule = role.get("aggregationRule")
    selectors = aggregation_rule.get("clusterRoleSelectors") if isinstance(aggregation_rule, Mapping) else None
    if not isinstance(selectors, list) or not selectors:
        raise RbacError(
            f"{describe_object(role)}: aggregationRule.clusterRoleSelectors: "
            "an aggregation rule needs at least one selector"
        )
    for index, selector in enumerate(selectors):
        if not isinstance(selector, Mapping):
            raise RbacError(
                f"{describe_object(role)}: aggregationRule.clusterRoleSelectors[{index}]: "
                f"expected a label selector, got {selector!r}"
            )
        try:
            label_selector_matches(selector, {})
        except LabelSelectorError as error:
            raise RbacError(f"{describe_object(role)}: aggregationRule.clusterRoleSelectors[{index}].{error}") from None
    return selectors


# --- Subjects ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """A binding subject of kind `User`, `Group` or `ServiceAccount`. Only a ServiceAccount has a namespace."""

    kind: str
    name: str
    namespace: str | None = None


def serviceaccount_username(namespace: str, name: str) -> str:
    """Return the user name a ServiceAccount authenticates as: `system:serviceaccount:<ns>:<name>`."""
    return f"system:serviceaccount:{namespace}:{name}"


def serviceaccount_groups(namespace: str) -> tuple[str, ...]:
    """Return the groups every ServiceAccount of a namespace belongs to."""
    return ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated")


def serviceaccount_identities(namespace: str, name: str) -> tuple[Subject, ...]:
    """Return every binding subject that applies to a ServiceAccount.

    That is the ServiceAccount itself, the User named by its user name (the authorizer compares a
    User subject with the request's user name), and a Group for each of its groups.
    """
    groups = tuple(Subject("Group", group) for group in serviceaccount_groups(namespace))
    itself = Subject("ServiceAccount", name, namespace)
    return (itself, Subject("User", serviceaccount_username(namespace, name))) + groups


def binding_subjects(binding: Mapping[str, Any]) -> list[Subject]:
    """Return every subject of a RoleBinding or ClusterRoleBinding that can match a request.

    Every subject counts, whatever its kind and position. A ServiceAccount subject without a
    namespace takes the RoleBinding's namespace; in a ClusterRoleBinding there is none to take, so
    it matches no one and is left out, as are subjects of unknown kinds (resolve_grants warns about
    both).
    """
    subjects, _ = _read_subjects(binding)
    return subjects


def _read_subjects(binding: Mapping[str, Any]) -> tuple[list[Subject], list[str]]:
    binding_namespace = _object_namespace(binding) if binding.get("kind") == "RoleBinding" else None
    subjects: list[Subject] = []
    faults: list[str] = []
    for index, entry in enumerate(binding.get("subjects") or []):
        path = f"subjects[{index}]"
        if not isinstance(entry, Mapping) or not entry.get("name"):
            faults.append(f"{path}: expected a subject with kind and name, got {entry!r}; it is ignored")
            continue
        wrong_type = next((field for field in ("name", "namespace")
                           if entry.get(field) is not None and not isinstance(entry[field], str)), None)
        if wrong_type is not None:
            faults.append(f"{path}.{wrong_type}: expected a string, got {entry[wrong_type]!r}; the subject is ignored")
            continue
        kind, name = entry.get("kind"), entry["name"]
        if kind in ("User", "Group"):
            subjects.append(Subject(kind, name))
        elif kind == "ServiceAccount":
            namespace = entry.get("namespace") or binding_namespace
            if namespace:
                subjects.append(Subject(kind, name, namespace))
            else:
                faults.append(f"{path}: ServiceAccount {name} has no namespace, so it matches no one")
        else:
            faults.append(f"{path}.kind: {kind!r} is not one of {', '.join(_SUBJECT_KINDS)}; the subject is ignored")
    return subjects, faults


def legacy_token_serviceaccount(secret: Mapping[str, Any]) -> Subject | None:
    """Return the ServiceAccount whose long-lived token a Secret holds, or None for other Secrets.

    A Secret of type `kubernetes.io/service-account-token` names its ServiceAccount in the
    `kubernetes.io/service-account.name` annotation. A reader of the Secret can act as that ServiceAccount.
    """
    if secret.get("type") != SERVICE_ACCOUNT_TOKEN_SECRET_TYPE:
        return None
    metadata = secret.get("metadata") or {}
    name = (metadata.get("annotations") or {}).get(SERVICE_ACCOUNT_NAME_ANNOTATION)
    namespace = metadata.get("namespace")
    if not name or not namespace:
        return None
    return Subject("ServiceAccount", name, namespace)


# --- Grants -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """One rule that one binding gives one subject, and the namespace it applies in (None: cluster-wide)."""

    subject: Subject
    binding_kind: str
    binding_namespace: str | None
    binding_name: str
    role_kind: str
    role_name: str
    rule: AggregatedRule
    scope: str | None

    @property
    def evidence(self) -> str:
        """The binding, role and rule behind this grant, as one phrase for edge reasons."""
        binding = _qualified(self.binding_kind, self.binding_namespace, self.binding_name)
        role_namespace = self.binding_namespace if self.role_kind == "Role" else None
        role = _qualified(self.role_kind, role_namespace, self.role_name)
        text = f"{binding} binds {role}, rules[{self.rule.index}]"
        if (self.rule.source_kind, self.rule.source_role) != (self.role_kind, self.role_name):
            text += f" of {self.rule.source_kind} {self.rule.source_role} (aggregated)"
        return text


def resolve_grants(objects: Iterable[Mapping[str, Any]]) -> tuple[list[Grant], list[str]]:
    """Resolve the RBAC objects among a cluster's objects into one Grant per subject and rule.

    Follows each binding's `roleRef.kind`: a Role is looked up in the binding's own namespace, a
    ClusterRole by name, never one in place of the other. A RoleBinding's grants apply in its
    namespace, even for a ClusterRole, and a ClusterRoleBinding's apply cluster-wide. Returns the
    grants and warnings. Each warning names the object and the fault. The faults are a role that
    the API server would reject (it grants nothing), a binding to a missing role or with an
    unknown roleRef kind, a subject that matches no one, and an object listed twice.
    """
    warnings: list[str] = []
    by_kind = _rbac_objects_by_kind(objects, warnings)

    cluster_roles = [role for role in by_kind["ClusterRole"] if _is_valid_cluster_role(role, warnings)]
    cluster_role_rules = effective_cluster_role_rules(cluster_roles)
    role_rules = _role_rules(by_kind["Role"], warnings)

    grants: list[Grant] = []
    for binding in by_kind["ClusterRoleBinding"] + by_kind["RoleBinding"]:
        grants.extend(_binding_grants(binding, cluster_role_rules, role_rules, warnings))
    logger.debug("resolved %d RBAC grants with %d warnings", len(grants), len(warnings))
    return grants, warnings


def grants_for_serviceaccount(grants: Iterable[Grant], namespace: str, name: str) -> list[Grant]:
    """Return the grants that apply to a ServiceAccount directly, by its user name, or through its groups."""
    identities = set(serviceaccount_identities(namespace, name))
    return [grant for grant in grants if grant.subject in identities]


def _rbac_objects_by_kind(
    objects: Iterable[Mapping[str, Any]], warnings: list[str]
) -> dict[str, list[Mapping[str, Any]]]:
    # Objects of another API group may reuse the kind names (a CRD called Role), so the group decides.
    latest: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for obj in objects:
        if _api_group(obj) != RBAC_API_GROUP or obj.get("kind") not in _RBAC_KINDS:
            continue
        key = (obj["kind"], _object_namespace(obj) or "", _object_name(obj))
        if key in latest:
            warnings.append(f"{describe_object(obj)}: listed more than once; the last copy is used")
        latest[key] = obj

    by_kind: dict[str, list[Mapping[str, Any]]] = {kind: [] for kind in _RBAC_KINDS}
    for (kind, _, _), obj in latest.items():
        by_kind[kind].append(obj)
    return by_kind


def _is_valid_cluster_role(role: Mapping[str, Any], warnings: list[str]) -> bool:
    try:
        _own_rules(role)
        if role.get("aggregationRule") is not None:
            _aggregation_selectors(role)
    except RbacError as error:
        warnings.append(f"{error}; the API server would reject this ClusterRole, so it grants nothing")
        return False
    return True


def _role_rules(
    roles: list[Mapping[str, Any]], warnings: list[str]
) -> dict[tuple[str, str], tuple[AggregatedRule, ...]]:
    rules_by_role: dict[tuple[str, str], tuple[AggregatedRule, ...]] = {}
    for role in roles:
        namespace = _object_namespace(role)
        if not namespace:
            warnings.append(f"{describe_object(role)}: metadata.namespace is missing, so no binding can reference it")
            continue
        try:
            rules_by_role[(namespace, _object_name(role))] = _own_rules(role)
        except RbacError as error:
            warnings.append(f"{error}; the API server would reject this Role, so it grants nothing")
    return rules_by_role


def _binding_grants(
    binding: Mapping[str, Any],
    cluster_role_rules: Mapping[str, tuple[AggregatedRule, ...]],
    role_rules: Mapping[tuple[str, str], tuple[AggregatedRule, ...]],
    warnings: list[str],
) -> list[Grant]:
    kind = binding["kind"]
    namespace = _object_namespace(binding) if kind == "RoleBinding" else None
    if kind == "RoleBinding" and not namespace:
        warnings.append(
            f"{describe_object(binding)}: metadata.namespace is missing, so the scope of its grants is unknown"
        )
        return []

    role_ref = binding.get("roleRef")
    rules = _referenced_rules(binding, role_ref, namespace, cluster_role_rules, role_rules, warnings)
    if rules is None:
        return []

    subjects, faults = _read_subjects(binding)
    warnings.extend(f"{describe_object(binding)}: {fault}" for fault in faults)
    return [
        Grant(subject, kind, namespace, _object_name(binding), role_ref["kind"], role_ref["name"], rule, namespace)
        for subject in subjects
        for rule in rules
    ]


def _referenced_rules(
    binding: Mapping[str, Any],
    role_ref: Any,
    namespace: str | None,
    cluster_role_rules: Mapping[str, tuple[AggregatedRule, ...]],
    role_rules: Mapping[tuple[str, str], tuple[AggregatedRule, ...]],
    warnings: list[str],
) -> tuple[AggregatedRule, ...] | None:
    where = describe_object(binding)
    if not isinstance(role_ref, Mapping) or not role_ref.get("name"):
        warnings.append(f"{where}: roleRef is missing or has no name; the binding grants nothing")
        return None
    if not isinstance(role_ref["name"], str):
        warnings.append(f"{where}: roleRef.name: expected a string, got {role_ref['name']!r}; the binding grants nothing")
        return None
    ref_kind, ref_name, ref_group = role_ref.get("kind"), role_ref["name"], role_ref.get("apiGroup", RBAC_API_GROUP)
    if ref_group != RBAC_API_GROUP:
        warnings.append(f"{where}: roleRef.apiGroup {ref_group!r} is not {RBAC_API_GROUP}; the binding grants nothing")
        return None

    if ref_kind == "ClusterRole":
        rules = cluster_role_rules.get(ref_name)
        if rules is None:
            warnings.append(f"{where}: roleRef names ClusterRole {ref_name}, which is not in the snapshot; {_INERT}")
        return rules
    if ref_kind == "Role" and namespace is not None:
        rules = role_rules.get((namespace, ref_name))
        if rules is None:
            missing = f"Role {namespace}/{ref_name}"
            warnings.append(f"{where}: roleRef names {missing}, which is not in the snapshot; {_INERT}")
        return rules
    if ref_kind == "Role":
        warnings.append(
            f"{where}: roleRef.kind Role is invalid in a ClusterRoleBinding, which can reference only a ClusterRole; "
            "the binding grants nothing"
        )
        return None
    warnings.append(f"{where}: roleRef.kind {ref_kind!r} is not Role or ClusterRole; the binding grants nothing")
    return None


# --- Capabilities -----------------------------------------------------------------------------


class NameUse(Enum):
    """Whether a request names the object it acts on, which decides what `resourceNames` can narrow."""

    REQUIRED = "required"  # get, update, patch, delete, impersonate, bind, escalate, a subresource of one object
    OPTIONAL = "optional"  # list and watch: nameless, or named by fieldSelector=metadata.name=<name>
    ABSENT = "absent"  # create of a new object, deletecollection


@dataclass(frozen=True)
class RequestPattern:
    """A request that gives a capability. `cluster_only` means that only a ClusterRoleBinding can allow it."""

    verb: str
    api_group: str
    resource: str
    subresource: str = ""
    names: NameUse = NameUse.REQUIRED
    cluster_only: bool = False


@dataclass(frozen=True)
class CapabilityDefinition:
    """A capability that matters for secrets, the requests that give it, and what it means.

    A capability with `companion_patterns` needs a rule for one of `patterns` and a rule for one of
    `companion_patterns`, held by the same subject in a common scope.
    """

    name: str
    meaning: str
    patterns: tuple[RequestPattern, ...]
    companion_patterns: tuple[RequestPattern, ...] = ()
    note: str = ""

    @property
    def cluster_only(self) -> bool:
        """Whether only a ClusterRoleBinding can give the capability."""
        return all(pattern.cluster_only for pattern in self.patterns)

    @property
    def narrowable_by_name(self) -> bool:
        """Whether `resourceNames` can narrow the capability to named objects rather than remove it."""
        return any(pattern.names is not NameUse.ABSENT for pattern in self.patterns)


_NAME_USE_BY_VERB = {
    "get": NameUse.REQUIRED,
    "list": NameUse.OPTIONAL,
    "watch": NameUse.OPTIONAL,
    "create": NameUse.ABSENT,
    "update": NameUse.REQUIRED,
    "patch": NameUse.REQUIRED,
    "delete": NameUse.REQUIRED,
    "deletecollection": NameUse.ABSENT,
    "impersonate": NameUse.REQUIRED,
    "bind": NameUse.REQUIRED,
    "escalate": NameUse.REQUIRED,
}


def _requests(
    verbs: tuple[str, ...],
    api_group: str,
    resources: tuple[str, ...],
    *,
    subresource: str = "",
    cluster_only: bool = False,
) -> tuple[RequestPattern, ...]:
    # A create on a subresource (POST .../pods/<name>/exec) acts on a named object.
    def name_use(verb: str) -> NameUse:
        return NameUse.REQUIRED if subresource else _NAME_USE_BY_VERB[verb]

    return tuple(
        RequestPattern(verb, api_group, resource, subresource, name_use(verb), cluster_only)
        for resource in resources
        for verb in verbs
    )


_WRITE_VERBS = ("create", "update", "patch")
_WORKLOADS = (("", ("pods", "replicationcontrollers")),
              ("apps", ("deployments", "replicasets", "statefulsets", "daemonsets")),
              ("batch", ("jobs", "cronjobs")))
ESO_API_GROUP = "external-secrets.io"

# The role resources that a binding of each kind can reference, so what `bind` must cover for it.
BINDING_ROLE_RESOURCES = {"rolebindings": ("roles", "clusterroles"), "clusterrolebindings": ("clusterroles",)}

CAPABILITIES: tuple[CapabilityDefinition, ...] = (
    CapabilityDefinition(
        "read_secrets",
        "read the values of Secrets in scope: get returns one Secret, list and watch return every Secret they select",
        _requests(("get", "list", "watch"), "", ("secrets",)),
        note=(
            "resourceNames narrow get, and list or watch with fieldSelector=metadata.name=<name>, "
            "to the named Secrets"
        ),
    ),
    CapabilityDefinition(
        "overwrite_secrets",
        "create Secrets or overwrite their values in scope (integrity, reported apart from read)",
        _requests(_WRITE_VERBS, "", ("secrets",)),
    ),
    CapabilityDefinition(
        "create_workloads",
        "run a pod as any ServiceAccount of the namespace and mount any Secret there",
        tuple(pattern for group, resources in _WORKLOADS for pattern in _requests(_WRITE_VERBS, group, resources)),
        note="update or patch of a running pod changes its image, which runs new code as that pod's ServiceAccount",
    ),
    CapabilityDefinition(
        "exec_pods",
        "run commands in running pods, so act as their ServiceAccounts and read what they mount",
        _requests(("create", "get"), "", ("pods",), subresource="exec")
        + _requests(("create", "get"), "", ("pods",), subresource="attach")
        + _requests(("update", "patch"), "", ("pods",), subresource="ephemeralcontainers"),
        note=(
            "WebSocket exec and attach start with an HTTP GET, which the API server authorizes as get unless the "
            "AuthorizePodWebsocketUpgradeCreatePermission feature gate (beta and on by default from Kubernetes 1.35) "
            "also requires create. A snapshot does not record the gate, so get counts. An ephemeral container may "
            "mount the pod's volumes, so adding one is exec by other means."
        ),
    ),
    CapabilityDefinition(
        "proxy_nodes",
        "reach the kubelet API of nodes: run commands in any pod on them and read what those pods mount",
        _requests(("get", "create"), "", ("nodes",), subresource="proxy", cluster_only=True),
        note="the kubelet authorizes its exec endpoint by HTTP method, so a WebSocket exec needs only get",
    ),
    CapabilityDefinition(
        "create_serviceaccount_tokens",
        "request tokens for ServiceAccounts in scope and act as them",
        _requests(("create",), "", ("serviceaccounts",), subresource="token"),
    ),
    CapabilityDefinition(
        "impersonate_users",
        "act as any user, or the named ones",
        _requests(("impersonate",), "", ("users",), cluster_only=True),
    ),
    CapabilityDefinition(
        "impersonate_groups",
        "act as a member of any group, or the named ones, system:masters included",
        _requests(("impersonate",), "", ("groups",), cluster_only=True),
    ),
    CapabilityDefinition(
        "impersonate_serviceaccounts",
        "act as any ServiceAccount in scope, or the named ones",
        _requests(("impersonate",), "", ("serviceaccounts",)),
    ),
    CapabilityDefinition(
        "escalate_roles",
        "grant oneself any role in scope: bind (or escalate) a role, then create a binding to it",
        _requests(("bind", "escalate"), RBAC_API_GROUP, ("roles",))
        + _requests(("bind",), RBAC_API_GROUP, ("clusterroles",))
        + _requests(("escalate",), RBAC_API_GROUP, ("clusterroles",), cluster_only=True),
        companion_patterns=_requests(("create",), RBAC_API_GROUP, ("rolebindings",))
        + _requests(("create",), RBAC_API_GROUP, ("clusterrolebindings",), cluster_only=True),
        note=(
            "bind on a ClusterRole is checked in the namespace of the RoleBinding being created, so a RoleBinding can "
            "give it. Using escalate also needs update on the role; the pair does not check that. Escalate plus "
            "update on a role the subject is already bound to needs no new binding: bound_role_escalations finds it."
        ),
    ),
    CapabilityDefinition(
        "create_externalsecrets",
        "make External Secrets copy any secret that a store usable in the namespace reaches into a Secret there",
        _requests(_WRITE_VERBS, ESO_API_GROUP, ("externalsecrets",)),
    ),
    CapabilityDefinition(
        "create_secretstores",
        "define a SecretStore that authenticates as any ServiceAccount of the namespace, or as the controller",
        _requests(_WRITE_VERBS, ESO_API_GROUP, ("secretstores",)),
    ),
    CapabilityDefinition(
        "create_clustersecretstores",
        "define a ClusterSecretStore usable from any namespace it admits",
        _requests(_WRITE_VERBS, ESO_API_GROUP, ("clustersecretstores",), cluster_only=True),
    ),
    CapabilityDefinition(
        "create_clusterexternalsecrets",
        "create ExternalSecrets in every namespace a selector picks",
        _requests(_WRITE_VERBS, ESO_API_GROUP, ("clusterexternalsecrets",), cluster_only=True),
    ),
    CapabilityDefinition(
        "create_pushsecrets",
        "write Secrets of the namespace to the external store of a usable store (cloud-side integrity)",
        _requests(_WRITE_VERBS, ESO_API_GROUP, ("pushsecrets",)),
    ),
    CapabilityDefinition(
        "delete_externalsecrets",
        "delete ExternalSecrets, which stops their sync and, with deletionPolicy Delete, removes the Secret",
        _requests(("delete", "deletecollection"), ESO_API_GROUP, ("externalsecrets",)),
    ),
)


@dataclass(frozen=True)
class Capability:
    """A capability that one grant gives its subject in a scope.

    `scope` is a namespace, or None for every namespace and the cluster. `resource_names` None means
    every object in scope, and a set means only the named ones. For a capability with companion
    patterns, `grant` allows the main request and `companion` the other one.
    """

    name: str
    subject: Subject
    scope: str | None
    resource_names: frozenset[str] | None
    grant: Grant
    companion: Grant | None = None


def subject_capabilities(grants: Iterable[Grant]) -> list[Capability]:
    """Return every capability of the catalogue that the grants give, each rule evaluated on its own.

    One Capability per grant and capability name, its names combined over the capability's
    requests. A role's rules are never merged into one verbs × resources set, which would grant
    combinations that no rule grants. Two-part capabilities pair grants of the same subject only.
    """
    grants = list(grants)
    capabilities: list[Capability] = []
    # A role's rule bound to many subjects or namespaces reaches the same names each time.
    reached: dict[tuple[int, int, bool], tuple[bool, frozenset[str]]] = {}
    for grant in grants:
        for definition in CAPABILITIES:
            if definition.companion_patterns:
                continue
            key = (id(definition), id(grant.rule), grant.scope is None)
            if key not in reached:
                reached[key] = _combine(_names_reached(pattern, grant) for pattern in definition.patterns)
            all_names, names = reached[key]
            if all_names or names:
                capabilities.append(Capability(definition.name, grant.subject, grant.scope, None if all_names else names, grant))
    for definition in CAPABILITIES:
        if definition.companion_patterns:
            capabilities.extend(_paired_capabilities(definition, grants))
    return capabilities


def bound_role_escalations(grants: Iterable[Grant]) -> list[Capability]:
    """Return an `escalate_roles` capability for each subject that can rewrite a role it is bound to.

    Adding rules the caller does not hold to a Role or ClusterRole needs `escalate` and `update` (or
    `patch`) on it. A subject bound to that role then has whatever it adds, in the scope of its
    binding, with no new binding. A ClusterRole is a cluster-scoped object, so only cluster-wide
    grants count for it; for a Role, grants in its namespace count too.
    """
    by_subject: dict[Subject, list[Grant]] = {}
    for grant in grants:
        by_subject.setdefault(grant.subject, []).append(grant)
    found: dict[tuple[Subject, str | None], Capability] = {}
    for subject, held in by_subject.items():
        editors = [grant for grant in held if {"escalate", "*"} & set(grant.rule.rule.verbs)]
        if not editors:
            continue
        for binding in held:
            role_namespace = binding.binding_namespace if binding.role_kind == "Role" else None
            escalate = _role_editor(editors, binding.role_kind, role_namespace, binding.role_name, ("escalate",))
            update = _role_editor(held, binding.role_kind, role_namespace, binding.role_name, ("update", "patch"))
            if escalate is not None and update is not None:
                found.setdefault((subject, binding.scope),
                                 Capability("escalate_roles", subject, binding.scope, None, escalate, update))
    return list(found.values())


def _role_editor(held: list[Grant], role_kind: str, role_namespace: str | None, role_name: str,
                 verbs: tuple[str, ...]) -> Grant | None:
    """Return a grant that allows one of `verbs` on the named Role or ClusterRole, or None."""
    resource = "clusterroles" if role_kind == "ClusterRole" else "roles"
    for grant in held:
        if grant.scope is not None and (role_kind == "ClusterRole" or grant.scope != role_namespace):
            continue
        if any(rule_allows(grant.rule.rule, verb=verb, api_group=RBAC_API_GROUP, resource=resource, name=role_name)
               for verb in verbs):
            return grant
    return None


def _names_reached(pattern: RequestPattern, grant: Grant) -> tuple[bool, frozenset[str]]:
    """Return whether one grant's rule allows a pattern's request for every name, and else which names."""
    if pattern.cluster_only and grant.scope is not None:
        return False, frozenset()
    rule = grant.rule.rule

    def allows(name: str | None) -> bool:
        return rule_allows(rule, verb=pattern.verb, api_group=pattern.api_group, resource=pattern.resource,
                           subresource=pattern.subresource, name=name)

    if allows(None) and (pattern.names is not NameUse.REQUIRED or not rule.resource_names):
        return True, frozenset()
    if pattern.names is NameUse.ABSENT:
        return False, frozenset()
    return False, frozenset(name for name in rule.resource_names if name and allows(name))


def _combine(reaches: Iterable[tuple[bool, frozenset[str]]]) -> tuple[bool, frozenset[str]]:
    all_names = False
    names: frozenset[str] = frozenset()
    for reach_all, reached in reaches:
        all_names = all_names or reach_all
        names = names | reached
    return all_names, names


def _paired_capabilities(definition: CapabilityDefinition, grants: list[Grant]) -> list[Capability]:
    grants_by_subject: dict[Subject, list[Grant]] = {}
    for grant in grants:
        grants_by_subject.setdefault(grant.subject, []).append(grant)

    reaches: dict[tuple[Grant, Grant, str | None], list[tuple[bool, frozenset[str]]]] = {}
    for primary in grants:
        for pattern in definition.patterns:
            reach = _names_reached(pattern, primary)
            if not reach[0] and not reach[1]:
                continue
            for companion, scope in _companions(definition, pattern, primary, grants_by_subject[primary.subject]):
                reaches.setdefault((primary, companion, scope), []).append(reach)

    capabilities = []
    for (primary, companion, scope), pair_reaches in reaches.items():
        all_names, names = _combine(pair_reaches)
        resource_names = None if all_names else names
        capabilities.append(Capability(definition.name, primary.subject, scope, resource_names, primary, companion))
    return capabilities


def _companions(
    definition: CapabilityDefinition, pattern: RequestPattern, primary: Grant, subject_grants: list[Grant]
) -> list[tuple[Grant, str | None]]:
    """Return the grants of the primary's subject that complete it, each with the scope both share.

    A cluster-only companion (create on clusterrolebindings) pairs only with a cluster-wide primary,
    because the API server checks `bind` for a ClusterRoleBinding without a namespace.
    """
    found = []
    for companion in subject_grants:
        for companion_pattern in definition.companion_patterns:
            if pattern.resource not in BINDING_ROLE_RESOURCES.get(companion_pattern.resource, ()):
                continue
            if companion_pattern.cluster_only and primary.scope is not None:
                continue
            reach_all, _ = _names_reached(companion_pattern, companion)
            shared, scope = _shared_scope(primary.scope, companion.scope)
            if reach_all and shared:
                found.append((companion, scope))
                break
    return found


def _shared_scope(first: str | None, second: str | None) -> tuple[bool, str | None]:
    if first is None:
        return True, second
    if second is None or first == second:
        return True, first
    return False, None


# --- Object helpers ---------------------------------------------------------------------------


def describe_object(obj: Mapping[str, Any]) -> str:
    """Name an object for messages: kind, namespace/name, and the manifest file and line when known."""
    text = _qualified(obj.get("kind", "object"), _object_namespace(obj), _object_name(obj))
    origin = obj.get("origin")
    if isinstance(origin, Mapping) and origin.get("file"):
        text += f" ({origin['file']}:{origin.get('line', '?')})"
    return text


def _qualified(kind: str, namespace: str | None, name: str) -> str:
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def _object_name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "<unnamed>")


def _object_namespace(obj: Mapping[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("namespace") or None


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _api_group(obj: Mapping[str, Any]) -> str:
    api_version = str(obj.get("apiVersion") or "")
    return api_version.split("/", 1)[0] if "/" in api_version else ""
