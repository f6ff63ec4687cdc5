"""What External Secrets Operator (ESO) does with its resources, as pure functions over snapshot objects.

This module supplies the ESO half of the capability graph: which namespaces may use a
ClusterSecretStore, whose identity a store or generator authenticates as, which remote secrets an
ExternalSecret reads and where its copy lands, how fresh that copy is, and where a PushSecret
writes. Objects are plain dicts in Kubernetes shape (see docs/snapshot-format.md); the functions
read `external-secrets.io` v1, v1beta1 and v1alpha1 and `generators.external-secrets.io` v1alpha1.

Facts about ESO behaviour come from the upstream source (external-secrets/external-secrets, 2025–2026):
the store and generator CRD types under `apis/`, the AWS provider's credential chain, the
ClusterSecretStore condition check and `esutils.GetTargetNamespaces` for ClusterExternalSecrets.
Bad input raises `EsoError` with a message that names the object and its manifest file when known.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fractions import Fraction
from functools import lru_cache
from typing import Any

from blastradius.semantics.go_regex import GoRegexError, compile_go_regex
from blastradius.semantics.rbac import LabelSelectorError, label_selector_matches

logger = logging.getLogger(__name__)

ESO_GROUP = "external-secrets.io"
GENERATORS_GROUP = "generators.external-secrets.io"
ESO_API_VERSIONS = ("v1", "v1beta1", "v1alpha1")

SECRET_STORE = "SecretStore"
CLUSTER_SECRET_STORE = "ClusterSecretStore"
STORE_KINDS = (SECRET_STORE, CLUSTER_SECRET_STORE)
CLUSTER_GENERATOR = "ClusterGenerator"

IRSA_ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
GKE_SERVICE_ACCOUNT_ANNOTATION = "iam.gke.io/gcp-service-account"
AZURE_CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
# The API server sets this label on every namespace (Kubernetes 1.21 and later) to the namespace's name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

# ServiceAccount annotation that names the cloud identity, by store provider.
CLOUD_IDENTITY_ANNOTATIONS = {
    "aws": IRSA_ROLE_ARN_ANNOTATION,
    "gcpsm": GKE_SERVICE_ACCOUNT_ANNOTATION,
    "azurekv": AZURE_CLIENT_ID_ANNOTATION,
}

DEFAULT_REFRESH_INTERVAL_SECONDS = 3600.0
CONTROLLER_APP_NAME = "external-secrets"
CONTROLLER_CLUSTER_ROLE_SUFFIX = "external-secrets-controller"


class EsoError(ValueError):
    """An ESO object that cannot be understood: the message names the object, its file and the fault."""


def describe_object(obj: Mapping[str, Any]) -> str:
    """Name an object for messages: `ExternalSecret payments/db (manifests/es.yaml:12)`."""
    metadata = obj.get("metadata") or {}
    kind = obj.get("kind") or "object"
    name = metadata.get("name") or "<unnamed>"
    namespace = metadata.get("namespace")
    text = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
    origin = obj.get("origin")
    if isinstance(origin, Mapping) and origin.get("file"):
        text += f" ({origin['file']}:{origin.get('line', '?')})"
    return text


# --- Go durations --------------------------------------------------------------------------------

_GO_DURATION_UNIT_SECONDS = {
    "ns": Fraction(1, 10**9),
    "us": Fraction(1, 10**6),
    "µs": Fraction(1, 10**6),  # U+00B5 micro sign
    "μs": Fraction(1, 10**6),  # U+03BC Greek small letter mu
    "ms": Fraction(1, 10**3),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
}
_GO_DURATION_SHAPE = re.compile(r"(?:[0-9]*(?:\.[0-9]*)?[^0-9.]+)+")
_GO_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]+)")


def parse_duration(text: str | None) -> float | None:
    """Parse a Go duration (`1h`, `1h30m`, `15m0s`, `0`, `500ms`, `-1.5h`) into seconds.

    Returns None when the value is absent, so the caller can apply its own default. Follows Go's
    `time.ParseDuration`: a sequence of decimal numbers each with a unit (ns, us, µs, ms, s, m, h),
    an optional sign, and the bare `0`. Anything else raises `EsoError` naming the value.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise EsoError(f"invalid duration {text!r}: write it as a quoted Go duration such as \"1h\" or \"0\"")

    sign = -1 if text[:1] == "-" else 1
    unsigned = text[1:] if text[:1] in ("-", "+") else text
    if unsigned == "0":
        return 0.0
    if not _GO_DURATION_SHAPE.fullmatch(unsigned):
        raise EsoError(f"invalid duration {text!r}: expected a Go duration such as \"1h30m\", \"15m0s\" or \"500ms\"")

    total = Fraction(0)
    for match in _GO_DURATION_PART.finditer(unsigned):
        whole, fraction, unit = match.group(1), match.group(2) or "", match.group(3)
        if not whole and not fraction:
            raise EsoError(f"invalid duration {text!r}: a number is missing before unit {unit!r}")
        if unit not in _GO_DURATION_UNIT_SECONDS:
            raise EsoError(f"invalid duration {text!r}: unknown unit {unit!r}; Go accepts ns, us, µs, ms, s, m, h")
        number = Fraction(int(whole or "0")) + (Fraction(int(fraction), 10 ** len(fraction)) if fraction else 0)
        total += number * _GO_DURATION_UNIT_SECONDS[unit]
    return float(sign * total)


def refresh_interval_seconds(value: str | None) -> float:
    """Return an ExternalSecret's refreshInterval in seconds: 3600 when absent, 0 or less means never."""
    seconds = parse_duration(value)
    return DEFAULT_REFRESH_INTERVAL_SECONDS if seconds is None else seconds


# --- Object access -------------------------------------------------------------------------------


def _require_kind(obj: Any, kinds: Sequence[str]) -> None:
    if not isinstance(obj, Mapping):
        raise EsoError(f"expected a Kubernetes object as a mapping, got {_type_name(obj)}")
    if obj.get("kind") not in kinds:
        raise EsoError(f"{describe_object(obj)}: expected kind {' or '.join(kinds)}")
    api_version = obj.get("apiVersion")
    if api_version is None:
        return
    group, _, version = str(api_version).rpartition("/")
    if group not in (ESO_GROUP, GENERATORS_GROUP) or version not in ESO_API_VERSIONS:
        raise EsoError(
            f"{describe_object(obj)}: unsupported apiVersion {api_version!r}; blastradius reads "
            f"{ESO_GROUP} and {GENERATORS_GROUP} versions {', '.join(ESO_API_VERSIONS)}"
        )


def _type_name(value: Any) -> str:
    """Name a value's type as YAML does (mapping, list, string), because manifests are written in YAML."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "mapping"
    names = {list: "list", str: "string", bool: "boolean", int: "integer", float: "number"}
    return names.get(type(value), type(value).__name__)


def _mapping(value: Any, obj: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    """Return `value` as a mapping (absent means empty), or raise naming the field."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EsoError(f"{describe_object(obj)}: {path} must be a mapping, got {_type_name(value)}")
    return value


def _optional_string(value: Any, obj: Mapping[str, Any], path: str) -> str | None:
    """Return `value` as a string (absent means None), or raise naming the field."""
    if value is None or isinstance(value, str):
        return value
    raise EsoError(f"{describe_object(obj)}: {path} must be a string, got {_type_name(value)}")


def _sequence(value: Any, obj: Mapping[str, Any], path: str) -> list[Any]:
    """Return `value` as a list (absent means empty), or raise naming the field."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise EsoError(f"{describe_object(obj)}: {path} must be a list, got {_type_name(value)}")
    return list(value)


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(obj.get("spec"), obj, "spec")


def _name(obj: Mapping[str, Any]) -> str:
    name = (obj.get("metadata") or {}).get("name")
    if not name:
        raise EsoError(f"{describe_object(obj)}: metadata.name is missing")
    return str(name)


def _namespace(obj: Mapping[str, Any]) -> str:
    """Return the namespace of a namespaced object, or raise: ESO never guesses one."""
    namespace = (obj.get("metadata") or {}).get("namespace")
    if not namespace:
        raise EsoError(f"{describe_object(obj)}: metadata.namespace is missing, and a {obj.get('kind')} is namespaced")
    return str(namespace)


def _annotations(obj: Mapping[str, Any] | None) -> Mapping[str, str]:
    return ((obj or {}).get("metadata") or {}).get("annotations") or {}


# --- Label selectors -----------------------------------------------------------------------------


def _namespace_labels(namespace: str, labels: Mapping[str, str] | None) -> dict[str, str]:
    """Labels a namespace carries in a live cluster, including the name label the API server adds."""
    return {**(labels or {}), NAMESPACE_NAME_LABEL: namespace}


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str], *, where: str) -> bool:
    """Evaluate a Kubernetes LabelSelector, where `{}` matches everything; an invalid one raises naming `where`."""
    try:
        return label_selector_matches(selector, labels)
    except LabelSelectorError as error:
        raise EsoError(f"{where}: invalid label selector: {error}") from error


def _format_selector(selector: Mapping[str, Any]) -> str:
    """Render a LabelSelector in kubectl's string syntax (`team=a,tier in (x,y),!legacy`), `{}` when empty."""
    parts = [f"{key}={value}" for key, value in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(str(value) for value in expression.get("values") or [])
        if operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key} {str(operator).lower()} ({values})")
    return ",".join(parts) if parts else "{}"


@lru_cache(maxsize=1024)
def _warn_once(message: str) -> None:
    """Log a warning once per distinct message, so a store checked against many namespaces warns once."""
    logger.warning(message)


# --- Store admission -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Admission:
    """Whether a store may serve ExternalSecrets of a namespace, and the evidence in words."""

    admitted: bool
    reason: str
    warnings: tuple[str, ...] = ()


def store_key(store: Mapping[str, Any]) -> tuple[str, str | None, str]:
    """Return a store's identity key: (kind, namespace or None for a ClusterSecretStore, name)."""
    _require_kind(store, STORE_KINDS)
    if store["kind"] == CLUSTER_SECRET_STORE:
        return (CLUSTER_SECRET_STORE, None, _name(store))
    return (SECRET_STORE, _namespace(store), _name(store))


def store_admits_namespace(
    store: Mapping[str, Any], namespace: str, namespace_labels: Mapping[str, str] | None
) -> Admission:
    """Decide whether ExternalSecrets in `namespace` may use `store`, as ESO's controller does.

    A SecretStore serves only its own namespace, and ESO ignores `conditions` on it. A
    ClusterSecretStore without conditions serves every namespace. Otherwise its conditions are
    ORed, and so are the parts of each: `namespaces` by exact name, `namespaceSelector` by labels
    (`{}` matches all), `namespaceRegexes` as unanchored Go regexps (`team-a` admits
    `x-team-a-prod`). The name label the API server puts on every namespace is added to
    `namespace_labels`, so selectors on it work from manifests too. An invalid regex is skipped
    with a warning that names the store.
    """
    _require_kind(store, STORE_KINDS)
    if store["kind"] == SECRET_STORE:
        return _secret_store_admission(store, namespace)

    conditions = [
        _mapping(condition, store, f"spec.conditions[{index}]")
        for index, condition in enumerate(_sequence(_spec(store).get("conditions"), store, "spec.conditions"))
    ]
    if not conditions:
        return Admission(True, f"ClusterSecretStore {_name(store)} has no conditions, so every namespace may use it")

    labels = _namespace_labels(namespace, namespace_labels)
    warnings: list[str] = []
    for number, condition in enumerate(conditions, start=1):
        matched_part = _condition_match(store, number, condition, namespace, labels, warnings)
        if matched_part:
            reason = (
                f"ClusterSecretStore {_name(store)} admits namespace {namespace}: "
                f"condition {number} matches ({matched_part})"
            )
            return Admission(True, reason, tuple(warnings))

    reason = (
        f"ClusterSecretStore {_name(store)}: its conditions deny namespace {namespace} "
        f"({_summarise_conditions(store, conditions)})"
    )
    return Admission(False, reason, tuple(warnings))


def _secret_store_admission(store: Mapping[str, Any], namespace: str) -> Admission:
    own_namespace = _namespace(store)
    if own_namespace == namespace:
        return Admission(True, f"SecretStore {own_namespace}/{_name(store)} serves its own namespace {namespace}")
    return Admission(
        False,
        f"SecretStore {own_namespace}/{_name(store)} serves only its own namespace {own_namespace}, not {namespace}",
    )


def _condition_match(
    store: Mapping[str, Any],
    number: int,
    condition: Mapping[str, Any],
    namespace: str,
    labels: Mapping[str, str],
    warnings: list[str],
) -> str | None:
    """Return the part of one condition that admits the namespace, in words, or None."""
    where = f"{describe_object(store)} spec.conditions[{number - 1}]"
    selector = condition.get("namespaceSelector")
    if selector is not None and _selector_matches(_mapping(selector, store, "namespaceSelector"), labels, where=where):
        return f"namespaceSelector: {_format_selector(selector)}"

    names = _sequence(condition.get("namespaces"), store, f"spec.conditions[{number - 1}].namespaces")
    if namespace in [str(name) for name in names]:
        return f"namespaces: {namespace}"

    for pattern in _sequence(condition.get("namespaceRegexes"), store, f"spec.conditions[{number - 1}].namespaceRegexes"):
        try:
            compiled = compile_go_regex(str(pattern))
        except GoRegexError as error:
            message = (
                f"{where}: namespaceRegexes entry {pattern!r} is skipped ({error}); "
                f"namespaces only it would admit are reported as denied"
            )
            _warn_once(message)
            warnings.append(message)
            continue
        if compiled.search(namespace):
            return f"namespaceRegexes: {pattern}"
    return None


def _summarise_conditions(store: Mapping[str, Any], conditions: list[Mapping[str, Any]]) -> str:
    """List every admitting part of all conditions; they are all ORed, so the union is the rule."""
    names: list[str] = []
    selectors: list[str] = []
    regexes: list[str] = []
    for condition in conditions:
        names.extend(str(name) for name in condition.get("namespaces") or [])
        if condition.get("namespaceSelector") is not None:
            selectors.append(_format_selector(condition["namespaceSelector"]))
        regexes.extend(str(pattern) for pattern in condition.get("namespaceRegexes") or [])
    parts = []
    if names:
        parts.append(f"namespaces: [{', '.join(names)}]")
    if selectors:
        parts.append(f"namespaceSelector: [{'; '.join(selectors)}]")
    if regexes:
        parts.append(f"namespaceRegexes: [{', '.join(regexes)}]")
    return "; ".join(parts) if parts else "every condition is empty, and an empty condition admits nothing"


# --- Providers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreProvider:
    """One provider block of a store: which backend it talks to, and the AWS role settings if any.

    `name` is the key under `spec.provider` (`aws`, `vault`, `gcpsm`, `azurekv`, `kubernetes`, or
    any other ESO provider). `service`, `region`, `role`, `additional_roles` and `external_id`
    are AWS fields, and `region` is also read for other providers that have one. `raw` is the
    provider block itself. It is left out of `repr` because a fake provider's block may contain
    literal values.
    """

    name: str
    service: str | None
    region: str | None
    role: str | None
    additional_roles: tuple[str, ...]
    external_id: str | None
    raw: Mapping[str, Any] = field(hash=False, repr=False)


def store_providers(store: Mapping[str, Any]) -> list[StoreProvider]:
    """Return every provider block configured on a store, in the order written.

    ESO requires exactly one. Documentation examples list several as a showcase, so a caller that
    must carry on (the graph builder) can warn and take the first.
    """
    _require_kind(store, STORE_KINDS)
    providers = _mapping(_spec(store).get("provider"), store, "spec.provider")
    return [_provider_from_block(store, name, block) for name, block in providers.items() if block is not None]


def store_provider(store: Mapping[str, Any]) -> StoreProvider:
    """Return the one provider a store configures; raise `EsoError` if it has none or several."""
    providers = store_providers(store)
    if len(providers) == 1:
        return providers[0]
    if not providers:
        raise EsoError(f"{describe_object(store)}: spec.provider configures no provider; ESO requires exactly one")
    names = ", ".join(provider.name for provider in providers)
    raise EsoError(
        f"{describe_object(store)}: spec.provider configures {len(providers)} providers ({names}); "
        f"ESO requires exactly one"
    )


def _provider_from_block(store: Mapping[str, Any], name: str, block: Any) -> StoreProvider:
    block = _mapping(block, store, f"spec.provider.{name}")
    is_aws = name == "aws"
    additional = _sequence(block.get("additionalRoles"), store, "spec.provider.aws.additionalRoles") if is_aws else []
    return StoreProvider(
        name=name,
        service=block.get("service") if is_aws else None,
        region=block.get("region") if isinstance(block.get("region"), str) else None,
        role=(block.get("role") or None) if is_aws else None,
        additional_roles=tuple(str(role) for role in additional),
        external_id=(block.get("externalID") or None) if is_aws else None,
        raw=block,
    )


# --- Controller identity -------------------------------------------------------------------------


@dataclass(frozen=True)
class ControllerIdentity:
    """The ESO controller's ServiceAccount and the cloud identities its annotations give it.

    `cloud_identities` maps a store provider name (`aws`, `gcpsm`, `azurekv`) to the identity the
    controller pod has there. A store without credentials of its own acts as this identity.
    `evidence` names the object the controller was recognised by.
    """

    namespace: str
    service_account: str
    cloud_identities: Mapping[str, str] = field(default_factory=dict, hash=False)
    evidence: str = ""


def find_controllers(objects: Iterable[Mapping[str, Any]]) -> list[ControllerIdentity]:
    """Find the ESO controllers of a cluster and the identity each runs as.

    Looks first for Deployments labelled `app.kubernetes.io/name: external-secrets` (the official
    chart's controller; its webhook and cert-controller carry other names). Failing that, takes
    the ServiceAccounts bound to a ClusterRole whose name ends in `external-secrets-controller`.
    Cloud identities come from the ServiceAccount's IRSA, GKE and Azure annotations.
    """
    objects = list(objects)
    service_accounts = {
        (str(obj["metadata"].get("namespace")), str(obj["metadata"].get("name"))): obj
        for obj in objects
        if obj.get("kind") == "ServiceAccount" and obj.get("metadata")
    }
    candidates = _controllers_from_deployments(objects) or _controllers_from_bindings(objects)

    controllers: dict[tuple[str, str], ControllerIdentity] = {}
    for namespace, name, evidence in candidates:
        if (namespace, name) in controllers:
            continue
        annotations = _annotations(service_accounts.get((namespace, name)))
        identities = {
            provider: annotations[annotation]
            for provider, annotation in CLOUD_IDENTITY_ANNOTATIONS.items()
            if annotations.get(annotation)
        }
        controllers[(namespace, name)] = ControllerIdentity(namespace, name, identities, evidence)
    return [controllers[key] for key in sorted(controllers)]


def _controllers_from_deployments(objects: list[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    found = []
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        labels = (obj.get("metadata") or {}).get("labels") or {}
        name = _name(obj)
        is_helper = labels.get("app.kubernetes.io/component") in ("webhook", "cert-controller") or name.endswith(
            ("-webhook", "-cert-controller")
        )
        if labels.get("app.kubernetes.io/name") != CONTROLLER_APP_NAME or is_helper:
            continue
        namespace = _namespace(obj)
        found.append((namespace, _pod_service_account(obj), f"Deployment {namespace}/{name}"))
    return found


def _pod_service_account(workload: Mapping[str, Any]) -> str:
    """Return the ServiceAccount a workload's pods run as, from the snapshot's pod summary or the raw template."""
    summary = workload.get("pod") or {}
    template_spec = (((workload.get("spec") or {}).get("template") or {}).get("spec")) or {}
    return summary.get("serviceAccountName") or template_spec.get("serviceAccountName") or "default"


def _controllers_from_bindings(objects: list[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    found = []
    for obj in objects:
        if obj.get("kind") not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        role_ref = obj.get("roleRef") or {}
        is_controller_role = str(role_ref.get("name", "")).endswith(CONTROLLER_CLUSTER_ROLE_SUFFIX)
        if role_ref.get("kind") != "ClusterRole" or not is_controller_role:
            continue
        binding_namespace = (obj.get("metadata") or {}).get("namespace")
        for subject in obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount" and (subject.get("namespace") or binding_namespace):
                namespace = subject.get("namespace") or binding_namespace
                evidence = f"{obj['kind']} {_name(obj)} to ClusterRole {role_ref['name']}"
                found.append((str(namespace), str(subject["name"]), evidence))
    return found


# --- Store identity ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreIdentity:
    """The principal ESO acts as when it uses a store or generator, and what backs it.

    - `kind`: how ESO authenticates (`web_identity`, `static_keys`, `controller`, `vault_token`,
      `vault_kubernetes`, `gcp_workload_identity`, `azure_service_principal`, ...);
    - `provider`: the store provider family (`aws`, `vault`, `gcpsm`, `azurekv`, `kubernetes`, ...);
    - `service_account`: (namespace, name) of the Kubernetes ServiceAccount whose token ESO uses;
    - `credentials_secrets`: (namespace, name, key) of each Kubernetes Secret key that contains
      credentials, because anyone who can read one has the identity with its full reach;
    - `cloud_identity`: the principal at the backend (an IAM role ARN, a GCP service account email,
      an Azure client id, a Vault auth path such as `auth/kubernetes/role/demo`, or a Kubernetes user);
    - `assume_chain`: AWS roles assumed on top, in the order ESO assumes them;
    - `problems`: why the identity is incomplete or the store would fail;
    - `uses_controller`: the identity is the ESO controller's own, so controller compromise reaches it.
    """

    kind: str
    provider: str
    service_account: tuple[str, str] | None = None
    credentials_secrets: tuple[tuple[str, str, str], ...] = ()
    cloud_identity: str | None = None
    assume_chain: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    uses_controller: bool = False


@dataclass(frozen=True)
class _RefScope:
    """Namespace rules for the Secret and ServiceAccount references of a store or generator.

    `fixed_namespace` is set for namespaced stores and for generators: references resolve there
    and a different namespace on a reference is a fault. For a ClusterSecretStore it is None and
    a reference without a namespace resolves in `using_namespace` (referent authentication).
    """

    owner: str
    fixed_namespace: str | None
    using_namespace: str
    service_accounts: Mapping[tuple[str, str], Mapping[str, Any]]
    controller: ControllerIdentity | None
    foreign_namespace_effect: str

    def namespace_for(self, ref: Mapping[str, Any], path: str, problems: list[str]) -> str:
        requested = ref.get("namespace")
        if self.fixed_namespace is None:
            return str(requested or self.using_namespace)
        if requested and requested != self.fixed_namespace:
            problems.append(
                f"{self.owner}: {path} names namespace {requested}, but only namespace "
                f"{self.fixed_namespace} can be used here; {self.foreign_namespace_effect}"
            )
        return self.fixed_namespace


class _IdentityBuilder:
    """Collects one identity while a provider resolver walks its auth block."""

    def __init__(self, scope: _RefScope, provider: str) -> None:
        self.scope = scope
        self.provider = provider
        self.kind = "unknown"
        self.service_account: tuple[str, str] | None = None
        self.credentials: list[tuple[str, str, str]] = []
        self.cloud_identity: str | None = None
        self.assume_chain: tuple[str, ...] = ()
        self.problems: list[str] = []
        self.uses_controller = False

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.scope.owner}: {text}")

    def add_secret(self, ref: Any, path: str, default_key: str | None = None) -> None:
        """Record a SecretKeySelector as a credentials Secret key."""
        if not isinstance(ref, Mapping) or not ref.get("name"):
            self.problem(f"{path} does not name a Secret")
            return
        namespace = self.scope.namespace_for(ref, path, self.problems)
        key = ref.get("key") or default_key or ""
        entry = (namespace, str(ref["name"]), str(key))
        if entry not in self.credentials:
            self.credentials.append(entry)

    def use_service_account(self, ref: Any, path: str, annotation: str | None) -> str | None:
        """Record the ServiceAccount a reference names; return its `annotation` value if asked and present."""
        if not isinstance(ref, Mapping) or not ref.get("name"):
            self.problem(f"{path} does not name a ServiceAccount")
            return None
        namespace = self.scope.namespace_for(ref, path, self.problems)
        name = str(ref["name"])
        self.service_account = (namespace, name)
        account = self.scope.service_accounts.get((namespace, name))
        if account is None:
            self.problem(f"ServiceAccount {namespace}/{name} named by {path} is not in the snapshot")
            return None
        if annotation is None:
            return None
        value = _annotations(account).get(annotation)
        if not value:
            self.problem(f"ServiceAccount {namespace}/{name} named by {path} has no {annotation} annotation")
        return value or None

    def use_controller(self, kind: str = "controller") -> None:
        """Record that ESO falls back to the controller pod's own identity."""
        self.kind = kind
        self.uses_controller = True
        controller = self.scope.controller
        if controller is None:
            self.problem("falls back to the ESO controller's identity, but no controller was found in the snapshot")
            return
        self.service_account = (controller.namespace, controller.service_account)
        self.cloud_identity = controller.cloud_identities.get(self.provider)
        annotation = CLOUD_IDENTITY_ANNOTATIONS.get(self.provider)
        if annotation and self.cloud_identity is None:
            self.problem(
                f"falls back to the ESO controller's identity, and its ServiceAccount "
                f"{controller.namespace}/{controller.service_account} has no {annotation} annotation; "
                f"the controller pod's ambient credentials (node role, pod identity, environment) apply"
            )

    def build(self) -> StoreIdentity:
        return StoreIdentity(
            kind=self.kind,
            provider=self.provider,
            service_account=self.service_account,
            credentials_secrets=tuple(self.credentials),
            cloud_identity=self.cloud_identity,
            assume_chain=self.assume_chain,
            problems=tuple(self.problems),
            uses_controller=self.uses_controller,
        )


def resolve_store_identity(
    store: Mapping[str, Any],
    *,
    using_namespace: str,
    service_accounts: Mapping[tuple[str, str], Mapping[str, Any]],
    controller: ControllerIdentity | None,
    provider: StoreProvider | None = None,
) -> StoreIdentity:
    """Resolve whose identity ESO uses when an ExternalSecret in `using_namespace` uses `store`.

    A SecretStore resolves every reference in its own namespace. A ClusterSecretStore resolves a
    reference without a namespace in `using_namespace` (referent authentication) and one with a
    namespace there. Without credentials of its own a store acts as the controller. `provider`
    selects one provider block of a store that configures several; by default the store must
    configure exactly one (`store_provider`).
    """
    _require_kind(store, STORE_KINDS)
    chosen = provider or store_provider(store)
    if store["kind"] == SECRET_STORE:
        fixed: str | None = _namespace(store)
        effect = "ESO rejects a namespaced store that references another namespace"
    else:
        fixed = None
        effect = ""
    scope = _RefScope(describe_object(store), fixed, using_namespace, service_accounts, controller, effect)
    return _resolve_provider_identity(chosen.name, chosen.raw, scope)


def _resolve_provider_identity(provider_name: str, block: Mapping[str, Any], scope: _RefScope) -> StoreIdentity:
    """Run the provider's resolver, raising EsoError when a field of its auth block has the wrong type.

    The resolvers read optional nested fields with `.get`, so a list or a scalar where ESO expects
    an object surfaces as AttributeError or TypeError. Only the block's own data is read here.
    """
    builder = _IdentityBuilder(scope, provider_name)
    resolver = _PROVIDER_RESOLVERS.get(provider_name, _other_identity)
    try:
        resolver(block, builder)
    except (AttributeError, TypeError) as error:
        raise EsoError(
            f"{scope.owner}: spec.provider.{provider_name} has a field of the wrong type ({error}); "
            f"whose identity ESO uses is unknown"
        ) from None
    return builder.build()


def _aws_identity(block: Mapping[str, Any], builder: _IdentityBuilder, *, secret_ref_wins: bool = False) -> None:
    """AWS: `auth.jwt` (IRSA web identity), else `auth.secretRef` (static keys), else the controller.

    A store prefers `jwt` when both are set; a generator session takes `secretRef` last and so
    prefers it. ESO assumes `additionalRoles` in order, then `role` (with `externalID`).
    """
    auth = block.get("auth") or {}
    jwt = auth.get("jwt")
    secret_ref = auth.get("secretRef")
    if jwt and secret_ref:
        chosen = "secretRef" if secret_ref_wins else "jwt"
        builder.problem(f"auth sets both jwt and secretRef; ESO uses {chosen}")

    if jwt and not (secret_ref and secret_ref_wins):
        builder.kind = "web_identity"
        builder.cloud_identity = builder.use_service_account(
            (jwt or {}).get("serviceAccountRef"), "auth.jwt.serviceAccountRef", IRSA_ROLE_ARN_ANNOTATION
        )
    elif secret_ref:
        builder.kind = "static_keys"
        _add_aws_key_secrets(secret_ref, "auth.secretRef", builder)
    else:
        builder.use_controller()

    roles = [str(role) for role in block.get("additionalRoles") or []]
    if block.get("role"):
        roles.append(str(block["role"]))
    builder.assume_chain = tuple(roles)


def _add_aws_key_secrets(secret_ref: Mapping[str, Any], path: str, builder: _IdentityBuilder) -> None:
    builder.add_secret(secret_ref.get("accessKeyIDSecretRef"), f"{path}.accessKeyIDSecretRef")
    builder.add_secret(secret_ref.get("secretAccessKeySecretRef"), f"{path}.secretAccessKeySecretRef")
    if secret_ref.get("sessionTokenSecretRef"):
        builder.add_secret(secret_ref["sessionTokenSecretRef"], f"{path}.sessionTokenSecretRef")


# ESO's Vault client tries these auth methods in this order and uses the first one configured.
_VAULT_AUTH_ORDER = ("tokenSecretRef", "appRole", "kubernetes", "ldap", "userPass", "jwt", "cert", "iam", "gcp")


def _vault_identity(block: Mapping[str, Any], builder: _IdentityBuilder) -> None:
    """Vault: the first configured auth method decides; the cloud identity is the Vault auth path."""
    auth = block.get("auth") or {}
    configured = [method for method in _VAULT_AUTH_ORDER if auth.get(method)]
    if not configured:
        builder.use_controller()
        builder.problem("configures no Vault auth method, so ESO has no Vault token of its own")
        return
    if len(configured) > 1:
        builder.problem(f"configures several Vault auth methods ({', '.join(configured)}); ESO uses {configured[0]}")
    method = configured[0]
    _VAULT_METHODS[method](auth[method], builder)


def _vault_token(settings: Any, builder: _IdentityBuilder) -> None:
    builder.kind = "vault_token"
    builder.add_secret(settings, "auth.tokenSecretRef")


def _vault_approle(settings: Mapping[str, Any], builder: _IdentityBuilder) -> None:
    builder.kind = "vault_approle"
    if settings.get("roleRef"):
        builder.add_secret(settings["roleRef"], "auth.appRole.roleRef")
    builder.add_secret(settings.get("secretRef"), "auth.appRole.secretRef")
    builder.cloud_identity = f"auth/{settings.get('path') or 'approle'}"


def _vault_kubernetes(settings: Mapping[str, Any], builder: _IdentityBuilder) -> None:
    """Kubernetes auth: a token for `serviceAccountRef`, else a JWT from `secretRef`, else the controller's token."""
    mount = settings.get("mountPath") or "kubernetes"
    if settings.get("serviceAccountRef"):
        builder.use_service_account(settings["serviceAccountRef"], "auth.kubernetes.serviceAccountRef", None)
    elif settings.get("secretRef"):
        builder.add_secret(settings["secretRef"], "auth.kubernetes.secretRef", default_key="token")
    else:
        builder.use_controller()
    builder.kind = "vault_kubernetes"
    builder.cloud_identity = f"auth/{mount}/role/{settings.get('role') or ''}"


def _vault_user_login(method: str, default_path: str) -> Callable[[Mapping[str, Any], _IdentityBuilder], None]:
    def resolve(settings: Mapping[str, Any], builder: _IdentityBuilder) -> None:
        builder.kind = f"vault_{method.lower()}"
        builder.add_secret(settings.get("secretRef"), f"auth.{method}.secretRef")
        builder.cloud_identity = f"auth/{settings.get('path') or default_path}/users/{settings.get('username') or ''}"

    return resolve


def _vault_jwt(settings: Mapping[str, Any], builder: _IdentityBuilder) -> None:
    builder.kind = "vault_jwt"
    token_request = settings.get("kubernetesServiceAccountToken") or {}
    if settings.get("secretRef"):
        builder.add_secret(settings["secretRef"], "auth.jwt.secretRef")
    elif token_request.get("serviceAccountRef"):
        path = "auth.jwt.kubernetesServiceAccountToken.serviceAccountRef"
        builder.use_service_account(token_request["serviceAccountRef"], path, None)
    else:
        builder.problem("auth.jwt names neither a secretRef nor a kubernetesServiceAccountToken")
    builder.cloud_identity = f"auth/{settings.get('path') or 'jwt'}/role/{settings.get('role') or ''}"


def _vault_cert(settings: Mapping[str, Any], builder: _IdentityBuilder) -> None:
    builder.kind = "vault_cert"
    builder.add_secret(settings.get("clientCert"), "auth.cert.clientCert")
    builder.add_secret(settings.get("secretRef"), "auth.cert.secretRef")
    builder.cloud_identity = f"auth/{settings.get('path') or 'cert'}"


def _vault_iam(settings: Mapping[str, Any], builder: _IdentityBuilder) -> None:
    """AWS IAM auth to Vault: AWS credentials as for an AWS store, then the Vault role."""
    jwt_ref = (settings.get("jwt") or {}).get("serviceAccountRef")
    if jwt_ref:
        builder.use_service_account(jwt_ref, "auth.iam.jwt.serviceAccountRef", IRSA_ROLE_ARN_ANNOTATION)
    elif settings.get("secretRef"):
        _add_aws_key_secrets(settings["secretRef"], "auth.iam.secretRef", builder)
    else:
        builder.use_controller()
    builder.kind = "vault_iam"
    builder.assume_chain = (str(settings["role"]),) if settings.get("role") else ()
    builder.cloud_identity = f"auth/{settings.get('path') or 'aws'}/role/{settings.get('vaultRole') or ''}"


def _vault_gcp(settings: Mapping[str, Any], builder: _IdentityBuilder) -> None:
    if settings.get("secretRef"):
        key_ref = (settings["secretRef"] or {}).get("secretAccessKeySecretRef")
        builder.add_secret(key_ref, "auth.gcp.secretRef.secretAccessKeySecretRef")
    elif (settings.get("workloadIdentity") or {}).get("serviceAccountRef"):
        account_ref = settings["workloadIdentity"]["serviceAccountRef"]
        builder.use_service_account(account_ref, "auth.gcp.workloadIdentity.serviceAccountRef", None)
    elif settings.get("serviceAccountRef"):
        builder.use_service_account(settings["serviceAccountRef"], "auth.gcp.serviceAccountRef", None)
    else:
        builder.use_controller()
    builder.kind = "vault_gcp"
    builder.cloud_identity = f"auth/{settings.get('path') or 'gcp'}/role/{settings.get('role') or ''}"


_VAULT_METHODS: dict[str, Callable[[Any, _IdentityBuilder], None]] = {
    "tokenSecretRef": _vault_token,
    "appRole": _vault_approle,
    "kubernetes": _vault_kubernetes,
    "ldap": _vault_user_login("ldap", "ldap"),
    "userPass": _vault_user_login("userPass", "userpass"),
    "jwt": _vault_jwt,
    "cert": _vault_cert,
    "iam": _vault_iam,
    "gcp": _vault_gcp,
}


def _gcp_identity(block: Mapping[str, Any], builder: _IdentityBuilder) -> None:
    """GCP: a service-account key in a Secret, else workload identity through a KSA, else the controller."""
    auth = block.get("auth") or {}
    if auth.get("secretRef"):
        builder.kind = "gcp_key"
        key_ref = (auth["secretRef"] or {}).get("secretAccessKeySecretRef")
        builder.add_secret(key_ref, "auth.secretRef.secretAccessKeySecretRef")
    elif auth.get("workloadIdentity"):
        builder.kind = "gcp_workload_identity"
        path = "auth.workloadIdentity.serviceAccountRef"
        builder.use_service_account(auth["workloadIdentity"].get("serviceAccountRef"), path, None)
        account = builder.scope.service_accounts.get(builder.service_account) if builder.service_account else None
        if account is not None:
            builder.cloud_identity = _annotations(account).get(GKE_SERVICE_ACCOUNT_ANNOTATION) or None
        if account is not None and builder.cloud_identity is None:
            namespace, name = builder.service_account
            builder.problem(
                f"ServiceAccount {namespace}/{name} has no {GKE_SERVICE_ACCOUNT_ANNOTATION} annotation; "
                f"GCP can still grant it directly as principal .../subject/ns/{namespace}/sa/{name}"
            )
    elif auth.get("workloadIdentityFederation"):
        builder.kind = "gcp_workload_identity_federation"
        federation = auth["workloadIdentityFederation"]
        if federation.get("serviceAccountRef"):
            path = "auth.workloadIdentityFederation.serviceAccountRef"
            builder.use_service_account(federation["serviceAccountRef"], path, None)
        if (federation.get("awsSecurityCredentials") or {}).get("awsCredentialsSecretRef"):
            builder.add_secret(
                federation["awsSecurityCredentials"]["awsCredentialsSecretRef"],
                "auth.workloadIdentityFederation.awsSecurityCredentials.awsCredentialsSecretRef",
            )
    else:
        builder.use_controller()


def _azure_identity(block: Mapping[str, Any], builder: _IdentityBuilder) -> None:
    """Azure Key Vault: authType ServicePrincipal (the default), ManagedIdentity or WorkloadIdentity."""
    auth_type = block.get("authType") or "ServicePrincipal"
    secrets = block.get("authSecretRef") or {}
    if auth_type == "ServicePrincipal":
        builder.kind = "azure_service_principal"
        if not secrets:
            builder.problem("authType ServicePrincipal needs authSecretRef, and none is set")
        for key in ("clientId", "clientSecret", "clientCertificate", "tenantId"):
            if secrets.get(key):
                builder.add_secret(secrets[key], f"authSecretRef.{key}")
    elif auth_type == "ManagedIdentity":
        builder.use_controller("azure_managed_identity")
        builder.cloud_identity = block.get("identityId") or builder.cloud_identity
    elif auth_type == "WorkloadIdentity":
        _azure_workload_identity(block, secrets, builder)
    else:
        builder.problem(f"authType {auth_type!r} is not ServicePrincipal, ManagedIdentity or WorkloadIdentity")


def _azure_workload_identity(block: Mapping[str, Any], secrets: Mapping[str, Any], builder: _IdentityBuilder) -> None:
    if block.get("serviceAccountRef"):
        builder.kind = "azure_workload_identity"
        annotation = None if secrets.get("clientId") else AZURE_CLIENT_ID_ANNOTATION
        account_ref = block["serviceAccountRef"]
        builder.cloud_identity = builder.use_service_account(account_ref, "serviceAccountRef", annotation)
    else:
        builder.use_controller("azure_workload_identity")
    for key in ("clientId", "tenantId"):
        if secrets.get(key):
            builder.add_secret(secrets[key], f"authSecretRef.{key}")
    if secrets.get("clientId"):
        # ESO reads the client id from that Secret in place of the ServiceAccount annotation.
        builder.cloud_identity = None


def _kubernetes_identity(block: Mapping[str, Any], builder: _IdentityBuilder) -> None:
    """Kubernetes provider: a ServiceAccount token, a bearer token, a client certificate or a kubeconfig."""
    auth = block.get("auth") or {}
    if auth.get("serviceAccount"):
        builder.kind = "kubernetes_service_account"
        builder.use_service_account(auth["serviceAccount"], "auth.serviceAccount", None)
        if builder.service_account:
            namespace, name = builder.service_account
            builder.cloud_identity = f"system:serviceaccount:{namespace}:{name}"
    elif auth.get("token"):
        builder.kind = "kubernetes_token"
        builder.add_secret(auth["token"].get("bearerToken"), "auth.token.bearerToken")
    elif auth.get("cert"):
        builder.kind = "kubernetes_cert"
        builder.add_secret(auth["cert"].get("clientCert"), "auth.cert.clientCert")
        builder.add_secret(auth["cert"].get("clientKey"), "auth.cert.clientKey")
    elif block.get("authRef"):
        builder.kind = "kubernetes_kubeconfig"
        builder.add_secret(block["authRef"], "authRef")
    else:
        builder.problem("the kubernetes provider configures no auth")


def _other_identity(block: Mapping[str, Any], builder: _IdentityBuilder) -> None:
    """Record every Secret key and ServiceAccount referenced by a provider that blastradius does not model."""
    builder.kind = "other"
    builder.problem(
        f"blastradius does not model how provider {builder.provider} authenticates; "
        f"it records the Secrets and ServiceAccounts the block references"
    )
    for path, value in _walk(block, ""):
        if path.endswith(("serviceAccountRef", "serviceAccount")) and isinstance(value, Mapping):
            builder.use_service_account(value, path, None)
        elif _looks_like_secret_key_selector(value):
            builder.add_secret(value, path)


def _walk(value: Any, path: str) -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else str(key)
            yield child_path, child
            yield from _walk(child, child_path)
    elif isinstance(value, list):
        for position, child in enumerate(value):
            yield from _walk(child, f"{path}[{position}]")


def _looks_like_secret_key_selector(value: Any) -> bool:
    """Tell whether `value` is a SecretKeySelector: `name`, `key` and at most `namespace` (a caProvider adds `type`)."""
    return (
        isinstance(value, Mapping)
        and isinstance(value.get("name"), str)
        and isinstance(value.get("key"), str)
        and set(value) <= {"name", "key", "namespace"}
    )


_PROVIDER_RESOLVERS: dict[str, Callable[[Mapping[str, Any], _IdentityBuilder], None]] = {
    "aws": _aws_identity,
    "vault": _vault_identity,
    "gcpsm": _gcp_identity,
    "azurekv": _azure_identity,
    "kubernetes": _kubernetes_identity,
}


# --- Generators ----------------------------------------------------------------------------------

_AWS_GENERATORS = ("ECRAuthorizationToken", "STSSessionToken", "CodeArtifactAuthorizationToken")
# Generators that make values locally and authenticate to nothing.
_LOCAL_GENERATORS = ("Password", "UUID", "SSHKey", "Fake", "MFA")


def generator_spec(generator: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """Return a generator's effective kind and spec, unwrapping a ClusterGenerator."""
    if not isinstance(generator, Mapping) or not generator.get("kind"):
        raise EsoError("expected a generator object with a kind")
    if generator["kind"] != CLUSTER_GENERATOR:
        return str(generator["kind"]), _spec(generator)
    spec = _spec(generator)
    entries = _mapping(spec.get("generator"), generator, "spec.generator")
    specs = [value for value in entries.values() if value is not None]
    if not spec.get("kind") or len(specs) != 1:
        raise EsoError(f"{describe_object(generator)}: spec.kind and exactly one spec.generator entry are required")
    return str(spec["kind"]), _mapping(specs[0], generator, "spec.generator")


def generator_identity(
    generator: Mapping[str, Any],
    *,
    using_namespace: str,
    service_accounts: Mapping[tuple[str, str], Mapping[str, Any]],
    controller: ControllerIdentity | None,
) -> StoreIdentity:
    """Resolve whose identity ESO uses when an ExternalSecret in `using_namespace` runs `generator`.

    ECR, STS and CodeArtifact generators carry AWS auth like a store (a generator prefers
    `secretRef` when both it and `jwt` are set) and fall back to the controller; GCR, ACR and
    Vault dynamic-secret generators follow their store counterparts. References always resolve
    in the ExternalSecret's namespace: ESO ignores a namespace written on them. Password, UUID,
    SSHKey, Fake and MFA generators have kind `none`, because they authenticate to nothing.
    """
    kind, spec = generator_spec(generator)
    effect = "ESO resolves generator references in the ExternalSecret's namespace and ignores it"
    owner = describe_object(generator)
    scope = _RefScope(owner, using_namespace, using_namespace, service_accounts, controller, effect)

    if kind in _AWS_GENERATORS:
        builder = _IdentityBuilder(scope, "aws")
        _aws_identity(spec, builder, secret_ref_wins=True)
        return builder.build()
    if kind == "GCRAccessToken":
        return _resolve_provider_identity("gcpsm", spec, scope)
    if kind == "ACRAccessToken":
        builder = _IdentityBuilder(scope, "azurekv")
        _acr_identity(spec, builder)
        return builder.build()
    if kind == "VaultDynamicSecret":
        return _resolve_provider_identity("vault", _mapping(spec.get("provider"), generator, "spec.provider"), scope)
    if kind in _LOCAL_GENERATORS:
        return StoreIdentity(kind="none", provider="generator")
    return _resolve_provider_identity(kind, spec, scope)


def _acr_identity(spec: Mapping[str, Any], builder: _IdentityBuilder) -> None:
    auth = spec.get("auth") or {}
    if auth.get("servicePrincipal"):
        builder.kind = "azure_service_principal"
        secret_ref = auth["servicePrincipal"].get("secretRef") or {}
        builder.add_secret(secret_ref.get("clientId"), "auth.servicePrincipal.secretRef.clientId")
        builder.add_secret(secret_ref.get("clientSecret"), "auth.servicePrincipal.secretRef.clientSecret")
    elif "managedIdentity" in auth:
        builder.use_controller("azure_managed_identity")
        builder.cloud_identity = (auth["managedIdentity"] or {}).get("identityId") or builder.cloud_identity
    elif (auth.get("workloadIdentity") or {}).get("serviceAccountRef"):
        builder.kind = "azure_workload_identity"
        account_ref = auth["workloadIdentity"]["serviceAccountRef"]
        path = "auth.workloadIdentity.serviceAccountRef"
        builder.cloud_identity = builder.use_service_account(account_ref, path, AZURE_CLIENT_ID_ANNOTATION)
    else:
        builder.use_controller("azure_workload_identity" if "workloadIdentity" in auth else "controller")


# --- ExternalSecrets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreRef:
    """A reference to a store by kind and name, as written in an ExternalSecret or PushSecret."""

    kind: str
    name: str

    def key(self, namespace: str) -> tuple[str, str | None, str]:
        """Return the `store_key` this reference resolves to from an object in `namespace`."""
        return (self.kind, namespace if self.kind == SECRET_STORE else None, self.name)


@dataclass(frozen=True)
class GeneratorRef:
    """A reference to a generator (`sourceRef.generatorRef` or a PushSecret's `selector.generatorRef`)."""

    api_version: str | None
    kind: str
    name: str

    def key(self, namespace: str) -> tuple[str, str | None, str]:
        """Return (kind, namespace or None for a ClusterGenerator, name) as resolved from `namespace`."""
        return (self.kind, None if self.kind == CLUSTER_GENERATOR else namespace, self.name)


@dataclass(frozen=True)
class RemoteRef:
    """One source of an ExternalSecret's data.

    `via` is `data` (one remote `key`), `dataFrom.extract` (every property of one `key`),
    `dataFrom.find` (everything the store identity can list that matches `find`) or `generator`.
    `store` is None for a generator; `secret_key` is the target key of a `data` entry.
    """

    store: StoreRef | None
    key: str | None
    find: Mapping[str, Any] | None = field(default=None, hash=False)
    property: str | None = None
    version: str | None = None
    via: str = "data"
    generator: GeneratorRef | None = None
    secret_key: str | None = None


def find_matches(find: Any, name: str, tags: Mapping[str, str] | None) -> bool:
    """Return whether a remote secret of this name and tags is one a `dataFrom.find` selects.

    `name.regexp` is a Go regexp matched unanchored, `path` a name prefix, and every `tags` entry
    must be equal; an invalid regexp selects nothing.
    """
    if not isinstance(find, Mapping):
        return False
    pattern = (find.get("name") or {}).get("regexp") if isinstance(find.get("name"), Mapping) else None
    if pattern:
        try:
            if not compile_go_regex(pattern).search(name):
                return False
        except (GoRegexError, re.error):
            return False
    path = find.get("path")
    if path and not name.startswith(path):
        return False
    required_tags = find.get("tags") or {}
    secret_tags = tags or {}
    return all(secret_tags.get(key) == value for key, value in required_tags.items())


def external_secret_refs(es: Mapping[str, Any]) -> list[RemoteRef]:
    """List where an ExternalSecret reads from, entry by entry.

    `spec.secretStoreRef` (kind defaults to SecretStore) applies to every entry without its own
    `sourceRef`; `sourceRef.storeRef` overrides it and `sourceRef.generatorRef` replaces the store
    with a generator. An entry that needs the default store when there is none raises `EsoError`.
    """
    _require_kind(es, ("ExternalSecret",))
    spec = _spec(es)
    default_store = _store_ref(spec.get("secretStoreRef"), es, "spec.secretStoreRef")

    refs = []
    for position, entry in enumerate(_sequence(spec.get("data"), es, "spec.data")):
        path = f"spec.data[{position}]"
        entry = _mapping(entry, es, path)
        remote = _mapping(entry.get("remoteRef"), es, f"{path}.remoteRef")
        store, generator = _entry_source(entry, default_store, es, path)
        refs.append(
            RemoteRef(
                store=store,
                key=_optional_string(remote.get("key"), es, f"{path}.remoteRef.key"),
                property=remote.get("property"),
                version=remote.get("version"),
                via="generator" if generator else "data",
                generator=generator,
                secret_key=entry.get("secretKey"),
            )
        )

    for position, entry in enumerate(_sequence(spec.get("dataFrom"), es, "spec.dataFrom")):
        path = f"spec.dataFrom[{position}]"
        refs.append(_data_from_ref(_mapping(entry, es, path), default_store, es, path))
    return refs


def _data_from_ref(
    entry: Mapping[str, Any], default_store: StoreRef | None, es: Mapping[str, Any], path: str
) -> RemoteRef:
    store, generator = _entry_source(entry, default_store, es, path)
    if generator:
        return RemoteRef(store=None, key=None, via="generator", generator=generator)
    if entry.get("extract"):
        extract = _mapping(entry["extract"], es, f"{path}.extract")
        return RemoteRef(
            store=store,
            key=_optional_string(extract.get("key"), es, f"{path}.extract.key"),
            property=extract.get("property"),
            version=extract.get("version"),
            via="dataFrom.extract",
        )
    if entry.get("find"):
        find = _mapping(entry["find"], es, f"{path}.find")
        name = _mapping(find.get("name"), es, f"{path}.find.name")
        _optional_string(name.get("regexp"), es, f"{path}.find.name.regexp")
        _optional_string(find.get("path"), es, f"{path}.find.path")
        _mapping(find.get("tags"), es, f"{path}.find.tags")
        return RemoteRef(store=store, key=None, find=find, via="dataFrom.find")
    raise EsoError(f"{describe_object(es)}: {path} has none of extract, find or sourceRef.generatorRef")


def _entry_source(
    entry: Mapping[str, Any], default_store: StoreRef | None, es: Mapping[str, Any], path: str
) -> tuple[StoreRef | None, GeneratorRef | None]:
    source = _mapping(entry.get("sourceRef"), es, f"{path}.sourceRef")
    if source.get("generatorRef"):
        return None, _generator_ref(source["generatorRef"], es, f"{path}.sourceRef.generatorRef")
    if source.get("storeRef"):
        return _store_ref(source["storeRef"], es, f"{path}.sourceRef.storeRef"), None
    if default_store is None:
        raise EsoError(f"{describe_object(es)}: {path} has no sourceRef and spec.secretStoreRef is not set")
    return default_store, None


def _store_ref(value: Any, obj: Mapping[str, Any], path: str) -> StoreRef | None:
    if value is None:
        return None
    ref = _mapping(value, obj, path)
    kind = ref.get("kind") or SECRET_STORE
    if kind not in STORE_KINDS:
        raise EsoError(
            f"{describe_object(obj)}: {path}.kind {kind!r} is invalid; expected SecretStore or ClusterSecretStore"
        )
    if not ref.get("name"):
        raise EsoError(f"{describe_object(obj)}: {path}.name is missing")
    return StoreRef(kind, str(ref["name"]))


def _generator_ref(value: Any, obj: Mapping[str, Any], path: str) -> GeneratorRef:
    ref = _mapping(value, obj, path)
    if not ref.get("kind") or not ref.get("name"):
        raise EsoError(f"{describe_object(obj)}: {path} needs kind and name")
    return GeneratorRef(ref.get("apiVersion"), str(ref["kind"]), str(ref["name"]))


@dataclass(frozen=True)
class Target:
    """Destination of an ExternalSecret's copy, and how ESO maintains it.

    `refresh_interval_seconds` is 0 (or less) when ESO never refreshes on a timer; `refresh_policy`
    `CreatedOnce` and `OnChange` also stop timed refreshes.
    """

    namespace: str
    name: str
    creation_policy: str
    deletion_policy: str
    refresh_interval_seconds: float
    refresh_policy: str = "Periodic"

    @property
    def writes_secret(self) -> bool:
        """Tell whether ESO writes the target Secret.

        Owner and Orphan take an existing Secret of that name over and Merge writes into it, so
        only creationPolicy None leaves it alone.
        """
        return self.creation_policy != "None"

    @property
    def refreshes_periodically(self) -> bool:
        return self.refresh_interval_seconds > 0 and self.refresh_policy == "Periodic"


def external_secret_target(es: Mapping[str, Any]) -> Target:
    """Return the Secret an ExternalSecret writes: always in its own namespace, named by `target.name` or the ES.

    Defaults follow ESO: creationPolicy Owner, deletionPolicy Retain, refreshInterval 1h.
    """
    _require_kind(es, ("ExternalSecret",))
    spec = _spec(es)
    target = _mapping(spec.get("target"), es, "spec.target")
    try:
        interval = refresh_interval_seconds(spec.get("refreshInterval"))
    except EsoError as error:
        raise EsoError(f"{describe_object(es)}: spec.refreshInterval: {error}") from error
    return Target(
        namespace=_namespace(es),
        name=str(target.get("name") or _name(es)),
        creation_policy=str(target.get("creationPolicy") or "Owner"),
        deletion_policy=str(target.get("deletionPolicy") or "Retain"),
        refresh_interval_seconds=interval,
        refresh_policy=str(spec.get("refreshPolicy") or "Periodic"),
    )


@dataclass(frozen=True)
class SyncStatus:
    """Freshness of an ExternalSecret's copy when the snapshot was taken.

    `ready` is the Ready condition (None when absent or Unknown). `refresh_time` is the last
    successful sync, None if ESO never recorded one. `stale` means that sync is older than twice
    the refresh interval. `refresh_disabled` flags an ExternalSecret that never refreshes on a
    timer (refreshInterval 0, or refreshPolicy CreatedOnce or OnChange): it is never stale by
    age, yet its copy can lag a rotation indefinitely.
    """

    ready: bool | None
    reason: str | None
    message: str | None
    refresh_time: datetime | None
    stale: bool
    age_seconds: float | None
    refresh_disabled: bool = False


def sync_status(es: Mapping[str, Any], collected_at: datetime) -> SyncStatus:
    """Judge an ExternalSecret's sync from its status at `collected_at` (a naive time is taken as UTC)."""
    target = external_secret_target(es)
    status = _mapping(es.get("status"), es, "status")
    ready_condition = next(
        (condition for condition in _sequence(status.get("conditions"), es, "status.conditions")
         if isinstance(condition, Mapping) and condition.get("type") == "Ready"),
        None,
    )
    ready = {"True": True, "False": False}.get(str((ready_condition or {}).get("status")))
    refresh_time = _parse_time(status.get("refreshTime"), es, "status.refreshTime")

    age = (_as_utc(collected_at) - refresh_time).total_seconds() if refresh_time else None
    refresh_disabled = not target.refreshes_periodically
    stale = not refresh_disabled and age is not None and age > 2 * target.refresh_interval_seconds
    return SyncStatus(
        ready=ready,
        reason=(ready_condition or {}).get("reason"),
        message=(ready_condition or {}).get("message"),
        refresh_time=refresh_time,
        stale=stale,
        age_seconds=age,
        refresh_disabled=refresh_disabled,
    )


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _parse_time(value: Any, obj: Mapping[str, Any], path: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return _as_utc(value)
    try:
        return _as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError as error:
        raise EsoError(f"{describe_object(obj)}: {path} {value!r} is not an RFC 3339 time") from error


# --- ClusterExternalSecrets ----------------------------------------------------------------------


def _selected_namespaces(
    owner: Mapping[str, Any], names: Iterable[Any], selectors: Iterable[Any], namespaces: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Return the sorted names of `namespaces` listed by name or matched by any selector (all ORed)."""
    wanted = {str(name) for name in names}
    selector_list = [_mapping(selector, owner, "namespace selector") for selector in selectors if selector is not None]
    where = describe_object(owner)
    selected = []
    for namespace in namespaces:
        metadata = namespace.get("metadata") or {}
        name = str(metadata.get("name"))
        labels = _namespace_labels(name, metadata.get("labels"))
        if name in wanted or any(_selector_matches(selector, labels, where=where) for selector in selector_list):
            selected.append(name)
    return sorted(selected)


def cluster_external_secret_namespaces(ces: Mapping[str, Any], namespaces: Sequence[Mapping[str, Any]]) -> list[str]:
    """Return the namespaces a ClusterExternalSecret creates an ExternalSecret in, sorted.

    `namespaceSelectors`, the legacy `namespaceSelector` and the `namespaces` list are ORed, as
    ESO lists namespaces for each and takes the union. Only namespaces that exist count.
    """
    _require_kind(ces, ("ClusterExternalSecret",))
    spec = _spec(ces)
    selectors = [spec.get("namespaceSelector")]
    selectors.extend(_sequence(spec.get("namespaceSelectors"), ces, "spec.namespaceSelectors"))
    names = _sequence(spec.get("namespaces"), ces, "spec.namespaces")
    return _selected_namespaces(ces, names, selectors, namespaces)


def expand_cluster_external_secret(ces: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """Build the ExternalSecret a ClusterExternalSecret creates in `namespace`.

    Named `spec.externalSecretName` or after the ClusterExternalSecret, with its
    `externalSecretSpec` and `externalSecretMetadata`, and an owner reference back to it.
    """
    _require_kind(ces, ("ClusterExternalSecret",))
    spec = _spec(ces)
    metadata = _mapping(spec.get("externalSecretMetadata"), ces, "spec.externalSecretMetadata")
    expanded_metadata: dict[str, Any] = {
        "name": str(spec.get("externalSecretName") or _name(ces)),
        "namespace": namespace,
        "ownerReferences": [{"kind": "ClusterExternalSecret", "name": _name(ces)}],
    }
    if metadata.get("labels"):
        expanded_metadata["labels"] = dict(metadata["labels"])
    if metadata.get("annotations"):
        expanded_metadata["annotations"] = dict(metadata["annotations"])
    expanded: dict[str, Any] = {
        "apiVersion": ces.get("apiVersion") or f"{ESO_GROUP}/v1",
        "kind": "ExternalSecret",
        "metadata": expanded_metadata,
        "spec": copy.deepcopy(dict(_mapping(spec.get("externalSecretSpec"), ces, "spec.externalSecretSpec"))),
    }
    if ces.get("origin"):
        expanded["origin"] = dict(ces["origin"])
    return expanded


# --- PushSecrets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushFlow:
    """One Kubernetes-to-store write of a PushSecret: its source, its store and the remote key.

    `source_secret` is None when the PushSecret selects Secrets by label (`source_selector`) or
    pushes a generator's output (`generator`). `store` is None when the store is chosen by label
    (`store_selector`). `via` is `data` (one key to `remote_key`) or `dataTo` (bulk, keys kept).
    """

    push_secret: tuple[str, str]
    source_secret: tuple[str, str] | None
    store: StoreRef | None
    remote_key: str | None
    secret_key: str | None = None
    property: str | None = None
    source_selector: Mapping[str, Any] | None = field(default=None, hash=False)
    store_selector: Mapping[str, Any] | None = field(default=None, hash=False)
    generator: GeneratorRef | None = None
    via: str = "data"


def push_secret_flows(ps: Mapping[str, Any], namespaces: Sequence[Mapping[str, Any]] = ()) -> list[PushFlow]:
    """List where a PushSecret writes: a Secret of its own namespace flows to each store it names.

    A ClusterPushSecret creates a PushSecret (named `pushSecretName` or after it) in every
    namespace its `namespaceSelectors` pick from `namespaces`, so its flows fan out per namespace.
    """
    _require_kind(ps, ("PushSecret", "ClusterPushSecret"))
    if ps["kind"] == "PushSecret":
        return _flows_from_push_spec(ps, _spec(ps), _namespace(ps), _name(ps))

    spec = _spec(ps)
    push_spec = _mapping(spec.get("pushSecretSpec"), ps, "spec.pushSecretSpec")
    name = str(spec.get("pushSecretName") or _name(ps))
    selectors = _sequence(spec.get("namespaceSelectors"), ps, "spec.namespaceSelectors")
    flows = []
    for namespace in _selected_namespaces(ps, [], selectors, namespaces):
        flows.extend(_flows_from_push_spec(ps, push_spec, namespace, name))
    return flows


def _flows_from_push_spec(
    owner: Mapping[str, Any], spec: Mapping[str, Any], namespace: str, name: str
) -> list[PushFlow]:
    selector = _mapping(spec.get("selector"), owner, "selector")
    secret = _mapping(selector.get("secret"), owner, "selector.secret")
    source_secret = (namespace, str(secret["name"])) if secret.get("name") else None
    source_selector = secret.get("selector")
    generator = None
    if selector.get("generatorRef"):
        generator = _generator_ref(selector["generatorRef"], owner, "selector.generatorRef")
    common = {
        "push_secret": (namespace, name),
        "source_secret": source_secret,
        "source_selector": source_selector,
        "generator": generator,
    }

    store_refs = [
        _push_store_ref(ref, owner, f"secretStoreRefs[{position}]")
        for position, ref in enumerate(_sequence(spec.get("secretStoreRefs"), owner, "secretStoreRefs"))
    ]
    flows = []
    for position, entry in enumerate(_sequence(spec.get("data"), owner, "data")):
        match = _mapping(_mapping(entry, owner, f"data[{position}]").get("match"), owner, f"data[{position}].match")
        remote = _mapping(match.get("remoteRef"), owner, f"data[{position}].match.remoteRef")
        for store, store_selector in store_refs:
            flows.append(
                PushFlow(
                    store=store,
                    store_selector=store_selector,
                    remote_key=remote.get("remoteKey"),
                    secret_key=match.get("secretKey"),
                    property=remote.get("property"),
                    **common,
                )
            )
    for position, entry in enumerate(_sequence(spec.get("dataTo"), owner, "dataTo")):
        entry = _mapping(entry, owner, f"dataTo[{position}]")
        store, store_selector = _push_store_ref(entry.get("storeRef"), owner, f"dataTo[{position}].storeRef")
        flows.append(PushFlow(store=store, store_selector=store_selector, remote_key=None, via="dataTo", **common))
    return flows


def _push_store_ref(
    value: Any, owner: Mapping[str, Any], path: str
) -> tuple[StoreRef | None, Mapping[str, Any] | None]:
    ref = _mapping(value, owner, path)
    if ref.get("name"):
        return _store_ref(ref, owner, path), None
    if ref.get("labelSelector") is not None:
        return None, _mapping(ref["labelSelector"], owner, f"{path}.labelSelector")
    raise EsoError(f"{describe_object(owner)}: {path} needs a name or a labelSelector")
