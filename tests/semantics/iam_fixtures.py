"""Builders for AWS account sections in the snapshot's shape, for the IAM evaluator tests."""

from __future__ import annotations

from typing import Any

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
REGION = "us-east-1"
CANARY = "CANARY-do-not-store-7f3a9c"
EKS_ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
EKS_PROVIDER_URL = EKS_ISSUER.removeprefix("https://")


def role_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def user_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:user/{name}"


def policy_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:policy/{name}"


def secret_arn(name: str, account: str = ACCOUNT, suffix: str = "AbCdEf") -> str:
    return f"arn:aws:secretsmanager:{REGION}:{account}:secret:{name}-{suffix}"


def key_arn(key_id: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:kms:{REGION}:{account}:key/{key_id}"


def provider_arn(account: str = ACCOUNT, url: str = EKS_PROVIDER_URL) -> str:
    return f"arn:aws:iam::{account}:oidc-provider/{url}"


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str] = "*", **elements: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **elements}


def deny(action: str | list[str], resource: str | list[str] = "*", **elements: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **elements}


def trust(principal: Any, action: str = "sts:AssumeRole", **elements: Any) -> dict[str, Any]:
    return document({"Effect": "Allow", "Principal": principal, "Action": action, **elements})


EC2_TRUST = trust({"Service": "ec2.amazonaws.com"})


def role(
    name: str,
    *,
    account: str = ACCOUNT,
    inline: dict[str, Any] | None = None,
    attached: tuple[str, ...] = (),
    boundary: str | None = None,
    trust_policy: Any = EC2_TRUST,
    tags: dict[str, str] | None = None,
    path: str = "/",
) -> dict[str, Any]:
    return {
        "arn": role_arn(name, account),
        "name": name,
        "path": path,
        "trust_policy": trust_policy,
        "attached_policies": list(attached),
        "inline_policies": inline or {},
        "permissions_boundary": boundary,
        "tags": tags or {},
    }


def user(
    name: str,
    *,
    account: str = ACCOUNT,
    groups: tuple[str, ...] = (),
    inline: dict[str, Any] | None = None,
    attached: tuple[str, ...] = (),
    boundary: str | None = None,
) -> dict[str, Any]:
    return {
        "arn": user_arn(name, account),
        "name": name,
        "path": "/",
        "groups": list(groups),
        "attached_policies": list(attached),
        "inline_policies": inline or {},
        "permissions_boundary": boundary,
        "tags": {},
    }


def group(name: str, *, account: str = ACCOUNT, inline: dict[str, Any] | None = None, attached: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "arn": f"arn:aws:iam::{account}:group/{name}",
        "name": name,
        "path": "/",
        "attached_policies": list(attached),
        "inline_policies": inline or {},
    }


def managed_policy(arn: str, policy_document: Any, *, aws_managed: bool = False, version: str = "v1") -> dict[str, Any]:
    return {
        "arn": arn,
        "name": arn.rsplit("/", 1)[-1],
        "path": "/",
        "aws_managed": aws_managed,
        "default_version_id": version,
        "document": policy_document,
    }


ADMINISTRATOR_ACCESS = managed_policy(
    "arn:aws:iam::aws:policy/AdministratorAccess", document(allow("*", "*")), aws_managed=True
)


def secret(
    name: str,
    *,
    account: str = ACCOUNT,
    kms_key_id: str | None = None,
    resource_policy: Any = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "arn": secret_arn(name, account),
        "name": name,
        "region": REGION,
        "kms_key_id": kms_key_id,
        "resource_policy": resource_policy,
        "tags": tags or {},
        "rotation_enabled": False,
        "rotation_days": None,
        "last_rotated": None,
        "last_changed": None,
        "owning_service": None,
    }


def kms_key(key_id: str, policy: Any, *, account: str = ACCOUNT, aliases: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "arn": key_arn(key_id, account),
        "key_id": key_id,
        "region": REGION,
        "manager": "CUSTOMER",
        "policy": policy,
        "aliases": list(aliases),
    }


def oidc_provider(account: str = ACCOUNT, url: str = EKS_PROVIDER_URL) -> dict[str, Any]:
    return {"arn": provider_arn(account, url), "url": url, "client_ids": ["sts.amazonaws.com"]}


def organization_policy(policy_id: str, policy_document: Any, kind: str = "SERVICE_CONTROL_POLICY") -> dict[str, Any]:
    return {
        "arn": f"arn:aws:organizations::999988887777:policy/o-exampleorgid/service_control_policy/{policy_id}",
        "id": policy_id,
        "name": policy_id,
        "type": kind,
        "document": policy_document,
        "targets": [ACCOUNT],
    }


def account(
    account_id: str = ACCOUNT,
    *,
    users: tuple[dict[str, Any], ...] = (),
    groups: tuple[dict[str, Any], ...] = (),
    roles: tuple[dict[str, Any], ...] = (),
    policies: tuple[dict[str, Any], ...] = (),
    secrets: tuple[dict[str, Any], ...] = (),
    kms_keys: tuple[dict[str, Any], ...] = (),
    oidc_providers: tuple[dict[str, Any], ...] = (),
    organization_policies: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "partition": "aws",
        "regions": [REGION],
        "origin": "api",
        "users": list(users),
        "groups": list(groups),
        "roles": list(roles),
        "policies": list(policies),
        "secrets": list(secrets),
        "kms_keys": list(kms_keys),
        "oidc_providers": list(oidc_providers),
        "organization_policies": list(organization_policies),
    }
