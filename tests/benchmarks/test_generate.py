"""The benchmark estate generator: deterministic output, exact counts, and a pipeline that runs on it."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks.estate_plan import CANARY, CLUSTER_NAME, OIDC_ISSUER, PlanError
from benchmarks.generate import count_kinds, generate, query_references, size_counts, write_estate
from blastradius.collectors.aws_files import collect_aws_files
from blastradius.collectors.manifests import collect_manifests
from blastradius.graph.builder import build_graph
from blastradius.snapshot import Collection, assemble, canonical_bytes

POD_KINDS = ("Pod", "Deployment", "StatefulSet", "Job")


def _write(out: Path, seed: int, mutate: float = 0.0) -> list[str]:
    manifests, templates, bundle, changes = generate(size_counts("S"), seed, mutate)
    metadata = {"seed": seed, "counts": count_kinds(manifests, templates, bundle), "queries": query_references(bundle, manifests)}
    write_estate(out, manifests, templates, bundle, metadata)
    return changes


def _collect(out: Path) -> dict[str, Any]:
    collection = Collection()
    collection.extend(collect_manifests([str(out / "k8s")], CLUSTER_NAME, oidc_issuer=OIDC_ISSUER))
    collection.extend(collect_aws_files([str(out / "aws.json")]))
    snapshot = assemble(collection)
    snapshot["collected_at"] = None
    return snapshot


def _pipeline(out: Path, seed: int) -> tuple[bytes, dict[str, Any]]:
    """Generate at size S, collect and build the graph, and return the snapshot bytes and the graph stats."""
    _write(out, seed)
    snapshot = _collect(out)
    return canonical_bytes(snapshot), build_graph(snapshot).stats()


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def seed_one(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, dict[str, Any]]:
    out = tmp_path_factory.mktemp("seed-one") / "estate"
    snapshot_bytes, stats = _pipeline(out, seed=1)
    return out, snapshot_bytes, stats


@pytest.fixture(scope="module")
def snapshot_one(seed_one: tuple[Path, bytes, dict[str, Any]]) -> dict[str, Any]:
    return _collect(seed_one[0])


def test_same_seed_identical_files(tmp_path: Path) -> None:
    _write(tmp_path / "first", seed=7)
    _write(tmp_path / "second", seed=7)

    assert _tree(tmp_path / "first") == _tree(tmp_path / "second")


def test_same_seed_identical_snapshot_and_graph(seed_one: tuple[Path, bytes, dict[str, Any]]) -> None:
    out, first_bytes, first_stats = seed_one

    second_bytes, second_stats = _pipeline(out, seed=1)

    assert second_bytes == first_bytes
    assert second_stats == first_stats


def test_other_seed_different_snapshot_and_graph(tmp_path: Path, seed_one: tuple[Path, bytes, dict[str, Any]]) -> None:
    _, first_bytes, first_stats = seed_one

    other_bytes, other_stats = _pipeline(tmp_path / "estate", seed=2)

    assert other_bytes != first_bytes
    assert other_stats != first_stats


def _snapshot_counts(snapshot: dict[str, Any]) -> dict[str, int]:
    objects = snapshot["clusters"][0]["objects"]
    kinds = Counter(obj["kind"] for obj in objects)
    account = snapshot["aws_accounts"][0]
    return {
        "namespaces": kinds["Namespace"],
        "service_accounts": kinds["ServiceAccount"],
        "pods": sum(obj["pod"]["replicas"] for obj in objects if obj["kind"] in POD_KINDS),
        "roles": kinds["Role"] + kinds["ClusterRole"],
        "bindings": kinds["RoleBinding"] + kinds["ClusterRoleBinding"],
        "k8s_secrets": kinds["Secret"],
        "external_secrets": kinds["ExternalSecret"],
        "stores": kinds["SecretStore"] + kinds["ClusterSecretStore"],
        "iam_identities": len(account["roles"]) + len(account["users"]),
        "policies": len(account["policies"]),
        "cloud_secrets": len(account["secrets"]),
    }


SIZE_S_TABLE = {
    "namespaces": 20, "service_accounts": 200, "pods": 300, "roles": 60, "bindings": 120, "k8s_secrets": 400,
    "external_secrets": 100, "stores": 15, "iam_identities": 30, "policies": 50, "cloud_secrets": 500,
}


@pytest.mark.parametrize(("kind", "expected"), SIZE_S_TABLE.items(), ids=SIZE_S_TABLE.keys())
def test_size_s_count_matches_table(snapshot_one: dict[str, Any], kind: str, expected: int) -> None:
    assert _snapshot_counts(snapshot_one)[kind] == expected


def test_size_s_collects_without_gaps(snapshot_one: dict[str, Any]) -> None:
    assert snapshot_one["coverage_gaps"] == []
    assert snapshot_one["clusters"][0]["skipped_kinds"] == {}


def test_size_s_graph_builds_without_warnings(seed_one: tuple[Path, bytes, dict[str, Any]]) -> None:
    assert seed_one[2]["warnings"] == 0


def test_canary_in_manifests_not_snapshot(seed_one: tuple[Path, bytes, dict[str, Any]]) -> None:
    out, snapshot_bytes, _ = seed_one
    encoded_prefix = base64.b64encode(f"{CANARY}-".encode())[:32]
    secrets_text = "".join(path.read_text() for path in (out / "k8s" / "namespaces").rglob("secrets.yaml"))

    assert encoded_prefix.decode() in secrets_text
    assert CANARY.encode() not in snapshot_bytes
    assert encoded_prefix not in snapshot_bytes


def test_query_references_name_real_objects(seed_one: tuple[Path, bytes, dict[str, Any]], snapshot_one: dict[str, Any]) -> None:
    metadata = _write_metadata(seed_one[0])
    secret_arns = {secret["arn"] for secret in snapshot_one["aws_accounts"][0]["secrets"]}
    groups = {subject["name"] for obj in snapshot_one["clusters"][0]["objects"] for subject in obj.get("subjects") or [] if subject["kind"] == "Group"}

    assert metadata["queries"]["production_secret"] in secret_arns
    assert "-prod/" in metadata["queries"]["production_secret"]
    assert metadata["queries"]["developer_group"].removeprefix("group:") in groups


def _write_metadata(out: Path) -> dict[str, Any]:
    return json.loads((out / "estate.json").read_text())


def test_mutation_keeps_counts_changes_grants(tmp_path: Path, snapshot_one: dict[str, Any]) -> None:
    changes = _write(tmp_path / "drifted", seed=1, mutate=0.01)
    drifted = _collect(tmp_path / "drifted")

    assert len(changes) == 2
    assert _snapshot_counts(drifted) == SIZE_S_TABLE
    assert drifted["aws_accounts"] != snapshot_one["aws_accounts"]
    assert _bindings(drifted) != _bindings(snapshot_one)


def _bindings(snapshot: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (obj["metadata"].get("namespace"), obj["metadata"]["name"], obj["roleRef"]["name"], str(obj["subjects"]))
        for obj in snapshot["clusters"][0]["objects"] if obj["kind"] in ("RoleBinding", "ClusterRoleBinding")
    ]


def test_scale_multiplies_counts() -> None:
    counts = size_counts("S", 2.5)

    assert counts.namespaces == 50
    assert counts.cloud_secrets == 1250


def test_scale_too_small_rejected() -> None:
    with pytest.raises(PlanError, match=r"^namespaces: the size asks for 2, but the fixed part of the estate needs at least 5"):
        generate(size_counts("S", 0.1), seed=1)


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0, 7.3], ids=["half", "one", "three", "seven-point-three"])
def test_object_names_unique_at_scale(scale: float) -> None:
    manifests, _, bundle, _ = generate(size_counts("S", scale), seed=3)
    keys = Counter((doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"]) for docs in manifests.values() for doc in docs)
    details = bundle["AuthorizationDetails"]
    arns = Counter(entry["Arn"] for part in ("RoleDetailList", "UserDetailList", "Policies") for entry in details[part])
    secret_names = Counter(entry["Name"] for entry in bundle["SecretList"])

    assert [key for key, count in keys.items() if count > 1] == []
    assert [arn for arn, count in arns.items() if count > 1] == []
    assert [name for name, count in secret_names.items() if count > 1] == []
