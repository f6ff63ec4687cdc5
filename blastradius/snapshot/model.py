"""Snapshot sections, coverage gaps and the deterministic assembly of a snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from blastradius import __version__

# Major.minor: a reader accepts any minor version of its own major and rejects a newer major.
SCHEMA_VERSION = "1.0"

# Why a part of the estate could not be read. Queries use these to say "unknown", never "no access".
GAP_REASONS = {
    "forbidden": "the API server answered 403 Forbidden",
    "crd_not_installed": "the API group or resource is not served (CRD not installed)",
    "access_denied": "AWS answered AccessDenied",
    "throttled": "the API kept throttling after retries",
    "not_found": "the object or endpoint does not exist",
    "unsupported": "the source is recognised but blastradius cannot collect it yet",
    "error": "the call failed for another reason (see detail)",
}


def coverage_gap(
    source: str,
    reason: str,
    resource: str,
    detail: str,
    *,
    namespace: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """Build one coverage-gap record.

    `source` is `kubernetes:<cluster>` or `aws:<account id>`; `resource` names what could not be
    read in the source's own terms (`secrets`, `externalsecrets.external-secrets.io`,
    `iam:GetAccountAuthorizationDetails`).
    """
    if reason not in GAP_REASONS:
        raise ValueError(f"unknown coverage-gap reason {reason!r}; expected one of {sorted(GAP_REASONS)}")
    gap: dict[str, Any] = {"source": source, "reason": reason, "resource": resource, "detail": detail}
    if namespace is not None:
        gap["namespace"] = namespace
    if region is not None:
        gap["region"] = region
    return gap


@dataclass
class Collection:
    """What one or more collectors produced: cluster sections, AWS account sections and gaps."""

    clusters: list[dict[str, Any]] = field(default_factory=list)
    aws_accounts: list[dict[str, Any]] = field(default_factory=list)
    coverage_gaps: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: Collection) -> None:
        self.clusters.extend(other.clusters)
        self.aws_accounts.extend(other.aws_accounts)
        self.coverage_gaps.extend(other.coverage_gaps)


def object_sort_key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    metadata = obj.get("metadata") or {}
    return (obj.get("kind", ""), obj.get("apiVersion", ""), metadata.get("namespace") or "", metadata.get("name", ""))


def _gap_sort_key(gap: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(gap.get(key) or "") for key in ("source", "resource", "namespace", "region", "reason", "detail"))


def _sort_lists_by(section: dict[str, Any], key_field: str, list_names: tuple[str, ...]) -> None:
    for name in list_names:
        if name in section:
            section[name] = sorted(section[name], key=lambda item: str(item.get(key_field, "")))


AWS_LISTS_BY_ARN = ("users", "groups", "roles", "policies", "oidc_providers", "secrets", "kms_keys", "organization_policies")


def assemble(collection: Collection, *, collected_at: datetime | None = None) -> dict[str, Any]:
    """Merge a collection into one snapshot dict with every list in a stable order.

    Objects are sorted by kind, apiVersion, namespace and name; AWS entities by ARN; clusters by
    name and accounts by id. JSON keys are sorted when written, so the same input always gives
    the same bytes apart from `collected_at`.
    """
    when = (collected_at or datetime.now(timezone.utc)).astimezone(timezone.utc)

    clusters = sorted(collection.clusters, key=lambda cluster: cluster["name"])
    for cluster in clusters:
        cluster["objects"] = sorted(cluster.get("objects", []), key=object_sort_key)

    accounts = sorted(collection.aws_accounts, key=lambda account: account["account_id"])
    for account in accounts:
        _sort_lists_by(account, "arn", AWS_LISTS_BY_ARN)

    sources: list[dict[str, Any]] = []
    for cluster in clusters:
        sources.append(
            {
                "type": "kubernetes",
                "cluster": cluster["name"],
                "server": cluster.get("server"),
                "manifests": cluster.get("manifests", []),
            }
        )
    for account in accounts:
        sources.append(
            {
                "type": "aws",
                "account_id": account["account_id"],
                "partition": account.get("partition", "aws"),
                "regions": account.get("regions", []),
                "origin": account.get("origin"),
            }
        )

    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "blastradius", "version": __version__},
        "collected_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sources": sources,
        "clusters": clusters,
        "aws_accounts": accounts,
        "coverage_gaps": sorted(collection.coverage_gaps, key=_gap_sort_key),
    }
