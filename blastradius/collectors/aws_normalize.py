"""Turn AWS API and CLI shapes into the snapshot's AWS account section.

Both AWS collectors use these functions. The live collector passes boto3 responses; the offline
collector passes the JSON printed by `aws iam get-account-authorization-details`,
`aws secretsmanager list-secrets` or a blastradius bundle. Each function copies only the fields the
snapshot keeps, so a secret value that an input carries by mistake never reaches the snapshot.
Every list comes back sorted by ARN (or name), so equal input gives equal output.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

log = logging.getLogger(__name__)

# arn:<partition>:<service>:<region>:<account>:<resource>. The account is 12 digits, `aws` for
# AWS-managed IAM and Organizations policies, or empty for services such as S3.
ARN_PATTERN = re.compile(
    r"^arn:(?P<partition>aws(?:-[a-z]+)*):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):"
    r"(?P<account>\d{12}|aws|):(?P<resource>.+)$"
)
ACCOUNT_ID_PATTERN = re.compile(r"^\d{12}$")

AWS_MANAGED_ACCOUNT = "aws"
AWS_MANAGED_SECRETS_KEY_ALIAS = "alias/aws/secretsmanager"
KEY_MANAGERS = ("AWS", "CUSTOMER")
ORGANIZATION_POLICY_TYPES = ("RESOURCE_CONTROL_POLICY", "SERVICE_CONTROL_POLICY")
SNAPSHOT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# The section lists that hold entities with an `arn`, in the order the snapshot format lists them.
SECTION_LISTS = ("users", "groups", "roles", "policies", "oidc_providers", "secrets", "kms_keys", "organization_policies")


class AwsInputError(ValueError):
    """AWS data without the expected shape. The message names the object and what is wrong."""


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str


def parse_arn(value: object, *, owner: str) -> Arn:
    """Split an ARN into its parts, or raise AwsInputError naming `owner` and the value."""
    if not isinstance(value, str):
        raise AwsInputError(f"{owner}: ARN must be a string, found {json_type(value)}")
    match = ARN_PATTERN.match(value)
    if match is None:
        raise AwsInputError(
            f"{owner}: invalid ARN {value!r}: expected arn:<partition>:<service>:<region>:<account>:<resource>"
        )
    return Arn(**match.groupdict())


def json_type(value: object) -> str:
    """Name a decoded JSON value's type as JSON calls it, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def parse_policy_document(document: object, *, owner: str) -> dict[str, Any] | str | None:
    """Return a policy document as a JSON object, or as the original string if it does not parse.

    IAM returns documents URL-encoded, the AWS CLI and boto3 decode them, and Secrets Manager, KMS and
    Organizations return them as JSON strings: all three forms are accepted. A string that is not a
    JSON object even after URL-decoding is kept unchanged and logged, and the analysis treats it as
    granting nothing. `None` (no document) stays `None`.
    """
    if document is None or isinstance(document, dict):
        return document
    if not isinstance(document, str):
        raise AwsInputError(f"{owner}: policy document must be a JSON object or a string, found {json_type(document)}")

    for candidate in (document, unquote(document)):
        try:
            parsed = json.loads(candidate)
        except (ValueError, RecursionError):
            continue
        if isinstance(parsed, dict):
            return parsed
    log.warning(
        "%s: policy document is not a JSON object; it is kept as text and the analysis treats it as granting nothing",
        owner,
    )
    return document


def format_timestamp(value: object, *, owner: str) -> str | None:
    """Return an AWS timestamp as a UTC string like `2026-12-04T20:30:00Z`, or None when absent.

    boto3 gives datetimes, the AWS CLI ISO 8601 strings (or epoch seconds with
    `cli_timestamp_format = none`). A time without a zone is taken as UTC.
    """
    if value is None:
        return None
    try:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, tz=timezone.utc)
        else:
            raise AwsInputError(f"{owner}: timestamp must be a string or a number, found {json_type(value)}")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).strftime(SNAPSHOT_TIME_FORMAT)
    except (ValueError, OverflowError, OSError) as error:
        raise AwsInputError(f"{owner}: invalid timestamp {value!r} ({error})") from None


def require_object(value: object, owner: str) -> dict[str, Any]:
    """Return `value` if it is a JSON object, else raise AwsInputError naming `owner`."""
    if not isinstance(value, dict):
        raise AwsInputError(f"{owner} must be a JSON object, found {json_type(value)}")
    return value


def object_list(container: dict[str, Any], key: str, owner: str) -> list[dict[str, Any]]:
    """Return the list of objects under `key`; a missing key or null is an empty list."""
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise AwsInputError(f"{owner}: {key} must be a list, found {json_type(value)}")
    return [require_object(item, f"{owner}: each entry of {key}") for item in value]


def _string(container: dict[str, Any], key: str, owner: str, *, default: str | None = None) -> str:
    value = container.get(key, default)
    if not isinstance(value, str):
        if value is None:
            raise AwsInputError(f"{owner}: missing {key}")
        raise AwsInputError(f"{owner}: {key} must be a string, found {json_type(value)}")
    return value


def _optional_string(container: dict[str, Any], key: str, owner: str) -> str | None:
    if container.get(key) is None:
        return None
    return _string(container, key, owner)


def _strings(container: dict[str, Any], key: str, owner: str) -> list[str]:
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AwsInputError(f"{owner}: {key} must be a list of strings")
    return sorted(value)


def _optional_bool(container: dict[str, Any], key: str, owner: str) -> bool:
    value = container.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise AwsInputError(f"{owner}: {key} must be true or false, found {json_type(value)}")
    return value


def _arn(container: dict[str, Any], key: str, owner: str) -> str:
    value = _string(container, key, owner)
    parse_arn(value, owner=owner)
    return value


def _tags(container: dict[str, Any], owner: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in object_list(container, "Tags", owner):
        key = _string(tag, "Key", f"{owner} tag")
        tags[key] = _string(tag, "Value", f"{owner} tag {key!r}", default="")
    return tags


def _attached_policies(entry: dict[str, Any], owner: str) -> list[str]:
    attached = object_list(entry, "AttachedManagedPolicies", owner)
    return sorted(_arn(item, "PolicyArn", f"{owner} attached policy") for item in attached)


def _inline_policies(entry: dict[str, Any], key: str, owner: str) -> dict[str, Any]:
    policies: dict[str, Any] = {}
    for item in object_list(entry, key, owner):
        name = _string(item, "PolicyName", f"{owner} inline policy")
        policies[name] = parse_policy_document(item.get("PolicyDocument"), owner=f"{owner} inline policy {name!r}")
    return policies


def _permissions_boundary(entry: dict[str, Any], owner: str) -> str | None:
    boundary = entry.get("PermissionsBoundary")
    if boundary is None:
        return None
    boundary = require_object(boundary, f"{owner}: PermissionsBoundary")
    return _arn(boundary, "PermissionsBoundaryArn", f"{owner} permissions boundary")


def _user(entry: dict[str, Any]) -> dict[str, Any]:
    name = _string(entry, "UserName", "user entry")
    owner = f"user {name!r}"
    return {
        "arn": _arn(entry, "Arn", owner),
        "name": name,
        "path": _string(entry, "Path", owner, default="/"),
        "groups": _strings(entry, "GroupList", owner),
        "attached_policies": _attached_policies(entry, owner),
        "inline_policies": _inline_policies(entry, "UserPolicyList", owner),
        "permissions_boundary": _permissions_boundary(entry, owner),
        "tags": _tags(entry, owner),
    }


def _group(entry: dict[str, Any]) -> dict[str, Any]:
    name = _string(entry, "GroupName", "group entry")
    owner = f"group {name!r}"
    return {
        "arn": _arn(entry, "Arn", owner),
        "name": name,
        "path": _string(entry, "Path", owner, default="/"),
        "attached_policies": _attached_policies(entry, owner),
        "inline_policies": _inline_policies(entry, "GroupPolicyList", owner),
    }


def _role(entry: dict[str, Any]) -> dict[str, Any]:
    name = _string(entry, "RoleName", "role entry")
    owner = f"role {name!r}"
    return {
        "arn": _arn(entry, "Arn", owner),
        "name": name,
        "path": _string(entry, "Path", owner, default="/"),
        "trust_policy": parse_policy_document(entry.get("AssumeRolePolicyDocument"), owner=f"{owner} trust policy"),
        "attached_policies": _attached_policies(entry, owner),
        "inline_policies": _inline_policies(entry, "RolePolicyList", owner),
        "permissions_boundary": _permissions_boundary(entry, owner),
        "tags": _tags(entry, owner),
    }


def _default_version(entry: dict[str, Any], owner: str) -> dict[str, Any]:
    """Return the version marked `IsDefaultVersion`: only that one is in force."""
    versions = object_list(entry, "PolicyVersionList", owner)
    defaults = [version for version in versions if version.get("IsDefaultVersion") is True]
    if not defaults:
        raise AwsInputError(f"{owner}: PolicyVersionList has no default version (no entry with IsDefaultVersion true)")
    if len(defaults) > 1:
        version_ids = ", ".join(str(version.get("VersionId")) for version in defaults)
        raise AwsInputError(f"{owner}: PolicyVersionList marks several default versions: {version_ids}")
    return defaults[0]


def _managed_policy(entry: dict[str, Any]) -> dict[str, Any]:
    arn = _string(entry, "Arn", "managed policy entry")
    owner = f"policy {arn}"
    parsed_arn = parse_arn(arn, owner=owner)
    version = _default_version(entry, owner)
    version_id = _string(version, "VersionId", f"{owner} default version", default=entry.get("DefaultVersionId"))
    return {
        "arn": arn,
        # A policy ARN ends in its name (policy/<path>/<name>); moto 5.2 omits PolicyName here.
        "name": _string(entry, "PolicyName", owner, default=parsed_arn.resource.rsplit("/", 1)[-1]),
        "path": _string(entry, "Path", owner, default="/"),
        "aws_managed": parsed_arn.account == AWS_MANAGED_ACCOUNT,
        "default_version_id": version_id,
        "document": parse_policy_document(version.get("Document"), owner=f"{owner} version {version_id}"),
    }


def _sorted_by_arn(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entities, key=lambda entity: entity["arn"])


def normalize_authorization_details(details: object) -> dict[str, list[dict[str, Any]]]:
    """Return the users, groups, roles and managed policies of GetAccountAuthorizationDetails output.

    Managed policies keep their default version only, because no other version is in force.
    """
    details = require_object(details, "authorization details")
    return {
        "users": _sorted_by_arn([_user(entry) for entry in object_list(details, "UserDetailList", "authorization details")]),
        "groups": _sorted_by_arn([_group(entry) for entry in object_list(details, "GroupDetailList", "authorization details")]),
        "roles": _sorted_by_arn([_role(entry) for entry in object_list(details, "RoleDetailList", "authorization details")]),
        "policies": _sorted_by_arn([_managed_policy(entry) for entry in object_list(details, "Policies", "authorization details")]),
    }


def _rotation_days(entry: dict[str, Any], owner: str) -> int | None:
    rules = entry.get("RotationRules")
    if rules is None:
        return None
    days = require_object(rules, f"{owner}: RotationRules").get("AutomaticallyAfterDays")
    if days is None:
        return None
    if not isinstance(days, int) or isinstance(days, bool):
        raise AwsInputError(f"{owner}: RotationRules.AutomaticallyAfterDays must be a whole number, found {json_type(days)}")
    return days


def _secret(entry: dict[str, Any], resource_policies: dict[str, Any]) -> dict[str, Any]:
    arn = _string(entry, "ARN", "secret entry")
    owner = f"secret {arn}"
    parsed_arn = parse_arn(arn, owner=owner)
    if parsed_arn.service != "secretsmanager":
        raise AwsInputError(f"{owner}: not a Secrets Manager ARN (service {parsed_arn.service!r})")
    return {
        "arn": arn,
        "name": _string(entry, "Name", owner),
        "region": parsed_arn.region,
        "kms_key_id": _optional_string(entry, "KmsKeyId", owner),
        "resource_policy": parse_policy_document(resource_policies.get(arn), owner=f"{owner} resource policy"),
        "tags": _tags(entry, owner),
        "rotation_enabled": _optional_bool(entry, "RotationEnabled", owner),
        "rotation_days": _rotation_days(entry, owner),
        "last_rotated": format_timestamp(entry.get("LastRotatedDate"), owner=f"{owner} LastRotatedDate"),
        "last_changed": format_timestamp(entry.get("LastChangedDate"), owner=f"{owner} LastChangedDate"),
        "owning_service": _optional_string(entry, "OwningService", owner),
    }


def normalize_secret_list(secret_list: object, resource_policies: dict[str, Any]) -> list[dict[str, Any]]:
    """Return Secrets Manager metadata from ListSecrets entries, with each secret's resource policy.

    `resource_policies` maps secret ARNs to documents; a secret missing from it has no policy. The
    `kms_key_id` is the reference as AWS printed it; `link_secrets_to_keys` resolves it to a key ARN.
    """
    if not isinstance(secret_list, list):
        raise AwsInputError(f"SecretList must be a list, found {json_type(secret_list)}")
    entries = [require_object(entry, "each entry of SecretList") for entry in secret_list]
    return _sorted_by_arn([_secret(entry, resource_policies) for entry in entries])


def _alias_name(alias: object, owner: str) -> str:
    if isinstance(alias, dict):
        return _string(alias, "AliasName", f"{owner} alias")
    if isinstance(alias, str):
        return alias
    raise AwsInputError(f"{owner}: each alias must be a string or an object with AliasName, found {json_type(alias)}")


def _kms_key(entry: dict[str, Any]) -> dict[str, Any]:
    metadata = require_object(entry.get("KeyMetadata"), "KMS key entry: KeyMetadata")
    arn = _string(metadata, "Arn", "KMS key entry")
    owner = f"KMS key {arn}"
    parsed_arn = parse_arn(arn, owner=owner)
    manager = _string(metadata, "KeyManager", owner)
    if manager not in KEY_MANAGERS:
        raise AwsInputError(f"{owner}: KeyManager must be one of {', '.join(KEY_MANAGERS)}, found {manager!r}")
    aliases = entry.get("Aliases") or []
    if not isinstance(aliases, list):
        raise AwsInputError(f"{owner}: Aliases must be a list, found {json_type(aliases)}")
    return {
        "arn": arn,
        "key_id": _string(metadata, "KeyId", owner),
        "region": parsed_arn.region,
        "manager": manager,
        "policy": parse_policy_document(entry.get("Policy"), owner=f"{owner} key policy"),
        "aliases": sorted({_alias_name(alias, owner) for alias in aliases}),
    }


def normalize_kms_keys(keys: object) -> list[dict[str, Any]]:
    """Return KMS keys from `{"KeyMetadata", "Policy", "Aliases"}` entries, merged by key ARN."""
    if not isinstance(keys, list):
        raise AwsInputError(f"KmsKeys must be a list, found {json_type(keys)}")
    merged: dict[str, dict[str, Any]] = {}
    for entry in keys:
        key = _kms_key(require_object(entry, "each entry of KmsKeys"))
        if key["arn"] in merged:
            key["aliases"] = sorted(set(merged[key["arn"]]["aliases"]) | set(key["aliases"]))
        merged[key["arn"]] = key
    return _sorted_by_arn(list(merged.values()))


def _is_aws_managed_secrets_key(reference: str) -> bool:
    return reference == AWS_MANAGED_SECRETS_KEY_ALIAS or reference.endswith(f":{AWS_MANAGED_SECRETS_KEY_ALIAS}")


def _key_lookup_name(reference: str, region: str) -> tuple[str, str]:
    """Return (region, key id or alias name) for a key reference as a secret stores it."""
    match = ARN_PATTERN.match(reference)
    if match is None:
        return region, reference
    resource = match["resource"]
    return match["region"], resource.removeprefix("key/")


def link_secrets_to_keys(secrets: list[dict[str, Any]], kms_keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace each secret's `kms_key_id` with its key's ARN, or None for the AWS-managed key.

    A secret may name its key by key id, key ARN, alias name or alias ARN, and alias names are
    per region. Returns the secrets whose customer key is not among `kms_keys`; they keep the
    reference as given, because the key policy that decides decryption is unknown.
    """
    by_name: dict[tuple[str, str], dict[str, Any]] = {}
    for key in kms_keys:
        by_name[(key["region"], key["key_id"])] = key
        for alias in key["aliases"]:
            by_name[(key["region"], alias)] = key

    unresolved: list[dict[str, Any]] = []
    for secret in secrets:
        reference = secret["kms_key_id"]
        if reference is None:
            continue
        if _is_aws_managed_secrets_key(reference):
            secret["kms_key_id"] = None
            continue
        key = by_name.get(_key_lookup_name(reference, secret["region"]))
        if key is None:
            unresolved.append(secret)
        elif key["manager"] == "AWS":
            secret["kms_key_id"] = None
        else:
            secret["kms_key_id"] = key["arn"]
    return unresolved


def _oidc_provider(entry: dict[str, Any]) -> dict[str, Any]:
    arn = _string(entry, "Arn", "OIDC provider entry")
    owner = f"OIDC provider {arn}"
    parsed_arn = parse_arn(arn, owner=owner)
    url = _optional_string(entry, "Url", owner) or parsed_arn.resource.removeprefix("oidc-provider/")
    return {
        "arn": arn,
        "url": url.removeprefix("https://"),
        "client_ids": _strings(entry, "ClientIDList", owner),
    }


def normalize_oidc_providers(providers: object) -> list[dict[str, Any]]:
    """Return IAM OIDC identity providers with the issuer URL stripped of `https://`."""
    if not isinstance(providers, list):
        raise AwsInputError(f"OpenIDConnectProviders must be a list, found {json_type(providers)}")
    entries = [require_object(entry, "each entry of OpenIDConnectProviders") for entry in providers]
    return _sorted_by_arn([_oidc_provider(entry) for entry in entries])


def _organization_policy(entry: dict[str, Any]) -> dict[str, Any]:
    arn = _arn(entry, "Arn", "organization policy entry")
    owner = f"organization policy {arn}"
    return {
        "arn": arn,
        "id": _string(entry, "Id", owner),
        "name": _string(entry, "Name", owner),
        "type": _string(entry, "Type", owner),
        "document": parse_policy_document(entry.get("Content"), owner=owner),
        "targets": _strings(entry, "Targets", owner),
    }


def normalize_organization_policies(policies: object) -> list[dict[str, Any]]:
    """Return the SCPs and RCPs among Organizations policies; other policy types grant nothing.

    Tag, backup and AI opt-out policies are skipped, because they do not limit permissions.
    """
    if not isinstance(policies, list):
        raise AwsInputError(f"OrganizationPolicies must be a list, found {json_type(policies)}")
    limiting_policies: list[dict[str, Any]] = []
    for entry in policies:
        policy = _organization_policy(require_object(entry, "each entry of OrganizationPolicies"))
        if policy["type"] in ORGANIZATION_POLICY_TYPES:
            limiting_policies.append(policy)
        else:
            log.info("organization policy %s: type %s does not limit permissions; skipped", policy["arn"], policy["type"])
    return _sorted_by_arn(limiting_policies)


def account_section(
    account_id: str,
    partition: str,
    regions: list[str],
    origin: str | list[str],
    entities: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """Build one AWS account section; `entities` maps section list names to normalised entities."""
    section: dict[str, Any] = {
        "account_id": account_id,
        "partition": partition,
        "regions": sorted(set(regions)),
        "origin": origin,
    }
    for name in SECTION_LISTS:
        section[name] = _sorted_by_arn(entities.get(name, []))
    return section
