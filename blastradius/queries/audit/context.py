"""Shared inputs of the audit checks: the snapshot, its graph, the configuration and lookups built once.

Checks about configuration read the snapshot's objects through `ClusterIndex`; checks about
reachability read the capability graph. The lookups here are shared so that a store's identity,
the secrets an ExternalSecret copies and the protected namespaces are decided the same way by
every check.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

from blastradius.config import Config
from blastradius.graph import ids
from blastradius.graph.index import MALFORMED_OBJECT_ERRORS, ClusterIndex, malformed_object_warning
from blastradius.graph.model import CapabilityGraph
from blastradius.semantics import eso, rbac
from blastradius.semantics.iam import AccountAuthorizations, UnknownPrincipalError

log = logging.getLogger(__name__)

PROTECTED_LABEL = "protected"

T = TypeVar("T")


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
        self._stores_by_key: dict[str, dict[tuple[str, str | None, str], dict[str, Any]]] = {}
        # Results per store or ExternalSecret object, keyed by id() (see `_per_object`).
        self._identities: dict[int, tuple[Any, list[StoreIdentityRef]]] = {}
        self._copied: dict[int, tuple[Any, list[str]]] = {}
        self._find_candidates_by_store: dict[tuple[str, tuple[str, str | None, str] | None], SecretsByName] = {}
        self._grants_by_subject: dict[str, dict[rbac.Subject, list[rbac.Grant]]] = {}
        self._named_objects: dict[tuple[str, str], dict[tuple[str | None, str], dict[str, Any]]] = {}
        self._synced: dict[tuple[str, str, str], set[str]] = {}
        for record in graph.external_secrets:
            key = (record["cluster"], record["namespace"], record["name"])
            self._synced.setdefault(key, set()).update(record["cloud_secrets"])

    # --- AWS ------------------------------------------------------------------------------------

    @cached_property
    def authorizations(self) -> AccountAuthorizations | None:
        """Return the graph's IAM evaluator, which keeps the build's decisions, or a new one for these accounts."""
        if not self.accounts:
            return None
        if self.graph.authorizations is not None:
            return self.graph.authorizations
        return AccountAuthorizations(self.accounts)

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

    @cached_property
    def secret_arns_by_name(self) -> dict[Any, list[str]]:
        """Map each cloud secret name of the snapshot to the ARNs of the secrets with that name, in snapshot order."""
        found: dict[Any, list[str]] = {}
        for arn, entry in self.secrets_by_arn.items():
            found.setdefault(entry.get("name"), []).append(arn)
        return found

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
        the configuration; without an entry the identity's ARN stays None. Callers must not
        change the list, because every call for the store returns the same one.
        """
        return _per_object(self._identities, store, lambda: self._find_store_identities(index, store))

    def _find_store_identities(self, index: ClusterIndex, store: dict[str, Any]) -> list[StoreIdentityRef]:
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
        """Return the ARNs of the cloud secrets an ExternalSecret copies, sorted.

        Remote keys come from the graph. A `dataFrom.find` is matched here against the secrets the
        store identity reads or, when that identity is unknown, against every secret of the
        snapshot, so the result may then include secrets the store cannot read. Callers must not
        change the list, because every call for the ExternalSecret returns the same one.
        """
        return _per_object(self._copied, es, lambda: self._find_copied_secrets(index, es))

    def _find_copied_secrets(self, index: ClusterIndex, es: dict[str, Any]) -> list[str]:
        metadata = es.get("metadata") or {}
        namespace, name = metadata.get("namespace"), metadata.get("name")
        copied = set(self._synced.get((index.name, namespace, name), set()))
        try:
            refs = eso.external_secret_refs(es)
        except (eso.EsoError, ValueError):
            return sorted(copied)
        stores = self._stores_of(index)
        for ref in refs:
            if ref.find is None or ref.store is None:
                continue
            store = stores.get(ref.store.key(namespace))
            candidates = self._find_candidates(index, store)
            try:
                copied.update(arn for arn in candidates.selectable_by(ref.find) if self._find_matches(ref.find, arn))
            except MALFORMED_OBJECT_ERRORS as error:
                self.skip_malformed(index, es, error)
        return sorted(copied)

    def _stores_of(self, index: ClusterIndex) -> dict[tuple[str, str | None, str], dict[str, Any]]:
        """Map each store key of a cluster to its store. Of two stores with one key, the later one wins."""
        if index.name not in self._stores_by_key:
            self._stores_by_key[index.name] = {eso.store_key(store): store for store in self.stores(index)}
        return self._stores_by_key[index.name]

    def _find_candidates(self, index: ClusterIndex, store: dict[str, Any] | None) -> SecretsByName:
        """Return the secrets a `dataFrom.find` through `store` chooses from: what its identities read, else every secret."""
        key = (index.name, eso.store_key(store) if store else None)
        if key not in self._find_candidates_by_store:
            arns = [identity.arn for identity in (self.store_identities(index, store) if store else []) if identity.arn]
            if arns:
                candidates = {secret for arn in arns for secret in self.readable_secrets(arn)}
            else:
                candidates = set(self.secrets_by_arn)
            self._find_candidates_by_store[key] = SecretsByName(candidates, self.secrets_by_arn)
        return self._find_candidates_by_store[key]

    def _find_matches(self, find: Any, arn: str) -> bool:
        entry = self.secrets_by_arn.get(arn) or {}
        return eso.find_matches(find, entry.get("name", ""), entry.get("tags"))

    # --- RBAC -----------------------------------------------------------------------------------

    def named_object(self, index: ClusterIndex, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """Return the first object of a kind with this `metadata.namespace` and `metadata.name`, or None."""
        key = (index.name, kind)
        if key not in self._named_objects:
            found: dict[tuple[str | None, str], dict[str, Any]] = {}
            for obj in index.by_kind.get(kind, []):
                metadata = obj.get("metadata") or {}
                object_namespace, object_name = metadata.get("namespace"), metadata.get("name")
                if isinstance(object_name, str) and (object_namespace is None or isinstance(object_namespace, str)):
                    found.setdefault((object_namespace, object_name), obj)
            self._named_objects[key] = found
        return self._named_objects[key].get((namespace, name))

    def grants(self, index: ClusterIndex) -> list[rbac.Grant]:
        """Return the cluster's RBAC grants, one per subject and rule (faults are the graph's build warnings)."""
        if index.name not in self._grants:
            self._grants[index.name], _ = rbac.resolve_grants(index.objects)
        return self._grants[index.name]

    def serviceaccount_grants(self, index: ClusterIndex, namespace: str, name: str) -> list[rbac.Grant]:
        """Return the grants that apply to a ServiceAccount: to it, to its user name or to its groups."""
        if index.name not in self._grants_by_subject:
            by_subject: dict[rbac.Subject, list[rbac.Grant]] = {}
            for grant in self.grants(index):
                by_subject.setdefault(grant.subject, []).append(grant)
            self._grants_by_subject[index.name] = by_subject
        by_subject = self._grants_by_subject[index.name]
        return [grant for identity in set(rbac.serviceaccount_identities(namespace, name))
                for grant in by_subject.get(identity, [])]


def _per_object(cache: dict[int, tuple[Any, T]], obj: Any, compute: Callable[[], T]) -> T:
    """Return `compute()` for `obj`, computed once per object.

    The cache is keyed by `id(obj)` because snapshot objects are dicts, which cannot be hashed.
    It keeps a reference to `obj`, so no other object can take over its id while the entry exists.
    """
    entry = cache.get(id(obj))
    if entry is None:
        entry = (obj, compute())
        cache[id(obj)] = entry
    return entry[1]


class SecretsByName:
    """A set of cloud secret ARNs ordered by secret name, so the secrets under a name prefix are found by bisection."""

    def __init__(self, arns: set[str], secrets_by_arn: Mapping[str, dict[str, Any]]) -> None:
        named: list[tuple[str, str]] = []
        # Secrets whose recorded name is not a string, which no prefix test can rule out.
        self._unnamed: list[str] = []
        for arn in sorted(arns):
            name = (secrets_by_arn.get(arn) or {}).get("name", "")
            if isinstance(name, str):
                named.append((name, arn))
            else:
                self._unnamed.append(arn)
        named.sort()
        self._names = [name for name, _ in named]
        self._arns = [arn for _, arn in named]

    def selectable_by(self, find: Any) -> list[str]:
        """Return the ARNs a `dataFrom.find` may select: those under its `path` prefix, or all without one.

        `eso.find_matches` still decides each returned secret; this only skips names outside the prefix.
        """
        path = find.get("path") if isinstance(find, Mapping) else None
        if not path or not isinstance(path, str):
            return self._arns + self._unnamed
        start = bisect.bisect_left(self._names, path)
        end = start
        while end < len(self._names) and self._names[end].startswith(path):
            end += 1
        return self._arns[start:end] + self._unnamed


def subject_reference(subject: rbac.Subject) -> str:
    """Return a subject the way the configuration and queries name it (`group:sre`, `system:serviceaccount:ns:sa`)."""
    if subject.kind == "ServiceAccount":
        return rbac.serviceaccount_username(subject.namespace or "", subject.name)
    return f"{subject.kind.lower()}:{subject.name}"


def binding_ref(ctx: AuditContext, index: ClusterIndex, grant: rbac.Grant) -> dict[str, Any]:
    """Return the location dict of the binding behind a grant."""
    obj = ctx.named_object(index, grant.binding_kind, grant.binding_namespace, grant.binding_name)
    if obj is not None:
        return object_ref(obj)
    return {"kind": grant.binding_kind, "namespace": grant.binding_namespace, "name": grant.binding_name,
            "file": None, "line": None}
