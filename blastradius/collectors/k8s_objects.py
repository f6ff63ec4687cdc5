"""Normalise Kubernetes objects into the trimmed snapshot shape, shared by every cluster collector.

The rules are those of docs/snapshot-format.md ("Objects"). Secret values and the
`kubectl.kubernetes.io/last-applied-configuration` annotation are dropped before anything else
reads the object, and no literal value of a container's `env` is ever kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from blastradius.collectors.errors import CollectionError

CORE_GROUP = ""
RBAC_GROUP = "rbac.authorization.k8s.io"
ESO_GROUP = "external-secrets.io"
GENERATORS_GROUP = "generators.external-secrets.io"
ADMISSION_GROUP = "admissionregistration.k8s.io"
KYVERNO_GROUP = "kyverno.io"
PROMETHEUS_GROUP = "monitoring.coreos.com"

POD_AND_WORKLOAD_KINDS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "ReplicationController"}

# Kinds kept in a snapshot, by API group ("" is the core group). Every other kind is only counted.
KEPT_KINDS: dict[str, set[str]] = {
    CORE_GROUP: {"Namespace", "ServiceAccount", "Secret", "Pod", "ReplicationController"},
    RBAC_GROUP: {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"},
    "apps": {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"},
    "batch": {"Job", "CronJob"},
    ESO_GROUP: {
        "SecretStore",
        "ClusterSecretStore",
        "ExternalSecret",
        "ClusterExternalSecret",
        "PushSecret",
        "ClusterPushSecret",
    },
    # Known generator kinds, listed for reference. is_kept() keeps the whole group, so a generator
    # kind added by a newer ESO release is kept too.
    GENERATORS_GROUP: {
        "ACRAccessToken",
        "CloudsmithAccessToken",
        "ClusterGenerator",
        "ECRAuthorizationToken",
        "Fake",
        "GCRAccessToken",
        "GeneratorState",
        "GithubAccessToken",
        "Grafana",
        "MFA",
        "Password",
        "QuayAccessToken",
        "SSHKey",
        "STSSessionToken",
        "UUID",
        "VaultDynamicSecret",
        "Webhook",
    },
    ADMISSION_GROUP: {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"},
    KYVERNO_GROUP: {"Policy", "ClusterPolicy"},
    PROMETHEUS_GROUP: {"PrometheusRule"},
}
WHOLE_GROUPS_KEPT = {GENERATORS_GROUP}
# API versions whose fields blastradius reads, by group. Objects of another version of a kept group
# are still read the same way, with a warning, because the fields it reads kept their names so far.
KNOWN_VERSIONS: dict[str, frozenset[str]] = {
    CORE_GROUP: frozenset({"v1"}),
    RBAC_GROUP: frozenset({"v1", "v1beta1", "v1alpha1"}),
    "apps": frozenset({"v1", "v1beta2", "v1beta1"}),
    "batch": frozenset({"v1", "v1beta1", "v2alpha1"}),
    ESO_GROUP: frozenset({"v1", "v1beta1", "v1alpha1"}),
    GENERATORS_GROUP: frozenset({"v1alpha1"}),
    ADMISSION_GROUP: frozenset({"v1", "v1beta1", "v1alpha1"}),
    KYVERNO_GROUP: frozenset({"v1", "v2beta1"}),
    PROMETHEUS_GROUP: frozenset({"v1"}),
}
SPEC_ONLY_GROUPS = {ADMISSION_GROUP, KYVERNO_GROUP, PROMETHEUS_GROUP}

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
PARTIAL_OBJECT_KIND = "PartialObjectMetadata"


class ObjectError(CollectionError):
    """A Kubernetes object that cannot be normalised: a missing kind or name, or a field of the wrong type."""


def api_group(api_version: str) -> str:
    """Return the API group of an apiVersion: `apps` for `apps/v1`, and "" for the core `v1`."""
    group, _, _ = api_version.rpartition("/")
    return group


def is_kept(api_version: str, kind: str) -> bool:
    """Return whether blastradius keeps objects of this apiVersion and kind in a snapshot."""
    group = api_group(api_version)
    return group in WHOLE_GROUPS_KEPT or kind in KEPT_KINDS.get(group, ())


def is_known_version(api_version: str) -> bool:
    """Return whether the version part of an apiVersion is one that blastradius supports for its group."""
    group, _, version = api_version.rpartition("/")
    return version in KNOWN_VERSIONS.get(group, ())


def groups_keeping(kind: str) -> list[str]:
    """Return the API groups from which blastradius keeps objects of this kind, sorted ("" is the core group)."""
    return sorted(group for group, kinds in KEPT_KINDS.items() if kind in kinds)


def describe_object(kind: str | None, metadata: Any) -> str:
    """Return `Kind namespace/name` (or as much of it as is known) to name an object in a message."""
    label = kind if isinstance(kind, str) and kind else "object without kind"
    if not isinstance(metadata, dict):
        return label
    name = metadata.get("name")
    namespace = metadata.get("namespace")
    if isinstance(name, str) and name:
        return f"{label} {namespace}/{name}" if isinstance(namespace, str) and namespace else f"{label} {name}"
    if isinstance(namespace, str) and namespace:
        return f"{label} in namespace {namespace}"
    return label


def normalize_object(
    obj: dict[str, Any],
    origin: dict[str, Any] | None = None,
    *,
    kind: str | None = None,
    api_version: str | None = None,
) -> dict[str, Any]:
    """Return the trimmed snapshot form of one kept Kubernetes object.

    `kind` and `api_version` replace the object's own fields when given. A live collector passes
    them for list items, which the API server returns without kind and apiVersion, and for
    metadata-only objects (apiVersion `meta.k8s.io/v1`, kind `PartialObjectMetadata`), which
    must name the real kind. A metadata-only object keeps its metadata only, and a metadata-only
    Secret has `type` and `keys` set to null, meaning unknown. `origin` is stored as given.

    The input is not modified. The result shares unchanged subtrees (rules, subjects, spec) with
    it instead of copying them, so a caller must not modify the input afterwards.

    Raises ObjectError naming the object when kind, apiVersion or metadata.name is missing or
    a field has the wrong type.
    """
    if not isinstance(obj, dict):
        raise ObjectError(f"expected a Kubernetes object (a mapping), got {type_name(obj)}")
    is_partial = obj.get("kind") == PARTIAL_OBJECT_KIND
    kind = kind if kind is not None else obj.get("kind")
    api_version = api_version if api_version is not None else obj.get("apiVersion")
    if is_partial and (kind == PARTIAL_OBJECT_KIND or api_version == obj.get("apiVersion")):
        raise ObjectError(
            f"{describe_object(PARTIAL_OBJECT_KIND, obj.get('metadata'))}: a metadata-only object needs "
            "the real kind and api_version passed to normalize_object"
        )

    label = describe_object(kind, obj.get("metadata"))
    _check_identity(label, kind, api_version, obj.get("metadata"))
    normalized: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": _normalize_metadata(label, obj["metadata"]),
    }
    if origin is not None:
        normalized["origin"] = origin
    if is_partial:
        if kind == "Secret" and api_group(api_version) == CORE_GROUP:
            normalized.update(type=None, keys=None)
        return normalized

    normalized.update(_kind_fields(label, api_group(api_version), kind, obj))
    return normalized


def require_string(label: str, field: str, value: Any) -> str:
    """Return a required string field. Raise ObjectError saying whether it is missing or of another type."""
    if value is None or value == "":
        raise ObjectError(f"{label}: missing {field}")
    if not isinstance(value, str):
        raise ObjectError(f"{label}: {field} must be a string, got {type_name(value)}")
    return value


def _check_identity(label: str, kind: Any, api_version: Any, metadata: Any) -> None:
    require_string(label, "kind", kind)
    require_string(label, "apiVersion", api_version)
    if not isinstance(metadata, dict):
        raise ObjectError(f"{label}: metadata must be a mapping, got {type_name(metadata)}")
    require_string(label, "metadata.name", metadata.get("name"))
    namespace = metadata.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise ObjectError(f"{label}: metadata.namespace must be a string, got {type_name(namespace)}")


def _normalize_metadata(label: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """Keep name, namespace, labels, annotations (without last-applied) and owner references."""
    kept: dict[str, Any] = {"name": metadata["name"]}
    if metadata.get("namespace"):
        kept["namespace"] = metadata["namespace"]

    labels = _string_map(label, "metadata.labels", metadata.get("labels"))
    if labels:
        kept["labels"] = labels
    annotations = _string_map(label, "metadata.annotations", metadata.get("annotations"))
    annotations.pop(LAST_APPLIED_ANNOTATION, None)
    if annotations:
        kept["annotations"] = annotations

    owners = _list_of_mappings(label, "metadata.ownerReferences", metadata.get("ownerReferences"))
    if owners:
        kept["ownerReferences"] = [{"kind": owner.get("kind"), "name": owner.get("name")} for owner in owners]
    return kept


def _kind_fields(label: str, group: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Return the kind-specific fields kept for this object, per the snapshot format."""
    if group == CORE_GROUP and kind == "Secret":
        return _secret_fields(label, obj)
    if group == CORE_GROUP and kind == "ServiceAccount":
        return _service_account_fields(label, obj)
    if group == RBAC_GROUP:
        return _rbac_fields(label, kind, obj)
    if kind in POD_AND_WORKLOAD_KINDS and kind in KEPT_KINDS.get(group, ()):
        return {"pod": summarize_pod(label, kind, _mapping(label, "spec", obj.get("spec")))}
    if group == ESO_GROUP:
        return _eso_fields(label, kind, obj)
    if group == GENERATORS_GROUP:
        return _generator_fields(label, kind, obj)
    if group in SPEC_ONLY_GROUPS:
        return {"spec": _mapping(label, "spec", obj.get("spec"))}
    return {}


def _secret_fields(label: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Return the Secret's type and sorted key names. The values are never read."""
    data = _mapping(label, "data", obj.get("data"))
    string_data = _mapping(label, "stringData", obj.get("stringData"))
    keys = sorted({str(key) for key in data} | {str(key) for key in string_data})
    secret_type = obj.get("type") or "Opaque"
    if not isinstance(secret_type, str):
        raise ObjectError(f"{label}: type must be a string, got {type_name(secret_type)}")
    return {"type": secret_type, "keys": keys}


def _service_account_fields(label: str, obj: dict[str, Any]) -> dict[str, Any]:
    secrets = _list_of_mappings(label, "secrets", obj.get("secrets"))
    return {
        "secrets": [secret["name"] for secret in secrets if isinstance(secret.get("name"), str)],
        "automountServiceAccountToken": _optional_bool(label, "automountServiceAccountToken", obj.get("automountServiceAccountToken")),
    }


def _rbac_fields(label: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    if kind in ("Role", "ClusterRole"):
        fields: dict[str, Any] = {"rules": _list_of_mappings(label, "rules", obj.get("rules"))}
        if kind == "ClusterRole" and obj.get("aggregationRule") is not None:
            fields["aggregationRule"] = _mapping(label, "aggregationRule", obj.get("aggregationRule"))
        return fields
    return {
        "roleRef": _mapping(label, "roleRef", obj.get("roleRef")),
        "subjects": _list_of_mappings(label, "subjects", obj.get("subjects")),
    }


def summarize_pod(label: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Summarise a Pod's spec, or a workload's pod template, into the `pod` field of the snapshot.

    `replicas` is the declared count: `spec.replicas` (default 1) for Deployments, StatefulSets,
    ReplicaSets and ReplicationControllers, `parallelism` (default 1) for Jobs and CronJobs, 1 for
    a Pod, and null for a DaemonSet, which runs one pod per matching node.
    """
    pod_spec = _pod_spec(label, kind, spec)
    service_account = (
        _optional_string(label, "serviceAccountName", pod_spec.get("serviceAccountName"))
        or _optional_string(label, "serviceAccount", pod_spec.get("serviceAccount"))
        or "default"
    )
    return {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": _optional_bool(
            label, "automountServiceAccountToken", pod_spec.get("automountServiceAccountToken")
        ),
        "replicas": _replicas(label, kind, spec),
        "nodeName": _optional_string(label, "nodeName", pod_spec.get("nodeName")),
        "secretRefs": _secret_refs(label, pod_spec),
    }


def _pod_spec(label: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Return the pod spec inside a Pod, a workload's template or a CronJob's job template."""
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        job_template = _mapping(label, "spec.jobTemplate", spec.get("jobTemplate"))
        spec = _mapping(label, "spec.jobTemplate.spec", job_template.get("spec"))
        prefix = "spec.jobTemplate.spec.template"
    else:
        prefix = "spec.template"
    template = _mapping(label, prefix, spec.get("template"))
    return _mapping(label, f"{prefix}.spec", template.get("spec"))


def _replicas(label: str, kind: str, spec: dict[str, Any]) -> int | None:
    if kind == "DaemonSet":
        return None
    if kind == "Pod":
        return 1
    if kind == "CronJob":
        job_template = spec.get("jobTemplate") or {}
        count = (job_template.get("spec") or {}).get("parallelism")
    elif kind == "Job":
        count = spec.get("parallelism")
    else:
        count = spec.get("replicas")
    if count is None:
        return 1
    if not isinstance(count, int) or isinstance(count, bool):
        raise ObjectError(f"{label}: the replica count must be an integer, got {type_name(count)}")
    return count


def _secret_refs(label: str, pod_spec: dict[str, Any]) -> list[dict[str, str]]:
    """Return the Secrets a pod reads, each with how it reads it, sorted and without repeats.

    Only the names are read: a container's literal `env[].value` is never looked at.
    """
    refs: set[tuple[str, str]] = set()
    for volume in _list_of_mappings(label, "volumes", pod_spec.get("volumes")):
        _add_ref(refs, _mapping(label, "volumes[].secret", volume.get("secret")).get("secretName"), "volume")
        projected = _mapping(label, "volumes[].projected", volume.get("projected"))
        for source in _list_of_mappings(label, "volumes[].projected.sources", projected.get("sources")):
            _add_ref(refs, _mapping(label, "projected secret", source.get("secret")).get("name"), "projected")

    for container in _all_containers(label, pod_spec):
        for variable in _list_of_mappings(label, "env", container.get("env")):
            value_from = _mapping(label, "env[].valueFrom", variable.get("valueFrom"))
            _add_ref(refs, _mapping(label, "secretKeyRef", value_from.get("secretKeyRef")).get("name"), "env")
        for source in _list_of_mappings(label, "envFrom", container.get("envFrom")):
            _add_ref(refs, _mapping(label, "envFrom[].secretRef", source.get("secretRef")).get("name"), "envFrom")

    for pull_secret in _list_of_mappings(label, "imagePullSecrets", pod_spec.get("imagePullSecrets")):
        _add_ref(refs, pull_secret.get("name"), "imagePullSecret")
    return [{"name": name, "via": via} for name, via in sorted(refs)]


def _add_ref(refs: set[tuple[str, str]], name: Any, via: str) -> None:
    if isinstance(name, str) and name:
        refs.add((name, via))


def _all_containers(label: str, pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = []
    for field in ("initContainers", "containers", "ephemeralContainers"):
        containers.extend(_list_of_mappings(label, field, pod_spec.get(field)))
    return containers


def _eso_fields(label: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Keep an External Secrets object's spec and status, without literal values that may be secrets.

    Dropped: the fake provider's values, webhook headers and bodies (they carry tokens) and URL
    queries and user info, template data and literals (they may embed values), and the messages of
    status conditions (provider errors have quoted payloads).
    """
    spec = _mapping(label, "spec", obj.get("spec"))
    if kind in ("SecretStore", "ClusterSecretStore"):
        spec = _without_fake_provider_values(label, spec)
    return {"spec": scrub_literals(spec), "status": _without_condition_messages(_mapping(label, "status", obj.get("status")))}


# Keys whose values are literal request content: kept as key names only.
_LITERAL_MAPPINGS = frozenset({"headers"})
_LITERAL_VALUES = frozenset({"body", "literal"})


def scrub_literals(value: Any, parent: str = "") -> Any:
    """Return a copy of an ESO spec without header values, bodies, template values and URL secrets."""
    if isinstance(value, dict):
        scrubbed: dict[str, Any] = {}
        for key, item in value.items():
            if key in _LITERAL_VALUES:
                continue
            if key in _LITERAL_MAPPINGS and isinstance(item, dict):
                scrubbed[key] = {name: "" for name in item}
            elif key == "data" and parent == "template" and isinstance(item, dict):
                scrubbed[key] = {name: "" for name in item}
            elif key == "url" and isinstance(item, str):
                scrubbed[key] = _url_without_secrets(item)
            else:
                scrubbed[key] = scrub_literals(item, key)
        return scrubbed
    if isinstance(value, list):
        return [scrub_literals(item, parent) for item in value]
    return value


def _url_without_secrets(url: str) -> str:
    """Return a URL without its user info and query string, which may carry credentials."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _without_condition_messages(status: dict[str, Any]) -> dict[str, Any]:
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return status
    kept = [{key: item for key, item in condition.items() if key != "message"} if isinstance(condition, dict) else condition
            for condition in conditions]
    return {**status, "conditions": kept}


def _without_fake_provider_values(label: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Return the store spec with `value` and `valueMap` removed from `provider.fake.data[]`.

    Only the path to the fake provider is copied, so the input stays unchanged.
    """
    provider = spec.get("provider")
    if not isinstance(provider, dict) or not isinstance(provider.get("fake"), dict):
        return spec
    fake = provider["fake"]
    entries = _list_of_mappings(label, "spec.provider.fake.data", fake.get("data"))
    scrubbed = [{key: value for key, value in entry.items() if key not in ("value", "valueMap")} for entry in entries]
    return {**spec, "provider": {**provider, "fake": {**fake, "data": scrubbed}}}


def _generator_fields(label: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Keep a generator's spec and status, without literal values.

    The Fake generator's `data` map contains the values it returns, so it is dropped, and so is
    the `fakeSpec.data` of a ClusterGenerator. A GeneratorState keeps its deadline and the generator
    manifest it was produced from, scrubbed the same way, but never the opaque `state`.
    """
    spec = _mapping(label, "spec", obj.get("spec"))
    if kind == "GeneratorState":
        resource = spec.get("resource")
        spec = {key: value for key, value in spec.items() if key not in ("state", "resource")}
        if isinstance(resource, dict):
            resource_kind = resource.get("kind")
            resource_spec = resource.get("spec") if isinstance(resource.get("spec"), dict) else {}
            spec["resource"] = {**resource, "spec": _scrub_generator_spec(label, resource_kind, resource_spec)}
    else:
        spec = _scrub_generator_spec(label, kind, spec)
    return {"spec": scrub_literals(spec), "status": _without_condition_messages(_mapping(label, "status", obj.get("status")))}


def _scrub_generator_spec(label: str, kind: Any, spec: dict[str, Any]) -> dict[str, Any]:
    if kind == "Fake":
        return {key: value for key, value in spec.items() if key != "data"}
    if kind == "ClusterGenerator":
        generator = _mapping(label, "spec.generator", spec.get("generator"))
        fake_spec = generator.get("fakeSpec")
        if isinstance(fake_spec, dict):
            scrubbed = {key: value for key, value in fake_spec.items() if key != "data"}
            return {**spec, "generator": {**generator, "fakeSpec": scrubbed}}
    return spec


def _mapping(label: str, field: str, value: Any) -> dict[str, Any]:
    """Return a mapping field, or {} when it is absent or null. Raise ObjectError for another type."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ObjectError(f"{label}: {field} must be a mapping, got {type_name(value)}")
    return value


def _list_of_mappings(label: str, field: str, value: Any) -> list[dict[str, Any]]:
    """Return a list-of-mappings field, or [] when it is absent or null. Raise ObjectError otherwise."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ObjectError(f"{label}: {field} must be a list of mappings")
    return value


def _optional_string(label: str, field: str, value: Any) -> str | None:
    """Return a string field, or None when it is absent or null. Raise ObjectError for another type."""
    if value is not None and not isinstance(value, str):
        raise ObjectError(f"{label}: {field} must be a string, got {type_name(value)}")
    return value


def _optional_bool(label: str, field: str, value: Any) -> bool | None:
    """Return a boolean field, or None when it is absent or null. Raise ObjectError for another type."""
    if value is not None and not isinstance(value, bool):
        raise ObjectError(f"{label}: {field} must be true or false, got {type_name(value)}")
    return value


def _string_map(label: str, field: str, value: Any) -> dict[str, str]:
    """Return a copy of a labels or annotations map. Raise ObjectError unless it maps strings to strings."""
    mapping = _mapping(label, field, value)
    if not all(isinstance(key, str) and isinstance(item, str) for key, item in mapping.items()):
        raise ObjectError(f"{label}: {field} must map strings to strings")
    return dict(mapping)


def type_name(value: Any) -> str:
    """Return a YAML type name for messages, because the value itself may be secret."""
    names = {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
