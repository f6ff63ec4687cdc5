"""Drift for the diff benchmark: change a fraction of an estate's bindings and managed policies in place.

Mutations change what objects grant, never how many objects there are, so the mutated estate has
the same counts per kind as the original and differs only in reachability.
"""

from __future__ import annotations

import random
from typing import Any

from benchmarks.estate_aws import FIXED_POLICY_ARNS, deny_high_privilege_paths
from benchmarks.estate_k8s import Manifests
from benchmarks.estate_rbac import RBAC_GROUP, group, user


def mutate_estate(manifests: Manifests, bundle: dict[str, Any], fraction: float, rng: random.Random) -> list[str]:
    """Change about `fraction` of the generated bindings and customer-managed policies, and describe each change in one line.

    At least one binding and one policy change whenever `fraction` is above zero.
    """
    bindings = [doc for path in sorted(manifests) for doc in manifests[path] if doc["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    policies = [policy for policy in bundle["AuthorizationDetails"]["Policies"] if policy["Arn"] not in FIXED_POLICY_ARNS]
    changes = []
    for index, binding in enumerate(rng.sample(bindings, _share(len(bindings), fraction))):
        changes.append(_mutate_binding(binding, index))
    for index, policy in enumerate(rng.sample(policies, _share(len(policies), fraction))):
        changes.append(_mutate_policy(policy, index))
    return changes


def _share(total: int, fraction: float) -> int:
    if fraction <= 0 or total == 0:
        return 0
    return min(total, max(1, round(total * fraction)))


def _binding_label(binding: dict[str, Any]) -> str:
    metadata = binding["metadata"]
    where = f"{metadata['namespace']}/" if "namespace" in metadata else ""
    return f"{binding['kind']} {where}{metadata['name']}"


def _mutate_binding(binding: dict[str, Any], index: int) -> str:
    label = _binding_label(binding)
    if index % 3 == 0:
        role = "admin" if binding["kind"] == "RoleBinding" else "edit"
        if binding["roleRef"]["name"] == role:
            role = "cluster-admin"
        binding["roleRef"] = {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role}
        return f"{label}: roleRef changed to ClusterRole {role}"
    if index % 3 == 1:
        binding["subjects"] = [*binding["subjects"], group("contractors")]
        return f"{label}: subject Group contractors added"
    name = f"new-hire-{index}@example.com"
    binding["subjects"] = [user(name)]
    return f"{label}: subjects replaced by User {name}"


def _mutate_policy(policy: dict[str, Any], index: int) -> str:
    version = next(version for version in policy["PolicyVersionList"] if version["IsDefaultVersion"])
    statements = version["Document"]["Statement"]
    label = f"policy {policy['PolicyName']} {version['VersionId']}"
    if index % 3 == 0:
        statements[0]["Resource"] = "*"
        return f"{label}: first statement widened to Resource *"
    if index % 3 == 1:
        kept = [statement for statement in statements if statement["Effect"] != "Deny"]
        if len(kept) < len(statements):
            version["Document"]["Statement"] = kept
            return f"{label}: Deny statements removed"
        statements.append(deny_high_privilege_paths())
        return f"{label}: Deny on high-privilege paths added"
    statements.append({"Sid": "DecryptAnyKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})
    return f"{label}: kms:Decrypt on * added"
