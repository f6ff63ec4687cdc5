"""Tests for the diff of two snapshots: reachability triples, changed objects, schema versions and notes."""

from __future__ import annotations

import pytest

from blastradius.config import Config
from blastradius.queries.common import SECRET_KINDS
from blastradius.queries.diff import DiffError, diff
from blastradius.queries.reachability import reach_from
from tests.queries.example_snapshots import (
    ACCOUNT,
    NEXT_DAY_COLLECTION,
    SECOND_COLLECTION,
    SECRET_ARN,
    aws_entity,
    estate,
    example_snapshot,
    role_binding,
    with_object,
    without_object,
)

ALICE = "user:alice@example.com"
ALICE_BINDING = role_binding("production", "alice-prod-admin", "admin", "alice@example.com")


def _triples(rows: list[dict]) -> set[tuple[str, str, str]]:
    return {(row["principal"], row["target"], row["capability"]) for row in rows}


def _row(rows: list[dict], principal: str, target: str, capability: str) -> dict:
    matches = [row for row in rows if (row["principal"], row["target"], row["capability"]) == (principal, target, capability)]
    assert len(matches) == 1, f"expected one row for {principal} {capability} {target}, got {len(matches)}"
    return matches[0]


@pytest.fixture(scope="module")
def alice_diff():
    old = example_snapshot()
    return diff(estate(old, "old.json"), estate(with_object(old, ALICE_BINDING), "new.json"))


# --- reachability ---------------------------------------------------------------------------------


def test_added_binding_grows_reach(alice_diff) -> None:
    assert alice_diff.grew is True
    assert alice_diff.lost_reach.total == 0
    assert {row["principal"] for row in alice_diff.new_reach.rows} == {ALICE}


def test_added_binding_lists_every_triple(alice_diff) -> None:
    """The new triples are exactly what alice reaches in NEW, because she reached no secret before."""
    new_graph = estate(with_object(example_snapshot(), ALICE_BINDING), "new.json").graph
    alice = "k8s:example:user:alice@example.com"
    expected = {(ALICE, new_graph.name(reach.target), reach.capability)
                for reach in reach_from(new_graph, alice) if new_graph.kind(reach.target) in SECRET_KINDS}

    assert _triples(alice_diff.new_reach.rows) == expected
    assert alice_diff.new_reach.total == len(expected)
    assert (ALICE, "secret:production/manual-api-token", "overwrite") in expected


def test_added_binding_row_has_path(alice_diff) -> None:
    row = _row(alice_diff.new_reach.rows, ALICE, "secret:production/manual-api-token", "read")

    assert row["principal_id"] == "k8s:example:user:alice@example.com"
    assert row["target_id"] == "k8s:example:secret:production/manual-api-token"
    assert row["path"] == ("user:alice@example.com -[rbac_read_secrets]-> every Secret of namespace production "
                           "-[contains]-> secret:production/manual-api-token")
    assert "RoleBinding production/alice-prod-admin" in row["steps"][0]["reason"]
    assert row["new_target"] is False


def test_removed_binding_shows_lost_reach() -> None:
    old = example_snapshot()
    new = without_object(old, "RoleBinding", "dev-sandbox", "dev-team-edit")

    result = diff(estate(old, "old.json"), estate(new, "new.json"))

    assert result.grew is False
    assert result.new_reach.total == 0
    assert {row["principal"] for row in result.lost_reach.rows} == {"group:dev-team"}
    lost = _row(result.lost_reach.rows, "group:dev-team", "secret:dev-sandbox/shared-config", "read")
    assert lost["path"].startswith("group:dev-team -[")
    assert "RoleBinding dev-sandbox/dev-team-edit" in lost["steps"][0]["reason"]
    assert lost["removed_target"] is False


def test_identical_snapshots_unchanged() -> None:
    snapshot = example_snapshot()

    result = diff(estate(snapshot, "old.json"), estate(example_snapshot(), "new.json"))

    assert result.unchanged is True
    assert result.grew is False
    assert result.object_changes == []
    assert result.notes == []


def test_later_collection_unchanged() -> None:
    old = example_snapshot()
    new = example_snapshot(SECOND_COLLECTION)

    result = diff(estate(old, "old.json"), estate(new, "new.json"))

    assert old["collected_at"] != new["collected_at"]
    assert result.unchanged is True
    assert result.new["collected_at"] == "2026-12-01T12:05:00Z"


def test_next_day_collection_finds_stale_syncs() -> None:
    """The same ExternalSecret status a day later means the syncs stopped: staleness is judged per snapshot."""
    result = diff(estate(example_snapshot(), "old.json"), estate(example_snapshot(NEXT_DAY_COLLECTION), "new.json"))

    assert result.new_reach.total == 0
    assert result.object_changes == []
    assert [(row["check_id"], row["details"]["locations"][0]["name"]) for row in result.new_findings] == [
        ("ESO-SYNC-STALE", "shared-config"),
        ("ESO-SYNC-STALE", "database-credentials"),
        ("ESO-SYNC-STALE", "shared-tls"),
        ("ESO-SYNC-STALE", "shared-tls"),
    ]
    assert result.resolved_findings == []


def test_new_secret_marked_new_target() -> None:
    old = example_snapshot()
    new = example_snapshot()
    new["aws_accounts"][0]["secrets"].append({
        "arn": f"{SECRET_ARN}dev/new-flag-Qq1Ww2", "name": "dev/new-flag", "region": "us-east-1", "kms_key_id": None,
        "resource_policy": None, "tags": {}, "rotation_enabled": False, "rotation_days": None, "last_rotated": None,
        "last_changed": None, "owning_service": None,
    })

    result = diff(estate(old, "old.json"), estate(new, "new.json"))

    row = _row(result.new_reach.rows, "user/developer-jane", "dev/new-flag", "read")
    assert row["new_target"] is True
    assert {row["target"] for row in result.new_reach.rows} == {"dev/new-flag"}


def test_trusted_principal_hidden_and_counted(alice_diff) -> None:
    old = example_snapshot()
    config = Config(trusted_principals=("user:alice@*",), source="blastradius.toml")

    result = diff(estate(old, "old.json"), estate(with_object(old, ALICE_BINDING), "new.json"), config=config)

    assert result.new_reach.total == 0
    assert result.grew is False
    assert result.notes == [f"{alice_diff.new_reach.total} change(s) of reachability of trusted principals hidden "
                            "(trusted_principals in blastradius.toml)"]


def test_limit_caps_rows_not_total(alice_diff) -> None:
    old = example_snapshot()

    result = diff(estate(old, "old.json"), estate(with_object(old, ALICE_BINDING), "new.json"), limit=2)

    assert len(result.new_reach.rows) == 2
    assert result.new_reach.total == alice_diff.new_reach.total
    assert result.to_dict()["new_reach"]["listed"] == 2


# --- changed objects ------------------------------------------------------------------------------


def test_added_binding_adds_finding(alice_diff) -> None:
    delete_rights = [row for row in alice_diff.new_findings if row["check_id"] == "K8S-ESO-DELETE-RIGHTS"]

    assert [row["details"]["locations"] for row in delete_rights] == [[{
        "kind": "RoleBinding", "namespace": "production", "name": "alice-prod-admin",
        "file": "snapshots/example/k8s/60-drift.yaml", "line": 1,
    }]]


def test_removed_binding_resolves_finding() -> None:
    """The aggregation finding names every binding of edit and admin, so its key changes with them."""
    old = example_snapshot()
    new = without_object(old, "RoleBinding", "dev-sandbox", "dev-team-edit")

    result = diff(estate(old, "old.json"), estate(new, "new.json"))

    assert [row["check_id"] for row in result.resolved_findings] == ["K8S-ESO-EDIT-AGGREGATION"]
    assert "RoleBinding dev-sandbox/dev-team-edit" in result.resolved_findings[0]["message"]
    assert [row["check_id"] for row in result.new_findings] == ["K8S-ESO-EDIT-AGGREGATION"]
    assert "RoleBinding dev-sandbox/dev-team-edit" not in result.new_findings[0]["message"]


def test_added_binding_listed_as_added(alice_diff) -> None:
    assert alice_diff.object_changes == [{
        "scope": "example", "kind": "RoleBinding", "namespace": "production", "name": "alice-prod-admin",
        "change": "added", "fields": [], "origin": "snapshots/example/k8s/60-drift.yaml:1",
    }]


def test_changed_inline_policy_listed() -> None:
    old = example_snapshot()
    new = example_snapshot()
    statement = aws_entity(new, "roles", "ci-deploy")["inline_policies"]["ci-deploy-staging-read"]["Statement"][0]
    statement["Resource"] = f"{SECRET_ARN}*"

    result = diff(estate(old, "old.json"), estate(new, "new.json"))

    assert result.object_changes == [{
        "scope": f"aws:{ACCOUNT}", "kind": "IAM role", "namespace": "", "name": f"arn:aws:iam::{ACCOUNT}:role/ci-deploy",
        "change": "changed", "fields": ["inline_policies"], "origin": None,
    }]
    assert "role/ci-deploy" in {row["principal"] for row in result.new_reach.rows}


def test_changed_managed_policy_listed() -> None:
    old = example_snapshot()
    new = example_snapshot()
    policy = aws_entity(new, "policies", "eso-controller-shared-read")
    policy["document"]["Statement"][0]["Resource"] = f"{SECRET_ARN}*"

    result = diff(estate(old, "old.json"), estate(new, "new.json"))

    assert [(row["change"], row["kind"], row["name"], row["fields"]) for row in result.object_changes] == [
        ("changed", "IAM policy", policy["arn"], ["document"]),
    ]
    assert result.grew is True


def test_changed_resource_policy_listed() -> None:
    old = example_snapshot()
    new = example_snapshot()
    aws_entity(new, "secrets", "shared/tls")["resource_policy"] = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}],
    }

    result = diff(estate(old, "old.json"), estate(new, "new.json"))

    assert [(row["change"], row["kind"], row["fields"]) for row in result.object_changes] == [
        ("changed", "Secrets Manager secret", ["resource_policy"]),
    ]


def test_binding_subjects_change_names_field() -> None:
    old = example_snapshot()
    new = example_snapshot()
    binding = next(obj for obj in new["clusters"][0]["objects"]
                   if obj["kind"] == "RoleBinding" and obj["metadata"]["name"] == "dev-team-edit")
    binding["subjects"].append({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob@example.com"})
    binding["metadata"]["labels"] = {"team": "dev"}

    result = diff(estate(old, "old.json"), estate(new, "new.json"))

    assert [(row["change"], row["kind"], row["namespace"], row["name"], row["fields"]) for row in result.object_changes] == [
        ("changed", "RoleBinding", "dev-sandbox", "dev-team-edit", ["metadata.labels", "subjects"]),
    ]
    assert {row["principal"] for row in result.new_reach.rows} == {"user:bob@example.com"}


def test_volatile_fields_not_changes() -> None:
    """Manifest line numbers, ExternalSecret status and rotation times move without changing access."""
    old = example_snapshot()
    new = example_snapshot()
    for obj in new["clusters"][0]["objects"]:
        if "origin" in obj:
            obj["origin"]["line"] += 3
        if obj["kind"] == "ExternalSecret":
            obj["status"] = {"refreshTime": "2026-12-02T01:59:00Z"}
    aws_entity(new, "secrets", "staging/legacy/config")["last_rotated"] = "2026-12-02T03:00:00Z"

    result = diff(estate(old, "old.json"), estate(new, "new.json"))

    assert result.object_changes == []


# --- schema versions and coverage -----------------------------------------------------------------


def test_minor_schema_difference_noted() -> None:
    old = example_snapshot()
    new = example_snapshot()
    new["schema_version"] = "1.3"

    result = diff(estate(old, "old.json"), estate(new, "new.json"))

    assert result.notes == ["schema versions differ (old.json: 1.0, new.json: 1.3); compared as schema 1.x"]
    assert result.unchanged is True


@pytest.mark.parametrize("old_version, new_version", [("1.0", "2.0"), ("2.0", "1.0")], ids=["newer-new", "newer-old"])
def test_major_schema_difference_rejected(old_version: str, new_version: str) -> None:
    old = example_snapshot()
    new = example_snapshot()
    old["schema_version"], new["schema_version"] = old_version, new_version

    with pytest.raises(DiffError) as raised:
        diff(estate(old, "old.json"), estate(new, "new.json"))

    assert str(raised.value) == (
        f"cannot compare old.json (schema {old_version}) with new.json (schema {new_version}): the major versions "
        "differ; collect both snapshots with the same blastradius major version"
    )


def test_coverage_gap_in_new_noted() -> None:
    old = example_snapshot()
    new = example_snapshot()
    new["coverage_gaps"] = [{"source": "kubernetes:example", "reason": "forbidden", "resource": "secrets",
                             "namespace": "production", "detail": "HTTP 403"}]

    result = diff(estate(old, "old.json"), estate(new, "new.json"))

    assert result.notes == ["coverage gap only in new.json (lost reachability there may be unknown, not lost): "
                            "kubernetes:example: secrets in namespace production (forbidden)"]
