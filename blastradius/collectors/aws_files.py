"""The offline AWS collector: read AWS CLI output and blastradius bundles into account sections.

Three file shapes are accepted (see docs/snapshot-format.md): the output of
`aws iam get-account-authorization-details`, the output of `aws secretsmanager list-secrets`, and a
blastradius bundle that contains both plus resource, key, OIDC and organization policies. Files that
describe the same account merge into one section. The account comes from a bundle's `AccountId`,
otherwise from the ARNs inside.

A part of an account that no file carries is recorded as a coverage gap, so the analysis reports
it as unknown. SCPs and RCPs missing from the files are taken as absent, which can only make the
reported reach larger than it is.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from blastradius.collectors.aws_normalize import (
    ACCOUNT_ID_PATTERN,
    AWS_MANAGED_ACCOUNT,
    AwsInputError,
    account_section,
    json_type,
    link_secrets_to_keys,
    normalize_authorization_details,
    normalize_kms_keys,
    normalize_oidc_providers,
    normalize_organization_policies,
    normalize_secret_list,
    parse_arn,
    require_object,
)
from blastradius.collectors.errors import CollectionError
from blastradius.collectors.input_limits import DEFAULT_MAX_FILE_BYTES, read_limited
from blastradius.snapshot import Collection, coverage_gap

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "blastradius-aws-bundle/1"
AUTHORIZATION_DETAILS_KEYS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
BUNDLE_KEYS = frozenset(
    {
        "Format",
        "AccountId",
        "Partition",
        "Regions",
        "AuthorizationDetails",
        "SecretList",
        "ResourcePolicies",
        "KmsKeys",
        "OpenIDConnectProviders",
        "OrganizationPolicies",
    }
)
NOT_IN_FILES = "not in the given files"

# The parts of an account a file can carry. A part that no file carries becomes a coverage gap.
AUTHORIZATION_DETAILS = "authorization details"
SECRET_LIST = "secret list"
RESOURCE_POLICIES = "resource policies"


@dataclass
class _AccountData:
    """Entities and parts that one file, or the merge of several, contains for one AWS account."""

    account_id: str | None
    partition: str | None = None
    regions: set[str] = field(default_factory=set)
    parts: set[str] = field(default_factory=set)
    entities: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    origin: list[str] = field(default_factory=list)


def collect_aws_files(paths: list[str], *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Collection:
    """Read AWS CLI outputs and bundles, and return one account section per AWS account found.

    Raises CollectionError naming the file and the fault for unreadable files, files larger than
    `max_file_bytes` (checked before they are read), files of no known shape, invalid ARNs and
    managed policies without a default version.
    """
    file_data: list[tuple[str, list[_AccountData]]] = []
    for path in paths:
        document = _read_json(path, max_file_bytes)
        try:
            file_data.append((path, _account_data_of(document)))
        except AwsInputError as error:
            raise CollectionError(f"{path}: {error}") from None

    accounts = _merge_by_account(file_data)

    collection = Collection()
    for account in sorted(accounts.values(), key=lambda data: data.account_id or ""):
        section, gaps = _finish_account(account)
        collection.aws_accounts.append(section)
        collection.coverage_gaps.extend(gaps)
        log.info("AWS account %s: read from %s", account.account_id, ", ".join(account.origin))
    return collection


def _read_json(path: str, max_bytes: int) -> object:
    try:
        with open(path, "rb") as handle:
            raw = read_limited(handle, path, max_bytes)
    except FileNotFoundError:
        raise CollectionError(f"{path}: AWS JSON file not found") from None
    except OSError as error:
        raise CollectionError(f"{path}: cannot read AWS JSON file: {error.strerror}") from None

    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise CollectionError(f"{path}: not valid JSON: the file is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise CollectionError(f"{path}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise CollectionError(f"{path}: not valid JSON: nested too deeply") from None


def _account_data_of(document: object) -> list[_AccountData]:
    """Detect the file's shape from its keys and return its data for each account."""
    if not isinstance(document, dict):
        raise AwsInputError(
            f"expected a JSON object (AWS CLI output or a blastradius bundle), found {json_type(document)}"
        )
    if "Format" in document:
        return [_bundle_data(document)]
    if any(key in document for key in AUTHORIZATION_DETAILS_KEYS):
        return _authorization_details_data(document)
    if "SecretList" in document:
        return _secret_list_data(document)

    found = ", ".join(sorted(document)[:20]) or "none"
    raise AwsInputError(
        "not a known AWS file: expected the output of `aws iam get-account-authorization-details` "
        "(UserDetailList, GroupDetailList, RoleDetailList, Policies), of `aws secretsmanager list-secrets` "
        f"(SecretList) or a blastradius bundle (Format); found keys: {found}"
    )


def _account_of(entity: dict[str, Any]) -> tuple[str, str]:
    """Return (partition, account id) of a normalised entity from its ARN."""
    arn = parse_arn(entity["arn"], owner=entity["arn"])
    return arn.partition, arn.account


def _split_by_account(entities: dict[str, list[dict[str, Any]]], parts: set[str]) -> list[_AccountData]:
    """Group entities by the account in their ARN.

    AWS-managed policies belong to no account: they go to every account the file names. A file
    that names no account gives one `_AccountData` without an account id, for the merge to place.
    """
    by_account: dict[str, _AccountData] = {}
    shared: dict[str, list[dict[str, Any]]] = {}
    for list_name, items in entities.items():
        for entity in items:
            partition, account_id = _account_of(entity)
            if account_id in (AWS_MANAGED_ACCOUNT, ""):
                shared.setdefault(list_name, []).append(entity)
                continue
            data = by_account.setdefault(account_id, _AccountData(account_id, partition, parts=set(parts)))
            data.entities.setdefault(list_name, []).append(entity)

    if not by_account:
        by_account[""] = _AccountData(None, parts=set(parts))
    for data in by_account.values():
        for list_name, items in shared.items():
            data.entities.setdefault(list_name, []).extend(items)
        data.regions = {secret["region"] for secret in data.entities.get("secrets", [])}
    return list(by_account.values())


def _authorization_details_data(document: dict[str, Any]) -> list[_AccountData]:
    return _split_by_account(normalize_authorization_details(document), {AUTHORIZATION_DETAILS})


def _secret_list_data(document: dict[str, Any]) -> list[_AccountData]:
    secrets = normalize_secret_list(document["SecretList"], resource_policies={})
    return _split_by_account({"secrets": secrets}, {SECRET_LIST})


def _bundle_data(bundle: dict[str, Any]) -> _AccountData:
    """Read a blastradius bundle: every part is optional, and `AccountId` names the account."""
    if bundle["Format"] != BUNDLE_FORMAT:
        raise AwsInputError(f"unsupported bundle Format {bundle['Format']!r}; expected {BUNDLE_FORMAT!r}")
    unknown = sorted(set(bundle) - BUNDLE_KEYS)
    if unknown:
        log.warning("bundle keys %s are not part of %s and are ignored", ", ".join(unknown), BUNDLE_FORMAT)

    entities, parts = _bundle_entities(bundle)
    data = _bundle_account(bundle, entities)
    data.parts = parts
    data.entities = entities
    data.regions = set(_bundle_regions(bundle)) | {secret["region"] for secret in entities.get("secrets", [])}
    return data


def _bundle_entities(bundle: dict[str, Any]) -> tuple[dict[str, list[dict[str, Any]]], set[str]]:
    entities: dict[str, list[dict[str, Any]]] = {}
    parts: set[str] = set()
    if "AuthorizationDetails" in bundle:
        entities.update(normalize_authorization_details(bundle["AuthorizationDetails"]))
        parts.add(AUTHORIZATION_DETAILS)
    if "SecretList" in bundle:
        entities["secrets"] = normalize_secret_list(bundle["SecretList"], _resource_policies(bundle))
        parts.add(SECRET_LIST)
    if "ResourcePolicies" in bundle:
        parts.add(RESOURCE_POLICIES)
    if "KmsKeys" in bundle:
        entities["kms_keys"] = normalize_kms_keys(bundle["KmsKeys"])
    if "OpenIDConnectProviders" in bundle:
        entities["oidc_providers"] = normalize_oidc_providers(bundle["OpenIDConnectProviders"])
    if "OrganizationPolicies" in bundle:
        entities["organization_policies"] = normalize_organization_policies(bundle["OrganizationPolicies"])
    return entities, parts


def _resource_policies(bundle: dict[str, Any]) -> dict[str, Any]:
    policies = require_object(bundle.get("ResourcePolicies", {}), "ResourcePolicies")
    for secret_arn in policies:
        parse_arn(secret_arn, owner="ResourcePolicies key")
    return policies


def _bundle_regions(bundle: dict[str, Any]) -> list[str]:
    regions = bundle.get("Regions", [])
    if not isinstance(regions, list) or not all(isinstance(region, str) for region in regions):
        raise AwsInputError("Regions must be a list of region names such as us-east-1")
    return regions


def _bundle_account(bundle: dict[str, Any], entities: dict[str, list[dict[str, Any]]]) -> _AccountData:
    """Return the bundle's account: `AccountId` if given, else the one account its ARNs name."""
    partition = bundle.get("Partition")
    if partition is not None and not isinstance(partition, str):
        raise AwsInputError(f"Partition must be a string such as aws, found {json_type(partition)}")

    account_id = bundle.get("AccountId")
    if account_id is not None:
        if not isinstance(account_id, str) or not ACCOUNT_ID_PATTERN.match(account_id):
            raise AwsInputError(f"AccountId must be a 12-digit string such as \"111122223333\", found {account_id!r}")
        return _AccountData(account_id, partition)

    # An organization policy's ARN names the management account, not the account it applies to.
    own_entities = {name: items for name, items in entities.items() if name != "organization_policies"}
    found = [data for data in _split_by_account(own_entities, set()) if data.account_id is not None]
    if len(found) > 1:
        names = ", ".join(sorted(data.account_id or "" for data in found))
        raise AwsInputError(f"bundle without AccountId contains ARNs of several accounts ({names}); add AccountId")
    if not found:
        return _AccountData(None, partition)
    return _AccountData(found[0].account_id, partition or found[0].partition)


def _merge_by_account(file_data: list[tuple[str, list[_AccountData]]]) -> dict[str, _AccountData]:
    """Merge the data of every file by account.

    Data from a file that names no account (an empty secret list, or only AWS-managed policies)
    goes to the one account the other files name. With none or several, the account is unknown.
    """
    accounts: dict[str, _AccountData] = {}
    unplaced: list[tuple[str, _AccountData]] = []
    for path, items in file_data:
        for data in items:
            if data.account_id is None:
                unplaced.append((path, data))
                continue
            target = accounts.setdefault(data.account_id, _AccountData(data.account_id))
            _merge_into(target, data, path)

    for path, data in unplaced:
        if len(accounts) != 1:
            known = ", ".join(sorted(accounts)) or "none"
            raise CollectionError(
                f"{path}: no ARN with an account id, so the AWS account it describes is unknown "
                f"(accounts in the other files: {known}); put it in a bundle with AccountId"
            )
        _merge_into(next(iter(accounts.values())), data, path)
    return accounts


def _merge_into(target: _AccountData, data: _AccountData, path: str) -> None:
    target.partition = target.partition or data.partition
    target.regions |= data.regions
    target.parts |= data.parts
    if path not in target.origin:
        target.origin.append(path)
    for list_name, items in data.entities.items():
        existing = {entity["arn"]: entity for entity in target.entities.get(list_name, [])}
        for entity in items:
            earlier = existing.setdefault(entity["arn"], entity)
            if earlier != entity:
                log.warning("%s: %s appears in several files with different content; keeping the first", path, entity["arn"])
        target.entities[list_name] = list(existing.values())


def _finish_account(data: _AccountData) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Link secrets to their keys, and return the account section and its coverage gaps."""
    account_id = data.account_id or ""
    secrets = data.entities.get("secrets", [])
    unresolved = link_secrets_to_keys(secrets, data.entities.get("kms_keys", []))
    section = account_section(account_id, data.partition or "aws", sorted(data.regions), data.origin, data.entities)
    return section, _coverage_gaps(data, unresolved)


def _coverage_gaps(data: _AccountData, unresolved_key_secrets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    source = f"aws:{data.account_id}"
    gaps: list[dict[str, Any]] = []
    if AUTHORIZATION_DETAILS not in data.parts:
        gaps.append(coverage_gap(source, "not_found", "iam:GetAccountAuthorizationDetails", NOT_IN_FILES))
    if SECRET_LIST not in data.parts:
        gaps.append(coverage_gap(source, "not_found", "secretsmanager:ListSecrets", NOT_IN_FILES))

    secrets = data.entities.get("secrets", [])
    if RESOURCE_POLICIES not in data.parts:
        for region in sorted({secret["region"] for secret in secrets}):
            detail = f"{NOT_IN_FILES}; a secret's resource policy can grant access, so that access is unknown"
            gaps.append(coverage_gap(source, "not_found", "secretsmanager:GetResourcePolicy", detail, region=region))

    for secret in unresolved_key_secrets:
        detail = f"KMS key {secret['kms_key_id']} of secret {secret['name']} is {NOT_IN_FILES}; who can decrypt it is unknown"
        gaps.append(coverage_gap(source, "not_found", "kms:GetKeyPolicy", detail, region=secret["region"]))
    return gaps

