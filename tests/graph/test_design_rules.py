"""The rules of Kubernetes RBAC, External Secrets and AWS IAM, each checked through the built graph.

The semantics modules prove each evaluator on its own. These rows prove that the graph carries
what the evaluator decides: an edge exists or is absent, is conditional, or is scoped to a
namespace, and reachability follows it only as far as the rule allows.
"""

from __future__ import annotations

from typing import Any

import pytest

from blastradius.graph.model import CapabilityGraph
from tests.graph.estate import (
    ACCOUNT,
    CREATE_EXTERNAL_SECRETS,
    CREATE_SECRET_STORES,
    ESO_API,
    READ_SECRETS,
    Case,
    account,
    aws,
    aws_provider,
    build,
    chain,
    cluster_role,
    cluster_role_binding,
    cluster_secret_store,
    deployment,
    edges,
    eso_controller,
    external_secret,
    external_secret_spec,
    grant,
    group_subject,
    irsa_role,
    irsa_trust,
    namespace,
    reached_by,
    reaches,
    read,
    read_policy,
    role_binding,
    rule,
    sa,
    sa_subject,
    secret,
    secret_store,
    service_account,
    token_secret,
    user_subject,
)

ALICE = "user:alice"


def overwrite(principal: str, *targets: str) -> set[tuple[str, str, str]]:
    return {(principal, target, "overwrite") for target in targets}


def alice_in(ns: str, *rules: dict[str, Any], extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Namespaces `ns` and `other`, one Secret `db` in each, and a Role of `rules` in `ns` bound to user alice."""
    return [
        namespace(ns), namespace("other"),
        secret(ns, "db"), secret("other", "db"),
        *grant(ns, user_subject("alice"), *rules),
        *(extra or []),
    ]


def conditions_of(graph: CapabilityGraph, kind: str, source: str, target: str) -> list[tuple[str, ...]]:
    return [data["conditions"] for s, t, data in graph.g.edges(data=True)
            if data["kind"] == kind and graph.name(s) == source and graph.name(t) == target]


# --- Kubernetes RBAC ------------------------------------------------------------------------------

POWERFUL_SA = [
    service_account("apps", "powerful"),
    *grant("vault", sa_subject("apps", "powerful"), READ_SECRETS, name="powerful"),
    namespace("vault"), secret("vault", "root-token"),
]

RBAC_RULES = [
    Case("rules-never-merged", alice_in("apps", rule(["get"], ["configmaps"]), rule(["create"], ["secrets"])),
         lambda g: reaches(g, ALICE), overwrite(ALICE, "secret:apps/db")),
    Case("star-subresource-matches-exec", alice_in("apps", rule(["create"], ["*/exec"]), extra=[
        deployment("apps", "api", "default", mounts=["db"])]),
         lambda g: reaches(g, ALICE), read(ALICE, "secret:apps/db")),
    Case("resource-names-never-create", alice_in("apps", rule(["create"], ["secrets"], names=["db"])),
         lambda g: reaches(g, ALICE), set()),
    Case("non-resource-urls-grant-nothing", alice_in("apps", {"nonResourceURLs": ["*"], "verbs": ["*"]}),
         lambda g: reaches(g, ALICE), set()),
    Case("rolebinding-follows-roleref-kind", [
        namespace("apps"), secret("apps", "db"),
        cluster_role("reader", READ_SECRETS),
        role_binding("apps", "reader", ("Role", "reader"), user_subject("alice")),
    ], lambda g: (reaches(g, ALICE), g.warnings),
         (set(), ["cluster test: RoleBinding apps/reader: roleRef names Role apps/reader, which is not in the snapshot; "
                  "the binding grants nothing until that role exists"])),
    Case("aggregation-from-labels", [
        namespace("apps"), secret("apps", "db"),
        cluster_role("team", aggregate=[{"example.com/aggregate-to-team": "true"}]),
        cluster_role("team-secrets", READ_SECRETS, labels={"example.com/aggregate-to-team": "true"}),
        role_binding("apps", "team", ("ClusterRole", "team"), user_subject("alice")),
    ], lambda g: reaches(g, ALICE), read(ALICE, "secret:apps/db")),
    Case("serviceaccount-in-authenticated-group", [
        namespace("apps"), secret("apps", "db"), service_account("apps", "api"),
        cluster_role("reader", READ_SECRETS),
        role_binding("apps", "everyone", ("ClusterRole", "reader"), group_subject("system:authenticated")),
    ], lambda g: reaches(g, sa("apps", "api")), read(sa("apps", "api"), "secret:apps/db")),
    Case("list-alone-reads-values", alice_in("apps", rule(["list"], ["secrets"])),
         lambda g: reaches(g, ALICE), read(ALICE, "secret:apps/db")),
    Case("overwrite-apart-from-read", alice_in("apps", rule(["update"], ["secrets"])),
         lambda g: reaches(g, ALICE), overwrite(ALICE, "secret:apps/db")),
    # Overwriting a token Secret does not give the token, so the path ends at the Secret.
    Case("overwrite-ends-the-path", alice_in("apps", rule(["patch"], ["secrets"]), extra=[
        *POWERFUL_SA, token_secret("apps", "powerful-token", "powerful")]),
         lambda g: reaches(g, ALICE), overwrite(ALICE, "secret:apps/db", "secret:apps/powerful-token")),
    Case("cronjobs-are-workloads", alice_in("apps", rule(["create"], ["cronjobs"], groups=["batch"]), extra=POWERFUL_SA),
         lambda g: reaches(g, ALICE), read(ALICE, "secret:apps/db", "secret:vault/root-token")),
    Case("exec-acts-as-pod-serviceaccount", alice_in("apps", rule(["create"], ["pods/exec"]), extra=[
        *POWERFUL_SA, deployment("apps", "api", "powerful", mounts=["db"])]),
         lambda g: reaches(g, ALICE), read(ALICE, "secret:apps/db", "secret:vault/root-token")),
    Case("nodes-proxy-reaches-every-pod", [
        namespace("apps"), namespace("other"), secret("apps", "db"), secret("other", "db"),
        deployment("apps", "api", "default", mounts=["db"]),
        cluster_role("kubelet-api", rule(["get"], ["nodes/proxy"])),
        cluster_role_binding("kubelet-api", "kubelet-api", user_subject("alice")),
    ], lambda g: reaches(g, ALICE), read(ALICE, "secret:apps/db")),
    Case("token-request-acts-as", alice_in("apps", rule(["create"], ["serviceaccounts/token"], names=["powerful"]),
                                           extra=POWERFUL_SA),
         lambda g: reaches(g, ALICE), read(ALICE, "secret:vault/root-token")),
    Case("impersonate-serviceaccount", alice_in("apps", rule(["impersonate"], ["serviceaccounts"]), extra=POWERFUL_SA),
         lambda g: reaches(g, ALICE), read(ALICE, "secret:vault/root-token")),
    Case("impersonate-any-group", [
        namespace("apps"), secret("apps", "db"),
        cluster_role("impersonator", rule(["impersonate"], ["groups"])),
        cluster_role_binding("impersonator", "impersonator", user_subject("alice")),
    ], lambda g: reaches(g, ALICE) & read(ALICE, "secret:apps/db"), read(ALICE, "secret:apps/db")),
    Case("bind-and-create-bindings", alice_in("apps", rule(["bind"], ["clusterroles"], groups=["rbac.authorization.k8s.io"]),
                                              rule(["create"], ["rolebindings"], groups=["rbac.authorization.k8s.io"])),
         lambda g: {row for row in reaches(g, ALICE) if row[2] == "read"}, read(ALICE, "secret:apps/db")),
    Case("bind-without-create-binding", alice_in("apps", rule(["bind"], ["clusterroles"], groups=["rbac.authorization.k8s.io"])),
         lambda g: reaches(g, ALICE), set()),
    Case("legacy-token-secret-acts-as", alice_in("apps", rule(["get"], ["secrets"], names=["powerful-token"]), extra=[
        *POWERFUL_SA, token_secret("apps", "powerful-token", "powerful")]),
         lambda g: reaches(g, ALICE), read(ALICE, "secret:apps/powerful-token", "secret:vault/root-token")),
]


# --- External Secrets -----------------------------------------------------------------------------

TEAM_ROLE = irsa_role("eso-team", "system:serviceaccount:external-secrets:eso-team", "team/*")
TEAM_ACCOUNT = account(secrets=("team/config", "team/tls", "other/config"), roles=(TEAM_ROLE,))
TEAM_STORE_SA = service_account("external-secrets", "eso-team", role="eso-team")


def team_store(**options: Any) -> dict[str, Any]:
    return cluster_secret_store("team", aws_provider(service_account=("external-secrets", "eso-team")), **options)


def eso_estate(*objects: dict[str, Any]) -> list[dict[str, Any]]:
    return [namespace("apps"), namespace("external-secrets"), TEAM_STORE_SA, *objects]


DEVELOPER_RIGHTS = (READ_SECRETS, CREATE_EXTERNAL_SECRETS)

# Role `eso-team` may also assume `vault-admin` and change IAM, but a store lends none of that.
LENDER_ACCOUNT = account(
    secrets=("team/config", "vault/root"),
    roles=(
        aws.role("eso-team", trust_policy=irsa_trust("system:serviceaccount:external-secrets:eso-team"), inline={
            "read": read_policy("team/*"),
            "more": aws.document(aws.allow(["sts:AssumeRole", "iam:PutRolePolicy"], "*")),
        }),
        aws.role("vault-admin", trust_policy=aws.trust({"AWS": aws.role_arn("eso-team")}), inline={"read": read_policy("vault/*")}),
    ),
)

CLUSTER_EXTERNAL_SECRET = {
    "apiVersion": ESO_API, "kind": "ClusterExternalSecret", "metadata": {"name": "team-config"},
    "spec": {"namespaceSelectors": [{"matchLabels": {"team": "a"}}],
             "externalSecretSpec": external_secret_spec(("ClusterSecretStore", "team"), key="team/config", target="team-config")},
}

PUSH_SECRET = {
    "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "metadata": {"name": "publish", "namespace": "apps"},
    "spec": {"secretStoreRefs": [{"kind": "ClusterSecretStore", "name": "team"}],
             "selector": {"secret": {"name": "generated"}},
             "data": [{"match": {"secretKey": "value", "remoteRef": {"remoteKey": "team/config"}}}]},
}

ESO_RULES = [
    Case("es-lands-in-own-namespace", eso_estate(
        team_store(), external_secret("apps", "config", ("ClusterSecretStore", "team"), key="team/config", target="config")),
         lambda g: edges(g, "synced_to"), {("team/config", "secret:apps/config")}, (TEAM_ACCOUNT,)),
    Case("secretstore-looked-up-locally", eso_estate(
        namespace("other"),
        secret_store("other", "team", aws_provider(service_account=("other", "eso"))),
        external_secret("apps", "config", ("SecretStore", "team"), key="team/config", target="config")),
         lambda g: (edges(g, "synced_to"), [w for w in g.warnings if "ExternalSecret apps/config" in w]),
         (set(), ["cluster test: ExternalSecret apps/config: refers to SecretStore team, which is not in the snapshot"]),
         (TEAM_ACCOUNT,)),
    Case("css-rejects-other-namespace", eso_estate(
        team_store(conditions=[{"namespaces": ["external-secrets"]}]),
        external_secret("apps", "config", ("ClusterSecretStore", "team"), key="team/config", target="config")),
         lambda g: edges(g, "synced_to"), set(), (TEAM_ACCOUNT,)),
    Case("find-enumerates-readable", eso_estate(
        team_store(), external_secret("apps", "all", ("ClusterSecretStore", "team"), find={"path": "team/"}, target="all")),
         lambda g: edges(g, "synced_to"), {("team/config", "secret:apps/all"), ("team/tls", "secret:apps/all")},
         (TEAM_ACCOUNT,)),
    Case("create-es-overwrites-secrets", eso_estate(
        secret("apps", "db"), team_store(), *grant("apps", user_subject("alice"), CREATE_EXTERNAL_SECRETS)),
         lambda g: reaches(g, ALICE), overwrite(ALICE, "secret:apps/db"), (TEAM_ACCOUNT,)),
    Case("css-no-conditions-admits-all", eso_estate(namespace("kube-system"), team_store()),
         lambda g: edges(g, "eso_store_admits"),
         {(f"ExternalSecrets in namespace {ns}", "clustersecretstore:team") for ns in ("apps", "external-secrets", "kube-system")},
         (TEAM_ACCOUNT,)),
    Case("css-selector-by-labels", [
        namespace("apps", team="a"), namespace("web", team="b"), namespace("external-secrets"), TEAM_STORE_SA,
        team_store(conditions=[{"namespaceSelector": {"matchLabels": {"team": "b"}}}, {"namespaces": ["apps"]}])],
         lambda g: edges(g, "eso_store_admits"),
         {("ExternalSecrets in namespace apps", "clustersecretstore:team"), ("ExternalSecrets in namespace web", "clustersecretstore:team")},
         (TEAM_ACCOUNT,)),
    Case("secretstore-ignores-conditions", [
        namespace("apps"), service_account("apps", "eso-team", role="eso-team"),
        secret_store("apps", "team", aws_provider(service_account=(None, "eso-team")), conditions=[{"namespaces": ["other"]}])],
         lambda g: edges(g, "eso_store_admits"), {("ExternalSecrets in namespace apps", "secretstore:apps/team")},
         (account(secrets=("team/config",), roles=(irsa_role("eso-team", "system:serviceaccount:apps:eso-team", "team/*"),)),)),
    Case("store-role-assumed-on-top", eso_estate(
        cluster_secret_store("team", aws_provider(service_account=("external-secrets", "eso-team"), assume="team-reader"))),
         lambda g: edges(g, "eso_acts_as"), {("clustersecretstore:team", "role/team-reader")},
         (account(secrets=("team/config",), roles=(
             aws.role("eso-team", trust_policy=irsa_trust("system:serviceaccount:external-secrets:eso-team"),
                      inline={"assume": aws.document(aws.allow("sts:AssumeRole", aws.role_arn("team-reader")))}),
             aws.role("team-reader", trust_policy=aws.trust({"AWS": aws.role_arn("eso-team")}),
                      inline={"read": read_policy("team/*")}))),)),
    Case("custom-store-any-local-sa", [
        namespace("apps"), service_account("apps", "batch", role="eso-team"),
        *grant("apps", user_subject("alice"), READ_SECRETS, CREATE_EXTERNAL_SECRETS, CREATE_SECRET_STORES)],
         lambda g: (reaches(g, ALICE, kinds={"cloud_secret"}), chain(g, ALICE, "team/config")),
         (read(ALICE, "team/config", "team/tls"), ("eso_custom_store", "eso_acts_as", "iam_read_secret")),
         (account(secrets=("team/config", "team/tls"),
                  roles=(irsa_role("eso-team", "system:serviceaccount:apps:batch", "team/*"),)),)),
    Case("pull-needs-one-subject", eso_estate(
        service_account("apps", "reader"), team_store(),
        *grant("apps", group_subject("developers"), CREATE_EXTERNAL_SECRETS, name="create-es"),
        *grant("apps", sa_subject("apps", "reader"), READ_SECRETS, name="read-secrets")),
         lambda g: {row for row in reached_by(g, "team/config") if row[0] in ("group:developers", sa("apps", "reader"))},
         set(), (TEAM_ACCOUNT,)),
    Case("pull-one-subject-both-rights", eso_estate(
        team_store(), *grant("apps", group_subject("developers"), *DEVELOPER_RIGHTS)),
         lambda g: reaches(g, "group:developers", kinds={"cloud_secret"}), read("group:developers", "team/config", "team/tls"),
         (TEAM_ACCOUNT,)),
    Case("store-lends-reads-only", eso_estate(team_store(), *grant("apps", user_subject("alice"), *DEVELOPER_RIGHTS)),
         lambda g: reaches(g, ALICE, kinds={"cloud_secret", "iam_role", "aws_all_secrets"}),
         read(ALICE, "team/config"), (LENDER_ACCOUNT,)),
    Case("store-identity-holds-more", eso_estate(team_store()),
         lambda g: edges(g, "sts_assume") | edges(g, "iam_escalate"),
         {("role/eso-team", "role/vault-admin"), ("role/eso-team", f"every secret of AWS account {ACCOUNT}")},
         (LENDER_ACCOUNT,)),
    Case("cluster-external-secret-fan-out", [
        namespace("apps", team="a"), namespace("web", team="a"), namespace("batch", team="b"),
        namespace("external-secrets"), TEAM_STORE_SA, team_store(), CLUSTER_EXTERNAL_SECRET],
         lambda g: edges(g, "synced_to"), {("team/config", "secret:apps/team-config"), ("team/config", "secret:web/team-config")},
         (TEAM_ACCOUNT,)),
    Case("push-secret-writes-cloud", eso_estate(
        secret("apps", "generated"), team_store(), PUSH_SECRET, *grant("apps", user_subject("alice"), rule(["update"], ["secrets"]))),
         lambda g: reached_by(g, "team/config", "overwrite") & overwrite(ALICE, "team/config"),
         overwrite(ALICE, "team/config"), (TEAM_ACCOUNT,)),
    Case("controller-reaches-store-identities", [
        *eso_controller(), namespace("apps"), TEAM_STORE_SA, team_store()],
         lambda g: reaches(g, sa("external-secrets", "external-secrets"), kinds={"cloud_secret"}),
         read(sa("external-secrets", "external-secrets"), "team/config", "team/tls"),
         (account(secrets=("team/config", "team/tls", "other/config"), roles=(
             TEAM_ROLE, irsa_role("eso-controller", "system:serviceaccount:external-secrets:external-secrets"))),)),
    Case("sync-status-recorded", eso_estate(
        team_store(), {**external_secret("apps", "config", ("ClusterSecretStore", "team"), key="team/config", target="config"),
                       "status": {"refreshTime": "2026-12-01T11:00:00Z",
                                  "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced"}]}}),
         lambda g: [(es["name"], es["refresh_interval_seconds"], es["status"]["refreshTime"], es["cloud_secrets"])
                    for es in g.external_secrets],
         [("config", 3600.0, "2026-12-01T11:00:00Z", [aws.secret_arn("team/config")])], (TEAM_ACCOUNT,)),
]


# --- AWS IAM --------------------------------------------------------------------------------------

DB = "production/db"
DB_ARN = aws.secret_arn(DB)
READ_DB = aws.document(aws.allow("secretsmanager:GetSecretValue", DB_ARN))


def one_user(*, secret_entry: dict[str, Any] | None = None, user: dict[str, Any] | None = None, **entities: Any) -> dict[str, Any]:
    return account(secret_entries=(secret_entry or aws.secret(DB),),
                   users=(user or aws.user("app", inline={"read": READ_DB}),), **entities)


APP = aws.user_arn("app")
KEY = aws.key_arn("production-key")
DELEGATING_KEY = aws.kms_key("production-key", aws.document(
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}))
NAMING_KEY = aws.kms_key("production-key", aws.document(
    {"Effect": "Allow", "Principal": {"AWS": APP}, "Action": "kms:Decrypt", "Resource": "*"}))


OTHER_CLUSTER_PROVIDER = aws.provider_arn(url="oidc.eks.us-east-1.amazonaws.com/id/OTHERCLUSTER")


def irsa_role_for_other_cluster() -> dict[str, Any]:
    """A role whose trust admits ServiceAccount a/web, but of another cluster's issuer."""
    return aws.role("other-cluster", trust_policy=irsa_trust("system:serviceaccount:a:web", provider=OTHER_CLUSTER_PROVIDER))


def app_reads(graph: CapabilityGraph) -> set[tuple[str, str, str]]:
    return reaches(graph, APP, kinds={"cloud_secret"})


IAM_RULES = [
    Case("default-deny", [], app_reads, set(), (one_user(user=aws.user("app")),)),
    Case("resource-policy-deny-wins", [], app_reads, set(), (one_user(secret_entry=aws.secret(DB, resource_policy=aws.document(
        {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}))),)),
    Case("same-account-resource-policy-alone", [], app_reads, read("user/app", DB),
         (one_user(user=aws.user("app"), secret_entry=aws.secret(DB, resource_policy=aws.document(
             {"Effect": "Allow", "Principal": {"AWS": APP}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}))),)),
    Case("scp-must-allow", [], app_reads, set(), (one_user(organization_policies=(
        aws.organization_policy("p-ec2only", aws.document(aws.allow("ec2:*"))),)),)),
    Case("boundary-must-allow", [], app_reads, set(), (one_user(
        user=aws.user("app", inline={"read": READ_DB}, boundary=aws.policy_arn("ec2-only")),
        policies=(aws.managed_policy(aws.policy_arn("ec2-only"), aws.document(aws.allow("ec2:*"))),)),)),
    Case("cmk-needs-decrypt-allow", [], app_reads, set(),
         (one_user(secret_entry=aws.secret(DB, kms_key_id=KEY), kms_keys=(DELEGATING_KEY,)),)),
    Case("cmk-key-policy-names-caller", [], app_reads, read("user/app", DB),
         (one_user(secret_entry=aws.secret(DB, kms_key_id=KEY), kms_keys=(NAMING_KEY,)),)),
    Case("action-case-insensitive-wildcard", [], app_reads, read("user/app", DB),
         (one_user(user=aws.user("app", inline={"read": aws.document(aws.allow("SecretsManager:Get*", DB_ARN))})),)),
    Case("resource-case-sensitive", [], app_reads, set(),
         (one_user(user=aws.user("app", inline={"read": read_policy("Production/*")})),)),
    Case("secret-arn-needs-suffix", [], app_reads, set(),
         (one_user(user=aws.user("app", inline={"read": read_policy(DB)})),)),
    Case("secret-arn-suffix-wildcard", [], app_reads, read("user/app", DB),
         (one_user(user=aws.user("app", inline={"read": read_policy(f"{DB}-??????")})),)),
    Case("undecidable-condition-conditional", [], lambda g: conditions_of(g, "iam_read_secret", "user/app", DB),
         [("aws:SourceIp IpAddress 10.0.0.0/8",)],
         (one_user(user=aws.user("app", inline={"read": aws.document(aws.allow(
             "secretsmanager:GetSecretValue", DB_ARN, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))})),)),
    Case("trust-naming-caller-suffices", [], lambda g: edges(g, "sts_assume"), {("user/app", "role/reader")},
         (one_user(user=aws.user("app"), roles=(aws.role("reader", trust_policy=aws.trust({"AWS": APP})),)),)),
    Case("trust-condition-keeps-edge-conditional", [], lambda g: conditions_of(g, "sts_assume", "user/app", "role/admin"),
         [("aws:MultiFactorAuthPresent Bool true",)],
         (one_user(user=aws.user("app", inline={"assume": aws.document(aws.allow("sts:AssumeRole", aws.role_arn("admin")))}),
                   roles=(aws.role("admin", trust_policy=aws.trust(
                       {"AWS": APP}, Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})),)),)),
    Case("identity-allow-without-trust", [], lambda g: edges(g, "sts_assume"), set(),
         (one_user(user=aws.user("app", inline={"assume": aws.document(aws.allow("sts:AssumeRole"))}),
                   roles=(aws.role("reader", trust_policy=aws.trust({"AWS": aws.user_arn("someone-else")})),)),)),
    Case("irsa-missing-sub-admits-all", [namespace("a"), service_account("a", "web")],
         lambda g: edges(g, "irsa_assume"), {(sa("a", "web"), "role/open"), (sa("a", "default"), "role/open")},
         (account(roles=(aws.role("open", trust_policy=aws.trust(
             {"Federated": aws.provider_arn()}, "sts:AssumeRoleWithWebIdentity")),)),)),
    Case("irsa-other-cluster-admits-none", [namespace("a"), service_account("a", "web")],
         lambda g: edges(g, "irsa_assume"), set(),
         (account(oidc_providers=(aws.oidc_provider(), aws.oidc_provider(url="oidc.eks.us-east-1.amazonaws.com/id/OTHERCLUSTER")),
                  roles=(irsa_role_for_other_cluster(),)),)),
    Case("iam-change-is-escalation", [], lambda g: chain(g, APP, DB),
         ("iam_escalate", "contains"),
         (one_user(user=aws.user("app", inline={"self": aws.document(aws.allow("iam:PutUserPolicy", APP))})),)),
]


@pytest.mark.parametrize("rule_case", RBAC_RULES + ESO_RULES + IAM_RULES, ids=lambda case: case.id)
def test_design_rule(rule_case: Case) -> None:
    graph = build(rule_case.objects, *rule_case.accounts)

    assert rule_case.ask(graph) == rule_case.expected


def test_every_reason_template_formats() -> None:
    from blastradius.graph.catalogue import EDGE_KINDS

    for kind in EDGE_KINDS:
        assert kind.reason.format(source="a", target="b", detail="c"), kind.name
