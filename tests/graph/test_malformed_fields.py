"""One field of the wrong type in one object of the example estate: a warning names it, the rest is analysed.

Each row is a crash found by fuzzing `collect` output: the example estate with exactly one field
changed to a well-formed value of the wrong type. The graph build and the audit must both finish,
warn about that object, and still give the answers that do not depend on it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from blastradius.collectors.aws_files import collect_aws_files
from blastradius.collectors.manifests import collect_manifests
from blastradius.graph.builder import build_graph
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.audit import run_audit
from blastradius.queries.reachability import reaching
from blastradius.snapshot import assemble
from tests.graph.estate import node

EXAMPLE = Path(__file__).resolve().parents[2] / "snapshots" / "example"
DB = "production/database/credentials"

# (id, kind, namespace/name, field path, odd value, expected warning text, principal that still reads DB)
MALFORMED = [
    ("aggregation-matchlabels-string", "ClusterRole", "admin",
     ("aggregationRule", "clusterRoleSelectors", 0, "matchLabels"), "*",
     "ClusterRole admin", "aggregationRule.clusterRoleSelectors[0].matchLabels", "group:dev-team"),
    ("subject-name-mapping", "RoleBinding", "dev-sandbox/dev-team-edit",
     ("subjects", 0, "name"), {"a": "b"},
     "RoleBinding dev-sandbox/dev-team-edit", "subjects[0].name", "group:sre"),
    ("roleref-name-list", "RoleBinding", "dev-sandbox/dev-team-edit",
     ("roleRef", "name"), ["edit"],
     "RoleBinding dev-sandbox/dev-team-edit", "roleRef.name", "group:sre"),
    ("subject-name-int", "RoleBinding", "staging/legacy-ci-edit",
     ("subjects", 0, "name"), 5,
     "RoleBinding staging/legacy-ci-edit", "subjects[0].name", "group:dev-team"),
    ("subject-namespace-int", "RoleBinding", "staging/legacy-ci-edit",
     ("subjects", 0, "namespace"), 7,
     "RoleBinding staging/legacy-ci-edit", "subjects[0].namespace", "group:dev-team"),
    ("vap-matchconstraints-number", "ValidatingAdmissionPolicy", "protect-eso-managed-secrets",
     ("spec", "matchConstraints"), 3.5,
     "ValidatingAdmissionPolicy protect-eso-managed-secrets", "'float' object", "group:dev-team"),
    ("es-status-conditions-string", "ExternalSecret", "production/database-credentials",
     ("status", "conditions"), "Ready",
     "ExternalSecret production/database-credentials", "status.conditions", "group:dev-team"),
    ("es-remoteref-key-mapping", "ExternalSecret", "production/shared-tls",
     ("spec", "data", 0, "remoteRef", "key"), {"a": "b"},
     "ExternalSecret production/shared-tls", "spec.data[0].remoteRef.key", "group:dev-team"),
    ("prometheusrule-group-list", "PrometheusRule", "external-secrets/external-secrets-sync",
     ("spec", "groups", 0), ["x"],
     "PrometheusRule external-secrets/external-secrets-sync", "'list' object", "group:dev-team"),
    ("es-find-name-list", "ExternalSecret", "staging/app-config",
     ("spec", "dataFrom", 0, "find", "name"), ["x"],
     "ExternalSecret staging/app-config", "spec.dataFrom[0].find.name", "group:dev-team"),
    ("kyverno-exclude-resources-list", "ClusterPolicy", "report-direct-secret-edits",
     ("spec", "rules", 0, "exclude", "any", 1, "resources"), ["x"],
     "ClusterPolicy report-direct-secret-edits", "'list' object", "group:dev-team"),
    ("kyverno-namespaces-item-list", "ClusterPolicy", "report-direct-secret-edits",
     ("spec", "rules", 0, "exclude", "any", 1, "resources", "namespaces", 0), ["x"],
     "ClusterPolicy report-direct-secret-edits", "unhashable type: 'list'", "group:dev-team"),
    ("css-provider-list", "ClusterSecretStore", "aws-global",
     ("spec", "provider"), [None],
     "ClusterSecretStore aws-global", "spec.provider", "group:sre"),
    ("css-namespaceregexes-int", "ClusterSecretStore", "aws-production-only",
     ("spec", "conditions", 0, "namespaceRegexes"), -1,
     "ClusterSecretStore aws-production-only", "spec.conditions[0].namespaceRegexes", "group:dev-team"),
    ("vapbinding-nsselector-string", "ValidatingAdmissionPolicyBinding", "protect-eso-managed-secrets",
     ("spec", "matchResources", "namespaceSelector"), "env=production",
     "ValidatingAdmissionPolicyBinding protect-eso-managed-secrets", "label selector", "group:dev-team"),
]


@pytest.fixture(scope="module")
def example_snapshot() -> dict[str, Any]:
    collection = collect_manifests([str(EXAMPLE / "k8s")], "example")
    collection.extend(collect_aws_files([str(EXAMPLE / "aws.json")]))
    return assemble(collection)


def with_field(snapshot: dict[str, Any], kind: str, name: str, path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """Return a copy of the snapshot with one field of one object (`namespace/name` or `name`) set to `value`."""
    changed = copy.deepcopy(snapshot)
    namespace, _, short_name = name.rpartition("/")
    target = next(obj for section in changed["clusters"] for obj in section["objects"]
                  if obj["kind"] == kind and obj["metadata"]["name"] == short_name
                  and (obj["metadata"].get("namespace") or "") == namespace)
    parent = target
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return changed


def warnings_after_audit(snapshot: dict[str, Any]) -> tuple[CapabilityGraph, list[str]]:
    """Build the graph and run the audit, returning the graph and the audit's build-warning messages."""
    graph = build_graph(snapshot)
    findings = run_audit(snapshot, graph)
    return graph, [finding.message for finding in findings if finding.check_id == "SNAPSHOT-BUILD-WARNING"]


@pytest.mark.parametrize(("kind", "name", "path", "value", "label", "fault", "principal"),
                         [row[1:] for row in MALFORMED], ids=[row[0] for row in MALFORMED])
def test_malformed_field_warned_and_skipped(example_snapshot: dict[str, Any], kind: str, name: str,
                                          path: tuple[Any, ...], value: Any, label: str, fault: str,
                                          principal: str) -> None:
    graph, warnings = warnings_after_audit(with_field(example_snapshot, kind, name, path, value))
    about_object = [warning for warning in warnings if label in warning]
    readers = {graph.name(reach.principal) for reach in reaching(graph, node(graph, DB))}

    assert about_object, f"no warning names {label}: {warnings}"
    assert any(fault in warning for warning in about_object), about_object
    assert principal in readers
