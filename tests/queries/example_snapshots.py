"""The example estate as a snapshot dict, and edits of it that model drift between two collections.

The estate is collected from `snapshots/example` with the project's own collectors, so its shape
is a real collection's. Edits return new snapshots and never change the one they are given.
"""

from __future__ import annotations

import copy
import functools
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from blastradius.collectors.aws_files import collect_aws_files
from blastradius.collectors.manifests import collect_manifests
from blastradius.graph.builder import build_graph
from blastradius.queries.diff import Estate
from blastradius.snapshot import assemble

EXAMPLE = Path(__file__).resolve().parents[2] / "snapshots" / "example"
ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
ACCOUNT = "111122223333"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:"
# The example estate's reference time, and five minutes later: no sync becomes stale in between.
FIRST_COLLECTION = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
SECOND_COLLECTION = datetime(2026, 12, 1, 12, 5, tzinfo=timezone.utc)
NEXT_DAY_COLLECTION = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
CANARY = "CANARY-do-not-store-7f3a9c"
# Every base64-encoded canary value of the example manifests starts with this.
CANARY_BASE64_PREFIX = "Q0FOQVJZLWRvLW5vdC1zdG9yZS03ZjNhOWMt"

Snapshot = dict[str, Any]


@functools.cache
def _collected(when: datetime) -> Snapshot:
    collection = collect_manifests([str(EXAMPLE / "k8s")], "example", oidc_issuer=ISSUER)
    collection.extend(collect_aws_files([str(EXAMPLE / "aws.json")]))
    return assemble(collection, collected_at=when)


def example_snapshot(when: datetime = FIRST_COLLECTION) -> Snapshot:
    """Return a fresh copy of the example estate collected at `when`."""
    return copy.deepcopy(_collected(when))


def estate(snapshot: Snapshot, label: str) -> Estate:
    return Estate(label, snapshot, build_graph(snapshot))


def with_object(snapshot: Snapshot, obj: dict[str, Any]) -> Snapshot:
    """Return the snapshot with one more Kubernetes object in its only cluster."""
    changed = copy.deepcopy(snapshot)
    changed["clusters"][0]["objects"].append(obj)
    return changed


def without_object(snapshot: Snapshot, kind: str, namespace: str | None, name: str) -> Snapshot:
    """Return the snapshot without the named Kubernetes object; fail when it is not there."""
    changed = copy.deepcopy(snapshot)
    objects = changed["clusters"][0]["objects"]
    remaining = [obj for obj in objects
                 if (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]) != (kind, namespace, name)]
    assert len(remaining) == len(objects) - 1, f"{kind} {namespace}/{name} is not in the example estate"
    changed["clusters"][0]["objects"] = remaining
    return changed


def role_binding(namespace: str, name: str, cluster_role: str, user: str) -> dict[str, Any]:
    """A RoleBinding of a ClusterRole to one user, in the normalised shape the collectors produce."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "origin": {"file": "snapshots/example/k8s/60-drift.yaml", "line": 1},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def aws_entity(snapshot: Snapshot, list_name: str, name: str) -> dict[str, Any]:
    """Return the AWS entity of `list_name` (roles, users, policies, secrets) with that name, to edit in place."""
    for entity in snapshot["aws_accounts"][0][list_name]:
        if entity["name"] == name:
            return entity
    raise AssertionError(f"no {list_name} entry named {name} in the example estate")
