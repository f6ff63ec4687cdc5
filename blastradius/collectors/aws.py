"""The live AWS collector: read IAM, Secrets Manager, KMS and Organizations through boto3.

It reads the account of the current credentials. From IAM it reads users, groups, roles, managed
policies and OIDC providers. In each region it reads Secrets Manager metadata, resource policies
and the KMS keys those secrets use. From Organizations it reads the SCPs and RCPs that apply to the
account. It only lists and describes, and never requests a secret's value.

A call that AWS denies or keeps throttling becomes a coverage gap naming the call and the region,
and the collection goes on. A call about one secret, key or OIDC provider also names its ARN in
the gap detail, so the snapshot names the policy that is unknown. Missing credentials and an
unreachable endpoint stop it with a CollectionError. boto3 honours `AWS_ENDPOINT_URL` and the
per-service `AWS_ENDPOINT_URL_<SERVICE>` variables, which point the collector at a local mock such
as moto.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoCredentialsError, PartialCredentialsError, ProfileNotFound
from botocore.exceptions import ConnectionError as BotoConnectionError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from blastradius.collectors.aws_normalize import (
    AWS_MANAGED_ACCOUNT,
    AwsInputError,
    account_section,
    link_secrets_to_keys,
    normalize_authorization_details,
    normalize_kms_keys,
    normalize_oidc_providers,
    normalize_organization_policies,
    normalize_secret_list,
    parse_arn,
)
from blastradius.collectors.errors import CollectionError
from blastradius.snapshot import Collection, coverage_gap

log = logging.getLogger(__name__)

# Adaptive mode slows the client down when AWS throttles. botocore reads `max_attempts` here as
# retries after the first try, so a request is sent at most 9 times.
RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8})

ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
    }
)
ORGANIZATIONS_NOT_IN_USE = "AWSOrganizationsNotInUseException"
POLICY_TYPE_NOT_ENABLED = "PolicyTypeNotEnabledException"

AUTHORIZATION_DETAILS_FILTER = ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"]
AUTHORIZATION_DETAILS_KEYS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
ORGANIZATION_POLICY_TYPES = ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY")
SCPS_UNKNOWN = "the SCPs and RCPs that apply to the account are unknown"
# Organizational units nest at most five deep under the root; the bound only guards against a loop.
MAX_PARENT_DEPTH = 10

T = TypeVar("T")


def collect_aws(*, profile: str | None, regions: list[str], progress: bool = False) -> Collection:
    """Collect the AWS account of the current credentials into one account section.

    `regions` are the regions to read Secrets Manager and KMS from; when empty, the session's
    region is used. Raises CollectionError when no region is configured, the credentials are
    missing or rejected, or an endpoint cannot be reached.
    """
    session = _open_session(profile)
    regions = _regions_to_collect(session, regions)

    with _progress_display(progress) as show_step:
        show_step("STS: reading the caller identity")
        account_id, partition = _caller_identity(session, regions[0])
        reader = _AccountReader(session, account_id, regions[0])

        show_step("IAM: reading users, groups, roles and policies")
        authorization_details = reader.authorization_details()
        show_step("IAM: reading OIDC providers")
        oidc_providers = reader.oidc_providers()

        secret_list: list[dict[str, Any]] = []
        resource_policies: dict[str, Any] = {}
        kms_keys: list[dict[str, Any]] = []
        for region in regions:
            show_step(f"Secrets Manager: reading secrets in {region}")
            region_secrets = reader.secrets(region)
            resource_policies.update(reader.resource_policies(region, region_secrets))
            show_step(f"KMS: reading the keys of secrets in {region}")
            kms_keys.extend(reader.kms_keys(region, region_secrets))
            secret_list.extend(region_secrets)

        show_step("Organizations: reading SCPs and RCPs")
        organization_policies = reader.organization_policies()

    try:
        entities = normalize_authorization_details(authorization_details)
        entities["oidc_providers"] = normalize_oidc_providers(oidc_providers)
        entities["secrets"] = normalize_secret_list(secret_list, resource_policies)
        entities["kms_keys"] = normalize_kms_keys(kms_keys)
        entities["organization_policies"] = normalize_organization_policies(organization_policies)
    except AwsInputError as error:
        raise CollectionError(f"AWS account {account_id}: unexpected API response: {error}") from None
    link_secrets_to_keys(entities["secrets"], entities["kms_keys"])

    section = account_section(account_id, partition, regions, "api", entities)
    log.info("AWS account %s: collected with %d coverage gap(s)", account_id, len(reader.gaps))
    return Collection(aws_accounts=[section], coverage_gaps=reader.gaps)


def _open_session(profile: str | None) -> boto3.Session:
    try:
        return boto3.Session(profile_name=profile)
    except ProfileNotFound:
        raise CollectionError(f"AWS profile {profile!r} not found in the AWS config files; check --aws-profile") from None


def _regions_to_collect(session: boto3.Session, regions: list[str]) -> list[str]:
    """Return the requested regions without repeats, or the session's region when none are given."""
    if regions:
        return list(dict.fromkeys(regions))
    if session.region_name:
        return [session.region_name]
    raise CollectionError(
        "no AWS region configured: give --aws-region (repeatable), or set AWS_DEFAULT_REGION or a region in the AWS profile"
    )


def _caller_identity(session: boto3.Session, region: str) -> tuple[str, str]:
    """Return (account id, partition) of the credentials; this first call also checks them."""
    sts = session.client("sts", region_name=region, config=RETRY_CONFIG)
    try:
        _reject_unsendable_credentials(session)
        identity = sts.get_caller_identity()
    except (NoCredentialsError, PartialCredentialsError) as error:
        raise CollectionError(
            f"no usable AWS credentials ({error}): give --aws-profile, or set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        ) from None
    except (BotoConnectionError, HTTPClientError) as error:
        raise CollectionError(f"cannot reach AWS STS: {error}; check the network and AWS_ENDPOINT_URL") from None
    except ClientError as error:
        raise CollectionError(f"AWS STS GetCallerIdentity failed: {_error_text(error)}; check the credentials") from None
    except BotoCoreError as error:
        raise CollectionError(f"AWS STS GetCallerIdentity failed: {error}") from None

    try:
        arn = parse_arn(identity["Arn"], owner="STS GetCallerIdentity")
    except AwsInputError as error:
        raise CollectionError(f"unexpected STS response: {error}") from None
    log.info("AWS: collecting account %s as %s", identity["Account"], identity["Arn"])
    return identity["Account"], arn.partition


def _reject_unsendable_credentials(session: boto3.Session) -> None:
    """Raise CollectionError, naming the credential but never quoting it, when it contains an unprintable character.

    The access key ID and the session token go in request headers, and http.client quotes a header
    value with a line break in full in its error, which botocore passes on. A secret access key
    with one would only fail the signature, with a less helpful message.
    """
    credentials = session.get_credentials()
    if credentials is None:
        return
    frozen = credentials.get_frozen_credentials()
    for name, value in (("access key ID", frozen.access_key), ("secret access key", frozen.secret_key), ("session token", frozen.token)):
        if value is not None and not value.isprintable():
            raise CollectionError(
                f"the AWS {name} contains a line break or another unprintable character: "
                "remove it from the environment variable or the AWS credentials file"
            )


def _error_text(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code', 'Unknown')}: {details.get('Message', '')}".rstrip(": ")


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class _AccountReader:
    """Read one account's IAM, Secrets Manager, KMS and Organizations data, recording gaps."""

    def __init__(self, session: boto3.Session, account_id: str, home_region: str) -> None:
        self._session = session
        # IAM and Organizations are global; their clients still need a region to sign requests.
        self._home_region = home_region
        self._account_id = account_id
        self._source = f"aws:{account_id}"
        self._clients: dict[tuple[str, str], Any] = {}
        self.gaps: list[dict[str, Any]] = []

    def _client(self, service: str, region: str | None = None) -> Any:
        region = region or self._home_region
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self._session.client(service, region_name=region, config=RETRY_CONFIG)
        return self._clients[key]

    def _call(
        self,
        operation: str,
        region: str | None,
        request: Callable[[], T],
        *,
        consequence: str = "",
        absent_code: str | None = None,
    ) -> T | None:
        """Run one AWS request; on a client error record a coverage gap and return None.

        `operation` is the IAM action name, such as `kms:DescribeKey`. An error with code
        `absent_code` means there is nothing to read: it returns None without a gap. Connection
        failures raise CollectionError, because nothing further can be read.
        """
        try:
            return request()
        except ClientError as error:
            if absent_code is not None and _error_code(error) == absent_code:
                log.info("AWS %s: %s, so there is nothing to read", operation, _error_text(error))
                return None
            self._record_client_error(operation, region, error, consequence)
        except (BotoConnectionError, HTTPClientError) as error:
            raise CollectionError(f"cannot reach AWS for {operation}: {error}; check the network and AWS_ENDPOINT_URL") from None
        except BotoCoreError as error:
            self._record_gap("error", operation, region, str(error), consequence)
        return None

    def _record_client_error(self, operation: str, region: str | None, error: ClientError, consequence: str) -> None:
        code = _error_code(error)
        if code in ACCESS_DENIED_CODES:
            reason = "access_denied"
        elif code in THROTTLING_CODES:
            reason = "throttled"
        else:
            reason = "error"
        self._record_gap(reason, operation, region, _error_text(error), consequence)

    def _record_gap(self, reason: str, operation: str, region: str | None, detail: str, consequence: str) -> None:
        if consequence:
            detail = f"{detail.rstrip('.')}; {consequence}"
        where = f" in {region}" if region else ""
        log.warning("AWS %s%s: %s (%s); that part of the account is reported as unknown", operation, where, reason, detail)
        self.gaps.append(coverage_gap(self._source, reason, operation, detail, region=region))

    def authorization_details(self) -> dict[str, list[dict[str, Any]]]:
        """Read IAM authorization details and keep only the AWS-managed policies that are in use.

        The AWSManagedPolicy filter returns every AWS-managed policy there is. Only the ones
        attached to a principal or used as a permissions boundary grant or limit anything here.
        """
        iam = self._client("iam")

        def read_pages() -> dict[str, list[dict[str, Any]]]:
            merged: dict[str, list[dict[str, Any]]] = {key: [] for key in AUTHORIZATION_DETAILS_KEYS}
            for page in iam.get_paginator("get_account_authorization_details").paginate(Filter=AUTHORIZATION_DETAILS_FILTER):
                for key in AUTHORIZATION_DETAILS_KEYS:
                    merged[key].extend(page.get(key, []))
            return merged

        details = self._call("iam:GetAccountAuthorizationDetails", None, read_pages)
        if details is None:
            return {key: [] for key in AUTHORIZATION_DETAILS_KEYS}
        details["Policies"] = _policies_in_use(details)
        return details

    def oidc_providers(self) -> list[dict[str, Any]]:
        iam = self._client("iam")
        listed = self._call("iam:ListOpenIDConnectProviders", None, iam.list_open_id_connect_providers)
        if listed is None:
            return []

        providers = []
        for entry in listed.get("OpenIDConnectProviderList", []):
            arn = entry["Arn"]
            provider = self._call(
                "iam:GetOpenIDConnectProvider",
                None,
                lambda: iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn),
                consequence=f"the OIDC provider {arn} is unknown",
            )
            if provider is not None:
                providers.append({"Arn": arn, "Url": provider.get("Url"), "ClientIDList": provider.get("ClientIDList", [])})
        return providers

    def secrets(self, region: str) -> list[dict[str, Any]]:
        """Return the ListSecrets entries of one region: names, keys, tags and rotation, no values."""
        client = self._client("secretsmanager", region)

        def read_pages() -> list[dict[str, Any]]:
            pages = client.get_paginator("list_secrets").paginate(IncludePlannedDeletion=False)
            return [entry for page in pages for entry in page.get("SecretList", [])]

        return self._call("secretsmanager:ListSecrets", region, read_pages) or []

    def resource_policies(self, region: str, secrets: list[dict[str, Any]]) -> dict[str, Any]:
        """Return the resource policy document (a JSON string) of each secret that has one."""
        client = self._client("secretsmanager", region)
        policies: dict[str, Any] = {}
        for secret in secrets:
            arn = secret["ARN"]
            response = self._call(
                "secretsmanager:GetResourcePolicy",
                region,
                lambda: client.get_resource_policy(SecretId=arn),
                consequence=f"the resource policy of {arn} is unknown",
            )
            if response is not None and response.get("ResourcePolicy"):
                policies[arn] = response["ResourcePolicy"]
        return policies

    def kms_keys(self, region: str, secrets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Return the KMS keys the secrets name, with key policy and aliases for customer keys.

        A secret may name its key by id, ARN, alias or alias ARN. DescribeKey resolves each of
        them; an alias that resolved a key is added to that key's aliases.
        """
        references = sorted({secret["KmsKeyId"] for secret in secrets if secret.get("KmsKeyId")})
        kms = self._client("kms", region)
        keys: list[dict[str, Any]] = []
        for reference in references:
            described = self._call(
                "kms:DescribeKey",
                region,
                lambda: kms.describe_key(KeyId=reference),
                consequence=f"the KMS key {reference} and its key policy are unknown",
            )
            if described is not None:
                keys.append(self._kms_key(kms, region, described["KeyMetadata"], reference))
        return keys

    def _kms_key(self, kms: Any, region: str, metadata: dict[str, Any], reference: str) -> dict[str, Any]:
        key_id = metadata["KeyId"]
        aliases = [_alias_in_reference(reference)] if _alias_in_reference(reference) else []
        key = {"KeyMetadata": metadata, "Policy": None, "Aliases": aliases}
        if metadata.get("KeyManager") != "CUSTOMER":
            return key

        policy = self._call(
            "kms:GetKeyPolicy",
            region,
            lambda: kms.get_key_policy(KeyId=key_id, PolicyName="default"),
            consequence=f"the key policy of {metadata['Arn']} is unknown",
        )
        if policy is not None:
            key["Policy"] = policy.get("Policy")

        def read_aliases() -> list[str]:
            pages = kms.get_paginator("list_aliases").paginate(KeyId=key_id)
            return [alias["AliasName"] for page in pages for alias in page.get("Aliases", [])]

        listed = self._call("kms:ListAliases", region, read_aliases, consequence=f"the aliases of {metadata['Arn']} are unknown")
        key["Aliases"] = sorted(set(aliases) | set(listed or []))
        return key

    def organization_policies(self) -> list[dict[str, Any]]:
        """Return the SCPs and RCPs attached to the account, its organizational units and the root.

        Only the management account (or a delegated administrator) may list them; elsewhere this
        records a gap saying the SCPs and RCPs are unknown.
        """
        organizations = self._client("organizations")
        # An account outside any organisation has no SCPs or RCPs: that is an answer, not a gap.
        described = self._call(
            "organizations:DescribeOrganization", None, organizations.describe_organization,
            consequence=SCPS_UNKNOWN, absent_code=ORGANIZATIONS_NOT_IN_USE,
        )
        if described is None:
            return []

        parents = self._parents(organizations)
        if parents is None:
            return []

        targets = [self._account_id, *parents]
        policies: dict[str, dict[str, Any]] = {}
        for target in targets:
            for policy_type in ORGANIZATION_POLICY_TYPES:
                for summary in self._policies_for_target(organizations, target, policy_type):
                    entry = policies.setdefault(summary["Id"], {**_policy_summary(summary), "Targets": []})
                    entry["Targets"].append(target)

        for policy_id, entry in policies.items():
            response = self._call(
                "organizations:DescribePolicy",
                None,
                lambda: organizations.describe_policy(PolicyId=policy_id),
                consequence=f"the content of {entry['Name']} is unknown",
            )
            if response is not None:
                entry["Content"] = response["Policy"].get("Content")
        return list(policies.values())

    def _parents(self, organizations: Any) -> list[str] | None:
        """Return the ids of the account's organizational units, innermost first, then the root.

        Returns None when a ListParents call fails; the gap is then already recorded.
        """
        parents: list[str] = []
        child = self._account_id
        for _ in range(MAX_PARENT_DEPTH):
            response = self._call(
                "organizations:ListParents", None, lambda: organizations.list_parents(ChildId=child), consequence=SCPS_UNKNOWN
            )
            if response is None:
                return None
            if not response.get("Parents"):
                break
            parent = response["Parents"][0]
            parents.append(parent["Id"])
            if parent["Type"] == "ROOT":
                break
            child = parent["Id"]
        return parents

    def _policies_for_target(self, organizations: Any, target: str, policy_type: str) -> list[dict[str, Any]]:
        def read_pages() -> list[dict[str, Any]]:
            pages = organizations.get_paginator("list_policies_for_target").paginate(TargetId=target, Filter=policy_type)
            return [summary for page in pages for summary in page.get("Policies", [])]

        listed = self._call(
            "organizations:ListPoliciesForTarget",
            None,
            read_pages,
            consequence=SCPS_UNKNOWN,
            absent_code=POLICY_TYPE_NOT_ENABLED,
        )
        return listed or []


def _policies_in_use(details: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Keep customer-managed policies, and AWS-managed ones attached somewhere or used as a boundary."""
    in_use: set[str] = set()
    for key in ("UserDetailList", "GroupDetailList", "RoleDetailList"):
        for principal in details[key]:
            in_use.update(attached["PolicyArn"] for attached in principal.get("AttachedManagedPolicies", []))
            boundary = principal.get("PermissionsBoundary") or {}
            if boundary.get("PermissionsBoundaryArn"):
                in_use.add(boundary["PermissionsBoundaryArn"])
    return [policy for policy in details["Policies"] if not _is_aws_managed(policy["Arn"]) or policy["Arn"] in in_use]


def _is_aws_managed(policy_arn: str) -> bool:
    return parse_arn(policy_arn, owner="managed policy").account == AWS_MANAGED_ACCOUNT


def _alias_in_reference(reference: str) -> str | None:
    """Return the alias name in a key reference (`alias/x` or an alias ARN), or None for a key."""
    if reference.startswith("alias/"):
        return reference
    _, separator, alias = reference.partition(":alias/")
    return f"alias/{alias}" if separator else None


def _policy_summary(summary: dict[str, Any]) -> dict[str, Any]:
    return {"Id": summary["Id"], "Arn": summary["Arn"], "Name": summary["Name"], "Type": summary["Type"], "Content": None}


@contextmanager
def _progress_display(enabled: bool) -> Iterator[Callable[[str], None]]:
    """Yield a function that announces each collection step.

    With `enabled` and a terminal on stderr, the steps show in a transient rich spinner; they are
    always logged at INFO.
    """
    if not (enabled and sys.stderr.isatty()):
        yield lambda description: log.info("%s", description)
        return

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as display:
        task = display.add_task("AWS", total=None)

        def show_step(description: str) -> None:
            log.info("%s", description)
            display.update(task, description=description)

        yield show_step
