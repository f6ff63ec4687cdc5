"""Kubernetes nodes and edges: subjects, Secrets, pods, and what RBAC lets each subject reach.

RBAC capabilities become edges from the subject straight to what they reach (a Secret, every Secret
of a namespace, the pods of a namespace, a ServiceAccount). Roles and bindings are evidence on the
edge, never nodes, so a ClusterRole bound in two namespaces cannot join them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from blastradius.graph import ids
from blastradius.graph.index import LEGACY_TOKEN_TYPE, ClusterIndex, object_label
from blastradius.graph.model import CapabilityGraph
from blastradius.semantics import rbac

ALL = ids.ALL_NAMESPACES


@dataclass
class SubjectRights:
    """Capabilities by subject, for the checks that need two rights held by the same principal."""

    by_subject: dict[rbac.Subject, list[rbac.Capability]] = field(default_factory=lambda: defaultdict(list))

    def of(self, subject: rbac.Subject) -> list[rbac.Capability]:
        """Return the capabilities a subject has itself or through the groups it is known to be in."""
        held = list(self.by_subject.get(subject, ()))
        for group in implicit_groups(subject):
            held.extend(self.by_subject.get(group, ()))
        return held


def implicit_groups(subject: rbac.Subject) -> tuple[rbac.Subject, ...]:
    """Return the groups Kubernetes puts a subject in, whatever the authenticator reports.

    A ServiceAccount is in `system:serviceaccounts`, `system:serviceaccounts:<ns>` and
    `system:authenticated`; a user is at least in `system:authenticated`. Other group memberships
    come from the authenticator, which a snapshot cannot see.
    """
    if subject.kind == "ServiceAccount":
        return tuple(rbac.Subject("Group", name, None) for name in rbac.serviceaccount_groups(subject.namespace))
    if subject.kind == "User":
        return (rbac.Subject("Group", "system:authenticated", None),)
    return ()


class KubernetesGraph:
    """Adds one cluster's Kubernetes side to the graph and keeps what the ESO part needs."""

    def __init__(self, graph: CapabilityGraph, index: ClusterIndex) -> None:
        self.graph = graph
        self.index = index
        self.cluster = index.name
        self.rights = SubjectRights()
        self._namespaces_with_workloads = {obj["metadata"].get("namespace") for obj in index.workloads}

    # --- nodes ----------------------------------------------------------------------------------

    def subject_node(self, subject: rbac.Subject) -> str:
        cluster = self.cluster
        if subject.kind == "ServiceAccount":
            return self.serviceaccount_node(subject.namespace, subject.name)
        if subject.kind == "Group":
            return self.graph.add_node(ids.group(cluster, subject.name), "group", f"group:{subject.name}",
                                       cluster=cluster, refs=[f"group:{subject.name}"])
        node = ids.user(cluster, subject.name)
        if node not in self.graph.g:
            self.graph.add_node(node, "user", f"user:{subject.name}", cluster=cluster, refs=[f"user:{subject.name}"])
            authenticated = ids.group(cluster, "system:authenticated")
            if authenticated in self.graph.g:
                self.graph.add_edge(node, authenticated, "member_of", f"user:{subject.name} is in group system:authenticated",
                                    evidence={"rule": "every authenticated user"})
        return node

    def serviceaccount_node(self, namespace: str, name: str) -> str:
        node = ids.serviceaccount(self.cluster, namespace, name)
        if node in self.graph.g:
            return node
        ref = rbac.serviceaccount_username(namespace, name)
        obj = self.index.service_accounts.get((namespace, name))
        self.graph.add_node(node, "serviceaccount", ref, cluster=self.cluster, namespace=namespace, refs=[ref],
                            origin=(obj or {}).get("origin"), collected=obj is not None and not obj.get("implicit"))
        for group in implicit_groups(rbac.Subject("ServiceAccount", name, namespace)):
            group_node = ids.group(self.cluster, group.name)
            if group_node in self.graph.g:
                self.graph.add_edge(node, group_node, "member_of", f"{ref} is in group {group.name}",
                                    evidence={"rule": "implicit ServiceAccount group"})
        return node

    def secret_node(self, namespace: str, name: str) -> str:
        node = ids.secret(self.cluster, namespace, name)
        if node in self.graph.g:
            return node
        obj = self.index.secrets.get((namespace, name))
        ref = f"secret:{namespace}/{name}"
        self.graph.add_node(node, "secret", ref, cluster=self.cluster, namespace=namespace, refs=[ref],
                            origin=(obj or {}).get("origin"), collected=obj is not None,
                            secret_type=(obj or {}).get("type"), labels=((obj or {}).get("metadata") or {}).get("labels", {}))
        set_node = self.secret_set_node(namespace)
        self.graph.add_edge(set_node, node, "contains", f"{ref} is a Secret of namespace {namespace}")
        return node

    def secret_set_node(self, namespace: str) -> str:
        node = ids.secret_set(self.cluster, namespace)
        if node not in self.graph.g:
            label = "every Secret of the cluster" if namespace == ALL else f"every Secret of namespace {namespace}"
            self.graph.add_node(node, "secret_set", label, cluster=self.cluster, namespace=namespace,
                                refs=[f"secret:{namespace}/*"])
            if namespace != ALL:
                self.graph.add_edge(self.secret_set_node(ALL), node, "contains", f"{label} is part of every Secret of the cluster")
        return node

    def pod_set_node(self, namespace: str) -> str:
        node = ids.pod_set(self.cluster, namespace)
        if node not in self.graph.g:
            label = "new pods in any namespace" if namespace == ALL else f"new pods in namespace {namespace}"
            self.graph.add_node(node, "pod_set", label, cluster=self.cluster, namespace=namespace)
            if namespace != ALL:
                self.graph.add_edge(self.pod_set_node(ALL), node, "contains", f"{label} are among new pods in any namespace")
        return node

    def exec_set_node(self, namespace: str) -> str:
        node = ids.exec_set(self.cluster, namespace)
        if node not in self.graph.g:
            label = "running pods of any namespace" if namespace == ALL else f"running pods of namespace {namespace}"
            self.graph.add_node(node, "exec_set", label, cluster=self.cluster, namespace=namespace)
            if namespace != ALL:
                self.graph.add_edge(self.exec_set_node(ALL), node, "contains", f"{label} are among running pods of any namespace")
        return node

    def sa_set_node(self, namespace: str) -> str:
        node = ids.sa_set(self.cluster, namespace)
        if node not in self.graph.g:
            label = "every ServiceAccount of the cluster" if namespace == ALL else f"every ServiceAccount of namespace {namespace}"
            self.graph.add_node(node, "sa_set", label, cluster=self.cluster, namespace=namespace)
            if namespace != ALL:
                self.graph.add_edge(self.sa_set_node(ALL), node, "contains", f"{label} is part of every ServiceAccount of the cluster")
        return node

    def namespace_admin_node(self, namespace: str) -> str:
        node = ids.namespace_admin(self.cluster, namespace)
        if node not in self.graph.g:
            label = "any right in any namespace" if namespace == ALL else f"any right in namespace {namespace}"
            self.graph.add_node(node, "namespace_admin", label, cluster=self.cluster, namespace=namespace)
            reason = f"whoever can grant itself any role holds {label}"
            self.graph.add_edge(node, self.secret_set_node(namespace), "contains", reason)
            self.graph.add_edge(node, self.pod_set_node(namespace), "contains", reason)
            self.graph.add_edge(node, self.sa_set_node(namespace), "contains", reason)
            self.graph.add_edge(node, self.exec_set_node(namespace), "contains", reason)
            self.graph.add_edge(node, self.secret_set_node(namespace), "rbac_overwrite_secrets", reason,
                                evidence={"detail": "any role includes writing Secrets"})
        return node

    # --- building -------------------------------------------------------------------------------

    def build(self) -> None:
        """Add namespaces' Secrets, ServiceAccounts, workloads and every RBAC capability edge."""
        for namespace in sorted(self.index.namespaces):
            self.secret_set_node(namespace)
            self.pod_set_node(namespace)
            self.sa_set_node(namespace)
            self.exec_set_node(namespace)

        grants, warnings = rbac.resolve_grants(self.index.objects)
        self.graph.warnings.extend(f"cluster {self.cluster}: {warning}" for warning in warnings)
        capabilities = rbac.subject_capabilities(grants) + rbac.bound_role_escalations(grants)
        for capability in capabilities:
            self.rights.by_subject[capability.subject].append(capability)

        # Group nodes first, so ServiceAccounts and users link to the implicit groups that hold rights.
        for grant in grants:
            if grant.subject.kind == "Group":
                self.subject_node(grant.subject)
        for grant in grants:
            self.subject_node(grant.subject)
        for namespace, name in sorted(self.index.service_accounts):
            self.serviceaccount_node(namespace, name)
        for namespace, name in sorted(self.index.secrets):
            self.secret_node(namespace, name)
        accounts_by_namespace: dict[str, list[str]] = {}
        for sa_namespace, name in self.index.service_accounts:
            accounts_by_namespace.setdefault(sa_namespace, []).append(name)
        for namespace in sorted(self.index.namespaces):
            self._link_namespace_sets(namespace, accounts_by_namespace.get(namespace, []))

        self._add_workloads()
        self._add_legacy_token_secrets()
        for capability in capabilities:
            self._add_capability(capability)

    def _link_namespace_sets(self, namespace: str, service_accounts: list[str]) -> None:
        pods = self.pod_set_node(namespace)
        self.graph.add_edge(pods, self.secret_set_node(namespace), "mounts",
                            f"a new pod in {namespace} can mount any Secret of {namespace}",
                            evidence={"detail": "pods mount Secrets of their own namespace"})
        self.graph.add_edge(pods, self.sa_set_node(namespace), "runs_as",
                            f"a new pod in {namespace} can run as any ServiceAccount of {namespace}")
        sa_set = self.sa_set_node(namespace)
        for name in service_accounts:
            node = self.serviceaccount_node(namespace, name)
            self.graph.add_edge(sa_set, node, "contains", f"{self.graph.name(node)} is a ServiceAccount of {namespace}")

    def _add_workloads(self) -> None:
        for obj in self.index.workloads:
            metadata = obj["metadata"]
            namespace, name, kind = metadata.get("namespace", "default"), metadata["name"], obj["kind"]
            pod = obj.get("pod") or {}
            node = ids.workload(self.cluster, namespace, kind, name)
            ref = f"{kind.lower()}:{namespace}/{name}"
            self.graph.add_node(node, "workload", ref, cluster=self.cluster, namespace=namespace, refs=[ref],
                                origin=obj.get("origin"), replicas=pod.get("replicas"))
            self.graph.add_edge(self.exec_set_node(namespace), node, "contains", f"{ref} runs in {namespace}")

            account = pod.get("serviceAccountName") or "default"
            if pod.get("automountServiceAccountToken") is not False:
                sa = self.serviceaccount_node(namespace, account)
                self.graph.add_edge(node, sa, "runs_as", f"{ref} runs as {self.graph.name(sa)} with its token mounted")
            for reference in pod.get("secretRefs", []):
                secret = self.secret_node(namespace, reference["name"])
                self.graph.add_edge(node, secret, "mounts", f"{ref} references {self.graph.name(secret)} ({reference['via']})",
                                    evidence={"detail": reference["via"]})

    def _add_legacy_token_secrets(self) -> None:
        for (namespace, name), obj in self.index.secrets.items():
            if obj.get("type") != LEGACY_TOKEN_TYPE:
                continue
            owner = rbac.legacy_token_serviceaccount(obj)
            if owner is None:
                self.graph.warnings.append(f"cluster {self.cluster}: {object_label(obj)} is a token Secret without a ServiceAccount annotation")
                continue
            sa = self.serviceaccount_node(owner.namespace or namespace, owner.name)
            secret = self.secret_node(namespace, name)
            self.graph.add_edge(secret, sa, "token_secret",
                                f"secret:{namespace}/{name} holds a long-lived token of {self.graph.name(sa)}")

    def _add_capability(self, capability: rbac.Capability) -> None:
        # NOTE: admission policies (ValidatingAdmissionPolicy, Kyverno) that would reject a request are
        # not applied here: the audit reports them, but an edge they block is still drawn.
        source = self.subject_node(capability.subject)
        grant = capability.grant
        scope_text = f"in namespace {capability.scope}" if capability.scope else "cluster-wide"
        reason = f"{grant.evidence} {scope_text}"
        if capability.companion is not None:
            reason += f"; and {capability.companion.evidence}"
        evidence = {
            "bindings": binding_refs(capability),
            "binding": f"{grant.binding_kind} {grant.binding_namespace + '/' if grant.binding_namespace else ''}{grant.binding_name}",
            "role": f"{grant.role_kind} {grant.role_name}",
            "rule_index": grant.rule.index,
            "rule_source": grant.rule.source_role,
            "scope": capability.scope or "cluster-wide",
        }
        names = capability.resource_names

        for target, kind in self._capability_targets(capability):
            self.graph.add_edge(source, target, kind, reason, evidence=evidence)
        if names is not None and capability.name in ("read_secrets", "overwrite_secrets"):
            kind = "rbac_read_secrets" if capability.name == "read_secrets" else "rbac_overwrite_secrets"
            for namespace, name in self._named_in_scope(capability.scope, names, self.index.secrets):
                self.graph.add_edge(source, self.secret_node(namespace, name), kind, reason, evidence=evidence)

    def _named_in_scope(self, scope: str | None, names: frozenset[str], objects: dict) -> list[tuple[str, str]]:
        """Return the (namespace, name) keys of `objects` that the names select, in the scope's namespace or any."""
        if scope is not None:
            return sorted((scope, name) for name in names if (scope, name) in objects)
        return sorted(key for key in objects if key[1] in names)

    def _capability_targets(self, capability: rbac.Capability) -> list[tuple[str, str]]:
        """Return (target node, edge kind) pairs for capabilities that reach whole sets or named objects."""
        name = capability.name
        names = capability.resource_names
        namespace = capability.scope if capability.scope is not None else ALL
        if name == "read_secrets" and names is None:
            return [(self.secret_set_node(namespace), "rbac_read_secrets")]
        if name == "overwrite_secrets" and names is None:
            return [(self.secret_set_node(namespace), "rbac_overwrite_secrets")]
        if name == "create_workloads":
            if _creates_workloads(capability.grant.rule.rule):
                return [(self.pod_set_node(namespace), "rbac_create_workloads")]
            # Update or patch alone rewrites workloads that exist, whose pod template may name any
            # ServiceAccount of the namespace; without one in scope it reaches nothing.
            with_workloads = sorted(namespace for namespace in self._namespaces_with_workloads
                                    if capability.scope in (None, namespace))
            return [(self.pod_set_node(ns), "rbac_create_workloads") for ns in with_workloads]
        if name == "exec_pods":
            if names is None:
                return [(self.exec_set_node(namespace), "rbac_exec_pods")]
            pods = [obj for obj in self.index.workloads if obj["kind"] == "Pod"]
            return [(ids.workload(self.cluster, obj["metadata"].get("namespace"), "Pod", obj["metadata"]["name"]), "rbac_exec_pods")
                    for obj in pods if obj["metadata"]["name"] in names
                    and (capability.scope is None or obj["metadata"].get("namespace") == capability.scope)]
        if name == "proxy_nodes":
            return [(self.exec_set_node(ALL), "rbac_proxy_nodes")]
        if name in ("create_serviceaccount_tokens", "impersonate_serviceaccounts"):
            kind = "rbac_create_token" if name == "create_serviceaccount_tokens" else "rbac_impersonate"
            if names is None:
                return [(self.sa_set_node(namespace), kind)]
            return [(self.serviceaccount_node(ns, sa), kind)
                    for ns, sa in self._named_in_scope(capability.scope, names, self.index.service_accounts)]
        if name in ("impersonate_users", "impersonate_groups"):
            if names is None:
                # Any user or group includes system:masters, which has every right.
                return [(self.namespace_admin_node(ALL), "rbac_impersonate")]
            subject_kind = "User" if name == "impersonate_users" else "Group"
            return [(self.subject_node(rbac.Subject(subject_kind, target, None)), "rbac_impersonate") for target in sorted(names)]
        if name == "escalate_roles":
            return [(self.namespace_admin_node(namespace), "rbac_escalate")]
        return []


WORKLOAD_RESOURCES = (("", "pods"), ("", "replicationcontrollers"), ("apps", "deployments"), ("apps", "replicasets"),
                      ("apps", "statefulsets"), ("apps", "daemonsets"), ("batch", "jobs"), ("batch", "cronjobs"))


def _creates_workloads(rule: rbac.PolicyRule) -> bool:
    """Return whether a rule allows creating some kind of workload, not only changing existing ones."""
    return any(rbac.rule_allows(rule, verb="create", api_group=group, resource=resource) for group, resource in WORKLOAD_RESOURCES)


def binding_refs(capability: rbac.Capability) -> list[dict[str, str | None]]:
    """Return the bindings behind a capability as {kind, namespace, name}, so no one has to parse reasons."""
    grants = [capability.grant] + ([capability.companion] if capability.companion is not None else [])
    return [{"kind": grant.binding_kind, "namespace": grant.binding_namespace, "name": grant.binding_name} for grant in grants]
