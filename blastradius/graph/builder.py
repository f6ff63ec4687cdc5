"""Build the capability graph of a snapshot: Kubernetes, then AWS, then what joins them (IRSA, ESO)."""

from __future__ import annotations

import logging
import time
from typing import Any

from blastradius.graph import ids
from blastradius.graph.aws import AwsGraph
from blastradius.graph.eso import EsoGraph
from blastradius.graph.index import ClusterIndex
from blastradius.graph.kubernetes import KubernetesGraph
from blastradius.graph.model import CapabilityGraph
from blastradius.semantics import rbac

log = logging.getLogger(__name__)


def build_graph(snapshot: dict[str, Any]) -> CapabilityGraph:
    """Return the capability graph of a loaded snapshot.

    Objects that contradict each other (a binding to a missing role, a store naming a missing
    ServiceAccount, an unparseable policy) become warnings on the graph, and the rest is built.
    """
    started = time.perf_counter()
    graph = CapabilityGraph(coverage_gaps=list(snapshot.get("coverage_gaps", [])), collected_at=snapshot.get("collected_at"))

    kubernetes_parts = []
    for section in snapshot.get("clusters", []):
        index = ClusterIndex.from_section(section)
        k8s = KubernetesGraph(graph, index)
        k8s.build()
        kubernetes_parts.append((index, k8s))

    aws = None
    if snapshot.get("aws_accounts"):
        aws = AwsGraph(graph, snapshot["aws_accounts"])
        aws.build()
        graph.authorizations = aws.authorizations

    for index, k8s in kubernetes_parts:
        issuer = _cluster_issuer(graph, index, snapshot.get("aws_accounts", []))
        if aws is not None and issuer is not None:
            _add_irsa_edges(graph, index, k8s, aws, issuer)
        EsoGraph(graph, index, k8s, aws, issuer).build()

    log.info("built graph: %d nodes, %d edges in %.2fs", graph.g.number_of_nodes(), graph.g.number_of_edges(),
             time.perf_counter() - started)
    return graph


def _cluster_issuer(graph: CapabilityGraph, index: ClusterIndex, accounts: list[dict[str, Any]]) -> str | None:
    """Return the cluster's ServiceAccount token issuer, or the only OIDC provider of the accounts (with a warning)."""
    if index.oidc_issuer:
        return index.oidc_issuer
    providers = sorted({provider["url"] for account in accounts for provider in account.get("oidc_providers", [])})
    if len(providers) == 1:
        graph.warnings.append(
            f"cluster {index.name}: no OIDC issuer recorded; assuming the only OIDC provider of the AWS accounts, "
            f"{providers[0]}, is this cluster's (give --oidc-issuer when collecting to be sure)"
        )
        return providers[0]
    if providers:
        graph.warnings.append(
            f"cluster {index.name}: no OIDC issuer recorded and the AWS accounts have {len(providers)} OIDC providers; "
            "IRSA trust is not evaluated (give --oidc-issuer when collecting)"
        )
    return None


def _add_irsa_edges(graph: CapabilityGraph, index: ClusterIndex, k8s: KubernetesGraph, aws: AwsGraph, issuer: str) -> None:
    """Link every ServiceAccount to each role whose web-identity trust admits its token.

    The `eks.amazonaws.com/role-arn` annotation only tells the pod webhook which role to use:
    anyone with the ServiceAccount's token can assume any role whose trust admits it.
    """
    for namespace, name in sorted(index.service_accounts):
        subject = rbac.serviceaccount_username(namespace, name)
        roles = aws.web_identity_roles(issuer, subject)
        if not roles:
            continue
        source = k8s.serviceaccount_node(namespace, name)
        for role_arn, decision in roles:
            target = ids.aws(role_arn)
            conditions = tuple(decision.conditions) if decision.effect == "conditional" else ()
            reason = f"the trust policy of {graph.name(target)} admits tokens of {subject}: {decision.reason or 'web identity'}"
            graph.add_edge(source, target, "irsa_assume", reason, conditions=conditions,
                           evidence={"statements": [vars(evidence) for evidence in decision.evidence], "issuer": issuer})
