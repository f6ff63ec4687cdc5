"""The objects that differ between two snapshots: added, removed, and changed with the fields that changed.

Kubernetes objects are matched by (cluster, kind, namespace, name) and AWS entities by (account,
list, ARN). Fields that change without changing who can reach what are left out of the comparison.
They are `origin` (file and line of a manifest), the `status` of External Secrets objects, which
moves at every refresh (failing and stale syncs are audit findings instead), and a Secrets Manager
secret's `last_rotated` and `last_changed`, which move at every rotation. `collected_at` is not
part of any object.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger(__name__)

KEY_COLUMNS = ["scope", "kind", "namespace", "name"]
CHANGE_ORDER = {"added": 0, "removed": 1, "changed": 2}

# The kind each AWS account list holds, as the diff names it.
AWS_KINDS = {
    "users": "IAM user",
    "groups": "IAM group",
    "roles": "IAM role",
    "policies": "IAM policy",
    "oidc_providers": "OIDC provider",
    "secrets": "Secrets Manager secret",
    "kms_keys": "KMS key",
    "organization_policies": "organization policy",
}
_IGNORED_KUBERNETES_FIELDS = frozenset({"origin", "status"})
_IGNORED_AWS_FIELDS = {"secrets": frozenset({"last_rotated", "last_changed"})}


def object_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one row per added, removed or changed object, sorted by scope, kind, namespace and name.

    A row contains `change`, `scope` (the cluster name, or `aws:<account id>`), `kind`,
    `namespace` (empty for cluster-wide objects and AWS entities), `name` (an ARN for AWS
    entities), `fields` (the top-level fields that changed, with `metadata.<field>` for metadata;
    empty unless changed) and `origin` (`file:line` of the manifest, from NEW unless removed).
    Objects are matched by key in dictionaries, so the cost grows with the number of objects.
    """
    before = _records_by_key(old, "OLD")
    after = _records_by_key(new, "NEW")

    rows = []
    for key, record in before.items():
        row = _change_row(key, record, after.get(key))
        if row is not None:
            rows.append(row)
    for key, record in after.items():
        if key not in before:
            rows.append(_change_row(key, None, record))
    rows.sort(key=lambda row: (row["scope"], row["kind"], row["namespace"], row["name"], CHANGE_ORDER[row["change"]]))
    return rows


def _change_row(key: tuple, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the row of one object key, or None when both sides have the same compared fields."""
    if old is not None and new is not None and old["body"] == new["body"]:
        return None

    row = dict(zip(KEY_COLUMNS, key))
    if new is None:
        row.update(change="removed", fields=[], origin=old["origin"])
    elif old is None:
        row.update(change="added", fields=[], origin=new["origin"])
    else:
        row.update(change="changed", fields=_changed_fields(old["compared"], new["compared"]), origin=new["origin"])
    return row


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def _records_by_key(snapshot: dict[str, Any], side: str) -> dict[tuple, dict[str, Any]]:
    """Map each object's key to its compared fields, their canonical JSON and its origin; the first of duplicates wins."""
    records: dict[tuple, dict[str, Any]] = {}
    for record in [*_kubernetes_records(snapshot), *_aws_records(snapshot)]:
        key = tuple(record[column] for column in KEY_COLUMNS)
        if key in records:
            log.warning("%s snapshot lists %s %s/%s in %s more than once (different apiVersions?); comparing the first",
                        side, record["kind"], record["namespace"], record["name"], record["scope"])
            continue
        records[key] = record
    return records


def _kubernetes_records(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    records = []
    for cluster in snapshot.get("clusters", []):
        for obj in cluster.get("objects", []):
            metadata = obj.get("metadata") or {}
            compared = {name: value for name, value in obj.items() if name not in _IGNORED_KUBERNETES_FIELDS and name != "metadata"}
            compared.update({f"metadata.{key}": value for key, value in metadata.items()})
            records.append(_record(cluster["name"], obj.get("kind", ""), metadata.get("namespace") or "",
                                   metadata.get("name", ""), compared, _origin_text(obj.get("origin"))))
    return records


def _aws_records(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    records = []
    for account in snapshot.get("aws_accounts", []):
        scope = f"aws:{account['account_id']}"
        for list_name, kind in AWS_KINDS.items():
            ignored = _IGNORED_AWS_FIELDS.get(list_name, frozenset())
            for entity in account.get(list_name, []):
                compared = {name: value for name, value in entity.items() if name not in ignored}
                records.append(_record(scope, kind, "", entity.get("arn", ""), compared, None))
    return records


def _record(scope: str, kind: str, namespace: str, name: str, compared: dict[str, Any], origin: str | None) -> dict[str, Any]:
    body = json.dumps(compared, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {"scope": scope, "kind": kind, "namespace": namespace, "name": name, "compared": compared, "body": body,
            "origin": origin}


def _origin_text(origin: dict[str, Any] | None) -> str | None:
    if not origin or not origin.get("file"):
        return None
    return f"{origin['file']}:{origin['line']}" if origin.get("line") else str(origin["file"])
