"""The AWS side of a synthetic estate: IAM principals and policies, secrets, KMS keys and the OIDC provider.

Written as one `blastradius-aws-bundle/1` file with the field names the AWS CLI prints. Store
identities mostly use path-scoped managed policies (`<team>/<namespace>/*`), a few have wildcards,
and most attach a shared Deny on the high-privilege paths. IRSA trust policies are pinned to one
ServiceAccount, except the broad ClusterSecretStore's role and a few per-namespace wildcards.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from benchmarks.estate_plan import (
    ACCOUNT_ID,
    OIDC_PROVIDER_HOST,
    REFERENCE_TIME,
    REGION,
    App,
    CloudSecret,
    Estate,
    Namespace,
    PlanError,
    before_reference,
    role_arn,
    user_arn,
)

BUNDLE_FORMAT = "blastradius-aws-bundle/1"
POLICY_VERSION = "2012-10-17"
OIDC_PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{OIDC_PROVIDER_HOST}"
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
SECRETS_MANAGER_READ_WRITE = "arn:aws:iam::aws:policy/SecretsManagerReadWrite"
BOUNDARY_POLICY = f"arn:aws:iam::{ACCOUNT_ID}:policy/eso-boundary"
DENY_POLICY = f"arn:aws:iam::{ACCOUNT_ID}:policy/deny-high-privilege-secrets"
CONTROLLER_POLICY = f"arn:aws:iam::{ACCOUNT_ID}:policy/eso-controller-shared-read"
FIXED_POLICY_ARNS = frozenset({ADMINISTRATOR_ACCESS, SECRETS_MANAGER_READ_WRITE, BOUNDARY_POLICY, DENY_POLICY, CONTROLLER_POLICY})
HIGH_PRIVILEGE_PATHS = ("admin/*", "vault-unseal/*", "eso-credentials/*")
READ_ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
CREATED = "2026-03-01T10:00:00+00:00"


def secret_resource(pattern: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{pattern}"


def kms_key_arn(index: int) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{kms_key_id(index)}"


def kms_key_id(index: int) -> str:
    return f"0000{index:04x}-beac-4c00-8000-{index:012x}"


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def allow(actions: str | list[str], resources: str | list[str], sid: str | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resources}
    return {"Sid": sid, **statement} if sid else statement


def deny_high_privilege_paths() -> dict[str, Any]:
    return {"Sid": "DenyHighPrivilegePaths", "Effect": "Deny", "Action": "secretsmanager:*",
            "Resource": [secret_resource(path) for path in HIGH_PRIVILEGE_PATHS]}


def irsa_trust(subject: str, wildcard: bool = False) -> dict[str, Any]:
    """Return a web-identity trust policy for the cluster's OIDC provider admitting `subject` (`StringLike` when `wildcard`)."""
    condition: dict[str, dict[str, str]] = {"StringEquals": {f"{OIDC_PROVIDER_HOST}:aud": "sts.amazonaws.com"}}
    if wildcard:
        condition["StringLike"] = {f"{OIDC_PROVIDER_HOST}:sub": subject}
    else:
        condition["StringEquals"][f"{OIDC_PROVIDER_HOST}:sub"] = subject
    return document({"Effect": "Allow", "Principal": {"Federated": OIDC_PROVIDER_ARN},
                     "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition})


@dataclass
class IamPlan:
    """IAM entities in the shapes of `aws iam get-account-authorization-details`."""

    roles: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)

    def add_role(self, name: str, trust: dict[str, Any], *, managed: list[str] = (), inline: dict[str, dict] | None = None,
                 boundary: str | None = None, tags: dict[str, str] | None = None) -> str:
        entry: dict[str, Any] = {
            "Path": "/", "RoleName": name, "RoleId": f"AROABENCH{len(self.roles):011d}", "Arn": role_arn(name),
            "CreateDate": CREATED, "AssumeRolePolicyDocument": trust, "InstanceProfileList": [],
            "RolePolicyList": _inline(inline), "AttachedManagedPolicies": _attached(managed),
            "Tags": _tags(tags), "RoleLastUsed": {},
        }
        if boundary:
            entry["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}
        self.roles.append(entry)
        return entry["Arn"]

    def add_user(self, name: str, *, groups: list[str] = (), managed: list[str] = (), inline: dict[str, dict] | None = None,
                 tags: dict[str, str] | None = None) -> str:
        self.users.append({
            "Path": "/", "UserName": name, "UserId": f"AIDABENCH{len(self.users):011d}", "Arn": user_arn(name),
            "CreateDate": CREATED, "UserPolicyList": _inline(inline), "GroupList": list(groups),
            "AttachedManagedPolicies": _attached(managed), "Tags": _tags(tags),
        })
        return user_arn(name)

    def add_policy(self, arn: str, versions: list[dict[str, Any]]) -> None:
        """Add a managed policy whose last version is the default one."""
        default = f"v{len(versions)}"
        self.policies.append({
            "PolicyName": arn.rsplit("/", 1)[-1], "PolicyId": f"ANPABENCH{len(self.policies):011d}", "Arn": arn, "Path": "/",
            "DefaultVersionId": default, "AttachmentCount": 1, "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
            "CreateDate": CREATED, "UpdateDate": CREATED,
            "PolicyVersionList": [
                {"Document": version, "VersionId": f"v{index + 1}", "IsDefaultVersion": f"v{index + 1}" == default, "CreateDate": CREATED}
                for index, version in enumerate(versions)
            ],
        })


def _inline(policies: dict[str, dict] | None) -> list[dict[str, Any]]:
    return [{"PolicyName": name, "PolicyDocument": body} for name, body in (policies or {}).items()]


def _attached(arns: list[str]) -> list[dict[str, str]]:
    return [{"PolicyName": arn.rsplit("/", 1)[-1], "PolicyArn": arn} for arn in arns]


def _tags(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in (tags or {}).items()]


def plan_iam(estate: Estate, rng: random.Random) -> IamPlan:
    """Plan IAM roles, users, groups and managed policies, exactly as many as the counts ask.

    Also annotates the ServiceAccounts of apps that get an IRSA role with `eks.amazonaws.com/role-arn`.
    Raises PlanError when the counts cannot hold the store identities.
    """
    iam = IamPlan()
    namespace_policies, app_policies = _plan_policies(estate, iam, rng)
    _add_platform_identities(estate, iam)
    _add_store_identities(estate, iam, namespace_policies, rng)
    if len(iam.roles) + len(iam.users) > estate.counts.iam_identities:
        raise PlanError(f"IAM roles and users: the size asks for {estate.counts.iam_identities}, but the store identities "
                        f"alone need {len(iam.roles) + len(iam.users)}; use a larger --scale")
    remaining = estate.counts.iam_identities - len(iam.roles) - len(iam.users)
    humans = max(1, remaining // 4) if remaining else 0
    _add_app_roles(estate, iam, remaining - humans, namespace_policies, app_policies, rng)
    _add_humans(iam, humans, rng)
    iam.groups = [
        {"Path": "/", "GroupName": "developers", "GroupId": "AGPABENCH00000000001", "Arn": f"arn:aws:iam::{ACCOUNT_ID}:group/developers",
         "CreateDate": CREATED, "AttachedManagedPolicies": [],
         "GroupPolicyList": _inline({"developers-dev-secrets": document(
             allow("secretsmanager:ListSecrets", "*", "ListSecrets"),
             allow("secretsmanager:GetSecretValue", secret_resource("*/*-dev/*"), "ReadDevSecrets"))})},
    ]
    return iam


def _plan_policies(estate: Estate, iam: IamPlan, rng: random.Random) -> tuple[dict[str, str], dict[int, str]]:
    """Add the fixed managed policies, then one per team namespace and one per app until the count is reached.

    Returns the policy ARN of each namespace and of each app (by `id`) that got one.
    """
    if estate.counts.policies < len(FIXED_POLICY_ARNS):
        raise PlanError(f"policies: the size asks for {estate.counts.policies}, but the estate needs at least {len(FIXED_POLICY_ARNS)}")
    iam.add_policy(ADMINISTRATOR_ACCESS, [document(allow("*", "*"))])
    iam.add_policy(SECRETS_MANAGER_READ_WRITE, [document(allow(["secretsmanager:*", "kms:Decrypt", "kms:DescribeKey"], "*", "BasicSecretsManagerPermissions"))])
    iam.add_policy(BOUNDARY_POLICY, [document(allow(["secretsmanager:*", "kms:Decrypt"], "*", "SecretsManagerAndDecryptOnly"))])
    iam.add_policy(DENY_POLICY, [document(deny_high_privilege_paths())])
    iam.add_policy(CONTROLLER_POLICY, [document(allow(READ_ACTIONS, secret_resource("shared/*"), "ReadSharedSecrets"))])

    budget = estate.counts.policies - len(FIXED_POLICY_ARNS)
    namespace_policies: dict[str, str] = {}
    for namespace in estate.team_namespaces[:budget]:
        arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/{namespace.name}-secrets-read"
        iam.add_policy(arn, _versions(_namespace_read(estate, namespace, rng), rng))
        namespace_policies[namespace.name] = arn
    app_policies: dict[int, str] = {}
    for app in estate.apps[: budget - len(namespace_policies)]:
        arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/{app.namespace.name}-{app.name}-secrets-read"
        iam.add_policy(arn, _versions(_app_read(app), rng))
        app_policies[id(app)] = arn
    for index in range(budget - len(namespace_policies) - len(app_policies)):
        arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/legacy-secrets-read-{index + 1}"
        iam.add_policy(arn, [document(allow(READ_ACTIONS, secret_resource(f"legacy/{index + 1}/*")))])
    return namespace_policies, app_policies


def _versions(default: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """Return the policy's versions. One in ten also keeps an older, broader version that is not the default."""
    if rng.random() < 0.1:
        return [document(allow(READ_ACTIONS, "*", "ReadSecrets")), default]
    return [default]


def _namespace_read(estate: Estate, namespace: Namespace, rng: random.Random) -> dict[str, Any]:
    pick = rng.random()
    if pick < 0.02:
        resource = "*"
    elif pick < 0.10:
        resource = secret_resource(f"{namespace.team}/*")
    else:
        resource = secret_resource(f"{namespace.team}/{namespace.name}/*")
    statements = [allow(READ_ACTIONS, resource, "ReadNamespaceSecrets")]
    if namespace.env == "prod":
        team_index = list(dict.fromkeys(n.team for n in estate.team_namespaces)).index(namespace.team)
        statements.append(allow("kms:Decrypt", kms_key_arn(team_index % estate.kms_keys), "DecryptTeamKey"))
    if rng.random() < 0.2:
        statements.append(deny_high_privilege_paths())
    return document(*statements)


def _app_read(app: App) -> dict[str, Any]:
    namespace = app.namespace
    return document(allow(READ_ACTIONS, secret_resource(f"{namespace.team}/{namespace.name}/{app.name}/*"), "ReadAppSecrets"))


def _add_platform_identities(estate: Estate, iam: IamPlan) -> None:
    iam.add_role("eso-controller", irsa_trust("system:serviceaccount:external-secrets:external-secrets"), managed=[CONTROLLER_POLICY],
                 tags={"team": "platform"})
    iam.add_user("ops-admin", inline={"assume-admin": document(allow("sts:AssumeRole", role_arn("admin"), "AssumeAdminRole"))},
                 tags={"team": "operations"})
    iam.add_role("admin", document({"Effect": "Allow", "Principal": {"AWS": user_arn("ops-admin")}, "Action": "sts:AssumeRole",
                                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}),
                 managed=[ADMINISTRATOR_ACCESS], tags={"team": "operations"})
    iam.add_role("ci-deploy", document({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}),
                 inline={"ci-deploy-staging-read": document(allow("secretsmanager:GetSecretValue", secret_resource("*/*-staging/*")))},
                 tags={"team": "delivery"})
    for store in estate.stores:
        if store.kind != "ClusterSecretStore" or store.identity_arn is None or store.service_account is None:
            continue
        name = store.identity_arn.rsplit("/", 1)[-1]
        subject = f"system:serviceaccount:{store.service_account[0]}:{store.service_account[1]}"
        if store.conditions is None:
            iam.add_role(name, irsa_trust("system:serviceaccount:*:*", wildcard=True), tags={"team": "platform"},
                         inline={f"{name}-read": document(allow(READ_ACTIONS + ["secretsmanager:ListSecrets"], "*", "ReadEverySecret"),
                                                          allow("kms:Decrypt", "*", "DecryptEveryKey"))})
            continue
        pattern = "*/*-prod/*" if store.name == "aws-production" else f"{store.name.removeprefix('team-')}/*"
        iam.add_role(name, irsa_trust(subject), managed=[DENY_POLICY], tags={"team": "platform"},
                     inline={f"{name}-read": document(allow(READ_ACTIONS, secret_resource(pattern), "ReadScopedSecrets"),
                                                      allow("kms:Decrypt", "*", "DecryptForSecretsManager"))})


def _add_store_identities(estate: Estate, iam: IamPlan, namespace_policies: dict[str, str], rng: random.Random) -> None:
    """Add one IRSA role per namespace with a ServiceAccount-authenticated SecretStore, and one IAM user per static-key store."""
    namespaces = {namespace.name: namespace for namespace in estate.namespaces}
    seen: set[str] = set()
    for store in estate.stores:
        if store.kind != "SecretStore" or store.auth != "jwt" or store.identity_arn in seen:
            continue
        seen.add(store.identity_arn or "")
        namespace = namespaces[store.namespace or ""]
        wildcard = rng.random() < 0.05
        subject = f"system:serviceaccount:{namespace.name}:{'*' if wildcard else 'eso-store'}"
        managed = [namespace_policies[namespace.name]] if namespace.name in namespace_policies else []
        inline = None if managed else {"secrets-read": _namespace_read(estate, namespace, rng)}
        if rng.random() < 0.8:
            managed.append(DENY_POLICY)
        boundary = BOUNDARY_POLICY if rng.random() < 0.2 else None
        iam.add_role((store.identity_arn or "").rsplit("/", 1)[-1], irsa_trust(subject, wildcard), managed=managed, inline=inline,
                     boundary=boundary, tags={"team": namespace.team, "env": namespace.env})

    for user, store in estate.static_users.items():
        namespace = namespaces[store.namespace or ""]
        iam.add_user(user, tags={"purpose": f"external-secrets store {namespace.name}/{store.name}"}, inline={f"{user}-read": document(
            allow(READ_ACTIONS, [secret_resource(f"{namespace.team}/{namespace.name}/*"), secret_resource("eso-credentials/*")], "ReadStoreSecrets"),
            allow("secretsmanager:ListSecrets", "*", "ListForFind"))})


def _add_app_roles(estate: Estate, iam: IamPlan, count: int, namespace_policies: dict[str, str], app_policies: dict[int, str],
                   rng: random.Random) -> None:
    """Add IRSA roles for apps with their own ServiceAccount, then CI roles trusted by the account to fill the count."""
    candidates = [app for app in estate.apps if app.service_account != "default"]
    accounts = {(account.namespace, account.name): account for account in estate.service_accounts}
    for app in candidates[:count]:
        namespace = app.namespace
        wildcard = rng.random() < 0.03
        subject = f"system:serviceaccount:{namespace.name}:{'*' if wildcard else app.service_account}"
        policy = app_policies.get(id(app)) or namespace_policies.get(namespace.name)
        managed = [policy] if policy else []
        inline = None if policy else {"app-secrets-read": _app_read(app)}
        app.role_arn = iam.add_role(f"{namespace.name}-{app.name}", irsa_trust(subject, wildcard), managed=managed, inline=inline,
                                    tags={"team": namespace.team, "app": app.name})
        accounts[(namespace.name, app.service_account)].role_arn = app.role_arn
    for index in range(count - min(count, len(candidates))):
        iam.add_role(f"batch-{index + 1}", document({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                                                     "Action": "sts:AssumeRole"}),
                     managed=[DENY_POLICY], tags={"team": "delivery"})


def _add_humans(iam: IamPlan, count: int, rng: random.Random) -> None:
    for index in range(count):
        managed = [SECRETS_MANAGER_READ_WRITE] if rng.random() < 0.02 else []
        iam.add_user(f"dev-{index + 1:05d}", groups=["developers"], managed=managed, tags={"team": "engineering"})


def render_aws_bundle(estate: Estate, iam: IamPlan) -> dict[str, Any]:
    """Return the estate's AWS account as one bundle file's content."""
    return {
        "Format": BUNDLE_FORMAT,
        "AccountId": ACCOUNT_ID,
        "Partition": "aws",
        "Regions": [REGION],
        "AuthorizationDetails": {"UserDetailList": iam.users, "GroupDetailList": iam.groups, "RoleDetailList": iam.roles, "Policies": iam.policies},
        "SecretList": [_secret_entry(secret) for secret in estate.cloud_secrets],
        "ResourcePolicies": {secret.arn: _resource_policy(secret) for secret in estate.cloud_secrets if secret.deny_except},
        "KmsKeys": [_kms_key(index) for index in range(estate.kms_keys)],
        "OpenIDConnectProviders": [{"Arn": OIDC_PROVIDER_ARN, "Url": OIDC_PROVIDER_HOST, "ClientIDList": ["sts.amazonaws.com"]}],
        "OrganizationPolicies": [],
    }


def _aws_time(**delta: float) -> str:
    return before_reference(**delta).replace("Z", "+00:00")


def _secret_entry(secret: CloudSecret) -> dict[str, Any]:
    entry: dict[str, Any] = {"ARN": secret.arn, "Name": secret.name}
    if secret.kms_key is not None:
        entry["KmsKeyId"] = kms_key_arn(secret.kms_key)
    entry["RotationEnabled"] = secret.rotation_days is not None
    if secret.rotation_days is not None:
        entry["RotationRules"] = {"AutomaticallyAfterDays": secret.rotation_days}
        entry["LastRotatedDate"] = _aws_time(days=secret.rotation_days / 2)
    entry["LastChangedDate"] = _aws_time(days=20)
    namespace = secret.namespace
    tags = {"team": namespace.team, "env": namespace.labels["env"]} if namespace else {"scope": secret.name.split("/", 1)[0]}
    entry["Tags"] = _tags(tags)
    entry["CreatedDate"] = _aws_time(days=200)
    return entry


def _resource_policy(secret: CloudSecret) -> dict[str, Any]:
    return document({"Sid": "DenyReadExceptOwners", "Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue",
                     "Resource": "*", "Condition": {"StringNotEquals": {"aws:PrincipalArn": list(secret.deny_except)}}})


def _kms_key(index: int) -> dict[str, Any]:
    return {
        "KeyMetadata": {"AWSAccountId": ACCOUNT_ID, "KeyId": kms_key_id(index), "Arn": kms_key_arn(index),
                        "CreationDate": REFERENCE_TIME.replace(year=2026, month=3).isoformat(), "Enabled": True,
                        "KeyUsage": "ENCRYPT_DECRYPT", "KeyState": "Enabled", "Origin": "AWS_KMS", "KeyManager": "CUSTOMER",
                        "KeySpec": "SYMMETRIC_DEFAULT"},
        "Policy": document(
            {"Sid": "EnableIAMPolicies", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "AllowProductionStoreDecrypt", "Effect": "Allow", "Principal": {"AWS": role_arn("eso-prod-shared")},
             "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"},
        ),
        "Aliases": [f"alias/production-secrets-{index + 1}"],
    }
