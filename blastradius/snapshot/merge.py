"""Merge snapshots of several clusters and accounts into one, so they are analysed together."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from blastradius.snapshot.model import Collection, assemble
from blastradius.snapshot.store import SnapshotError


def merge_snapshots(named: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Return one snapshot holding every cluster, account and gap of the given (file name, snapshot) pairs.

    A cluster name or an AWS account id that appears in two inputs is an error naming both files,
    because node ids would collide. The merged snapshot's `collected_at` is the earliest of the
    inputs, so staleness is never judged later than any part was read.
    """
    if len(named) < 2:
        raise SnapshotError("merge needs at least two snapshots")
    collection = Collection()
    owners: dict[tuple[str, str], str] = {}
    times = []
    for name, snapshot in named:
        for cluster in snapshot["clusters"]:
            _claim(owners, ("cluster", cluster["name"]), name)
            collection.clusters.append(copy.deepcopy(cluster))
        for account in snapshot["aws_accounts"]:
            _claim(owners, ("AWS account", account["account_id"]), name)
            collection.aws_accounts.append(copy.deepcopy(account))
        collection.coverage_gaps.extend(copy.deepcopy(snapshot["coverage_gaps"]))
        if snapshot.get("collected_at"):
            times.append(datetime.fromisoformat(snapshot["collected_at"].replace("Z", "+00:00")))
    return assemble(collection, collected_at=min(times) if times else None)


def _claim(owners: dict[tuple[str, str], str], key: tuple[str, str], name: str) -> None:
    if key in owners:
        kind, value = key
        raise SnapshotError(f"{name}: {kind} {value} is also in {owners[key]}; collect it once, or give the clusters "
                            "distinct --cluster-name values")
    owners[key] = name
