"""Look-up tables over one cluster section of a snapshot, built once for the graph builder."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from blastradius.semantics import eso, rbac

ESO_GROUP = "external-secrets.io"
GENERATORS_GROUP = "generators.external-secrets.io"
WORKLOAD_KINDS = frozenset(
    {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "ReplicationController"}
)
LEGACY_TOKEN_TYPE = "kubernetes.io/service-account-token"


def api_group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


# What a semantics function raises on one object whose fields have the wrong type or shape: its own
# errors (all ValueError subclasses), or TypeError/AttributeError when it reaches a field of the wrong type.
MALFORMED_OBJECT_ERRORS: tuple[type[Exception], ...] = (TypeError, AttributeError, ValueError)


def malformed_object_warning(obj: dict[str, Any], error: Exception) -> str:
    """Return the warning for an object skipped because a field has the wrong type, naming the object and the fault.

    EsoError and RbacError messages already name the object and the field. For a TypeError or
    AttributeError only the Python message is known, which names the type found but not the field.
    """
    if isinstance(error, (eso.EsoError, rbac.RbacError)):
        return f"{error}; the object is skipped"
    return f"{object_label(obj)}: invalid field type ({type(error).__name__}: {error}); the object is skipped"


def object_label(obj: dict[str, Any]) -> str:
    """Return `Kind namespace/name` (or `Kind name`), with `file:line` when the object came from a manifest."""
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = f"{namespace}/{metadata.get('name')}" if namespace else str(metadata.get("name"))
    label = f"{obj.get('kind')} {name}"
    origin = obj.get("origin")
    if origin:
        label += f" ({origin['file']}:{origin['line']})"
    return label


@dataclass
class ClusterIndex:
    """Objects of one cluster grouped for the lookups the builder makes."""

    name: str
    oidc_issuer: str | None
    objects: list[dict[str, Any]]
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    service_accounts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    secrets_by_namespace: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    workloads: list[dict[str, Any]] = field(default_factory=list)
    eso: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    generators: list[dict[str, Any]] = field(default_factory=list)
    by_kind: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> ClusterIndex:
        index = cls(name=section["name"], oidc_issuer=section.get("oidc_issuer"), objects=section.get("objects", []))
        for obj in index.objects:
            index._add(obj)
        if section.get("server") is None:
            index._add_bound_serviceaccounts()
        index._add_default_serviceaccounts()
        return index

    def _add_bound_serviceaccounts(self) -> None:
        """Add each ServiceAccount that a binding names but the manifests do not define.

        Manifests (bootstrap RBAC, a GitOps folder of roles) often bind ServiceAccounts that other
        tooling creates, so token creation or pod creation in their namespace reaches them. A live
        collection lists every ServiceAccount, and there a binding to a missing one stays dangling.
        """
        for kind in ("RoleBinding", "ClusterRoleBinding"):
            for binding in self.by_kind.get(kind, []):
                binding_namespace = (binding.get("metadata") or {}).get("namespace") if kind == "RoleBinding" else None
                subjects = binding.get("subjects")
                for subject in subjects if isinstance(subjects, list) else ():
                    if not isinstance(subject, dict) or subject.get("kind") != "ServiceAccount":
                        continue
                    name, namespace = subject.get("name"), subject.get("namespace") or binding_namespace
                    if isinstance(name, str) and name and isinstance(namespace, str) and namespace:
                        self.namespaces.setdefault(namespace, {})
                        self.service_accounts.setdefault((namespace, name), {
                            "apiVersion": "v1", "kind": "ServiceAccount", "implicit": True,
                            "metadata": {"name": name, "namespace": namespace},
                        })

    def _add_default_serviceaccounts(self) -> None:
        """Add the `default` ServiceAccount that Kubernetes creates in every namespace, when not collected.

        Pods that name no ServiceAccount run as it, and GitOps manifests rarely list it.
        """
        for namespace in self.namespaces:
            if (namespace, "default") not in self.service_accounts:
                self.service_accounts[(namespace, "default")] = {
                    "apiVersion": "v1", "kind": "ServiceAccount", "implicit": True,
                    "metadata": {"name": "default", "namespace": namespace},
                }

    def _add(self, obj: dict[str, Any]) -> None:
        kind = obj.get("kind", "")
        group = api_group(obj.get("apiVersion", ""))
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace")
        name = metadata.get("name", "")
        self.by_kind[kind].append(obj)

        if namespace:
            self.namespaces.setdefault(namespace, {})
        if group == ESO_GROUP:
            self.eso[kind].append(obj)
        elif group == GENERATORS_GROUP:
            self.generators.append(obj)
        elif group == "" and kind == "Namespace":
            self.namespaces[name] = dict(metadata.get("labels") or {})
        elif group == "" and kind == "ServiceAccount":
            self.service_accounts[(namespace, name)] = obj
        elif group == "" and kind == "Secret":
            self.secrets[(namespace, name)] = obj
            self.secrets_by_namespace[namespace].append(name)
        elif kind in WORKLOAD_KINDS and group in ("", "apps", "batch"):
            self.workloads.append(obj)
