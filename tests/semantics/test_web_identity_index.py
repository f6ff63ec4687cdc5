"""The `sub` index of web-identity trusts: `web_identity_roles` returns what evaluating every role returns.

`web_identity_decision` evaluates one role without the index, so comparing the two over every
ServiceAccount and role of an estate shows that the index never drops a role it should keep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.estate_plan import CLUSTER_NAME, OIDC_ISSUER
from benchmarks.generate import count_kinds, generate, query_references, size_counts, write_estate
from blastradius.collectors.aws_files import collect_aws_files
from blastradius.collectors.manifests import collect_manifests
from blastradius.graph.index import ClusterIndex
from blastradius.semantics import rbac
from blastradius.semantics.iam import AccountAuthorizations, Decision
from blastradius.snapshot import assemble
from tests.semantics.test_iam import EKS_ISSUER, EKS_PROVIDER_URL, irsa_estate, role_arn

EXAMPLE = Path(__file__).resolve().parents[2] / "snapshots" / "example"
SUB = f"{EKS_PROVIDER_URL}:sub"


def _example_snapshot() -> dict[str, Any]:
    collection = collect_manifests([str(EXAMPLE / "k8s")], "example")
    collection.extend(collect_aws_files([str(EXAMPLE / "aws.json")]))
    return assemble(collection)


def _generated_snapshot(out: Path) -> dict[str, Any]:
    manifests, templates, bundle, _ = generate(size_counts("S"), 1, 0.0)
    metadata = {"seed": 1, "counts": count_kinds(manifests, templates, bundle), "queries": query_references(bundle, manifests)}
    write_estate(out, manifests, templates, bundle, metadata)
    collection = collect_manifests([str(out / "k8s")], CLUSTER_NAME, oidc_issuer=OIDC_ISSUER)
    collection.extend(collect_aws_files([str(out / "aws.json")]))
    return assemble(collection)


def _subjects(snapshot: dict[str, Any]) -> list[str]:
    accounts = ClusterIndex.from_section(snapshot["clusters"][0]).service_accounts
    return [rbac.serviceaccount_username(namespace, name) for namespace, name in sorted(accounts)]


def _issuers(snapshot: dict[str, Any]) -> list[str]:
    return sorted({provider["url"] for account in snapshot["aws_accounts"] for provider in account.get("oidc_providers", [])})


def _every_role_admitting(authz: AccountAuthorizations, issuer: str, subject: str) -> list[tuple[str, Decision]]:
    """Evaluate every role of the accounts for the token, as `web_identity_roles` did before the index."""
    roles = [arn for arn in authz.principals() if ":role/" in arn]
    decisions = [(arn, authz.web_identity_decision(arn, issuer, subject)) for arn in roles]
    return [(arn, decision) for arn, decision in decisions if decision.possible]


def _compare_paths(snapshot: dict[str, Any]) -> int:
    """Assert both paths agree for every ServiceAccount and issuer; return how many roles were admitted."""
    authz = AccountAuthorizations(snapshot["aws_accounts"])
    admitted = 0
    for issuer in _issuers(snapshot):
        for subject in _subjects(snapshot):
            indexed = authz.web_identity_roles(issuer, subject)
            assert indexed == _every_role_admitting(authz, issuer, subject), subject
            admitted += len(indexed)
    return admitted


def test_index_matches_example_estate():
    assert _compare_paths(_example_snapshot()) == 7


def test_index_matches_generated_estate(tmp_path: Path):
    assert _compare_paths(_generated_snapshot(tmp_path / "estate")) == 222


@pytest.mark.parametrize(
    ("condition", "subject", "admitted"),
    [
        ({"StringEquals": {SUB: ["system:serviceaccount:a:x", "system:serviceaccount:a:y"]}}, "system:serviceaccount:a:y", True),
        ({"StringEquals": {SUB: "system:serviceaccount:a:x"}}, "system:serviceaccount:A:x", False),
        ({"StringEqualsIgnoreCase": {SUB: "system:serviceaccount:a:x"}}, "system:serviceaccount:A:X", True),
        ({"StringEqualsIfExists": {SUB: "system:serviceaccount:a:x"}}, "system:serviceaccount:a:x", True),
        ({"ForAnyValue:StringEquals": {SUB: "system:serviceaccount:a:x"}}, "system:serviceaccount:a:x", True),
        ({"StringNotEquals": {SUB: "system:serviceaccount:a:x"}}, "system:serviceaccount:b:y", True),
        ({"StringLike": {SUB: "system:serviceaccount:a:?"}}, "system:serviceaccount:a:x", True),
        ({"StringLike": {SUB: "system:serviceaccount:a:?"}}, "system:serviceaccount:a:xy", False),
        ({"StringEquals": {SUB: "system:serviceaccount:a:x"}, "StringLike": {SUB: "*"}}, "system:serviceaccount:b:y", False),
        ({"StringEquals": {SUB.upper(): "system:serviceaccount:a:x"}}, "system:serviceaccount:a:x", True),
    ],
    ids=["equals-second-value", "equals-case-sensitive", "equals-ignore-case", "equals-if-exists",
         "for-any-value", "not-equals", "like-question-mark", "like-one-character-only", "equals-and-like",
         "key-case-insensitive"],
)
def test_index_subject_operator_table(condition, subject, admitted):
    authz = irsa_estate(condition)

    indexed = authz.web_identity_roles(EKS_ISSUER, subject)

    assert [arn for arn, _ in indexed] == ([role_arn("eso-reader")] if admitted else [])
    assert authz.web_identity_decision(role_arn("eso-reader"), EKS_ISSUER, subject).possible is admitted
