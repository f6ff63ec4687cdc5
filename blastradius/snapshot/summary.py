"""Counts per kind, sources and coverage gaps of a snapshot, as plain data."""

from __future__ import annotations

from collections import Counter
from typing import Any

from blastradius.snapshot.model import AWS_LISTS_BY_ARN


def summarize(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Return the collection metadata, object counts per cluster and kind, AWS counts and gaps."""
    clusters = []
    for cluster in snapshot["clusters"]:
        counts = Counter(obj["kind"] for obj in cluster["objects"])
        clusters.append(
            {
                "name": cluster["name"],
                "server": cluster.get("server"),
                "manifests": cluster.get("manifests", []),
                "oidc_issuer": cluster.get("oidc_issuer"),
                "kinds": dict(sorted(counts.items())),
                "skipped_kinds": dict(sorted((cluster.get("skipped_kinds") or {}).items())),
            }
        )

    accounts = []
    for account in snapshot["aws_accounts"]:
        accounts.append(
            {
                "account_id": account["account_id"],
                "partition": account.get("partition", "aws"),
                "regions": account.get("regions", []),
                "origin": account.get("origin"),
                "counts": {name: len(account.get(name, [])) for name in AWS_LISTS_BY_ARN},
            }
        )

    return {
        "schema_version": snapshot["schema_version"],
        "tool": snapshot.get("tool", {}),
        "collected_at": snapshot.get("collected_at"),
        "clusters": clusters,
        "aws_accounts": accounts,
        "coverage_gaps": snapshot["coverage_gaps"],
    }
