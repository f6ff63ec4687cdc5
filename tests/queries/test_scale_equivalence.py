"""The indexed audit lookups and the diff's path tracing give what their plain definitions give, on the S estate.

The audit and the diff use indexes (secrets by name prefix, per-store tables, one walk per listed
principal) so that their cost grows with the estate. Each test here computes one result the plain
way, by scanning every candidate or by calling the public reachability queries, on the generated
benchmark estate of size S and its drifted copy, and asserts that both ways agree exactly.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from benchmarks.estate_plan import CLUSTER_NAME, OIDC_ISSUER
from benchmarks.generate import count_kinds, generate, query_references, size_counts, write_estate
from blastradius.collectors.aws_files import collect_aws_files
from blastradius.collectors.manifests import collect_manifests
from blastradius.config import Config
from blastradius.graph import ids
from blastradius.graph.builder import build_graph
from blastradius.queries.audit import run_audit
from blastradius.queries.audit.context import AuditContext
from blastradius.queries.common import reach_row
from blastradius.queries.diff import Estate, _paths, diff
from blastradius.queries.reachability import reach_from, reaching
from blastradius.semantics import eso
from blastradius.snapshot import Collection, assemble

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def _estate(folder: Path, mutate: float) -> Estate:
    """Generate the S estate (seed 1) into `folder`, collect it and build its graph."""
    manifests, templates, bundle, _ = generate(size_counts("S"), 1, mutate)
    metadata = {"seed": 1, "counts": count_kinds(manifests, templates, bundle), "queries": query_references(bundle, manifests)}
    write_estate(folder, manifests, templates, bundle, metadata)
    collection = Collection()
    collection.extend(collect_manifests([str(folder / "k8s")], CLUSTER_NAME, oidc_issuer=OIDC_ISSUER))
    collection.extend(collect_aws_files([str(folder / "aws.json")]))
    snapshot = assemble(collection)
    return Estate(str(folder), snapshot, build_graph(snapshot))


@pytest.fixture(scope="module")
def estates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Estate, Estate]:
    """Return the S estate and its copy with 1 % of bindings and managed policies changed."""
    root = tmp_path_factory.mktemp("s-estate")
    return _estate(root / "old", 0.0), _estate(root / "new", 0.01)


@pytest.fixture(scope="module")
def context(estates: tuple[Estate, Estate]) -> AuditContext:
    old, _ = estates
    return AuditContext(old.snapshot, old.graph, Config(), NOW)


# --- plain definitions ----------------------------------------------------------------------------


def _plain_find_candidates(ctx: AuditContext, store: dict[str, Any] | None) -> list[str]:
    index = ctx.clusters[0]
    arns = [identity.arn for identity in (ctx.store_identities(index, store) if store else []) if identity.arn]
    if not arns:
        return list(ctx.secrets_by_arn)
    return sorted({secret for arn in arns for secret in ctx.readable_secrets(arn)})


def _plain_copied(ctx: AuditContext, es: dict[str, Any]) -> list[str]:
    """The cloud secrets an ExternalSecret copies: the graph's records, plus a full scan for each `dataFrom.find`."""
    index = ctx.clusters[0]
    namespace, name = es["metadata"].get("namespace"), es["metadata"].get("name")
    copied = {arn for record in ctx.graph.external_secrets if (record["namespace"], record["name"]) == (namespace, name)
              for arn in record["cloud_secrets"]}
    stores = {eso.store_key(store): store for store in ctx.stores(index)}
    for ref in eso.external_secret_refs(es):
        if ref.find is None or ref.store is None:
            continue
        for arn in _plain_find_candidates(ctx, stores.get(ref.store.key(namespace))):
            entry = ctx.secrets_by_arn[arn]
            if eso.find_matches(ref.find, entry["name"], entry.get("tags")):
                copied.add(arn)
    return sorted(copied)


def _plain_pushed(ctx: AuditContext, store_keys: set[tuple]) -> set[str]:
    index = ctx.clusters[0]
    namespaces = [{"metadata": {"name": name, "labels": labels}} for name, labels in sorted(index.namespaces.items())]
    pushed = set()
    for push in index.eso.get("PushSecret", []) + index.eso.get("ClusterPushSecret", []):
        for flow in eso.push_secret_flows(push, namespaces):
            if flow.store is not None and flow.remote_key and flow.store.key(flow.push_secret[0]) in store_keys:
                pushed.update(arn for arn, entry in ctx.secrets_by_arn.items() if entry["name"] == flow.remote_key)
    return pushed


def _plain_wide_identities(ctx: AuditContext) -> dict[str, tuple[list[str], list[str]]]:
    """Map each store identity that reads a secret its stores do not use to (readable, used), by full scans."""
    index = ctx.clusters[0]
    stores_of: dict[str, list[dict[str, Any]]] = {}
    for store in ctx.stores(index):
        for identity in ctx.store_identities(index, store):
            if identity.arn:
                stores_of.setdefault(identity.arn, []).append(store)
    found = {}
    for arn, stores in stores_of.items():
        keys = {eso.store_key(store) for store in stores}
        used = _plain_pushed(ctx, keys)
        for es, _ in ctx.external_secrets(index):
            refs = eso.external_secret_refs(es)
            if any(ref.store is not None and ref.store.key(es["metadata"]["namespace"]) in keys for ref in refs):
                used.update(_plain_copied(ctx, es))
        readable = ctx.readable_secrets(arn)
        if any(secret not in used for secret in readable):
            found[arn] = (readable, sorted(used & set(readable)))
    return found


# --- audit ------------------------------------------------------------------------------------------


def test_copied_secrets_match_full_scan(context: AuditContext) -> None:
    external_secrets = [es for es, _ in context.external_secrets(context.clusters[0])]
    finds = [es for es in external_secrets if any(ref.find is not None for ref in eso.external_secret_refs(es))]

    assert len(finds) > 0
    for es in external_secrets:
        assert context.copied_secrets(context.clusters[0], es) == _plain_copied(context, es), es["metadata"]


def test_store_iam_wide_matches_full_scan(estates: tuple[Estate, Estate], context: AuditContext) -> None:
    old, _ = estates
    findings = [finding for finding in run_audit(old.snapshot, old.graph, Config(), NOW) if finding.check_id == "ESO-STORE-IAM-WIDE"]
    found = {finding.evidence["identity"]: (finding.evidence["readable"], finding.evidence["used"]) for finding in findings}

    expected = _plain_wide_identities(context)
    assert len(expected) > 0
    assert any(used for _, used in expected.values())
    assert found == expected


# --- diff -------------------------------------------------------------------------------------------


def test_diff_paths_match_reach_from(estates: tuple[Estate, Estate]) -> None:
    old, new = estates
    result = diff(old, new, limit=None, findings=False)
    walks: dict[str, dict[tuple[str, str], Any]] = {}
    expected = []
    for row in result.new_reach.rows:
        principal = row["principal_id"]
        if principal not in walks:
            walks[principal] = {(reach.target, reach.capability): reach for reach in reach_from(new.graph, principal)}
        reach = walks[principal][(row["target_id"], row["capability"])]
        expected.append({**reach_row(new.graph, reach), "new_target": reach.target not in old.graph.g})

    assert result.new_reach.total > 0
    assert result.new_reach.rows == expected


def test_diff_reverse_paths_match_reaching(estates: tuple[Estate, Estate]) -> None:
    """Triples of one secret and many principals are traced backwards from the secret, as `reaching` does."""
    _, new = estates
    secret = new.snapshot["aws_accounts"][0]["secrets"][0]["arn"]
    target = ids.aws(secret)
    reaches = reaching(new.graph, target, "read")
    triples = [(reach.principal, target, "read") for reach in reaches]

    assert len(triples) > 1
    assert _paths(new.graph, triples) == {(reach.principal, target, "read"): reach for reach in reaches}
