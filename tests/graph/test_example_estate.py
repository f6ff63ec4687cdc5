"""The bundled example estate: its graph gives exactly the answers that snapshots/example/README.md lists.

Each table of the README's "What an analyst should find" section is a table here. When the
estate or the analysis changes, this test and the README change together.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from blastradius.collectors.aws_files import collect_aws_files
from blastradius.collectors.manifests import collect_manifests
from blastradius.graph.builder import build_graph
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.common import chain_text
from blastradius.queries.reachability import PRINCIPAL_KINDS, reach_from, reaching
from blastradius.snapshot import assemble, canonical_bytes
from tests.graph.estate import node

EXAMPLE = Path(__file__).resolve().parents[2] / "snapshots" / "example"
ISSUER_URL = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"

DB = "production/database/credentials"
API_KEY = "production/payments/api-key"
API_KEY_PUSHED = "production/payments/api-key-pushed"
ROOT_CREDENTIALS = "admin/root-credentials"
ALL_SECRETS = frozenset({
    DB, API_KEY, API_KEY_PUSHED, "staging/app/config", "staging/legacy/config", "shared/config", "shared/tls",
    ROOT_CREDENTIALS, "vault-unseal/keys", "eso-credentials/staging-access-key", "dev/feature-flags",
})
ALL_BUT_ROOT = ALL_SECRETS - {ROOT_CREDENTIALS}
PRODUCTION = frozenset({DB, API_KEY, API_KEY_PUSHED})
MFA = ("aws:MultiFactorAuthPresent Bool true",)


def sa(ns: str, name: str) -> str:
    return f"system:serviceaccount:{ns}:{name}"


@pytest.fixture(scope="module")
def snapshot_dict() -> dict:
    collection = collect_manifests([str(EXAMPLE / "k8s")], "example")
    collection.extend(collect_aws_files([str(EXAMPLE / "aws.json")]))
    return assemble(collection)


@pytest.fixture(scope="module")
def graph(snapshot_dict: dict) -> CapabilityGraph:
    return build_graph(snapshot_dict)


def cloud_reads(graph: CapabilityGraph, reference: str) -> dict[str, tuple[str, ...]]:
    """Return the cloud secrets a principal obtains, each with the conditions of its path."""
    return {graph.name(reach.target): reach.conditions for reach in reach_from(graph, node(graph, reference))
            if graph.kind(reach.target) == "cloud_secret" and reach.capability == "read"}


# --- What the estate contains ----------------------------------------------------------------------


def test_example_object_counts(snapshot_dict: dict) -> None:
    cluster = snapshot_dict["clusters"][0]
    counts = Counter(obj["kind"] for obj in cluster["objects"])

    assert len(cluster["objects"]) == 71
    assert counts == {
        "ClusterRole": 13, "Secret": 11, "ServiceAccount": 8, "ExternalSecret": 7, "ClusterRoleBinding": 5,
        "Namespace": 5, "RoleBinding": 5, "Deployment": 4, "SecretStore": 3, "ClusterSecretStore": 2, "Role": 2,
        "ClusterExternalSecret": 1, "PushSecret": 1, "PrometheusRule": 1, "ClusterPolicy": 1,
        "ValidatingAdmissionPolicy": 1, "ValidatingAdmissionPolicyBinding": 1,
    }
    assert cluster["skipped_kinds"] == {}
    assert snapshot_dict["coverage_gaps"] == []


def test_example_aws_counts(snapshot_dict: dict) -> None:
    account = snapshot_dict["aws_accounts"][0]
    counts = {name: len(account[name]) for name in
              ("users", "groups", "roles", "policies", "oidc_providers", "secrets", "kms_keys", "organization_policies")}

    assert counts == {"users": 3, "groups": 1, "roles": 5, "policies": 4, "oidc_providers": 1, "secrets": 11,
                      "kms_keys": 1, "organization_policies": 0}


def test_example_build_warnings(graph: CapabilityGraph) -> None:
    assert graph.warnings == [
        f"cluster example: no OIDC issuer recorded; assuming the only OIDC provider of the AWS accounts, {ISSUER_URL}, "
        "is this cluster's (give --oidc-issuer when collecting to be sure)"
    ]


def test_example_has_no_coverage_gaps(graph: CapabilityGraph) -> None:
    assert graph.coverage_gaps == []


# --- Stores and the identity each one uses -----------------------------------------------------------


def test_example_store_admission(graph: CapabilityGraph) -> None:
    admitted = {(graph.name(source).removeprefix("ExternalSecrets in namespace "), graph.name(target))
                for source, target, data in graph.g.edges(data=True) if data["kind"] == "eso_store_admits"}

    assert admitted == {
        *((ns, "clustersecretstore:aws-global")
          for ns in ("production", "staging", "dev-sandbox", "external-secrets", "kube-system")),
        ("production", "clustersecretstore:aws-production-only"),
        ("production", "secretstore:production/aws-production"),
        ("staging", "secretstore:staging/aws-staging"),
        ("dev-sandbox", "secretstore:dev-sandbox/controller-default"),
    }


def test_example_store_identities(graph: CapabilityGraph) -> None:
    store_kinds = {"secretstore", "clustersecretstore", "store_use"}
    identities = {(graph.name(source), graph.name(target), data["conditions"])
                  for source, target, data in graph.g.edges(data=True)
                  if data["kind"] == "eso_acts_as" and graph.kind(source) in store_kinds}

    assert identities == {
        ("clustersecretstore:aws-global", "role/eso-global", ()),
        ("clustersecretstore:aws-production-only", "role/eso-production", ()),
        ("secretstore:production/aws-production", "role/eso-production", ()),
        ("secretstore:staging/aws-staging", "user/eso-staging", ()),
        ("secretstore:dev-sandbox/controller-default", "role/eso-controller", ()),
    }


# --- Cloud reach of each AWS principal ---------------------------------------------------------------

CLOUD_REACH = [
    ("role-eso-global", "arn:aws:iam::111122223333:role/eso-global", ALL_BUT_ROOT, ()),
    ("role-eso-production", "arn:aws:iam::111122223333:role/eso-production", PRODUCTION, ()),
    ("role-eso-controller", "arn:aws:iam::111122223333:role/eso-controller", {"shared/config", "shared/tls"}, ()),
    ("role-ci-deploy", "arn:aws:iam::111122223333:role/ci-deploy", {"staging/app/config", "staging/legacy/config"}, ()),
    ("role-admin", "arn:aws:iam::111122223333:role/admin", ALL_SECRETS, ()),
    ("user-eso-staging", "arn:aws:iam::111122223333:user/eso-staging",
     {"staging/app/config", "staging/legacy/config", "eso-credentials/staging-access-key"}, ()),
    ("user-developer-jane", "arn:aws:iam::111122223333:user/developer-jane", {"dev/feature-flags"}, ()),
    ("user-ops-admin-mfa", "arn:aws:iam::111122223333:user/ops-admin", ALL_SECRETS, MFA),
]


@pytest.mark.parametrize(("principal", "secrets", "conditions"), [row[1:] for row in CLOUD_REACH],
                         ids=[row[0] for row in CLOUD_REACH])
def test_example_cloud_reach(graph: CapabilityGraph, principal: str, secrets: frozenset[str], conditions: tuple[str, ...]) -> None:
    reads = cloud_reads(graph, principal)

    assert set(reads) == set(secrets)
    assert set(reads.values()) == {conditions}


ASSUMERS = [
    ("eso-controller", {(sa("external-secrets", "external-secrets"), ())}),
    ("eso-global", {(sa("external-secrets", name), ()) for name in
                    ("external-secrets", "external-secrets-cert-controller", "external-secrets-webhook", "eso-global", "default")}),
    ("eso-production", {(sa("production", "eso-production"), ())}),
    ("ci-deploy", {("role/admin", ())}),
    ("admin", {("user/ops-admin", MFA)}),
]


@pytest.mark.parametrize(("role", "assumers"), ASSUMERS, ids=[row[0] for row in ASSUMERS])
def test_example_role_assumers(graph: CapabilityGraph, role: str, assumers: set[tuple[str, tuple[str, ...]]]) -> None:
    target = node(graph, f"arn:aws:iam::111122223333:role/{role}")
    found = {(graph.name(source), data["conditions"]) for source, _, data in graph.g.in_edges(target, data=True)
             if data["kind"] in ("irsa_assume", "sts_assume")}

    assert found == assumers


# --- Reach of each Kubernetes subject ----------------------------------------------------------------

SUBJECT_REACH = [
    ("group:dev-team", ALL_BUT_ROOT),
    ("group:sre", ALL_BUT_ROOT),
    (sa("staging", "legacy-ci"), ALL_BUT_ROOT),
    (sa("staging", "ci-deployer"), ALL_BUT_ROOT),
    (sa("external-secrets", "external-secrets"), ALL_BUT_ROOT),
    (sa("external-secrets", "external-secrets-cert-controller"), ALL_BUT_ROOT),
    ("group:system:masters", ALL_BUT_ROOT),
    ("user:alice@example.com", frozenset()),
    (sa("production", "payments-api"), frozenset()),
    (sa("production", "eso-production"), PRODUCTION),
    (sa("external-secrets", "eso-global"), ALL_BUT_ROOT),
    (sa("external-secrets", "external-secrets-webhook"), ALL_BUT_ROOT),
    (sa("external-secrets", "default"), ALL_BUT_ROOT),
    ("deployment:production/payments-api", PRODUCTION),
]


@pytest.mark.parametrize(("subject", "secrets"), SUBJECT_REACH, ids=[row[0] for row in SUBJECT_REACH])
def test_example_subject_reach(graph: CapabilityGraph, subject: str, secrets: frozenset[str]) -> None:
    reads = cloud_reads(graph, subject)

    assert set(reads) == set(secrets)
    assert set(reads.values()) <= {()}


HEADLINE = (
    "group:dev-team -[eso_pull]-> ExternalSecrets in namespace dev-sandbox "
    "-[eso_store_admits]-> clustersecretstore:aws-global "
    "-[eso_acts_as]-> role/eso-global "
    "-[iam_read_secret]-> production/database/credentials"
)


def test_example_headline_path(graph: CapabilityGraph) -> None:
    paths = {graph.name(reach.principal): chain_text(graph, reach.steps) for reach in reaching(graph, node(graph, DB))}
    print(paths["group:dev-team"])

    assert paths["group:dev-team"] == HEADLINE


def test_example_headline_copy_lands(graph: CapabilityGraph) -> None:
    """The copy that dev-team's ExternalSecret writes lands in dev-sandbox, where `edit` reads Secrets."""
    pull = next(reach for reach in reaching(graph, node(graph, DB)) if graph.name(reach.principal) == "group:dev-team")
    evidence = pull.steps[0].evidence

    assert graph.name(pull.steps[0].target) == "ExternalSecrets in namespace dev-sandbox"
    assert evidence["create"].startswith("RoleBinding dev-sandbox/dev-team-edit")
    assert evidence["read"].startswith("RoleBinding dev-sandbox/dev-team-edit")
    assert evidence["read"].endswith("in dev-sandbox")


# --- Who reaches production/database/credentials -------------------------------------------------------

REACHER_KINDS = PRINCIPAL_KINDS | {"workload", "secretstore", "clustersecretstore", "store_use"}
DB_REACHERS = {
    "group:sre", "group:system:masters", "group:dev-team",
    sa("external-secrets", "external-secrets"), sa("external-secrets", "external-secrets-cert-controller"),
    sa("external-secrets", "external-secrets-webhook"), sa("external-secrets", "eso-global"),
    sa("external-secrets", "default"), sa("production", "eso-production"),
    sa("staging", "legacy-ci"), sa("staging", "ci-deployer"),
    "deployment:production/payments-api", "deployment:external-secrets/external-secrets",
    "deployment:external-secrets/external-secrets-cert-controller", "deployment:external-secrets/external-secrets-webhook",
    "secretstore:production/aws-production", "clustersecretstore:aws-production-only",
    "clustersecretstore:aws-production-only", "clustersecretstore:aws-global",
    "role/eso-production", "role/eso-global", "role/admin", "user/ops-admin",
}
NOT_DB_REACHERS = [
    "user:alice@example.com", sa("production", "payments-api"), sa("production", "default"),
    "role/eso-controller", "role/ci-deploy", "user/eso-staging", "user/developer-jane",
    "secretstore:dev-sandbox/controller-default", "secretstore:staging/aws-staging",
]


def db_reachers(graph: CapabilityGraph) -> dict[str, tuple[str, ...]]:
    """Return who obtains the cloud secret or its Kubernetes copy, with the conditions of the best path."""
    found: dict[str, tuple[str, ...]] = {}
    for reference in (DB, "secret:production/database-credentials"):
        for reach in reaching(graph, node(graph, reference), principal_kinds=REACHER_KINDS):
            name = graph.name(reach.principal)
            if name not in found or not reach.conditions:
                found[name] = reach.conditions
    return found


def test_example_database_reachers(graph: CapabilityGraph) -> None:
    reachers = db_reachers(graph)

    assert set(reachers) == DB_REACHERS
    assert {name for name, conditions in reachers.items() if conditions} == {"user/ops-admin"}


@pytest.mark.parametrize("name", NOT_DB_REACHERS)
def test_example_database_not_reached(graph: CapabilityGraph, name: str) -> None:
    names = {graph.name(n) for n in graph.g}

    assert name in names
    assert name not in db_reachers(graph)


def test_example_payments_key_writers(graph: CapabilityGraph) -> None:
    writers = {graph.name(reach.principal): reach.conditions
               for reach in reaching(graph, node(graph, "secret:production/payments-api-key"), "overwrite")}

    assert writers == {"group:sre": (), "group:system:masters": (), sa("external-secrets", "external-secrets"): (),
                       "role/admin": (), "user/ops-admin": MFA}


def test_example_pushed_key_writers(graph: CapabilityGraph) -> None:
    writers = {graph.name(reach.principal): reach.conditions
               for reach in reaching(graph, node(graph, API_KEY_PUSHED), "overwrite")}

    assert writers == {"group:sre": (), "group:system:masters": (), sa("external-secrets", "external-secrets"): (),
                       "role/admin": (), "user/ops-admin": MFA, "role/eso-production": (),
                       sa("production", "eso-production"): ()}


def test_example_canary_absent(snapshot_dict: dict, graph: CapabilityGraph) -> None:
    text = canonical_bytes(snapshot_dict).decode() + json.dumps(graph.stats()) + "\n".join(
        str(data) for _, _, data in graph.g.edges(data=True))

    assert "CANARY-do-not-store-7f3a9c" not in text
    assert "Q0FOQVJZLWRvLW5vdC1zdG9yZS03ZjNhOWMt" not in text
