"""External Secrets nodes and edges: stores, the identities ESO acts as, and what ExternalSecrets copy.

The chain a user draws, principal → store → cloud identity → secret → Kubernetes copy, is built here:
- a subject that can create ExternalSecrets in a namespace *and* read the Secret they write (read
  Secrets there, or create pods there) reaches `eso-pull:<ns>`. Both rights must belong to the same
  subject, directly or through the groups Kubernetes puts it in;
- `eso-pull:<ns>` reaches every store that admits the namespace;
- a store reaches its cloud identity through a `use_read` edge: ESO reads secrets as that identity,
  and nothing else;
- each ExternalSecret links the cloud secrets it copies with the Secret it writes, both ways.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Callable

from blastradius.graph import ids
from blastradius.graph.aws import AwsGraph, decision_text
from blastradius.graph.index import MALFORMED_OBJECT_ERRORS, ClusterIndex, malformed_object_warning, object_label
from blastradius.graph.kubernetes import KubernetesGraph, binding_refs
from blastradius.graph.model import CapabilityGraph
from blastradius.semantics import eso, rbac
from blastradius.snapshot import coverage_gap

log = logging.getLogger(__name__)

# An annotation on a Kubernetes Secret that contains static AWS keys, naming the IAM user or role ARN
# they belong to. Neither Kubernetes nor AWS records which user an access key in a Secret belongs to,
# and blastradius never reads the key itself.
STATIC_KEYS_OWNER_ANNOTATION = "blastradius.io/aws-principal"


@dataclass(frozen=True)
class CloudIdentity:
    """The cloud principal ESO ends up acting as for one store, and what made it so."""

    node: str
    arn: str | None
    reason: str
    conditions: tuple[str, ...] = ()
    service_account: str | None = None


class EsoGraph:
    """Adds one cluster's External Secrets side to the graph."""

    def __init__(self, graph: CapabilityGraph, index: ClusterIndex, k8s: KubernetesGraph, aws: AwsGraph | None,
                 issuer: str | None) -> None:
        self.graph = graph
        self.index = index
        self.k8s = k8s
        self.aws = aws
        self.issuer = issuer
        self.cluster = index.name
        self.controller: eso.ControllerIdentity | None = None
        self.stores: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.store_nodes: dict[tuple[str, str | None, str], str] = {}
        self.identities: dict[tuple[tuple[str, str | None, str], str], list[CloudIdentity]] = {}
        self._gapped_stores: set[tuple[str, str | None, str]] = set()
        self._admitted: dict[tuple[str, str | None, str], list[str]] = {}
        self._admitted_sets: dict[tuple[str, str | None, str], frozenset[str]] = {}
        self._resolved_identities: dict[tuple[tuple[str, str | None, str], eso.StoreIdentity], list[CloudIdentity]] = {}
        self._names_by_kind: dict[str, dict[str, set[str]]] = {}
        self._accounts_by_namespace: dict[str, list[str]] = {}
        self._readable_names: dict[str, list[tuple[str, str, dict[str, str] | None]]] = {}

    def warn(self, message: str) -> None:
        self.graph.warnings.append(f"cluster {self.cluster}: {message}")

    def _warn_object(self, obj: dict[str, Any], error: Exception) -> None:
        """Warn about an object the semantics rejected, naming it once: ESO errors already start with its name."""
        label = object_label(obj)
        message = str(error)
        self.warn(message if message.startswith(label) else f"{label}: {message}")

    # --- build ----------------------------------------------------------------------------------

    def build(self) -> None:
        self._add_controller()
        for kind in (eso.SECRET_STORE, eso.CLUSTER_SECRET_STORE):
            for store in self.index.eso.get(kind, []):
                self._add_one(self._add_store, store)
        self._add_store_rights()
        for es in self.index.eso.get("ExternalSecret", []):
            self._add_one(self._add_external_secret, es, owner=None)
        self._add_cluster_external_secrets()
        for kind in ("PushSecret", "ClusterPushSecret"):
            for push in self.index.eso.get(kind, []):
                self._add_one(self._add_push_secret, push)

    def _add_one(self, add: Callable[..., None], obj: dict[str, Any], **options: Any) -> None:
        """Add one object's nodes and edges, or warn and skip it when a field has the wrong type."""
        try:
            add(obj, **options)
        except MALFORMED_OBJECT_ERRORS as error:
            self.warn(malformed_object_warning(obj, error))

    def _add_controller(self) -> None:
        controllers = eso.find_controllers(self.index.objects)
        if not controllers:
            if self.index.eso:
                self.warn("no External Secrets controller found (no Deployment labelled app.kubernetes.io/name: "
                          "external-secrets, no binding to an *external-secrets-controller ClusterRole); "
                          "stores without credentials of their own cannot be resolved")
            return
        if len(controllers) > 1:
            names = ", ".join(f"{c.namespace}/{c.service_account}" for c in controllers)
            self.warn(f"several External Secrets controllers found ({names}); each is marked eso-controller")
        self.controller = controllers[0]
        for controller in controllers:
            node = self.k8s.serviceaccount_node(controller.namespace, controller.service_account)
            data = self.graph.g.nodes[node]
            data["eso_controller"] = True
            data["refs"] = [*data.get("refs", []), ESO_CONTROLLER_REF]

    # --- stores ---------------------------------------------------------------------------------

    def _add_store(self, store: dict[str, Any]) -> None:
        try:
            kind, namespace, name = key = eso.store_key(store)
        except eso.EsoError as error:
            self.warn(str(error))
            return
        if kind == eso.SECRET_STORE:
            node, ref = ids.secretstore(self.cluster, namespace, name), f"secretstore:{namespace}/{name}"
        else:
            node, ref = ids.clustersecretstore(self.cluster, name), f"clustersecretstore:{name}"

        try:
            providers = eso.store_providers(store)
        except eso.EsoError as error:
            self.warn(str(error))
            providers = []
        if len(providers) > 1:
            self.warn(f"{object_label(store)} configures {len(providers)} providers "
                      f"({', '.join(p.name for p in providers)}); ESO requires exactly one, so only {providers[0].name} is analysed")
        provider = providers[0] if providers else None

        kind_name = "secretstore" if kind == eso.SECRET_STORE else "clustersecretstore"
        self.graph.add_node(node, kind_name, ref, cluster=self.cluster, namespace=namespace, refs=[ref],
                            origin=store.get("origin"), provider=provider.name if provider else None,
                            has_conditions=bool((store.get("spec") or {}).get("conditions")))
        self.stores[key] = store
        self.store_nodes[key] = node
        if self.controller is not None:
            controller = self.k8s.serviceaccount_node(self.controller.namespace, self.controller.service_account)
            self.graph.add_edge(controller, node, "eso_controller_uses")
        if provider is None:
            return

        admitted = self._admitted_namespaces(store)
        by_namespace = {namespace: self._store_identities(key, store, provider, namespace) for namespace in admitted}
        # Referent authentication: a ClusterSecretStore whose credentials resolve in the using namespace.
        varies = kind == eso.CLUSTER_SECRET_STORE and len({tuple(found) for found in by_namespace.values()}) > 1
        for using_namespace, identities in by_namespace.items():
            using_node = self._store_use_node(name, node, using_namespace) if varies else node
            pull = self._eso_pull_node(using_namespace)
            self.graph.add_edge(pull, using_node, "eso_store_admits",
                                f"{ref} accepts ExternalSecrets from namespace {using_namespace}")
            for identity in identities:
                # One edge serves every namespace the store admits unless its identity varies by namespace.
                acts_as = {"store": ref, "service_account": identity.service_account}
                if varies:
                    acts_as["namespace"] = using_namespace
                self.graph.add_edge(using_node, identity.node, "eso_acts_as", identity.reason, conditions=identity.conditions,
                                    evidence=acts_as)
                self.graph.add_edge(self._eso_push_node(using_namespace), identity.node, "eso_pushes_as",
                                    f"PushSecrets in {using_namespace} write through {ref}: {identity.reason}",
                                    conditions=identity.conditions, evidence={"store": ref, "namespace": using_namespace})

    def _admitted_namespaces(self, store: dict[str, Any]) -> list[str]:
        key = eso.store_key(store)
        if key not in self._admitted:
            self._admitted[key] = self._evaluate_admission(store)
            self._admitted_sets[key] = frozenset(self._admitted[key])
        return self._admitted[key]

    def _evaluate_admission(self, store: dict[str, Any]) -> list[str]:
        admitted = []
        for namespace, labels in self._admission_candidates(store):
            try:
                admission = eso.store_admits_namespace(store, namespace, labels)
            except (eso.EsoError, ValueError) as error:
                self._warn_object(store, error)
                return []
            for warning in admission.warnings:
                self.warn(warning)
            if admission.admitted:
                admitted.append(namespace)
            elif store.get("kind") == eso.CLUSTER_SECRET_STORE:
                key = eso.store_key(store)
                if key in self.store_nodes:
                    self.graph.admission_denials[(self.store_nodes[key], namespace)] = admission.reason
        return admitted

    def _admission_candidates(self, store: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
        """Return the namespaces whose admission needs deciding: a SecretStore serves only its own."""
        own = (store.get("metadata") or {}).get("namespace")
        if store.get("kind") == eso.SECRET_STORE and isinstance(own, str):
            return [(own, self.index.namespaces[own])] if own in self.index.namespaces else []
        return sorted(self.index.namespaces.items())

    def _store_use_node(self, name: str, store_node: str, namespace: str) -> str:
        """Return a node for a ClusterSecretStore used from one namespace, whose credentials resolve there."""
        node = ids.store_use(self.cluster, name, namespace)
        self.graph.add_node(node, "store_use", f"clustersecretstore:{name} used from {namespace}", cluster=self.cluster,
                            namespace=namespace)
        self.graph.add_edge(store_node, node, "contains",
                            f"clustersecretstore:{name} resolves its credentials in namespace {namespace} (referent authentication)")
        return node

    def _store_identities(self, key: tuple, store: dict[str, Any], provider: eso.StoreProvider, namespace: str) -> list[CloudIdentity]:
        """Return the cloud identities ESO acts as when an ExternalSecret in `namespace` uses the store."""
        if (key, namespace) in self.identities:
            return self.identities[(key, namespace)]
        try:
            identity = eso.resolve_store_identity(store, using_namespace=namespace, service_accounts=self.index.service_accounts,
                                                  controller=self.controller, provider=provider)
        except eso.EsoError as error:
            self.warn(str(error))
            identity = None
        if identity is None:
            resolved: list[CloudIdentity] = []
        elif (key, identity) in self._resolved_identities:
            resolved = self._resolved_identities[(key, identity)]
        else:
            resolved = self._cloud_identities(store, identity, namespace)
            self._resolved_identities[(key, identity)] = resolved
        self.identities[(key, namespace)] = resolved
        return resolved

    def _cloud_identities(self, store: dict[str, Any], identity: eso.StoreIdentity, namespace: str) -> list[CloudIdentity]:
        for problem in identity.problems:
            self.warn(problem if store.get("kind") == eso.SECRET_STORE else f"{problem} (used from namespace {namespace})")
        if identity.provider != "aws":
            self._backend_gap(store, identity.provider)
            return []
        if self.aws is None:
            self._backend_gap(store, "aws")
            return []

        base = self._aws_base_identity(store, identity, namespace)
        if base is None:
            return []
        final = self._assume_chain(store, base, identity.assume_chain)
        return [final] if final is not None else []

    def _backend_gap(self, store: dict[str, Any], provider: str) -> None:
        key = eso.store_key(store)
        if key in self._gapped_stores:
            return
        self._gapped_stores.add(key)
        what = "its AWS account is" if provider == "aws" else f"the {provider} backend is"
        self.graph.coverage_gaps.append(coverage_gap(
            f"kubernetes:{self.cluster}", "unsupported", f"{provider} provider of {object_label(store)}",
            f"{what} not in the snapshot, so what this store reaches is unknown",
        ))

    def _aws_base_identity(self, store: dict[str, Any], identity: eso.StoreIdentity, namespace: str) -> CloudIdentity | None:
        assert self.aws is not None
        if identity.kind == "static_keys":
            return self._static_keys_identity(identity)
        if identity.kind in ("web_identity", "controller") and identity.service_account:
            sa_namespace, sa_name = identity.service_account
            sa_node = self.k8s.serviceaccount_node(sa_namespace, sa_name)
            role_arn = identity.cloud_identity
            if not role_arn:
                return None
            role_node = self.aws.principal_node(role_arn)
            if role_node is None:
                self._unknown_role_gap(store, role_arn, f"ServiceAccount {sa_namespace}/{sa_name} names it")
                return None
            via = "the ESO controller's own identity" if identity.kind == "controller" else f"ServiceAccount {sa_namespace}/{sa_name}"
            admitted = [edge for edge in self.graph.g.get_edge_data(sa_node, role_node, default={}).values()
                        if edge["kind"] == "irsa_assume"]
            if not admitted:
                if self.issuer is None:
                    return CloudIdentity(role_node, role_arn, f"ESO authenticates as {role_arn} through {via}",
                                     (f"the trust of {role_arn} admits {sa_namespace}/{sa_name} (cluster OIDC issuer unknown)",),
                                     f"{sa_namespace}/{sa_name}")
                self.warn(f"{object_label(store)}: the trust policy of {role_arn} does not admit ServiceAccount "
                          f"{sa_namespace}/{sa_name} of this cluster's issuer, so ESO cannot authenticate through it")
                return None
            return CloudIdentity(role_node, role_arn, f"ESO authenticates as {role_arn} through {via}", admitted[0]["conditions"],
                                 f"{sa_namespace}/{sa_name}")
        if identity.kind == "controller":
            self.warn(f"{object_label(store)}: falls back to the controller's identity, which has no AWS role annotation")
        return None

    def _static_keys_identity(self, identity: eso.StoreIdentity) -> CloudIdentity | None:
        assert self.aws is not None
        secrets = sorted({(namespace, name) for namespace, name, _ in identity.credentials_secrets})
        if not secrets:
            return None
        namespace, name = secrets[0]
        secret_node = self.k8s.secret_node(namespace, name)
        obj = self.index.secrets.get((namespace, name)) or {}
        owner = ((obj.get("metadata") or {}).get("annotations") or {}).get(STATIC_KEYS_OWNER_ANNOTATION)
        owner_node = self.aws.principal_node(owner) if owner else None
        if owner_node is None:
            node = ids.static_keys(self.cluster, namespace, name)
            if node not in self.graph.g:
                self.graph.add_node(node, "static_keys", f"AWS keys in secret:{namespace}/{name}", cluster=self.cluster,
                                    namespace=namespace)
                self.graph.add_edge(secret_node, node, "holds_credentials", f"secret:{namespace}/{name} holds AWS access keys")
                self.graph.coverage_gaps.append(coverage_gap(
                    f"kubernetes:{self.cluster}", "not_found", f"owner of the AWS keys in Secret {namespace}/{name}",
                    f"which IAM user the keys belong to is not recorded; annotate the Secret with "
                    f"{STATIC_KEYS_OWNER_ANNOTATION}: <IAM user ARN> to analyse what they reach",
                    namespace=namespace,
                ))
            return CloudIdentity(node, None, f"ESO authenticates with the AWS keys in secret:{namespace}/{name}")
        self.graph.add_edge(secret_node, owner_node, "holds_credentials",
                            f"secret:{namespace}/{name} holds access keys of {owner} (annotation {STATIC_KEYS_OWNER_ANNOTATION})")
        return CloudIdentity(owner_node, owner, f"ESO authenticates as {owner} with the keys in secret:{namespace}/{name}")

    def _unknown_role_gap(self, store: dict[str, Any], role_arn: str, why: str) -> None:
        namespace = (store.get("metadata") or {}).get("namespace")
        self.graph.coverage_gaps.append(coverage_gap(
            f"kubernetes:{self.cluster}", "not_found", f"role {role_arn} of {object_label(store)}",
            f"{why}, but its account is not in the snapshot, so what the store reaches is unknown; "
            "collect that account too", namespace=namespace,
        ))

    def _assume_chain(self, store: dict[str, Any], base: CloudIdentity, chain: tuple[str, ...]) -> CloudIdentity | None:
        assert self.aws is not None
        label = object_label(store)
        current = base
        for role_arn in chain:
            role_node = self.aws.principal_node(role_arn)
            if role_node is None:
                self._unknown_role_gap(store, role_arn, "the store assumes it")
                return None
            if current.arn is None:
                conditions = (*current.conditions, f"the stored keys' principal may assume {role_arn}")
                current = CloudIdentity(role_node, role_arn, f"{current.reason}, then assumes {role_arn}", conditions,
                                        current.service_account)
                continue
            decision = self.aws.can_assume(current.arn, role_arn)
            if decision is None or not decision.possible:
                self.warn(f"{label}: {current.arn} may not assume {role_arn}, so the store's sync fails")
                return current
            conditions = (*current.conditions, *(decision.conditions if decision.effect == "conditional" else ()))
            current = CloudIdentity(role_node, role_arn, f"{current.reason}, then assumes {role_arn} ({decision_text(decision)})",
                                    conditions, current.service_account)
        return current

    # --- who can use stores -------------------------------------------------------------------

    def _eso_pull_node(self, namespace: str) -> str:
        node = ids.eso_pull(self.cluster, namespace)
        if node not in self.graph.g:
            self.graph.add_node(node, "eso_pull", f"ExternalSecrets in namespace {namespace}", cluster=self.cluster,
                                namespace=namespace)
        return node

    def _eso_push_node(self, namespace: str) -> str:
        node = ids.eso_push(self.cluster, namespace)
        if node not in self.graph.g:
            self.graph.add_node(node, "eso_push", f"PushSecrets in namespace {namespace}", cluster=self.cluster,
                                namespace=namespace)
        return node

    def _add_store_rights(self) -> None:
        """Link each subject to the namespaces where it can make ESO pull, push or write Secrets."""
        subjects = set(self.k8s.rights.by_subject)
        subjects |= {rbac.Subject("ServiceAccount", name, namespace) for namespace, name in self.index.service_accounts}
        for subject in sorted(subjects, key=lambda s: (s.kind, s.namespace or "", s.name)):
            held = self.k8s.rights.of(subject)
            by_name: dict[str, list[rbac.Capability]] = {}
            for capability in held:
                by_name.setdefault(capability.name, []).append(capability)
            if not any(name in by_name for name in ("create_externalsecrets", "create_pushsecrets")):
                continue
            self._link_subject(subject, by_name)

    def _namespaces_of(self, capabilities: list[rbac.Capability]) -> dict[str, rbac.Capability]:
        """Map each namespace to one capability that covers it (cluster-wide ones cover all)."""
        covered: dict[str, rbac.Capability] = {}
        for capability in capabilities:
            targets = self.index.namespaces if capability.scope is None else [capability.scope]
            for namespace in targets:
                covered.setdefault(namespace, capability)
        return covered

    def _writable_objects(self, capabilities: list[rbac.Capability], kind: str, resource: str) -> dict[str, rbac.Capability]:
        """Map namespaces to a capability that lets the subject make ESO act: create, or change an existing object.

        A rule that allows only update or patch works on objects that exist, so it counts only in
        namespaces where an object of the kind exists (with a name the rule names, if it names any).
        """
        existing = self._existing_names(kind)
        covered: dict[str, rbac.Capability] = {}
        for capability in capabilities:
            creates = rbac.rule_allows(capability.grant.rule.rule, verb="create", api_group=eso.ESO_GROUP, resource=resource)
            for namespace in self.index.namespaces if capability.scope is None else [capability.scope]:
                names = existing.get(namespace, set())
                if capability.resource_names is not None:
                    names = names & capability.resource_names
                if creates or names:
                    covered.setdefault(namespace, capability)
        return covered

    def _existing_names(self, kind: str) -> dict[str, set[str]]:
        """Return the names of the ESO objects of `kind` by namespace, collected once per kind."""
        if kind not in self._names_by_kind:
            existing: dict[str, set[str]] = {}
            for obj in self.index.eso.get(kind, []):
                metadata = obj.get("metadata") or {}
                existing.setdefault(metadata.get("namespace"), set()).add(metadata.get("name"))
            self._names_by_kind[kind] = existing
        return self._names_by_kind[kind]

    def _link_subject(self, subject: rbac.Subject, by_name: dict[str, list[rbac.Capability]]) -> None:
        source = self.k8s.subject_node(subject)
        create = self._writable_objects(by_name.get("create_externalsecrets", []), "ExternalSecret", "externalsecrets")
        read = self._namespaces_of(by_name.get("read_secrets", []) + by_name.get("create_workloads", []))
        stores = self._writable_objects(by_name.get("create_secretstores", []), "SecretStore", "secretstores")
        push = self._writable_objects(by_name.get("create_pushsecrets", []), "PushSecret", "pushsecrets")
        name = self.graph.name(source)

        for namespace, capability in sorted(create.items()):
            self.graph.add_edge(source, self.k8s.secret_set_node(namespace), "eso_overwrite",
                                f"{name} can create ExternalSecrets in {namespace} ({_evidence(capability)}), and one with "
                                f"creationPolicy Owner or Merge writes into any Secret there",
                                evidence={"create": _evidence(capability), "bindings": binding_refs(capability)})
            if namespace not in read:
                continue
            reason = (f"{name} can create ExternalSecrets in {namespace} ({_evidence(capability)}) and read the Secrets "
                      f"they write ({_evidence(read[namespace])})")
            self.graph.add_edge(source, self._eso_pull_node(namespace), "eso_pull", reason,
                                evidence={"create": _evidence(capability), "read": _evidence(read[namespace]),
                                          "bindings": binding_refs(capability) + binding_refs(read[namespace])})
            if namespace in stores:
                self._link_custom_store(source, name, namespace, stores[namespace])
        for namespace, capability in sorted(push.items()):
            self.graph.add_edge(source, self._eso_push_node(namespace), "eso_push",
                                f"{name} can create PushSecrets in {namespace} ({_evidence(capability)})",
                                evidence={"create": _evidence(capability), "bindings": binding_refs(capability)})

    def _link_custom_store(self, source: str, name: str, namespace: str, capability: rbac.Capability) -> None:
        """Link a subject that can also create SecretStores to every identity ESO could then act as in the namespace."""
        node = ids.eso_custom_store(self.cluster, namespace)
        if node not in self.graph.g:
            self.graph.add_node(node, "eso_custom_store", f"a new SecretStore in namespace {namespace}", cluster=self.cluster,
                                namespace=namespace)
            for sa_name in self._service_accounts_in(namespace):
                sa_node = self.k8s.serviceaccount_node(namespace, sa_name)
                for _, role_node, data in self.graph.g.out_edges(sa_node, data=True):
                    if data["kind"] == "irsa_assume":
                        self.graph.add_edge(node, role_node, "eso_acts_as",
                                            f"a SecretStore in {namespace} can authenticate as {self.graph.name(role_node)} "
                                            f"through ServiceAccount {namespace}/{sa_name}", conditions=data["conditions"])
            for identity in self._controller_identities():
                self.graph.add_edge(node, identity.node, "eso_acts_as",
                                    f"a SecretStore in {namespace} without auth uses the controller's identity: {identity.reason}",
                                    conditions=identity.conditions)
        self.graph.add_edge(source, node, "eso_custom_store",
                            f"{name} can also create SecretStores in {namespace} ({_evidence(capability)})",
                            evidence={"create": _evidence(capability), "bindings": binding_refs(capability)})

    def _service_accounts_in(self, namespace: str) -> list[str]:
        """Return the names of the namespace's ServiceAccounts, sorted; the table is built on first use."""
        if not self._accounts_by_namespace:
            for sa_namespace, sa_name in sorted(self.index.service_accounts):
                self._accounts_by_namespace.setdefault(sa_namespace, []).append(sa_name)
        return self._accounts_by_namespace.get(namespace, [])

    def _controller_identities(self) -> list[CloudIdentity]:
        if self.controller is None or self.aws is None:
            return []
        role_arn = self.controller.cloud_identities.get("aws")
        role_node = self.aws.principal_node(role_arn) if role_arn else None
        if role_node is None:
            return []
        return [CloudIdentity(role_node, role_arn, f"the ESO controller's role {role_arn}")]

    # --- ExternalSecrets ---------------------------------------------------------------------

    def _add_cluster_external_secrets(self) -> None:
        namespaces = [{"metadata": {"name": name, "labels": labels}} for name, labels in sorted(self.index.namespaces.items())]
        existing = {(es["metadata"].get("namespace"), es["metadata"]["name"]) for es in self.index.eso.get("ExternalSecret", [])}
        for ces in self.index.eso.get("ClusterExternalSecret", []):
            try:
                selected = eso.cluster_external_secret_namespaces(ces, namespaces)
                expanded = [eso.expand_cluster_external_secret(ces, namespace) for namespace in selected]
            except (eso.EsoError, ValueError) as error:
                self._warn_object(ces, error)
                continue
            for es in expanded:
                # A live cluster (or a dump of one) already contains the ExternalSecrets the controller created.
                if (es["metadata"]["namespace"], es["metadata"]["name"]) not in existing:
                    self._add_external_secret(es, owner=ces)

    def _add_external_secret(self, es: dict[str, Any], owner: dict[str, Any] | None) -> None:
        label = object_label(owner or es)
        try:
            target = eso.external_secret_target(es)
            refs = eso.external_secret_refs(es)
        except (eso.EsoError, ValueError, KeyError) as error:
            self.warn(str(error) if isinstance(error, eso.EsoError) else f"{label}: {error}")
            return
        secret_node = self.k8s.secret_node(target.namespace, target.name)
        es_name = f"{target.namespace}/{es['metadata']['name']}"
        record = {
            "cluster": self.cluster, "namespace": target.namespace, "name": es["metadata"]["name"], "target": target.name,
            "refresh_interval_seconds": target.refresh_interval_seconds, "refresh_policy": target.refresh_policy,
            "creation_policy": target.creation_policy, "deletion_policy": target.deletion_policy,
            "origin": (owner or es).get("origin"), "owner": object_label(owner) if owner else None,
            "status": es.get("status") or {}, "stores": [], "cloud_secrets": [],
        }
        self.graph.external_secrets.append(record)

        for ref in refs:
            if ref.store is None:
                continue
            store_key = ref.store.key(target.namespace)
            store = self.stores.get(store_key)
            if store is None:
                self.warn(f"{label}: refers to {ref.store.kind} {ref.store.name}, which is not in the snapshot")
                continue
            store_name = self.graph.name(self.store_nodes[store_key])
            if store_name not in record["stores"]:
                record["stores"].append(store_name)
            self._admitted_namespaces(store)
            if target.namespace not in self._admitted_sets[store_key]:
                self.warn(f"{label}: {ref.store.kind} {ref.store.name} does not admit namespace {target.namespace}, so ESO rejects it")
                continue
            identities = self.identities.get((store_key, target.namespace), [])
            for identity in identities:
                for arn in self._remote_secrets(ref, identity, label):
                    self._link_copy(arn, secret_node, es_name, ref, record)

    def _remote_secrets(self, ref: eso.RemoteRef, identity: CloudIdentity, label: str) -> list[str]:
        if self.aws is None:
            return []
        account = identity.arn.split(":")[4] if identity.arn else None
        if ref.key:
            found = self.aws.find_secrets(ref.key, account)
            if not found:
                self.warn(f"{label}: remote key {ref.key} matches no secret in the snapshot's AWS accounts")
            return found
        if ref.find is not None and identity.arn:
            return sorted(arn for name, arn, tags in self._readable_by_name(identity.arn, ref.find)
                          if eso.find_matches(ref.find, name, tags))
        return []

    def _readable_by_name(self, identity_arn: str, find: Any) -> list[tuple[str, str, dict[str, str] | None]]:
        """Return (name, ARN, tags) of the secrets the identity reads, only those under `find.path` when it has one."""
        if identity_arn not in self._readable_names:
            nodes = self.graph.g.nodes
            self._readable_names[identity_arn] = sorted(
                (nodes[ids.aws(arn)]["secret_name"], arn, nodes[ids.aws(arn)].get("tags"))
                for arn, _ in self.aws.readable_secrets(identity_arn)
            )
        readable = self._readable_names[identity_arn]
        path = find.get("path") if isinstance(find, dict) else None
        if not isinstance(path, str) or not path:
            return readable
        start = bisect_left(readable, (path,))
        end = start
        while end < len(readable) and readable[end][0].startswith(path):
            end += 1
        return readable[start:end]

    def _link_copy(self, arn: str, secret_node: str, es_name: str, ref: eso.RemoteRef, record: dict[str, Any]) -> None:
        cloud_node = ids.aws(arn)
        if arn not in record["cloud_secrets"]:
            record["cloud_secrets"].append(arn)
        where = f"ExternalSecret {es_name} ({ref.via}) copies {self.graph.name(cloud_node)} into {self.graph.name(secret_node)}"
        self.graph.add_edge(cloud_node, secret_node, "synced_to", where, evidence={"external_secret": es_name, "via": ref.via})
        self.graph.add_edge(secret_node, cloud_node, "copy_of", f"{self.graph.name(secret_node)} holds a copy: {where}",
                            evidence={"external_secret": es_name, "via": ref.via})

    # --- PushSecrets ------------------------------------------------------------------------------

    def _add_push_secret(self, push: dict[str, Any]) -> None:
        namespaces = [{"metadata": {"name": name, "labels": labels}} for name, labels in sorted(self.index.namespaces.items())]
        try:
            flows = eso.push_secret_flows(push, namespaces)
        except (eso.EsoError, ValueError, KeyError) as error:
            self._warn_object(push, error)
            return
        for flow in flows:
            if flow.store is not None and flow.store.key(flow.push_secret[0]) not in self.stores:
                self.warn(f"{object_label(push)}: pushes to {flow.store.kind} {flow.store.name}, which is not in the snapshot")
                continue
            if flow.source_secret is None or flow.store is None or not flow.remote_key or self.aws is None:
                continue
            source = self.k8s.secret_node(*flow.source_secret)
            for arn in self.aws.find_secrets(flow.remote_key):
                cloud = ids.aws(arn)
                reason = f"PushSecret {flow.push_secret[0]}/{flow.push_secret[1]} writes {self.graph.name(source)} to {self.graph.name(cloud)}"
                self.graph.add_edge(source, cloud, "pushed_to", reason, evidence={"push_secret": "/".join(flow.push_secret)})
                self.graph.add_edge(cloud, source, "copy_of", f"{self.graph.name(cloud)} holds a copy: {reason}",
                                    evidence={"push_secret": "/".join(flow.push_secret)})


ESO_CONTROLLER_REF = "eso-controller"


def _evidence(capability: rbac.Capability) -> str:
    scope = f"in {capability.scope}" if capability.scope else "cluster-wide"
    return f"{capability.grant.evidence} {scope}"
