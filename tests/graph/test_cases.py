"""Twenty access cases through the graph builder and the reachability walker, one table row each.

Every row builds a small estate and its capability graph, runs one query and compares the result
exactly: sets of (principal, target, capability) display names, edge sets, or the edge
kinds of a path.
"""

from __future__ import annotations

from typing import Any

import pytest

from blastradius.graph.model import CapabilityGraph
from tests.graph.estate import (
    Case,
    ACCOUNT,
    CLUSTER_ADMIN_RULES,
    CREATE_EXTERNAL_SECRETS,
    OTHER_ACCOUNT,
    READ_SECRETS,
    account,
    aws,
    aws_provider,
    build,
    chain,
    cluster_role,
    cluster_role_binding,
    cluster_secret_store,
    edges,
    eso_controller,
    external_secret,
    grant,
    group_subject,
    irsa_role,
    namespace,
    reached_by,
    reaches,
    read,
    read_policy,
    role,
    role_binding,
    rule,
    sa,
    sa_subject,
    secret,
    secret_arn,
    secret_store,
    service_account,
)

# --- 1-7: RBAC --------------------------------------------------------------------------------------

SECRET_READER = cluster_role("secret-reader", READ_SECRETS)

CASE_1 = [
    namespace("test"), namespace("prod"),
    service_account("test", "app"),
    secret("test", "db-creds"), secret("test", "api-key"), secret("prod", "db-creds"),
    SECRET_READER,
    role_binding("test", "app-reads-secrets", ("ClusterRole", "secret-reader"), sa_subject("test", "app")),
]

CASE_2 = [
    namespace("test"),
    service_account("test", "ci"),
    secret("test", "db-creds"),
    SECRET_READER,
    role_binding("test", "readers", ("ClusterRole", "secret-reader"), group_subject("developers"), sa_subject("test", "ci")),
]

CASE_3 = [
    namespace("test"),
    service_account("test", "app"),
    secret("test", "db-creds"), secret("test", "api-key"),
    *grant("test", sa_subject("test", "app"), rule(["get"], ["secrets"], names=["db-creds"])),
]


def wildcard_estate(*rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        namespace("test"),
        service_account("test", "app"),
        secret("test", "db-creds"),
        cluster_role("wide", *rules),
        role_binding("test", "wide", ("ClusterRole", "wide"), sa_subject("test", "app")),
    ]


CASE_5 = [
    namespace("a"), namespace("b"),
    service_account("a", "app"), service_account("b", "app"),
    secret("a", "db-creds"), secret("b", "db-creds"),
    role("a", "reader", READ_SECRETS),
    role("b", "reader", rule(["get", "list"], ["configmaps"])),
    role_binding("a", "reader", ("Role", "reader"), sa_subject("a", "app")),
    role_binding("b", "reader", ("Role", "reader"), sa_subject("b", "app")),
]


def cluster_admin_for(group: str) -> list[dict[str, Any]]:
    return [
        namespace("dev-sandbox"), namespace("prod"),
        service_account("dev-sandbox", "builder"), service_account("dev-sandbox", "tester"),
        service_account("prod", "api"),
        secret("prod", "db-creds"),
        cluster_role("cluster-admin", *CLUSTER_ADMIN_RULES),
        cluster_role_binding("service-accounts-admin", "cluster-admin", group_subject(group)),
    ]


CASE_7 = [
    namespace("apps"), namespace("prod"),
    service_account("apps", "deployer"), service_account("apps", "payments"),
    secret("apps", "db-creds"), secret("apps", "api-key"), secret("prod", "ledger"),
    *grant("apps", sa_subject("apps", "deployer"), rule(["create"], ["deployments"], groups=["apps"])),
    *grant("prod", sa_subject("apps", "payments"), rule(["get"], ["secrets"], names=["ledger"]), name="ledger-reader"),
]

RBAC_CASES = [
    Case("1-clusterrole-rolebinding-scope", CASE_1, lambda g: reaches(g, sa("test", "app")),
         read(sa("test", "app"), "secret:test/db-creds", "secret:test/api-key")),
    Case("1-no-other-namespace", CASE_1, lambda g: reached_by(g, "secret:prod/db-creds"), set()),
    Case("2-group-and-sa-subjects", CASE_2, lambda g: reached_by(g, "secret:test/db-creds"),
         {("group:developers", "secret:test/db-creds", "read"), (sa("test", "ci"), "secret:test/db-creds", "read")}),
    Case("3-resource-names-one-secret", CASE_3, lambda g: reaches(g, sa("test", "app")),
         read(sa("test", "app"), "secret:test/db-creds")),
    Case("4-star-covers-secrets", wildcard_estate(rule(["get"], ["*"], groups=["*"])),
         lambda g: reaches(g, sa("test", "app")), read(sa("test", "app"), "secret:test/db-creds")),
    Case("4-pods-slash-star-literal", wildcard_estate(rule(["*"], ["pods/*"])),
         lambda g: reaches(g, sa("test", "app"), kinds={"secret", "serviceaccount", "workload", "exec_set", "pod_set"}), set()),
    Case("4-crd-named-secrets", wildcard_estate(rule(["*"], ["secrets"], groups=["secrets.example.com"])),
         lambda g: reaches(g, sa("test", "app")), set()),
    Case("5-same-names-namespace-a", CASE_5, lambda g: reaches(g, sa("a", "app")),
         read(sa("a", "app"), "secret:a/db-creds")),
    Case("5-same-names-namespace-b", CASE_5, lambda g: reaches(g, sa("b", "app")), set()),
    Case("6-all-serviceaccounts-admin", cluster_admin_for("system:serviceaccounts"),
         lambda g: reached_by(g, "secret:prod/db-creds"),
         read("group:system:serviceaccounts", "secret:prod/db-creds")
         | read(sa("dev-sandbox", "builder"), "secret:prod/db-creds")
         | read(sa("dev-sandbox", "tester"), "secret:prod/db-creds")
         | read(sa("dev-sandbox", "default"), "secret:prod/db-creds")
         | read(sa("prod", "api"), "secret:prod/db-creds")
         | read(sa("prod", "default"), "secret:prod/db-creds")),
    Case("6-one-namespace-serviceaccounts-admin", cluster_admin_for("system:serviceaccounts:dev-sandbox"),
         lambda g: reached_by(g, "secret:prod/db-creds"),
         read("group:system:serviceaccounts:dev-sandbox", "secret:prod/db-creds")
         | read(sa("dev-sandbox", "builder"), "secret:prod/db-creds")
         | read(sa("dev-sandbox", "tester"), "secret:prod/db-creds")
         | read(sa("dev-sandbox", "default"), "secret:prod/db-creds")),
    Case("7-create-deployments-reads-namespace", CASE_7, lambda g: reaches(g, sa("apps", "deployer")),
         read(sa("apps", "deployer"), "secret:apps/db-creds", "secret:apps/api-key", "secret:prod/ledger")),
    Case("7-create-deployments-runs-as", CASE_7, lambda g: reaches(g, sa("apps", "deployer"), kinds={"serviceaccount"}),
         read(sa("apps", "deployer"), sa("apps", "payments"), sa("apps", "default"))),
]


# --- 8-13: External Secrets --------------------------------------------------------------------------

PROD_SECRETS = ("production/database/credentials", "production/payments/api-key")

CASE_8 = [
    namespace("external-secrets"), namespace("tools"),
    service_account("external-secrets", "eso-irsa", role="eso-reader"),
    service_account("tools", "token-minter"),
    *grant("external-secrets", sa_subject("tools", "token-minter"),
           rule(["create"], ["serviceaccounts/token"], names=["eso-irsa"])),
]
CASE_8_ACCOUNT = account(
    secrets=(*PROD_SECRETS, "staging/app/config"),
    roles=(irsa_role("eso-reader", "system:serviceaccount:external-secrets:eso-irsa", "production/*"),),
)

# The built-in `edit` role as GitOps output carries it: empty rules, filled by aggregation.
EDIT_AGGREGATION = [
    cluster_role("edit", aggregate=[{"rbac.authorization.k8s.io/aggregate-to-edit": "true"}]),
    cluster_role("system:aggregate-to-edit",
                 rule(["get", "list", "watch"], ["secrets"]),
                 rule(["create", "update", "patch", "delete"], ["secrets", "pods"]),
                 rule(["create", "update", "patch"], ["deployments"], groups=["apps"]),
                 labels={"rbac.authorization.k8s.io/aggregate-to-edit": "true"}),
    cluster_role("external-secrets-edit",
                 rule(["create", "delete", "update", "patch"],
                      ["externalsecrets", "secretstores", "clustersecretstores", "pushsecrets"],
                      groups=["external-secrets.io"]),
                 labels={"rbac.authorization.k8s.io/aggregate-to-edit": "true"}),
]

CASE_9 = [
    namespace("dev-sandbox"), namespace("production"), namespace("external-secrets"),
    service_account("external-secrets", "eso-global", role="eso-global"),
    *EDIT_AGGREGATION,
    role_binding("dev-sandbox", "dev-team-edit", ("ClusterRole", "edit"), group_subject("dev-team")),
    cluster_secret_store("aws-global", aws_provider(service_account=("external-secrets", "eso-global"))),
]
CASE_9_ACCOUNT = account(
    secrets=PROD_SECRETS,
    roles=(irsa_role("eso-global", "system:serviceaccount:external-secrets:eso-global", "production/*"),),
)


def admission_estate(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        namespace("team-a"), namespace("x-team-a-prod"), namespace("external-secrets"),
        service_account("external-secrets", "eso-teams", role="eso-teams"),
        service_account("x-team-a-prod", "app"),
        *grant("x-team-a-prod", sa_subject("x-team-a-prod", "app"), READ_SECRETS, CREATE_EXTERNAL_SECRETS),
        cluster_secret_store("teams", aws_provider(service_account=("external-secrets", "eso-teams")), conditions=conditions),
    ]


ADMISSION_ACCOUNT = account(
    secrets=("team-a/config",),
    roles=(irsa_role("eso-teams", "system:serviceaccount:external-secrets:eso-teams", "team-a/*"),),
)

CASE_11 = [
    namespace("payments"), namespace("billing"),
    service_account("payments", "eso-reader", role="payments-reader"),
    service_account("billing", "eso-reader", role="billing-reader"),
    service_account("payments", "app"),
    *grant("payments", sa_subject("payments", "app"), READ_SECRETS, CREATE_EXTERNAL_SECRETS),
    cluster_secret_store("aws-shared", aws_provider(service_account=(None, "eso-reader"))),
]
CASE_11_ACCOUNT = account(
    secrets=("payments/api-key", "billing/ledger"),
    roles=(irsa_role("payments-reader", "system:serviceaccount:payments:eso-reader", "payments/*"),
           irsa_role("billing-reader", "system:serviceaccount:billing:eso-reader", "billing/*")),
)

CASE_12 = [
    *eso_controller(),
    namespace("team"),
    secret_store("team", "plain", aws_provider()),
]
CASE_12_ACCOUNT = account(
    secrets=("shared/config",),
    roles=(irsa_role("eso-controller", "system:serviceaccount:external-secrets:external-secrets", "shared/*"),),
)

OWNER_ANNOTATION = "blastradius.io/aws-principal"


def static_keys_estate(annotations: dict[str, str] | None) -> list[dict[str, Any]]:
    return [
        namespace("staging"),
        secret("staging", "aws-credentials", annotations=annotations),
        service_account("staging", "auditor"),
        *grant("staging", sa_subject("staging", "auditor"), rule(["get"], ["secrets"], names=["aws-credentials"])),
        secret_store("staging", "aws-staging", aws_provider(keys_secret=(None, "aws-credentials"))),
        external_secret("staging", "app-config", ("SecretStore", "aws-staging"), key="staging/app/config", target="app-config"),
    ]


STATIC_KEYS_ACCOUNT = account(
    secrets=("staging/app/config", "eso-credentials/staging-access-key", "production/database/credentials"),
    users=(aws.user("eso-staging", inline={"read": read_policy("staging/*", "eso-credentials/*")}),),
)

ESO_CASES = [
    Case("8-token-for-irsa-serviceaccount", CASE_8, lambda g: reaches(g, sa("tools", "token-minter"), kinds={"cloud_secret"}),
         read(sa("tools", "token-minter"), *PROD_SECRETS), (CASE_8_ACCOUNT,)),
    Case("9-developers-reach-production", CASE_9,
         lambda g: reached_by(g, "production/database/credentials") & read("group:dev-team", "production/database/credentials"),
         read("group:dev-team", "production/database/credentials"), (CASE_9_ACCOUNT,)),
    Case("9-developers-chain-of-edges", CASE_9,
         lambda g: chain(g, "group:dev-team", "production/database/credentials"),
         ("eso_pull", "eso_store_admits", "eso_acts_as", "iam_read_secret"), (CASE_9_ACCOUNT,)),
    Case("10-regex-unanchored-admits", admission_estate([{"namespaceRegexes": ["team-a"]}]),
         lambda g: reached_by(g, "team-a/config") & read(sa("x-team-a-prod", "app"), "team-a/config"),
         read(sa("x-team-a-prod", "app"), "team-a/config"), (ADMISSION_ACCOUNT,)),
    Case("10-namespace-list-exact", admission_estate([{"namespaces": ["team-a"]}]),
         lambda g: reached_by(g, "team-a/config") & read(sa("x-team-a-prod", "app"), "team-a/config"),
         set(), (ADMISSION_ACCOUNT,)),
    Case("11-referent-identity-per-namespace", CASE_11, lambda g: edges(g, "eso_acts_as"),
         {("clustersecretstore:aws-shared used from payments", "role/payments-reader"),
          ("clustersecretstore:aws-shared used from billing", "role/billing-reader")}, (CASE_11_ACCOUNT,)),
    Case("11-referent-reach-from-payments", CASE_11, lambda g: reaches(g, sa("payments", "app"), kinds={"cloud_secret"}),
         read(sa("payments", "app"), "payments/api-key"), (CASE_11_ACCOUNT,)),
    Case("12-no-auth-controller-role", CASE_12,
         lambda g: {edge for edge in edges(g, "eso_acts_as") if edge[0] == "secretstore:team/plain"},
         {("secretstore:team/plain", "role/eso-controller")}, (CASE_12_ACCOUNT,)),
    Case("13-static-keys-full-user-reach", static_keys_estate({OWNER_ANNOTATION: aws.user_arn("eso-staging")}),
         lambda g: reaches(g, sa("staging", "auditor"), kinds={"cloud_secret"}),
         read(sa("staging", "auditor"), "staging/app/config", "eso-credentials/staging-access-key"), (STATIC_KEYS_ACCOUNT,)),
    Case("13-static-keys-unknown-owner-gap", static_keys_estate(None), lambda g: g.coverage_gaps,
         [{"source": "kubernetes:test", "reason": "not_found", "namespace": "staging",
           "resource": "owner of the AWS keys in Secret staging/aws-credentials",
           "detail": "which IAM user the keys belong to is not recorded; annotate the Secret with "
                     "blastradius.io/aws-principal: <IAM user ARN> to analyse what they reach"}],
         (STATIC_KEYS_ACCOUNT,)),
]


# --- 14-20: AWS IAM ---------------------------------------------------------------------------------

DENY_GROUP_ACCOUNT = account(
    secrets=("production/database/credentials",),
    groups=(aws.group("no-secret-values", inline={"deny": aws.document(aws.deny("secretsmanager:GetSecretValue"))}),),
    users=(aws.user("grouped", groups=("no-secret-values",), inline={"all": aws.document(aws.allow("*"))}),
           aws.user("ungrouped", inline={"all": aws.document(aws.allow("*"))})),
)

NOT_ACTION_ACCOUNT = account(
    secrets=("production/database/credentials",),
    users=(aws.user("describer", inline={"p": aws.document(
        aws.allow("secretsmanager:*"),
        {"Effect": "Deny", "NotAction": ["secretsmanager:GetSecretValue", "secretsmanager:Describe*"], "Resource": "*"},
    )}),),
)

DATED_DENY_ACCOUNT = account(
    secrets=("production/database/credentials",),
    users=(aws.user("contractor", inline={"p": aws.document(
        aws.allow("secretsmanager:GetSecretValue"),
        aws.deny("*", Condition={"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}),
    )}),),
)


def cross_account_estate(identity_allows: bool) -> tuple[dict[str, Any], ...]:
    """A secret of OTHER_ACCOUNT whose resource and key policies allow role `reader` of ACCOUNT."""
    reader = aws.role_arn("reader")
    key_policy = aws.document({"Effect": "Allow", "Principal": {"AWS": reader}, "Action": "kms:Decrypt", "Resource": "*"})
    resource_policy = aws.document({"Effect": "Allow", "Principal": {"AWS": reader},
                                    "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    shared = aws.secret("shared/partner-token", account=OTHER_ACCOUNT, kms_key_id=aws.key_arn("partner-key", OTHER_ACCOUNT),
                        resource_policy=resource_policy)
    inline = {"cross": aws.document(aws.allow(["secretsmanager:GetSecretValue", "kms:Decrypt"]))} if identity_allows else {}
    return (
        account(roles=(aws.role("reader", inline=inline),)),
        account(account_id=OTHER_ACCOUNT, secret_entries=(shared,),
                kms_keys=(aws.kms_key("partner-key", key_policy, account=OTHER_ACCOUNT),), oidc_providers=()),
    )


ASSUME_TARGET = aws.role_arn("ci-deploy")
ACCOUNT_TRUST_ACCOUNT = account(
    secrets=("staging/app/config",),
    roles=(aws.role("ci-deploy", trust_policy=aws.trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
                    inline={"read": read_policy("staging/*")}),),
    users=(aws.user("deployer", inline={"assume": aws.document(aws.allow("sts:AssumeRole", ASSUME_TARGET))}),
           aws.user("bystander", inline={"list": aws.document(aws.allow("secretsmanager:ListSecrets"))})),
)
FOREIGN_ASSUMER_ACCOUNT = account(
    account_id=OTHER_ACCOUNT, oidc_providers=(),
    roles=(aws.role("outsider", inline={"assume": aws.document(aws.allow("sts:AssumeRole", "*"))}),),
)

IRSA_SERVICE_ACCOUNTS = [
    namespace("a"), namespace("b"),
    service_account("a", "web"), service_account("a", "worker"), service_account("b", "batch"),
]
IRSA_ACCOUNT = account(roles=(
    irsa_role("wide", "system:serviceaccount:*:*", operator="StringLike"),
    irsa_role("pinned", "system:serviceaccount:a:web"),
))

BOUNDARY_ARN = aws.policy_arn("production-only")
BOUNDARY_ACCOUNT = account(
    secrets=("production/database/credentials", "dev/feature-flags"),
    policies=(aws.managed_policy(BOUNDARY_ARN, read_policy("production/*")),),
    roles=(aws.role("bounded", inline={"all": aws.document(aws.allow("secretsmanager:GetSecretValue"))}, boundary=BOUNDARY_ARN),),
)

DB = "production/database/credentials"


def read_edge_conditions(graph: CapabilityGraph, principal: str, secret_name: str) -> list[tuple[str, ...]]:
    return [data["conditions"] for source, target, data in graph.g.edges(data=True)
            if data["kind"] == "iam_read_secret" and graph.name(source) == principal and graph.name(target) == secret_name]


IAM_CASES = [
    Case("14-group-deny-beats-star", [], lambda g: edges(g, "iam_read_secret"), {("user/ungrouped", DB)},
         (DENY_GROUP_ACCOUNT,)),
    # `*` includes the IAM calls that remove the Deny, so the user still gets there by changing IAM.
    Case("14-star-still-changes-iam", [], lambda g: chain(g, aws.user_arn("grouped"), DB), ("iam_escalate",),
         (DENY_GROUP_ACCOUNT,)),
    Case("15-not-action-deny-reads-only", [], lambda g: reaches(g, aws.user_arn("describer")),
         read("user/describer", DB), (NOT_ACTION_ACCOUNT,)),
    Case("16-dated-deny-conditional", [], lambda g: read_edge_conditions(g, "user/contractor", DB),
         [("unless aws:CurrentTime DateLessThan 2027-01-01T00:00:00Z",)], (DATED_DENY_ACCOUNT,)),
    Case("17-cross-account-needs-identity", [], lambda g: reached_by(g, secret_arn("shared/partner-token", OTHER_ACCOUNT)),
         set(), cross_account_estate(identity_allows=False)),
    Case("17-cross-account-both-allow", [], lambda g: reached_by(g, secret_arn("shared/partner-token", OTHER_ACCOUNT)),
         read("role/reader", "shared/partner-token"), cross_account_estate(identity_allows=True)),
    Case("18-account-trust-needs-identity-allow", [], lambda g: edges(g, "sts_assume"),
         {("user/deployer", "role/ci-deploy")}, (ACCOUNT_TRUST_ACCOUNT, FOREIGN_ASSUMER_ACCOUNT)),
    Case("19-irsa-string-like-and-equals", IRSA_SERVICE_ACCOUNTS, lambda g: edges(g, "irsa_assume"),
         {(sa("a", "web"), "role/wide"), (sa("a", "worker"), "role/wide"), (sa("b", "batch"), "role/wide"),
          (sa("a", "default"), "role/wide"), (sa("b", "default"), "role/wide"), (sa("a", "web"), "role/pinned")},
         (IRSA_ACCOUNT,)),
    Case("20-boundary-only-policy-limits", [], lambda g: reaches(g, aws.role_arn("bounded")),
         read("role/bounded", DB), (BOUNDARY_ACCOUNT,)),
]


@pytest.mark.parametrize("case", RBAC_CASES + ESO_CASES + IAM_CASES, ids=lambda case: case.id)
def test_graph_case(case: Case) -> None:
    graph = build(case.objects, *case.accounts)

    assert case.ask(graph) == case.expected


def test_boundary_only_policy_builds_cleanly() -> None:
    graph = build([], BOUNDARY_ACCOUNT)

    assert graph.warnings == []
