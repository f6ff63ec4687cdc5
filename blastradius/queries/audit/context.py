"""Shared inputs of the audit checks: the snapshot, its graph, the configuration and lookups built once.

Checks about configuration read the snapshot's objects through `ClusterIndex`; checks about
reachability read the capability graph. The lookups here are shared so that a store's identity,
the secrets an ExternalSecret copies and the protected namespaces are decided the same way by
every check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Iterator

from blastradius.config import Config
from blastradius.graph import ids
from blastradius.graph.index import MALFORMED_OBJECT_ERRORS, ClusterIndex, malformed_object_warning
from blastradius.graph.model import CapabilityGraph
from blastradius.semantics import eso, rbac
from blastradius.semantics.iam import AccountAuthorizations, UnknownPrincipalError

log = logging.getLogger(__name__)

PROTECTED_LABEL = "protected"


@dataclass(frozen=True)
class Hit:
    """One occurrence of a misconfiguration, before the catalogue adds title, severity and advice.

    `objects` are location dicts (`kind`, `namespace`, `name`, `file`, `line`); the first one is
    where a report points. `evidence` contains the facts behind the message as plain data.
    """

    message: str
    objects: list[dict[str, Any]]
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreIdentityRef:
    """The AWS principal ESO acts as for one store, as far as the snapshot and configuration tell.

    `arn` is None when the store signs in with static keys whose owner is recorded nowhere.
    `how` is `web_identity`, `static_keys` or `controller`; `keys_secret` is the
    `<namespace>/<name>` of the Secret holding static keys.
    """

    arn: str | None
    how: str
    keys_secret: str | None = None


def object_ref(obj: dict[str, Any]) -> dict[str, Any]:
    """Return the location dict of a Kubernetes object: kind, namespace, name, and file and line when known."""
    metadata = obj.get("metadata") or {}
    origin = obj.get("origin") or {}
    return {
        "kind": obj.get("kind"),
        "namespace": metadata.get("namespace"),
        "name": metadata.get("name"),
        "file": origin.get("file"),
        "line": origin.get("line"),
    }


def aws_ref(kind: str, arn: str) -> dict[str, Any]:
    """Return the location dict of an AWS object, named by its ARN (AWS objects have no file)."""
    return {"kind": kind, "namespace": None, "name": arn, "file": None, "line": None}


def aws_kind(arn: str) -> str:
    """Return `IAMRole`, `IAMUser` or `IAMPolicy` for an IAM ARN, `SecretsManagerSecret` for a secret."""
    resource = arn.split(":", 5)[-1]
    if ":secretsmanager:" in arn:
        return "SecretsManagerSecret"
    for prefix, kind in (("role/", "IAMRole"), ("user/", "IAMUser"), ("policy/", "IAMPolicy"), ("group/", "IAMGroup")):
        if resource.startswith(prefix):
            return kind
    return "AWSResource"


def short_arn(arn: str) -> str:
    """Return `role/name`, `user/name` or a secret's name: the part of an ARN that messages use."""
    resource = arn.split(":", 5)[-1]
    return resource[len("secret:"):] if resource.startswith("secret:") else resource


def store_label(store: dict[str, Any]) -> str:
    """Return `SecretStore namespace/name` or `ClusterSecretStore name`."""
    kind, namespace, name = eso.store_key(store)
    return f"SecretStore {namespace}/{name}" if kind == eso.SECRET_STORE else f"ClusterSecretStore {name}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class AuditContext:
    """The inputs of one audit run and the lookups the checks share."""

    def __init__(self, snapshot: dict[str, Any], graph: CapabilityGraph, config: Config, now: datetime) -> None:
        self.snapshot = snapshot
        self.graph = graph
        self.config = config
        self.now = now
        self.clusters = [ClusterIndex.from_section(section) for section in snapshot.get("clusters", [])]
        self.accounts: list[dict[str, Any]] = list(snapshot.get("aws_accounts", []))
        self.secrets_by_arn = {entry["arn"]: entry for account in self.accounts for entry in account.get("secrets", [])}
        self._readable: dict[str, list[str]] = {}
        self._grants: dict[str, list[rbac.Grant]] = {}
        self._external_secrets: dict[str, list[tuple[dict[str, Any], dict[str, Any] | None]]] = {}
        self._controllers: dict[str, eso.ControllerIdentity | None] = {}
        self._admitted: dict[tuple[str, tuple[str, str | None, str]], list[str]] = {}
        self._store_users: dict[str, dict[tuple[str, str | None, str], list[dict[str, Any]]]] = {}
        self._synced: dict[tuple[str, str, str], set[str]] = {}
        for record in graph.external_secrets:
            key = (record["cluster"], record["namespace"], record["name"])
            self._synced.setdefault(key, set()).update(record["cloud_secrets"])

    # --- AWS ------------------------------------------------------------------------------------

    @cached_property
    def authorizations(self) -> AccountAuthorizations | None:
        return AccountAuthorizations(self.accounts) if self.accounts else None

    def readable_secrets(self, principal_arn: str) -> list[str]:
        """Return the ARNs of the secrets a user or role can read (GetSecretValue and the KMS key), sorted."""
        if principal_arn not in self._readable:
            found: list[str] = []
            if self.authorizations is not None:
                try:
                    found = sorted(arn for arn, _ in self.authorizations.secret_access(principal_arn, "read"))
                except UnknownPrincipalError:
                    log.debug("principal %s is not in the snapshot's AWS accounts", principal_arn)
            self._readable[principal_arn] = found
        return self._readable[principal_arn]

    def secret_name(self, arn: str) -> str:
        return (self.secrets_by_arn.get(arn) or {}).get("name") or short_arn(arn)

    def has_principal(self, arn: str) -> bool:
        return ids.aws(arn) in self.graph.g

    # --- protected namespaces -------------------------------------------------------------------

    def protected_namespaces(self, index: ClusterIndex) -> dict[str, str]:
        """Map each protected namespace of a cluster to why it is protected.

        With `protected_namespaces` configured, those (globs allowed) are protected. Without it,
        namespaces labelled `protected: "true"` are, and the reason says so.
        """
        if self.config.protected_namespaces:
            source = self.config.source or "the configuration"
            return {namespace: f"protected by protected_namespaces in {source}"
                    for namespace in sorted(index.namespaces) if self.config.is_protected(namespace)}
        return {namespace: 'protected because it is labelled protected: "true" (no protected_namespaces configured)'
                for namespace, labels in sorted(index.namespaces.items()) if labels.get(PROTECTED_LABEL) == "true"}

    # --- stores ---------------------------------------------------------------------------------

    def stores(self, index: ClusterIndex) -> Iterator[dict[str, Any]]:
        for kind in eso.STORE_KINDS:
            yield from index.eso.get(kind, [])

    def store_node(self, index: ClusterIndex, store: dict[str, Any]) -> str:
        kind, namespace, name = eso.store_key(store)
        if kind == eso.SECRET_STORE:
            return ids.secretstore(index.name, namespace or "", name)
        return ids.clustersecretstore(index.name, name)

    def skip_malformed(self, index: ClusterIndex, obj: dict[str, Any], error: Exception) -> None:
        """Record that a check skipped an object whose fields have the wrong type, as a graph build warning.

        The warning reaches the report through SNAPSHOT-BUILD-WARNING, which runs after the other checks.
        """
        warning = f"cluster {index.name}: {malformed_object_warning(obj, error)}"
        log.warning("%s", warning)
        if warning not in self.graph.warnings:
            self.graph.warnings.append(warning)

    def admitted_namespaces(self, index: ClusterIndex, store: dict[str, Any]) -> list[str]:
        """Return the namespaces of the cluster whose ExternalSecrets may use a store (none for an invalid store)."""
        key = (index.name, eso.store_key(store))
        if key not in self._admitted:
            self._admitted[key] = self._evaluate_admission(index, store)
        return self._admitted[key]

    def _evaluate_admission(self, index: ClusterIndex, store: dict[str, Any]) -> list[str]:
        admitted = []
        for namespace, labels in sorted(index.namespaces.items()):
            try:
                if eso.store_admits_namespace(store, namespace, labels).admitted:
                    admitted.append(namespace)
            except MALFORMED_OBJECT_ERRORS as error:
                self.skip_malformed(index, store, error)
                return []
        return admitted

    def store_identities(self, index: ClusterIndex, store: dict[str, Any]) -> list[StoreIdentityRef]:
        """Return the AWS principals ESO acts as for a store, from the graph's `eso_acts_as` edges.

        Static keys whose owner the graph does not know are resolved with `static_key_owners` of
        the configuration; without an entry the identity's ARN stays None.
        """
        node = self.store_node(index, store)
        if node not in self.graph.g:
            return []
        use_nodes = [node] + [target for _, target, data in self.graph.g.out_edges(node, data=True)
                              if data["kind"] == "contains" and self.graph.kind(target) == "store_use"]
        how = self._authentication(index, store)
        found: dict[str | None, StoreIdentityRef] = {}
        for use_node in use_nodes:
            for _, target, data in self.graph.g.out_edges(use_node, data=True):
                if data["kind"] != "eso_acts_as":
                    continue
                identity = self._identity_of(target, how)
                found.setdefault(identity.arn, identity)
        return [found[key] for key in sorted(found, key=lambda arn: arn or "")]

    def _authentication(self, index: ClusterIndex, store: dict[str, Any]) -> str:
        try:
            provider = eso.store_providers(store)[0]
            namespace = eso.store_key(store)[1] or "default"
            identity = eso.resolve_store_identity(store, using_namespace=namespace, service_accounts=index.service_accounts,
                                                  controller=self.controller(index), provider=provider)
        except (eso.EsoError, IndexError, ValueError):
            return "unknown"
        return identity.kind

    def _identity_of(self, node: str, how: str) -> StoreIdentityRef:
        data = self.graph.g.nodes[node]
        keys_secret = None
        for source, _, edge in self.graph.g.in_edges(node, data=True):
            if edge["kind"] == "holds_credentials":
                keys_secret = self.graph.name(source).removeprefix("secret:")
        if data["kind"] == "static_keys":
            return StoreIdentityRef(self.config.static_key_owners.get(keys_secret or ""), "static_keys", keys_secret)
        return StoreIdentityRef(data.get("arn"), how, keys_secret)

    def controller(self, index: ClusterIndex) -> eso.ControllerIdentity | None:
        if index.name not in self._controllers:
            controllers = eso.find_controllers(index.objects)
            self._controllers[index.name] = controllers[0] if controllers else None
        return self._controllers[index.name]

    # --- ExternalSecrets ------------------------------------------------------------------------

    def external_secrets(self, index: ClusterIndex) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Return (ExternalSecret, owning ClusterExternalSecret or None) for every ExternalSecret of a cluster.

        ExternalSecrets in the snapshot come first, with their status. A ClusterExternalSecret adds
        the ExternalSecrets it would create in the namespaces it selects, unless the snapshot
        already contains one of that name there.
        """
        if index.name not in self._external_secrets:
            self._external_secrets[index.name] = self._collect_external_secrets(index)
        return self._external_secrets[index.name]

    def _collect_external_secrets(self, index: ClusterIndex) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        found = [(es, None) for es in index.eso.get("ExternalSecret", [])]
        present = {((es.get("metadata") or {}).get("namespace"), (es.get("metadata") or {}).get("name")) for es, _ in found}
        namespaces = [{"metadata": {"name": name, "labels": labels}} for name, labels in sorted(index.namespaces.items())]
        for ces in index.eso.get("ClusterExternalSecret", []):
            try:
                selected = eso.cluster_external_secret_namespaces(ces, namespaces)
                expanded = [eso.expand_cluster_external_secret(ces, namespace) for namespace in selected]
            except (eso.EsoError, ValueError):
                continue
            for es in expanded:
                key = (es["metadata"].get("namespace"), es["metadata"].get("name"))
                if key not in present:
                    found.append((es, ces))
        return found

    def store_users(self, index: ClusterIndex, store: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the ExternalSecrets that read from a store, through `secretStoreRef` or a per-entry `sourceRef`."""
        if index.name not in self._store_users:
            users: dict[tuple[str, str | None, str], list[dict[str, Any]]] = {}
            for es, _ in self.external_secrets(index):
                namespace = (es.get("metadata") or {}).get("namespace")
                try:
                    refs = eso.external_secret_refs(es)
                except (eso.EsoError, ValueError):
                    continue
                for key in {ref.store.key(namespace) for ref in refs if ref.store is not None}:
                    users.setdefault(key, []).append(es)
            self._store_users[index.name] = users
        return self._store_users[index.name].get(eso.store_key(store), [])

    def copied_secrets(self, index: ClusterIndex, es: dict[str, Any]) -> list[str]:
        """Return the ARNs of the cloud secrets an ExternalSecret copies.

        Remote keys come from the graph. A `dataFrom.find` is matched here against the secrets the
        store identity reads or, when that identity is unknown, against every secret of the
        snapshot, so the result may then include secrets the store cannot read.
        """
        metadata = es.get("metadata") or {}
        namespace, name = metadata.get("namespace"), metadata.get("name")
        copied = set(self._synced.get((index.name, namespace, name), set()))
        try:
            refs = eso.external_secret_refs(es)
        except (eso.EsoError, ValueError):
            return sorted(copied)
        stores = {eso.store_key(store): store for store in self.stores(index)}
        for ref in refs:
            if ref.find is None or ref.store is None:
                continue
            store = stores.get(ref.store.key(namespace))
            candidates = self._find_candidates(index, store)
            try:
                copied.update(arn for arn in candidates if self._find_matches(ref.find, arn))
            except MALFORMED_OBJECT_ERRORS as error:
                self.skip_malformed(index, es, error)
        return sorted(copied)

    def _find_candidates(self, index: ClusterIndex, store: dict[str, Any] | None) -> list[str]:
        arns = [identity.arn for identity in (self.store_identities(index, store) if store else []) if identity.arn]
        if not arns:
            return sorted(self.secrets_by_arn)
        return sorted({secret for arn in arns for secret in self.readable_secrets(arn)})

    def _find_matches(self, find: Any, arn: str) -> bool:
        entry = self.secrets_by_arn.get(arn) or {}
        return eso.find_matches(find, entry.get("name", ""), entry.get("tags"))

    # --- RBAC -----------------------------------------------------------------------------------

    def grants(self, index: ClusterIndex) -> list[rbac.Grant]:
        """Return the cluster's RBAC grants, one per subject and rule (faults are the graph's build warnings)."""
        if index.name not in self._grants:
            self._grants[index.name], _ = rbac.resolve_grants(index.objects)
        return self._grants[index.name]


def subject_reference(subject: rbac.Subject) -> str:
    """Return a subject the way the configuration and queries name it (`group:sre`, `system:serviceaccount:ns:sa`)."""
    if subject.kind == "ServiceAccount":
        return rbac.serviceaccount_username(subject.namespace or "", subject.name)
    return f"{subject.kind.lower()}:{subject.name}"


def binding_ref(index: ClusterIndex, grant: rbac.Grant) -> dict[str, Any]:
    """Return the location dict of the binding behind a grant."""
    for obj in index.by_kind.get(grant.binding_kind, []):
        metadata = obj.get("metadata") or {}
        if metadata.get("name") == grant.binding_name and metadata.get("namespace") == grant.binding_namespace:
            return object_ref(obj)
    return {"kind": grant.binding_kind, "namespace": grant.binding_namespace, "name": grant.binding_name,
            "file": None, "line": None}
