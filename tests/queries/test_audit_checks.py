"""Tests of the audit checks, each on a small estate written as manifests and AWS account sections."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blastradius.collectors.k8s_objects import normalize_object
from blastradius.config import Config, ConfigError
from blastradius.graph.builder import build_graph
from blastradius.queries.audit import CHECKS, Finding, at_or_above, audit_result, parse_time, run_audit
from blastradius.queries.audit.cloud import _covers_every_secret
from blastradius.snapshot import Collection, assemble, coverage_gap
from tests.semantics import iam_fixtures as aws

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
ESO_API = "external-secrets.io/v1"
ISSUER = aws.EKS_ISSUER
URL = aws.EKS_PROVIDER_URL
CANARY = aws.CANARY
PROTECT_PRODUCTION = Config(protected_namespaces=("production",))

Object = dict[str, Any]


# --- Kubernetes builders -------------------------------------------------------------------------


def namespace(name: str, **labels: str) -> Object:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def service_account(ns: str, name: str, role: str | None = None) -> Object:
    metadata: dict[str, Any] = {"name": name, "namespace": ns}
    if role:
        metadata["annotations"] = {"eks.amazonaws.com/role-arn": aws.role_arn(role)}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def secret(ns: str, name: str, *, secret_type: str = "Opaque", labels: dict[str, str] | None = None,
           annotations: dict[str, str] | None = None) -> Object:
    metadata: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels or {}, "annotations": annotations or {}}
    return {"apiVersion": "v1", "kind": "Secret", "type": secret_type, "metadata": metadata,
            "stringData": {"value": CANARY}}


def rule(verbs: Iterable[str], resources: Iterable[str], groups: Iterable[str] = ("",)) -> dict[str, Any]:
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}


def cluster_role(name: str, *rules: dict[str, Any], labels: dict[str, str] | None = None,
                 aggregate_from: dict[str, str] | None = None) -> Object:
    role: Object = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": name, "labels": labels or {}}, "rules": list(rules)}
    if aggregate_from:
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": aggregate_from}]}
    return role


def subject(kind: str, name: str, ns: str | None = None) -> dict[str, Any]:
    entry = {"kind": kind, "name": name}
    if ns:
        entry["namespace"] = ns
    else:
        entry["apiGroup"] = "rbac.authorization.k8s.io"
    return entry


def binding(name: str, role: str, *subjects: dict[str, Any], ns: str | None = None) -> Object:
    kind = "RoleBinding" if ns else "ClusterRoleBinding"
    metadata = {"name": name, "namespace": ns} if ns else {"name": name}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": list(subjects)}


def eso_controller(role: str = "eso-controller", *, cluster_wide: bool = True) -> list[Object]:
    """The ESO controller as the chart installs it, with its Secret rights bound cluster-wide or in `apps`."""
    ns = "external-secrets"
    controller_role = cluster_role("external-secrets-controller",
                                   rule(["get", "list", "watch", "create", "update", "patch", "delete"], ["secrets"]),
                                   rule(["create"], ["serviceaccounts/token"]))
    bound = (binding("external-secrets-controller", "external-secrets-controller", subject("ServiceAccount", "external-secrets", ns))
             if cluster_wide else
             binding("external-secrets-controller", "external-secrets-controller",
                     subject("ServiceAccount", "external-secrets", ns), ns="apps"))
    return [
        namespace(ns), service_account(ns, "external-secrets", role),
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "external-secrets", "namespace": ns, "labels": {"app.kubernetes.io/name": "external-secrets"}},
         "spec": {"replicas": 1, "template": {"spec": {"serviceAccountName": "external-secrets",
                                                       "containers": [{"name": "c", "image": "example/eso:1"}]}}}},
        controller_role, bound,
    ]


def aws_provider(*, sa: tuple[str | None, str] | None = None, keys: tuple[str | None, str] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"service": "SecretsManager", "region": aws.REGION}
    if sa is not None:
        ref = {"name": sa[1]} if sa[0] is None else {"name": sa[1], "namespace": sa[0]}
        block["auth"] = {"jwt": {"serviceAccountRef": ref}}
    elif keys is not None:
        base = {"name": keys[1]} if keys[0] is None else {"name": keys[1], "namespace": keys[0]}
        block["auth"] = {"secretRef": {"accessKeyIDSecretRef": {**base, "key": "access-key-id"},
                                       "secretAccessKeySecretRef": {**base, "key": "secret-access-key"}}}
    return {"aws": block}


def store(name: str, provider: dict[str, Any], *, ns: str | None = None, conditions: list[Any] | None = None) -> Object:
    spec: dict[str, Any] = {"provider": provider}
    if conditions is not None:
        spec["conditions"] = conditions
    if ns:
        return {"apiVersion": ESO_API, "kind": "SecretStore", "metadata": {"name": name, "namespace": ns}, "spec": spec}
    return {"apiVersion": ESO_API, "kind": "ClusterSecretStore", "metadata": {"name": name}, "spec": spec}


def external_secret(ns: str, name: str, store_ref: tuple[str, str], *, key: str | None = None,
                    find: dict[str, Any] | None = None, generator: tuple[str, str] | None = None,
                    refresh: str = "1h", deletion: str | None = None, ready: str | None = None,
                    refreshed: str | None = None) -> Object:
    spec: dict[str, Any] = {"refreshInterval": refresh, "secretStoreRef": {"kind": store_ref[0], "name": store_ref[1]},
                            "target": {"name": name, "creationPolicy": "Owner"}}
    if deletion:
        spec["target"]["deletionPolicy"] = deletion
    if key:
        spec["data"] = [{"secretKey": "value", "remoteRef": {"key": key}}]
    if find:
        spec["dataFrom"] = [{"find": find}]
    if generator:
        spec["dataFrom"] = [{"sourceRef": {"generatorRef": {"apiVersion": "generators.external-secrets.io/v1alpha1",
                                                            "kind": generator[0], "name": generator[1]}}}]
    es: Object = {"apiVersion": ESO_API, "kind": "ExternalSecret", "metadata": {"name": name, "namespace": ns}, "spec": spec}
    if ready is not None:
        es["status"] = {"conditions": [{"type": "Ready", "status": ready,
                                        "reason": "SecretSynced" if ready == "True" else "SecretSyncedError",
                                        "message": "secret synced" if ready == "True" else "could not get secret data"}],
                        "refreshTime": refreshed}
    return es


def prometheus_rule(*expressions: str) -> Object:
    rules = [{"alert": f"Alert{position}", "expr": expression} for position, expression in enumerate(expressions)]
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "eso-alerts", "namespace": "external-secrets"},
            "spec": {"groups": [{"name": "eso", "rules": rules}]}}


def admission_policy(actions: list[str], operations: tuple[str, ...] = ("CREATE", "UPDATE")) -> list[Object]:
    return [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": "protect-secrets"},
         "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                          "operations": list(operations), "resources": ["secrets"]}]},
                  "validations": [{"expression": "false"}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": "protect-secrets"}, "spec": {"policyName": "protect-secrets", "validationActions": actions}},
    ]


def kyverno_policy(mode: str) -> Object:
    return {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "no-direct-secret-edits"},
            "spec": {"validationFailureAction": mode, "rules": [{
                "name": "secrets", "match": {"any": [{"resources": {"kinds": ["Secret"], "operations": ["CREATE", "UPDATE"]}}]},
                "validate": {"deny": {}}}]}}


# --- AWS builders --------------------------------------------------------------------------------


def irsa_trust(sub: str | None, *, operator: str = "StringEquals", audience: bool = True) -> dict[str, Any]:
    conditions: dict[str, Any] = {}
    if audience:
        conditions["StringEquals"] = {f"{URL}:aud": "sts.amazonaws.com"}
    if sub is not None:
        conditions.setdefault(operator, {})[f"{URL}:sub"] = sub
    return aws.trust({"Federated": aws.provider_arn()}, "sts:AssumeRoleWithWebIdentity", Condition=conditions)


def read(*names: str) -> dict[str, Any]:
    return aws.allow("secretsmanager:GetSecretValue", [f"arn:aws:secretsmanager:{aws.REGION}:{aws.ACCOUNT}:secret:{name}"
                                                        for name in names])


def deny_prefixes(*prefixes: str) -> dict[str, Any]:
    return aws.deny("secretsmanager:*", [f"arn:aws:secretsmanager:{aws.REGION}:{aws.ACCOUNT}:secret:{prefix}*"
                                         for prefix in prefixes])


def irsa_role(name: str, sub: str, *statements: dict[str, Any], operator: str = "StringEquals",
              audience: bool = True) -> dict[str, Any]:
    inline = {f"{name}-policy": aws.document(*statements)} if statements else {}
    return aws.role(name, trust_policy=irsa_trust(sub, operator=operator, audience=audience), inline=inline)


def cloud_secret(name: str, *, rotation_days: int | None = None, last_rotated: str | None = None) -> dict[str, Any]:
    entry = aws.secret(name)
    if rotation_days:
        entry.update(rotation_enabled=True, rotation_days=rotation_days, last_rotated=last_rotated)
    return entry


def account(*secrets: dict[str, Any], roles: tuple[dict[str, Any], ...] = (), users: tuple[dict[str, Any], ...] = (),
            groups: tuple[dict[str, Any], ...] = (), policies: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return aws.account(secrets=secrets, roles=roles, users=users, groups=groups, policies=policies,
                       oidc_providers=(aws.oidc_provider(),))


# --- running the audit ---------------------------------------------------------------------------


def snapshot(objects: Iterable[Object], *accounts: dict[str, Any], gaps: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    section = {"name": "test", "server": None, "manifests": [], "oidc_issuer": ISSUER,
               "objects": [normalize_object(obj) for obj in objects], "skipped_kinds": {}}
    return assemble(Collection(clusters=[section], aws_accounts=list(accounts), coverage_gaps=list(gaps)), collected_at=NOW)


def audit(objects: Iterable[Object], *accounts: dict[str, Any], config: Config | None = None,
          gaps: Iterable[dict[str, Any]] = (), now: datetime = NOW) -> list[Finding]:
    loaded = snapshot(objects, *accounts, gaps=gaps)
    return run_audit(loaded, build_graph(loaded), config or Config(), collected_at=now)


def located(findings: list[Finding], check_id: str) -> list[tuple[str, str | None, str]]:
    """Return (kind, namespace, name) of the first object of each finding of one check."""
    return [(f.objects[0]["kind"], f.objects[0]["namespace"], f.objects[0]["name"])
            for f in findings if f.check_id == check_id]


def messages(findings: list[Finding], check_id: str) -> list[str]:
    return [finding.message for finding in findings if finding.check_id == check_id]


def team_namespaces() -> list[Object]:
    return [namespace("team-a"), namespace("team-b")]


# --- ClusterSecretStore admission -----------------------------------------------------------------


def _shared_store(conditions: list[Any] | None, users: Iterable[str]) -> list[Object]:
    objects = [*team_namespaces(), *eso_controller(), service_account("external-secrets", "eso-shared", "eso-shared"),
               store("shared", aws_provider(sa=("external-secrets", "eso-shared")), conditions=conditions)]
    objects += [external_secret(ns, "config", ("ClusterSecretStore", "shared"), key="shared/config") for ns in users]
    return objects


SHARED_ACCOUNT = account(cloud_secret("shared/config"), roles=(
    irsa_role("eso-shared", "system:serviceaccount:external-secrets:eso-shared", read("shared/*")),))


@pytest.mark.parametrize("conditions, users, expected", [
    pytest.param(None, ["team-a"], [("ClusterSecretStore", None, "shared")], id="no-conditions"),
    pytest.param([{"namespaces": ["team-a", "team-b"]}], ["team-a"], [("ClusterSecretStore", None, "shared")],
                 id="admits-unused-namespace"),
    pytest.param([{"namespaces": ["team-a"]}], ["team-a"], [], id="admits-only-users"),
    pytest.param([{"namespaces": ["team-a", "team-b"]}], [], [], id="unused-with-conditions"),
])
def test_css_broad_by_conditions(conditions, users, expected):
    findings = audit(_shared_store(conditions, users), SHARED_ACCOUNT)
    assert located(findings, "ESO-CSS-BROAD") == expected


def test_css_broad_message_counts_reach():
    findings = audit(_shared_store(None, ["team-a"]), SHARED_ACCOUNT)
    assert messages(findings, "ESO-CSS-BROAD") == [
        "ClusterSecretStore shared has no conditions, so ExternalSecrets in every namespace (3) may use it; "
        "ExternalSecrets in team-a use it; its identity role/eso-shared reads 1 secret"]


@pytest.mark.parametrize("patterns, expected", [
    pytest.param(["team-a"], [("ClusterSecretStore", None, "shared")], id="bare"),
    pytest.param(["^team-a"], [("ClusterSecretStore", None, "shared")], id="start-only"),
    pytest.param(["^team-a$"], [], id="anchored"),
    pytest.param([r"\Ateam-(a|b)\z"], [], id="go-text-anchors"),
])
def test_unanchored_regex_by_pattern(patterns, expected):
    findings = audit(_shared_store([{"namespaceRegexes": patterns}], ["team-a"]), SHARED_ACCOUNT)
    assert located(findings, "ESO-CSS-UNANCHORED-REGEX") == expected


def test_referent_auth_names_resolution():
    objects = [*team_namespaces(), *eso_controller(), service_account("team-a", "eso", "eso-team-a"),
               store("per-team", aws_provider(sa=(None, "eso")), conditions=[{"namespaces": ["team-a"]}])]
    team_role = irsa_role("eso-team-a", "system:serviceaccount:team-a:eso", read("team-a/*"))
    findings = audit(objects, account(roles=(team_role,)))
    assert messages(findings, "ESO-CSS-REFERENT-AUTH") == [
        "ClusterSecretStore per-team: spec.provider.aws.auth.jwt.serviceAccountRef names eso without a namespace, so "
        "ESO resolves it in the namespace of each ExternalSecret that uses the store (referent authentication); "
        "resolved: team-a: ServiceAccount team-a/eso → role/eso-team-a"]


def test_referent_auth_silent_with_namespace():
    findings = audit(_shared_store([{"namespaces": ["team-a"]}], ["team-a"]), SHARED_ACCOUNT)
    assert located(findings, "ESO-CSS-REFERENT-AUTH") == []


# --- how stores sign in ----------------------------------------------------------------------------


def test_store_without_auth_uses_controller():
    objects = [*team_namespaces(), *eso_controller(), store("default", aws_provider(), ns="team-a")]
    findings = audit(objects, account(roles=(irsa_role("eso-controller", "system:serviceaccount:external-secrets:external-secrets"),)))
    assert located(findings, "ESO-STORE-NO-AUTH") == [("SecretStore", "team-a", "default")]
    assert "ServiceAccount external-secrets/external-secrets → role/eso-controller" in messages(findings, "ESO-STORE-NO-AUTH")[0]


def test_store_with_jwt_not_no_auth():
    findings = audit(_shared_store(None, ["team-a"]), SHARED_ACCOUNT)
    assert located(findings, "ESO-STORE-NO-AUTH") == []


KEYS_OWNER = {"team-a/aws-keys": aws.user_arn("eso-keys")}


def _static_key_store() -> list[Object]:
    reader_role = cluster_role("secret-reader", rule(["get"], ["secrets"]))
    return [*team_namespaces(), *eso_controller(), secret("team-a", "aws-keys"),
            store("keys", aws_provider(keys=(None, "aws-keys")), ns="team-a"),
            external_secret("team-a", "app", ("SecretStore", "keys"), key="team-a/app"),
            reader_role, binding("ops-read", "secret-reader", subject("Group", "ops"), ns="team-a"),
            binding("admins", "secret-reader", subject("Group", "system:masters"))]


def _keys_account(*statements: dict[str, Any]) -> dict[str, Any]:
    user = aws.user("eso-keys", inline={"read": aws.document(*statements)})
    return account(cloud_secret("team-a/app"), cloud_secret("eso-credentials/team-a-keys"), users=(user,))


def test_static_keys_lists_readers():
    findings = audit(_static_key_store(), _keys_account(read("team-a/*")),
                     config=Config(static_key_owners=KEYS_OWNER, trusted_principals=("group:system:masters",)))
    assert located(findings, "ESO-STORE-STATIC-KEYS") == [("SecretStore", "team-a", "keys")]
    assert messages(findings, "ESO-STORE-STATIC-KEYS") == [
        "SecretStore team-a/keys signs in with static AWS keys from Secret team-a/aws-keys (owner: user/eso-keys); "
        "2 principals can read them: group:ops, system:serviceaccount:external-secrets:external-secrets "
        "(1 trusted principal(s) not listed)"]


def test_static_keys_without_owner_say_so():
    findings = audit(_static_key_store(), _keys_account(read("team-a/*")))
    assert "owner: not recorded; set static_key_owners in the configuration" in messages(findings, "ESO-STORE-STATIC-KEYS")[0]


@pytest.mark.parametrize("statements, owners, expected", [
    pytest.param([read("team-a/*", "eso-credentials/*")], KEYS_OWNER, [("SecretStore", "team-a", "keys")], id="reads-credentials"),
    pytest.param([read("team-a/*")], KEYS_OWNER, [], id="reads-only-team"),
    pytest.param([read("team-a/*", "eso-credentials/*")], {}, [], id="owner-unknown"),
])
def test_reads_own_credentials_by_policy(statements, owners, expected):
    findings = audit(_static_key_store(), _keys_account(*statements), config=Config(static_key_owners=owners))
    assert located(findings, "ESO-STORE-READS-OWN-CREDENTIALS") == expected


def test_store_iam_wide_counts_use():
    objects = _shared_store([{"namespaces": ["team-a"]}], ["team-a"])
    wide = account(cloud_secret("shared/config"), cloud_secret("shared/tls"), roles=(
        irsa_role("eso-shared", "system:serviceaccount:external-secrets:eso-shared", read("shared/*")),))
    findings = audit(objects, wide)
    assert messages(findings, "ESO-STORE-IAM-WIDE") == [
        "role/eso-shared can read 2 secrets, ESO uses 1 (shared/config) through ClusterSecretStore shared; "
        "whoever can use that store also reads shared/tls"]
    assert located(findings, "ESO-STORE-IAM-WIDE") == [("IAMRole", None, aws.role_arn("eso-shared"))]


def test_store_iam_wide_silent_when_used():
    findings = audit(_shared_store([{"namespaces": ["team-a"]}], ["team-a"]), SHARED_ACCOUNT)
    assert located(findings, "ESO-STORE-IAM-WIDE") == []


# --- IAM -------------------------------------------------------------------------------------------


def _principal_account(statement: dict[str, Any], *, boundary: bool = False) -> dict[str, Any]:
    policy_arn = aws.policy_arn("boundary")
    managed = aws.managed_policy(policy_arn, aws.document(statement))
    if boundary:
        role = aws.role("app", boundary=policy_arn)
    else:
        role = aws.role("app", inline={"app-read": aws.document(statement)})
    return account(cloud_secret("team-a/app"), roles=(role,), policies=(managed,))


@pytest.mark.parametrize("statement, boundary, expected", [
    pytest.param(aws.allow("secretsmanager:GetSecretValue", "*"), False, [("IAMRole", None, aws.role_arn("app"))], id="star"),
    pytest.param(aws.allow("secretsmanager:*", f"arn:aws:secretsmanager:{aws.REGION}:{aws.ACCOUNT}:secret:*"), False,
                 [("IAMRole", None, aws.role_arn("app"))], id="secret-star"),
    pytest.param({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                  "NotResource": f"arn:aws:secretsmanager:{aws.REGION}:{aws.ACCOUNT}:secret:admin/*"}, False,
                 [("IAMRole", None, aws.role_arn("app"))], id="not-resource"),
    pytest.param(read("team-a/*"), False, [], id="prefix"),
    pytest.param(aws.allow("secretsmanager:ListSecrets", "*"), False, [], id="list-secrets"),
    pytest.param(aws.allow("secretsmanager:GetSecretValue", "*"), True, [], id="boundary-only"),
])
def test_wildcard_resource_by_statement(statement, boundary, expected):
    findings = audit([namespace("team-a")], _principal_account(statement, boundary=boundary))
    assert located(findings, "IAM-WILDCARD-RESOURCE") == expected


def test_wildcard_resource_names_managed_policy():
    findings = audit([namespace("team-a")], account(cloud_secret("team-a/app"), roles=(
        aws.role("admin", attached=(aws.ADMINISTRATOR_ACCESS["arn"],)),), policies=(aws.ADMINISTRATOR_ACCESS,)))
    wildcard = [f for f in findings if f.check_id == "IAM-WILDCARD-RESOURCE"]
    assert [(o["kind"], o["name"]) for o in wildcard[0].objects] == [
        ("IAMRole", aws.role_arn("admin")), ("IAMPolicy", "arn:aws:iam::aws:policy/AdministratorAccess")]
    assert wildcard[0].severity == "high"


@pytest.mark.parametrize("statements, expected", [
    pytest.param([read("shared/*")], [("IAMRole", None, aws.role_arn("eso-shared"))], id="no-deny"),
    pytest.param([read("shared/*"), deny_prefixes("admin/")], [("IAMRole", None, aws.role_arn("eso-shared"))],
                 id="one-prefix-denied"),
    pytest.param([read("shared/*"), deny_prefixes("admin/", "vault-unseal/", "eso-credentials/")], [], id="all-denied"),
])
def test_missing_deny_by_policy(statements, expected):
    role = irsa_role("eso-shared", "system:serviceaccount:external-secrets:eso-shared", *statements)
    findings = audit(_shared_store(None, ["team-a"]), account(cloud_secret("shared/config"), roles=(role,)))
    assert located(findings, "IAM-NO-DENY-HIGH-PRIVILEGE") == expected


def test_missing_deny_ignores_other_roles():
    findings = audit([namespace("team-a")], _principal_account(read("team-a/*")))
    assert located(findings, "IAM-NO-DENY-HIGH-PRIVILEGE") == []


@pytest.mark.parametrize("sub, operator, expected", [
    pytest.param("system:serviceaccount:*:*", "StringLike", [("IAMRole", None, aws.role_arn("wide"))], id="wildcard"),
    pytest.param(None, "StringEquals", [("IAMRole", None, aws.role_arn("wide"))], id="no-sub"),
    pytest.param("system:serviceaccount:team-a:app", "StringEquals", [], id="pinned"),
    pytest.param("system:serviceaccount:team-a:app", "StringLike", [], id="like-without-wildcard"),
])
def test_irsa_unpinned_by_condition(sub, operator, expected):
    objects = [*team_namespaces(), service_account("team-a", "app"), service_account("team-b", "app")]
    findings = audit(objects, account(roles=(irsa_role("wide", sub, read("team-a/*"), operator=operator),)))
    assert located(findings, "IRSA-TRUST-UNPINNED") == expected


def test_irsa_unpinned_counts_serviceaccounts():
    objects = [*team_namespaces(), service_account("team-a", "app"), service_account("team-b", "app")]
    findings = audit(objects, account(roles=(irsa_role("wide", "system:serviceaccount:*:*", operator="StringLike"),)))
    assert messages(findings, "IRSA-TRUST-UNPINNED") == [
        "the trust policy of role/wide (statement #0) tests sub with StringLike system:serviceaccount:*:*, which admits "
        "many ServiceAccounts; 4 ServiceAccounts of the snapshot can assume it"]


@pytest.mark.parametrize("audience, expected", [
    pytest.param(False, [("IAMRole", None, aws.role_arn("app"))], id="missing"),
    pytest.param(True, [], id="checked"),
])
def test_irsa_audience_by_condition(audience, expected):
    role = irsa_role("app", "system:serviceaccount:team-a:app", audience=audience)
    findings = audit([*team_namespaces(), service_account("team-a", "app")], account(roles=(role,)))
    assert located(findings, "IRSA-TRUST-NO-AUDIENCE") == expected


# --- Kubernetes RBAC ---------------------------------------------------------------------------------


def _aggregated_edit(*, broad_store: bool) -> list[Object]:
    objects = [*team_namespaces(), *eso_controller(),
               cluster_role("edit", labels={"rbac.authorization.k8s.io/aggregate-to-admin": "true"},
                            aggregate_from={"rbac.authorization.k8s.io/aggregate-to-edit": "true"}),
               cluster_role("external-secrets-edit", rule(["create", "delete"], ["externalsecrets", "secretstores"],
                                                          groups=["external-secrets.io"]),
                            labels={"rbac.authorization.k8s.io/aggregate-to-edit": "true"}),
               binding("devs-edit", "edit", subject("Group", "devs"), ns="team-a")]
    if broad_store:
        objects.append(store("shared", aws_provider(sa=("external-secrets", "eso-shared"))))
    return objects


@pytest.mark.parametrize("broad_store, expected", [
    pytest.param(True, [("ClusterRole", None, "external-secrets-edit")], id="with-cluster-store"),
    pytest.param(False, [], id="without-cluster-store"),
])
def test_edit_aggregation_by_store(broad_store, expected):
    findings = audit(_aggregated_edit(broad_store=broad_store))
    assert located(findings, "K8S-ESO-EDIT-AGGREGATION") == expected


def test_edit_aggregation_lists_bindings():
    findings = audit(_aggregated_edit(broad_store=True))
    found = [f for f in findings if f.check_id == "K8S-ESO-EDIT-AGGREGATION"][0]
    assert [(o["kind"], o["namespace"], o["name"]) for o in found.objects] == [
        ("ClusterRole", None, "external-secrets-edit"), ("RoleBinding", "team-a", "devs-edit")]


@pytest.mark.parametrize("cluster_wide, expected", [
    pytest.param(True, [("ClusterRoleBinding", None, "external-secrets-controller")], id="cluster-role-binding"),
    pytest.param(False, [], id="role-binding"),
])
def test_controller_cluster_wide_by_binding(cluster_wide, expected):
    findings = audit([namespace("apps"), *eso_controller(cluster_wide=cluster_wide)])
    assert located(findings, "K8S-ESO-CONTROLLER-CLUSTER-WIDE") == expected


def test_controller_cluster_wide_names_verbs():
    findings = audit(eso_controller())
    assert messages(findings, "K8S-ESO-CONTROLLER-CLUSTER-WIDE") == [
        "ClusterRoleBinding external-secrets-controller gives system:serviceaccount:external-secrets:external-secrets "
        "ClusterRole external-secrets-controller in every namespace, kube-system included: get, list, watch, create, "
        "update, patch, delete on secrets; create on serviceaccounts/token; compromise of that ServiceAccount reaches "
        "every Secret of the cluster"]


def test_delete_rights_untrusted_group():
    objects = [namespace("production"), *eso_controller(),
               cluster_role("eso-admin", rule(["delete"], ["externalsecrets"], groups=["external-secrets.io"])),
               binding("ops", "eso-admin", subject("Group", "ops"), ns="production"),
               binding("masters", "eso-admin", subject("Group", "system:masters"), ns="production"),
               binding("staging-ops", "eso-admin", subject("Group", "ops"), ns="external-secrets")]
    findings = audit(objects, config=Config(protected_namespaces=("production",), trusted_principals=("group:system:masters",)))
    assert located(findings, "K8S-ESO-DELETE-RIGHTS") == [("RoleBinding", "production", "ops")]
    assert [f.severity for f in findings if f.check_id == "K8S-ESO-DELETE-RIGHTS"] == ["medium"]


# --- refresh and sync ------------------------------------------------------------------------------


def _synced(es: Object, *secrets: dict[str, Any], extra: Iterable[Object] = ()) -> list[Finding]:
    objects = [*team_namespaces(), *eso_controller(), service_account("team-a", "eso", "eso-team-a"),
               store("aws", aws_provider(sa=("team-a", "eso")), ns="team-a"), es, *extra]
    role = irsa_role("eso-team-a", "system:serviceaccount:team-a:eso", read("team-a/*"))
    return audit(objects, account(*secrets, roles=(role,)), config=PROTECT_PRODUCTION)


ROTATING = cloud_secret("team-a/db", rotation_days=7, last_rotated="2026-11-29T03:00:00Z")


@pytest.mark.parametrize("refresh, key, find, expected", [
    pytest.param("0", "team-a/db", None, [("ExternalSecret", "team-a", "db")], id="never"),
    pytest.param("0", None, {"name": {"regexp": "^team-a/"}}, [("ExternalSecret", "team-a", "db")], id="never-find"),
    pytest.param("720h", "team-a/db", None, [("ExternalSecret", "team-a", "db")], id="longer-than-rotation"),
    pytest.param("1h", "team-a/db", None, [], id="shorter-than-rotation"),
])
def test_refresh_interval_against_rotation(refresh, key, find, expected):
    es = external_secret("team-a", "db", ("SecretStore", "aws"), key=key, find=find, refresh=refresh)
    assert located(_synced(es, ROTATING), "ESO-REFRESH-INTERVAL") == expected


def test_refresh_never_names_rotation():
    es = external_secret("team-a", "db", ("SecretStore", "aws"), find={"name": {"regexp": "^team-a/"}}, refresh="0")
    assert messages(_synced(es, ROTATING), "ESO-REFRESH-INTERVAL") == [
        'ExternalSecret team-a/db: refreshInterval "0" means ESO syncs once and never refreshes the copy, '
        "but team-a/db rotates every 7 days"]


@pytest.mark.parametrize("duration, expected", [
    pytest.param(900, [("ExternalSecret", "team-a", "token")], id="session-shorter"),
    pytest.param(None, [], id="default-twelve-hours"),
])
def test_refresh_interval_against_generator(duration, expected):
    spec: dict[str, Any] = {"region": aws.REGION}
    if duration:
        spec["requestParameters"] = {"sessionDuration": duration}
    generator = {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "STSSessionToken",
                 "metadata": {"name": "session", "namespace": "team-a"}, "spec": spec}
    es = external_secret("team-a", "token", ("SecretStore", "aws"), generator=("STSSessionToken", "session"))
    assert located(_synced(es, extra=[generator]), "ESO-REFRESH-INTERVAL") == expected


@pytest.mark.parametrize("ready, refreshed, failing, stale", [
    pytest.param("False", "2026-12-01T06:00:00Z", [("ExternalSecret", "team-a", "db")],
                 [("ExternalSecret", "team-a", "db")], id="failing-and-stale"),
    pytest.param("True", "2026-12-01T09:00:00Z", [], [("ExternalSecret", "team-a", "db")], id="ready-but-stale"),
    pytest.param("True", "2026-12-01T10:30:00Z", [], [], id="fresh"),
    pytest.param("False", "2026-12-01T11:30:00Z", [("ExternalSecret", "team-a", "db")], [], id="failing-recently"),
])
def test_sync_status_by_time(ready, refreshed, failing, stale):
    es = external_secret("team-a", "db", ("SecretStore", "aws"), key="team-a/db", ready=ready, refreshed=refreshed)
    findings = _synced(es, ROTATING)
    assert located(findings, "ESO-SYNC-FAILING") == failing
    assert located(findings, "ESO-SYNC-STALE") == stale


def test_sync_stale_names_rotation_since():
    es = external_secret("team-a", "db", ("SecretStore", "aws"), key="team-a/db", ready="True", refreshed="2026-11-28T12:00:00Z")
    assert messages(_synced(es, ROTATING), "ESO-SYNC-STALE") == [
        "ExternalSecret team-a/db: last successful sync 2026-11-28T12:00:00Z is 72 hours old at 2026-12-01T12:00:00Z, "
        "more than twice its refreshInterval of 1h; team-a/db rotated at 2026-11-29T03:00:00Z since, so the copy is outdated"]


def test_sync_failing_message():
    es = external_secret("team-a", "db", ("SecretStore", "aws"), key="team-a/db", ready="False", refreshed="2026-12-01T06:00:00Z")
    assert messages(_synced(es, ROTATING), "ESO-SYNC-FAILING") == [
        "ExternalSecret team-a/db is not Ready (SecretSyncedError); last successful sync "
        "2026-12-01T06:00:00Z, 6 hours before 2026-12-01T12:00:00Z"]


@pytest.mark.parametrize("rules, missing", [
    pytest.param([], ["externalsecret_sync_calls_error", "externalsecret_status_condition"], id="no-rule"),
    pytest.param([prometheus_rule("increase(externalsecret_sync_calls_error[15m]) > 0")],
                 ["externalsecret_status_condition"], id="errors-only"),
    pytest.param([prometheus_rule("externalsecrets_sync_calls_error > 0", "externalsecrets_status_condition == 1")],
                 ["externalsecret_sync_calls_error", "externalsecret_status_condition"], id="misspelled-metrics"),
    pytest.param([prometheus_rule("increase(externalsecret_sync_calls_error[15m]) > 0",
                                  'externalsecret_status_condition{condition="Ready",status="False"} == 1')], None,
                 id="both"),
])
def test_sync_alerts_by_rules(rules, missing):
    es = external_secret("team-a", "db", ("SecretStore", "aws"), key="team-a/db")
    findings = _synced(es, ROTATING, extra=rules)
    found = [f.evidence["missing_metrics"] for f in findings if f.check_id == "ESO-SYNC-ALERTS-MISSING"]
    assert found == ([missing] if missing else [])


# --- protected namespaces ----------------------------------------------------------------------------


@pytest.mark.parametrize("guards, unblocked, audit_only", [
    pytest.param([], [("Namespace", None, "production")], [], id="none"),
    pytest.param(admission_policy(["Deny"]), [], [], id="vap-deny"),
    pytest.param(admission_policy(["Warn", "Audit"]), [], [("Namespace", None, "production")], id="vap-warn"),
    pytest.param(admission_policy(["Deny"], operations=("DELETE",)), [("Namespace", None, "production")], [],
                 id="vap-delete-only"),
    pytest.param([kyverno_policy("Enforce")], [], [], id="kyverno-enforce"),
    pytest.param([kyverno_policy("Audit")], [], [("Namespace", None, "production")], id="kyverno-audit"),
])
def test_secret_edit_guards_by_policy(guards, unblocked, audit_only):
    findings = audit([namespace("production"), namespace("staging"), *guards], config=PROTECT_PRODUCTION)
    assert located(findings, "K8S-SECRET-EDITS-UNBLOCKED") == unblocked
    assert located(findings, "K8S-SECRET-EDITS-AUDIT-ONLY") == audit_only


def test_protected_by_label_without_config():
    findings = audit([namespace("production", protected="true"), namespace("staging")])
    assert messages(findings, "K8S-SECRET-EDITS-UNBLOCKED") == [
        'namespace production (protected because it is labelled protected: "true" (no protected_namespaces '
        'configured)) has no ValidatingAdmissionPolicy with a Deny binding and no Kyverno policy covering Secret '
        "CREATE and UPDATE, so anyone with RBAC write access can replace the values ESO syncs there until the next refresh"]


def test_unmanaged_secrets_in_protected_namespace():
    objects = [namespace("production"), namespace("staging"), secret("production", "manual"),
               secret("production", "synced"), secret("production", "labelled", labels={"reconcile.external-secrets.io/managed": "true"}),
               secret("production", "token", secret_type="kubernetes.io/service-account-token",
                      annotations={"kubernetes.io/service-account.name": "default"}),
               secret("staging", "manual"),
               store("aws", aws_provider(), ns="production"),
               external_secret("production", "synced", ("SecretStore", "aws"), key="production/db")]
    findings = audit(objects, config=PROTECT_PRODUCTION)
    assert located(findings, "K8S-SECRET-NOT-ESO-MANAGED") == [("Secret", "production", "manual")]


def test_legacy_token_names_bindings():
    objects = [namespace("staging"), service_account("staging", "ci"),
               secret("staging", "ci-token", secret_type="kubernetes.io/service-account-token",
                      annotations={"kubernetes.io/service-account.name": "ci"}),
               cluster_role("edit", rule(["get"], ["secrets"])),
               binding("ci-edit", "edit", subject("ServiceAccount", "ci", "staging"), ns="staging")]
    findings = audit(objects)
    assert located(findings, "K8S-LEGACY-SA-TOKEN") == [("Secret", "staging", "ci-token")]
    assert messages(findings, "K8S-LEGACY-SA-TOKEN") == [
        "Secret staging/ci-token contains a long-lived token of ServiceAccount staging/ci that never expires; whoever reads "
        "it acts as that ServiceAccount, and it is bound to ClusterRole edit in staging (RoleBinding staging/ci-edit)"]


@pytest.mark.parametrize("ns, deletion, expected", [
    pytest.param("production", "Delete", [("ExternalSecret", "production", "db")], id="delete-protected"),
    pytest.param("production", "Retain", [], id="retain-protected"),
    pytest.param("production", None, [], id="default-retain"),
    pytest.param("staging", "Delete", [], id="delete-unprotected"),
])
def test_deletion_policy_by_namespace(ns, deletion, expected):
    objects = [namespace("production"), namespace("staging"), store("aws", aws_provider(), ns=ns),
               external_secret(ns, "db", ("SecretStore", "aws"), key="db", deletion=deletion)]
    findings = audit(objects, config=PROTECT_PRODUCTION)
    assert located(findings, "ESO-DELETION-POLICY") == expected


# --- coverage, severity and configuration -------------------------------------------------------------


def test_coverage_gap_is_info():
    gap = coverage_gap("kubernetes:test", "forbidden", "secrets", "HTTP 403", namespace="kube-system")
    findings = audit([namespace("kube-system")], gaps=[gap])
    assert [(f.check_id, f.severity, f.message) for f in findings if f.check_id == "SNAPSHOT-COVERAGE-GAP"] == [
        ("SNAPSHOT-COVERAGE-GAP", "info", "kubernetes:test: secrets in namespace kube-system is unknown "
         "(forbidden: HTTP 403); findings that depend on it may be missing")]


def test_build_warning_is_info():
    objects = [namespace("team-a"), binding("missing", "no-such-role", subject("Group", "devs"), ns="team-a")]
    findings = audit(objects)
    assert [f.severity for f in findings if f.check_id == "SNAPSHOT-BUILD-WARNING"] == ["info"]


def test_severity_override_from_config():
    findings = audit(_shared_store(None, ["team-a"]), SHARED_ACCOUNT, config=Config(severity={"ESO-CSS-BROAD": "critical"}))
    assert [f.severity for f in findings if f.check_id == "ESO-CSS-BROAD"] == ["critical"]
    assert findings[0].check_id == "ESO-CSS-BROAD"


def test_severity_override_unknown_check():
    with pytest.raises(ConfigError, match=r"audit.toml: severity.ESO-NOPE: unknown check id"):
        audit([namespace("team-a")], config=Config(severity={"ESO-NOPE": "low"}, source="audit.toml"))


def test_threshold_keeps_higher_severities():
    findings = [Finding("A", "low", "a", "m"), Finding("B", "high", "b", "m"), Finding("C", "info", "c", "m")]
    assert [f.check_id for f in at_or_above(findings, "medium")] == ["B"]


def test_findings_never_contain_canary():
    objects = [*_static_key_store(), secret("production", "manual"), namespace("production")]
    findings = audit(objects, _keys_account(read("team-a/*", "eso-credentials/*")),
                     config=Config(protected_namespaces=("production",), static_key_owners=KEYS_OWNER))
    rendered = json.dumps(audit_result(findings, "test").to_dict(), default=str)
    assert len(findings) > 5
    assert CANARY not in rendered


def test_catalogue_ids_are_unique():
    ids = [check.id for check in CHECKS]
    assert len(ids) == len(set(ids))


# --- properties -------------------------------------------------------------------------------------

SECRET_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/_+=.@-", min_size=1, max_size=30)


@given(SECRET_NAME)
def test_named_prefix_never_covers_everything(name):
    assert not _covers_every_secret(f"arn:aws:secretsmanager:{aws.REGION}:{aws.ACCOUNT}:secret:{name}*")


@given(st.sampled_from(["us-east-1", "eu-west-1", "*"]), st.sampled_from([aws.ACCOUNT, "*"]))
def test_secret_star_covers_everything(region, account_id):
    assert _covers_every_secret(f"arn:aws:secretsmanager:{region}:{account_id}:secret:*")


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_parse_time_round_trip(moment):
    text = moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert parse_time(text) == moment.replace(microsecond=0, tzinfo=timezone.utc)
