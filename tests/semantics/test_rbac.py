"""Tests for the RBAC semantics: rule matching, aggregation, grants and the capability catalogue."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from blastradius.semantics.rbac import (
    CAPABILITIES,
    AggregatedRule,
    Grant,
    LabelSelectorError,
    PolicyRule,
    RbacError,
    Subject,
    binding_subjects,
    effective_cluster_role_rules,
    grants_for_serviceaccount,
    label_selector_matches,
    legacy_token_serviceaccount,
    resolve_grants,
    rule_allows,
    rule_allows_url,
    serviceaccount_groups,
    serviceaccount_identities,
    serviceaccount_username,
    subject_capabilities,
)

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
BOOTSTRAP_CLUSTER_ROLES = SHARED / "real-inputs" / "kubernetes-bootstrap-rbac" / "cluster-roles.yaml"
RBAC_V1 = "rbac.authorization.k8s.io/v1"


# --- Fixture builders in the API's own shape ---------------------------------------------------


def rule(verbs: list[str], resources: list[str], groups: tuple[str, ...] = ("",), names: list[str] | None = None) -> dict:
    built: dict[str, Any] = {"apiGroups": list(groups), "resources": resources, "verbs": verbs}
    if names is not None:
        built["resourceNames"] = names
    return built


def cluster_role(name: str, rules: list[dict] | None = None, labels: dict | None = None,
                 aggregate: list[dict] | None = None) -> dict:
    obj: dict[str, Any] = {"apiVersion": RBAC_V1, "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules}
    if labels:
        obj["metadata"]["labels"] = labels
    if aggregate is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": aggregate}
    return obj


def role(namespace: str, name: str, rules: list[dict]) -> dict:
    return {"apiVersion": RBAC_V1, "kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": rules}


def role_binding(namespace: str, name: str, role_kind: str, role_name: str, subjects: list[dict]) -> dict:
    return {
        "apiVersion": RBAC_V1,
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": subjects,
    }


def cluster_role_binding(name: str, role_name: str, subjects: list[dict], role_kind: str = "ClusterRole") -> dict:
    return {
        "apiVersion": RBAC_V1,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": subjects,
    }


def sa(name: str, namespace: str | None = None) -> dict:
    subject = {"kind": "ServiceAccount", "name": name}
    if namespace is not None:
        subject["namespace"] = namespace
    return subject


def group(name: str) -> dict:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}


def user(name: str) -> dict:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def capabilities_of(objects: list[dict]) -> set[tuple[str, Subject, str | None, frozenset[str] | None]]:
    grants, _ = resolve_grants(objects)
    return {(c.name, c.subject, c.scope, c.resource_names) for c in subject_capabilities(grants)}


def capability_names(objects: list[dict], subject: Subject) -> set[tuple[str, str | None]]:
    grants, _ = resolve_grants(objects)
    return {(c.name, c.scope) for c in subject_capabilities(grants) if c.subject == subject}


def parse(raw: dict) -> PolicyRule:
    return PolicyRule.from_dict(raw)


APP = Subject("ServiceAccount", "app", "test")


# --- Rule matching: one row per authorizer rule ------------------------------------------------

RESOURCE_CASES = [
    pytest.param(rule(["*"], ["secrets"]), dict(verb="deletecollection", api_group="", resource="secrets"), True,
                 id="star-verb-matches-every-verb"),
    pytest.param(rule(["get"], ["secrets"], groups=("*",)), dict(verb="get", api_group="", resource="secrets", name="db"),
                 True, id="star-group-matches-core"),
    pytest.param(rule(["get"], ["*"], groups=("*",)), dict(verb="get", api_group="", resource="secrets", name="db"), True,
                 id="star-resource-matches-secrets"),
    pytest.param(rule(["create"], ["*"], groups=("*",)), dict(verb="create", api_group="", resource="pods",
                                                               subresource="exec", name="web-0"),
                 True, id="star-resource-matches-subresource"),
    pytest.param(rule(["update"], ["*/scale"], groups=("*",)),
                 dict(verb="update", api_group="apps", resource="deployments", subresource="scale", name="web"), True,
                 id="star-scale-matches-any-scale"),
    pytest.param(rule(["update"], ["*/scale"], groups=("*",)),
                 dict(verb="update", api_group="apps", resource="deployments", name="web"), False,
                 id="star-scale-misses-parent-resource"),
    pytest.param(rule(["update"], ["*/scale"], groups=("*",)),
                 dict(verb="update", api_group="apps", resource="deployments", subresource="status", name="web"), False,
                 id="star-scale-misses-other-subresource"),
    pytest.param(rule(["create"], ["pods/*"]), dict(verb="create", api_group="", resource="pods", subresource="exec",
                                                    name="web-0"),
                 False, id="pods-slash-star-is-not-wildcard"),
    pytest.param(rule(["create"], ["pods/*"]), dict(verb="create", api_group="", resource="pods", subresource="*",
                                                    name="web-0"),
                 True, id="pods-slash-star-matches-literal"),
    pytest.param(rule(["get"], ["pods"]), dict(verb="get", api_group="", resource="pods", subresource="log", name="web-0"),
                 False, id="parent-resource-misses-subresource"),
    pytest.param(rule(["get", "list"], ["secrets"], groups=("secrets.example.com",)),
                 dict(verb="get", api_group="", resource="secrets", name="db"), False,
                 id="crd-secrets-misses-core-secrets"),
    pytest.param(rule(["create"], ["deployments"], groups=("apps",)),
                 dict(verb="create", api_group="extensions", resource="deployments"), False,
                 id="group-must-match-exactly"),
    pytest.param(rule(["get"], ["secrets"]), dict(verb="list", api_group="", resource="secrets"), False,
                 id="get-does-not-allow-list"),
    pytest.param(rule(["get"], ["secrets"], names=["db-creds"]),
                 dict(verb="get", api_group="", resource="secrets", name="db-creds"), True,
                 id="resource-name-allows-named-get"),
    pytest.param(rule(["get"], ["secrets"], names=["db-creds"]),
                 dict(verb="get", api_group="", resource="secrets", name="api-key"), False,
                 id="resource-name-blocks-other-name"),
    pytest.param(rule(["get"], ["secrets"], names=["db-*"]),
                 dict(verb="get", api_group="", resource="secrets", name="db-creds"), False,
                 id="resource-name-has-no-globbing"),
    pytest.param(rule(["list"], ["secrets"], names=["db-creds"]), dict(verb="list", api_group="", resource="secrets"),
                 False, id="resource-name-blocks-nameless-list"),
    pytest.param(rule(["list"], ["secrets"], names=["db-creds"]),
                 dict(verb="list", api_group="", resource="secrets", name="db-creds"), True,
                 id="resource-name-allows-field-selector-list"),
    pytest.param(rule(["create"], ["secrets"], names=["db-creds"]), dict(verb="create", api_group="", resource="secrets"),
                 False, id="resource-name-blocks-create"),
    pytest.param(rule(["deletecollection"], ["secrets"], names=["db-creds"]),
                 dict(verb="deletecollection", api_group="", resource="secrets"), False,
                 id="resource-name-blocks-deletecollection"),
    pytest.param(rule(["list"], ["secrets"], names=[""]), dict(verb="list", api_group="", resource="secrets"), True,
                 id="empty-resource-name-allows-nameless"),
]


@pytest.mark.parametrize(("raw_rule", "request_attributes", "expected"), RESOURCE_CASES)
def test_rule_allows_resource_request(raw_rule: dict, request_attributes: dict, expected: bool) -> None:
    assert rule_allows(parse(raw_rule), **request_attributes) is expected


URL_CASES = [
    pytest.param(["/healthz"], "get", "/healthz", True, id="exact-url"),
    pytest.param(["/healthz"], "get", "/healthz/etcd", False, id="exact-url-is-not-prefix"),
    pytest.param(["/healthz/*"], "get", "/healthz/etcd", True, id="trailing-star-is-prefix"),
    pytest.param(["/healthz/*"], "get", "/healthz", False, id="prefix-needs-its-slash"),
    pytest.param(["/api*"], "get", "/apis/apps", True, id="star-after-partial-segment"),
    pytest.param(["*"], "get", "/metrics", True, id="star-alone-matches-all"),
    pytest.param(["/metrics"], "post", "/metrics", False, id="url-verb-must-match"),
]


@pytest.mark.parametrize(("urls", "verb", "path", "expected"), URL_CASES)
def test_rule_allows_url_request(urls: list[str], verb: str, path: str, expected: bool) -> None:
    url_rule = parse({"nonResourceURLs": urls, "verbs": ["get"]})
    assert rule_allows_url(url_rule, verb=verb, path=path) is expected


def test_url_rule_allows_no_resources() -> None:
    url_rule = parse({"nonResourceURLs": ["*"], "verbs": ["*"]})
    assert rule_allows(url_rule, verb="get", api_group="", resource="secrets", name="db") is False


def test_resource_rule_allows_no_urls() -> None:
    assert rule_allows_url(parse(rule(["*"], ["*"], groups=("*",))), verb="get", path="/healthz") is False


# --- Rule parsing ------------------------------------------------------------------------------

MALFORMED_RULES = [
    pytest.param({"apiGroups": [""], "resources": ["secrets"]}, "rule.verbs: a rule needs at least one verb",
                 id="missing-verbs"),
    pytest.param({"apiGroups": [""], "resources": ["secrets"], "verbs": "get"},
                 "rule.verbs: expected a list of strings, got 'get'", id="verbs-not-list"),
    pytest.param({"apiGroups": [""], "resources": ["secrets", 3], "verbs": ["get"]},
                 "rule.resources: expected a list of strings, got ['secrets', 3]", id="resource-not-string"),
    pytest.param({"resources": ["secrets"], "verbs": ["get"]},
                 'rule.apiGroups: a resource rule needs at least one API group ("" is the core group)',
                 id="missing-api-groups"),
    pytest.param({"apiGroups": [""], "verbs": ["get"]}, "rule.resources: a rule needs resources or nonResourceURLs",
                 id="missing-resources"),
    pytest.param({"apiGroups": [""], "resources": ["secrets"], "nonResourceURLs": ["/healthz"], "verbs": ["get"]},
                 "rule.nonResourceURLs: a rule cannot apply to both resources and non-resource URLs; "
                 "split it into two rules",
                 id="resources-and-urls"),
    pytest.param(["get", "secrets"], "rule: expected a mapping with verbs, apiGroups and resources, got ['get', 'secrets']",
                 id="not-a-mapping"),
]


@pytest.mark.parametrize(("raw_rule", "message"), MALFORMED_RULES)
def test_policy_rule_rejects_malformed(raw_rule: Any, message: str) -> None:
    with pytest.raises(RbacError, match=f"^{re.escape(message)}$"):
        PolicyRule.from_dict(raw_rule)


def test_policy_rule_reads_all_fields() -> None:
    parsed = parse(rule(["get"], ["secrets"], names=["db-creds"]))
    assert parsed == PolicyRule(verbs=("get",), api_groups=("",), resources=("secrets",), resource_names=("db-creds",))


def test_policy_rule_error_names_path() -> None:
    with pytest.raises(RbacError, match=r"^rules\[2\]\.verbs: a rule needs at least one verb$"):
        PolicyRule.from_dict({"apiGroups": [""], "resources": ["pods"], "verbs": []}, path="rules[2]")


# --- Label selectors ---------------------------------------------------------------------------

TEAM_LABELS = {"team": "payments", "tier": "backend"}

SELECTOR_CASES = [
    pytest.param(None, TEAM_LABELS, False, id="none-matches-nothing"),
    pytest.param({}, TEAM_LABELS, True, id="empty-matches-everything"),
    pytest.param({}, {}, True, id="empty-matches-unlabelled"),
    pytest.param({"matchLabels": {"team": "payments"}}, TEAM_LABELS, True, id="match-labels-subset"),
    pytest.param({"matchLabels": {"team": "search"}}, TEAM_LABELS, False, id="match-labels-other-value"),
    pytest.param({"matchLabels": {"env": "prod"}}, TEAM_LABELS, False, id="match-labels-missing-key"),
    pytest.param({"matchExpressions": [{"key": "team", "operator": "In", "values": ["payments", "search"]}]},
                 TEAM_LABELS, True, id="in-listed-value"),
    pytest.param({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}, TEAM_LABELS, False,
                 id="in-missing-key"),
    pytest.param({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["payments"]}]}, TEAM_LABELS,
                 False, id="not-in-listed-value"),
    pytest.param({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, TEAM_LABELS, True,
                 id="not-in-missing-key"),
    pytest.param({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, TEAM_LABELS, True, id="exists"),
    pytest.param({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, TEAM_LABELS, False,
                 id="does-not-exist"),
    pytest.param({"matchLabels": {"team": "payments"}, "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
                 TEAM_LABELS, False, id="labels-and-expressions-both-hold"),
]


@pytest.mark.parametrize(("selector", "labels", "expected"), SELECTOR_CASES)
def test_label_selector_matches_labels(selector: dict | None, labels: dict, expected: bool) -> None:
    assert label_selector_matches(selector, labels) is expected


BAD_SELECTORS = [
    pytest.param({"key": "team", "operator": "Equals", "values": ["a"]},
                 "matchExpressions[0].operator: 'Equals' is not one of In, NotIn, Exists, DoesNotExist", id="operator"),
    pytest.param({"key": "team", "operator": "In"}, "matchExpressions[0].values: operator In needs at least one value",
                 id="in-without-values"),
    pytest.param({"key": "team", "operator": "Exists", "values": ["a"]},
                 "matchExpressions[0].values: operator Exists takes no values", id="exists-with-values"),
]


@pytest.mark.parametrize(("expression", "message"), BAD_SELECTORS)
def test_label_selector_rejects_malformed(expression: dict, message: str) -> None:
    with pytest.raises(LabelSelectorError, match=f"^{re.escape(message)}$"):
        label_selector_matches({"matchExpressions": [expression]}, TEAM_LABELS)


# --- Aggregation -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bootstrap_cluster_roles() -> list[dict]:
    if not BOOTSTRAP_CLUSTER_ROLES.exists():
        pytest.skip(f"bootstrap RBAC data not found at {BOOTSTRAP_CLUSTER_ROLES}")
    return yaml.safe_load(BOOTSTRAP_CLUSTER_ROLES.read_text())["items"]


def any_rule_allows(rules: tuple[AggregatedRule, ...], **request: Any) -> bool:
    return any(rule_allows(aggregated.rule, **request) for aggregated in rules)


@pytest.mark.parametrize(("role_name", "reads_secrets", "creates_pods"), [
    pytest.param("admin", True, True, id="admin"),
    pytest.param("edit", True, True, id="edit"),
    pytest.param("view", False, False, id="view"),
])
def test_bootstrap_aggregation_secrets_and_pods(bootstrap_cluster_roles: list[dict], role_name: str,
                                                reads_secrets: bool, creates_pods: bool) -> None:
    rules = effective_cluster_role_rules(bootstrap_cluster_roles)[role_name]
    assert any_rule_allows(rules, verb="get", api_group="", resource="secrets", name="db-creds") is reads_secrets
    assert any_rule_allows(rules, verb="create", api_group="", resource="pods") is creates_pods


def test_bootstrap_admin_rules_come_from_sources(bootstrap_cluster_roles: list[dict]) -> None:
    rules = effective_cluster_role_rules(bootstrap_cluster_roles)["admin"]
    assert {aggregated.source_role for aggregated in rules} == {
        "system:aggregate-to-admin", "system:aggregate-to-edit", "system:aggregate-to-view"}
    assert len(rules) == 21


def test_bootstrap_view_reads_no_secrets_anywhere(bootstrap_cluster_roles: list[dict]) -> None:
    objects = bootstrap_cluster_roles + [role_binding("test", "viewers", "ClusterRole", "view", [group("auditors")])]
    assert {name for name, *_ in capabilities_of(objects)} == set()


def test_live_snapshot_gives_same_rules(bootstrap_cluster_roles: list[dict]) -> None:
    from_manifests = effective_cluster_role_rules(bootstrap_cluster_roles)
    live = [dict(role, rules=[_as_dict(r.rule) for r in from_manifests[role["metadata"]["name"]]])
            for role in bootstrap_cluster_roles]
    from_live = effective_cluster_role_rules(live)
    assert {name: {r.rule for r in rules} for name, rules in from_live.items()} == {
        name: {r.rule for r in rules} for name, rules in from_manifests.items()}


def _as_dict(policy_rule: PolicyRule) -> dict:
    return {"apiGroups": list(policy_rule.api_groups), "resources": list(policy_rule.resources),
            "resourceNames": list(policy_rule.resource_names), "nonResourceURLs": list(policy_rule.non_resource_urls),
            "verbs": list(policy_rule.verbs)}


def test_aggregation_chains_to_fixpoint() -> None:
    roles = [
        cluster_role("admin", aggregate=[{"matchLabels": {"example.com/aggregate-to-admin": "true"}}]),
        cluster_role("edit", labels={"example.com/aggregate-to-admin": "true"},
                     aggregate=[{"matchLabels": {"example.com/aggregate-to-edit": "true"}}]),
        cluster_role("view", labels={"example.com/aggregate-to-edit": "true"},
                     aggregate=[{"matchLabels": {"example.com/aggregate-to-view": "true"}}]),
        cluster_role("secret-lister", [rule(["list"], ["secrets"])], labels={"example.com/aggregate-to-view": "true"}),
    ]
    effective = effective_cluster_role_rules(roles)
    expected = (AggregatedRule(parse(rule(["list"], ["secrets"])), "secret-lister", 0),)
    assert effective["admin"] == expected
    assert effective["edit"] == expected
    assert effective["view"] == expected


@pytest.mark.parametrize(("selector", "aggregated"), [
    pytest.param({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]}, {"gold"}, id="in"),
    pytest.param({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gold"]}]}, {"silver", "plain"},
                 id="not-in"),
    pytest.param({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"gold", "silver"}, id="exists"),
    pytest.param({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"plain"}, id="does-not-exist"),
])
def test_aggregation_selector_expressions(selector: dict, aggregated: set[str]) -> None:
    roles = [
        cluster_role("gold", [rule(["get"], ["configmaps"])], labels={"tier": "gold"}),
        cluster_role("silver", [rule(["get"], ["services"])], labels={"tier": "silver"}),
        cluster_role("plain", [rule(["get"], ["endpoints"])]),
        cluster_role("combined", aggregate=[selector]),
    ]
    effective = effective_cluster_role_rules(roles)
    assert {aggregated_rule.source_role for aggregated_rule in effective["combined"]} == aggregated


def test_aggregation_keeps_own_rules() -> None:
    roles = [
        cluster_role("ops", [rule(["get"], ["pods"])], aggregate=[{"matchLabels": {"aggregate-to-ops": "true"}}]),
        cluster_role("extra", [rule(["list"], ["secrets"])], labels={"aggregate-to-ops": "true"}),
    ]
    assert effective_cluster_role_rules(roles)["ops"] == (
        AggregatedRule(parse(rule(["list"], ["secrets"])), "extra", 0),
        AggregatedRule(parse(rule(["get"], ["pods"])), "ops", 0),
    )


def test_aggregation_cycle_terminates() -> None:
    ring = {"ring": "true"}
    roles = [
        cluster_role("a", [rule(["get"], ["pods"])], labels=ring, aggregate=[{"matchLabels": ring}]),
        cluster_role("b", [rule(["get"], ["secrets"])], labels=ring, aggregate=[{"matchLabels": ring}]),
    ]
    effective = effective_cluster_role_rules(roles)
    assert {r.rule for r in effective["a"]} == {parse(rule(["get"], ["pods"])), parse(rule(["get"], ["secrets"]))}
    assert {r.rule for r in effective["b"]} == {r.rule for r in effective["a"]}


def test_eso_chart_aggregates_into_edit() -> None:
    eso_edit = cluster_role(
        "external-secrets-edit",
        [rule(["create", "delete", "deletecollection", "patch", "update"],
              ["externalsecrets", "secretstores", "clustersecretstores", "pushsecrets"], groups=("external-secrets.io",))],
        labels={"rbac.authorization.k8s.io/aggregate-to-edit": "true",
                "rbac.authorization.k8s.io/aggregate-to-admin": "true"},
    )
    edit = cluster_role("edit", aggregate=[{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}}])
    objects = [eso_edit, edit, role_binding("team-a", "devs", "ClusterRole", "edit", [group("team-a-devs")])]
    assert capability_names(objects, Subject("Group", "team-a-devs")) == {
        ("create_externalsecrets", "team-a"), ("create_secretstores", "team-a"), ("create_pushsecrets", "team-a"),
        ("delete_externalsecrets", "team-a")}


def test_aggregation_rejects_bad_selector() -> None:
    roles = [cluster_role("broken", aggregate=[{"matchExpressions": [{"key": "a", "operator": "Like"}]}])]
    with pytest.raises(RbacError, match=re.escape(
            "ClusterRole broken: aggregationRule.clusterRoleSelectors[0].matchExpressions[0].operator: 'Like'")):
        effective_cluster_role_rules(roles)


def test_aggregation_error_names_role_rule() -> None:
    roles = [cluster_role("broken", [rule([], ["secrets"])])]
    with pytest.raises(RbacError, match=r"^ClusterRole broken: rules\[0\]\.verbs: a rule needs at least one verb$"):
        effective_cluster_role_rules(roles)


# --- Subjects ----------------------------------------------------------------------------------


def test_binding_subjects_mixed_kinds() -> None:
    binding = role_binding("test", "readers", "ClusterRole", "view",
                           [group("auditors"), sa("app"), sa("ci", "build"), user("alice@example.com")])
    assert binding_subjects(binding) == [
        Subject("Group", "auditors"), Subject("ServiceAccount", "app", "test"),
        Subject("ServiceAccount", "ci", "build"), Subject("User", "alice@example.com")]


def test_binding_subjects_cluster_sa_needs_namespace() -> None:
    binding = cluster_role_binding("readers", "view", [sa("app"), sa("ci", "build")])
    assert binding_subjects(binding) == [Subject("ServiceAccount", "ci", "build")]


def test_binding_subjects_skips_unknown_kind() -> None:
    binding = role_binding("test", "readers", "ClusterRole", "view", [{"kind": "Robot", "name": "r2"}, user("bob")])
    assert binding_subjects(binding) == [Subject("User", "bob")]


def test_serviceaccount_username_format() -> None:
    assert serviceaccount_username("dev-sandbox", "builder") == "system:serviceaccount:dev-sandbox:builder"


def test_serviceaccount_groups_all_three() -> None:
    assert serviceaccount_groups("dev-sandbox") == (
        "system:serviceaccounts", "system:serviceaccounts:dev-sandbox", "system:authenticated")


def test_serviceaccount_identities_include_username() -> None:
    assert serviceaccount_identities("test", "app") == (
        Subject("ServiceAccount", "app", "test"), Subject("User", "system:serviceaccount:test:app"),
        Subject("Group", "system:serviceaccounts"), Subject("Group", "system:serviceaccounts:test"),
        Subject("Group", "system:authenticated"))


def test_legacy_token_names_serviceaccount() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
              "keys": ["ca.crt", "token"],
              "metadata": {"name": "deployer-token-x7k2p", "namespace": "ci",
                           "annotations": {"kubernetes.io/service-account.name": "deployer"}}}
    assert legacy_token_serviceaccount(secret) == Subject("ServiceAccount", "deployer", "ci")


def test_legacy_token_ignores_opaque_secret() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "keys": ["password"],
              "metadata": {"name": "db-creds", "namespace": "ci",
                           "annotations": {"kubernetes.io/service-account.name": "deployer"}}}
    assert legacy_token_serviceaccount(secret) is None


# --- Grants ------------------------------------------------------------------------------------

SECRET_READER = cluster_role("secret-reader", [rule(["get", "list", "watch"], ["secrets"])])


def test_rolebinding_clusterrole_scoped_to_namespace() -> None:
    objects = [SECRET_READER, role_binding("test", "read-secrets", "ClusterRole", "secret-reader", [sa("app")])]
    assert capabilities_of(objects) == {("read_secrets", APP, "test", None)}


def test_grant_records_binding_and_rule() -> None:
    objects = [SECRET_READER, role_binding("test", "read-secrets", "ClusterRole", "secret-reader", [sa("app")])]
    grants, warnings = resolve_grants(objects)
    assert warnings == []
    assert grants == [Grant(APP, "RoleBinding", "test", "read-secrets", "ClusterRole", "secret-reader",
                            AggregatedRule(parse(rule(["get", "list", "watch"], ["secrets"])), "secret-reader", 0), "test")]
    assert grants[0].evidence == "RoleBinding test/read-secrets binds ClusterRole secret-reader, rules[0]"


def test_grant_evidence_names_aggregated_source() -> None:
    roles = [cluster_role("edit", aggregate=[{"matchLabels": {"aggregate-to-edit": "true"}}]),
             cluster_role("secret-editor", [rule(["update"], ["secrets"])], labels={"aggregate-to-edit": "true"})]
    grants, _ = resolve_grants(roles + [cluster_role_binding("editors", "edit", [group("platform")])])
    assert [grant.evidence for grant in grants] == [
        "ClusterRoleBinding editors binds ClusterRole edit, rules[0] of ClusterRole secret-editor (aggregated)"]


def test_clusterrolebinding_grants_cluster_wide() -> None:
    objects = [SECRET_READER, cluster_role_binding("read-all", "secret-reader", [sa("app", "test")])]
    assert capabilities_of(objects) == {("read_secrets", APP, None, None)}


def test_group_and_sa_subjects_both_granted() -> None:
    objects = [SECRET_READER,
               role_binding("test", "read-secrets", "ClusterRole", "secret-reader", [group("oncall"), sa("app")])]
    assert capabilities_of(objects) == {("read_secrets", Subject("Group", "oncall"), "test", None),
                                        ("read_secrets", APP, "test", None)}


def test_resource_names_narrow_read() -> None:
    objects = [role("test", "db-reader", [rule(["get"], ["secrets"], names=["db-creds"])]),
               role_binding("test", "db-reader", "Role", "db-reader", [sa("app")])]
    grants, _ = resolve_grants(objects)
    assert capabilities_of(objects) == {("read_secrets", APP, "test", frozenset({"db-creds"}))}
    assert rule_allows(grants[0].rule.rule, verb="list", api_group="", resource="secrets") is False


def test_resource_names_list_reads_named() -> None:
    objects = [role("test", "db-lister", [rule(["list"], ["secrets"], names=["db-creds"])]),
               role_binding("test", "db-lister", "Role", "db-lister", [sa("app")])]
    assert capabilities_of(objects) == {("read_secrets", APP, "test", frozenset({"db-creds"}))}


def test_same_names_other_namespaces_distinct() -> None:
    objects = [
        role("payments", "reader", [rule(["get"], ["secrets"])]),
        role("search", "reader", [rule(["get"], ["configmaps"])]),
        role_binding("payments", "reader", "Role", "reader", [sa("app")]),
        role_binding("search", "reader", "Role", "reader", [sa("app")]),
    ]
    assert capabilities_of(objects) == {("read_secrets", Subject("ServiceAccount", "app", "payments"), "payments", None)}


def test_role_ref_kind_is_followed() -> None:
    objects = [
        role("test", "shared", [rule(["get"], ["configmaps"])]),
        cluster_role("shared", [rule(["get"], ["secrets"])]),
        role_binding("test", "via-role", "Role", "shared", [user("alice")]),
        role_binding("test", "via-cluster-role", "ClusterRole", "shared", [user("bob")]),
    ]
    assert capabilities_of(objects) == {("read_secrets", Subject("User", "bob"), "test", None)}


def test_cluster_admin_to_all_serviceaccounts() -> None:
    cluster_admin = cluster_role("cluster-admin", [rule(["*"], ["*"], groups=("*",)),
                                                   {"nonResourceURLs": ["*"], "verbs": ["*"]}])
    objects = [cluster_admin,
               cluster_role_binding("every-sa-admin", "cluster-admin", [group("system:serviceaccounts")]),
               cluster_role_binding("sandbox-admin", "cluster-admin", [group("system:serviceaccounts:dev-sandbox")])]
    grants, _ = resolve_grants(objects)
    assert {g.binding_name for g in grants_for_serviceaccount(grants, "dev-sandbox", "builder")} == {
        "every-sa-admin", "sandbox-admin"}
    assert {g.binding_name for g in grants_for_serviceaccount(grants, "prod", "api")} == {"every-sa-admin"}


def test_cluster_admin_gives_every_capability() -> None:
    cluster_admin = cluster_role("cluster-admin", [rule(["*"], ["*"], groups=("*",))])
    objects = [cluster_admin, cluster_role_binding("admins", "cluster-admin", [group("system:masters")])]
    assert capability_names(objects, Subject("Group", "system:masters")) == {
        (definition.name, None) for definition in CAPABILITIES}


def test_user_named_as_serviceaccount_applies() -> None:
    objects = [SECRET_READER, role_binding("test", "by-username", "ClusterRole", "secret-reader",
                                           [user("system:serviceaccount:test:app")])]
    grants, _ = resolve_grants(objects)
    assert [g.binding_name for g in grants_for_serviceaccount(grants, "test", "app")] == ["by-username"]


def test_crd_named_role_is_ignored() -> None:
    imposter = {"apiVersion": "iam.example.com/v1", "kind": "RoleBinding", "metadata": {"name": "x", "namespace": "test"},
                "roleRef": {"kind": "ClusterRole", "name": "secret-reader"}, "subjects": [sa("app")]}
    assert resolve_grants([SECRET_READER, imposter]) == ([], [])


def test_binding_without_subjects_grants_nothing() -> None:
    objects = [SECRET_READER, cluster_role_binding("system:node", "secret-reader", [])]
    assert resolve_grants(objects) == ([], [])


def test_rule_merge_trap_grants_nothing_extra() -> None:
    mixed = role("test", "mixed", [rule(["get"], ["pods"]), rule(["list"], ["secrets"])])
    grants, _ = resolve_grants([mixed, role_binding("test", "mixed", "Role", "mixed", [sa("app")])])
    assert [rule_allows(g.rule.rule, verb="get", api_group="", resource="secrets", name="db") for g in grants] == [
        False, False]


def test_rule_merge_trap_no_overwrite() -> None:
    mixed = role("test", "mixed", [rule(["create"], ["configmaps"]), rule(["get"], ["secrets"], names=["db"])])
    objects = [mixed, role_binding("test", "mixed", "Role", "mixed", [sa("app")])]
    assert capabilities_of(objects) == {("read_secrets", APP, "test", frozenset({"db"}))}


WARNING_CASES = [
    pytest.param([role_binding("test", "orphan", "Role", "gone", [sa("app")])],
                 ["RoleBinding test/orphan: roleRef names Role test/gone, which is not in the snapshot; "
                  "the binding grants nothing until that role exists"], id="missing-role"),
    pytest.param([role("other", "reader", [rule(["get"], ["secrets"])]),
                  role_binding("test", "orphan", "Role", "reader", [sa("app")])],
                 ["RoleBinding test/orphan: roleRef names Role test/reader, which is not in the snapshot; "
                  "the binding grants nothing until that role exists"], id="role-of-other-namespace"),
    pytest.param([cluster_role_binding("orphan", "gone", [group("ops")])],
                 ["ClusterRoleBinding orphan: roleRef names ClusterRole gone, which is not in the snapshot; "
                  "the binding grants nothing until that role exists"], id="missing-cluster-role"),
    pytest.param([cluster_role_binding("wrong", "reader", [group("ops")], role_kind="Role")],
                 ["ClusterRoleBinding wrong: roleRef.kind Role is invalid in a ClusterRoleBinding, which can reference "
                  "only a ClusterRole; the binding grants nothing"], id="cluster-binding-to-role"),
    pytest.param([role_binding("test", "odd", "Policy", "reader", [sa("app")])],
                 ["RoleBinding test/odd: roleRef.kind 'Policy' is not Role or ClusterRole; the binding grants nothing"],
                 id="unknown-role-kind"),
    pytest.param([SECRET_READER, cluster_role_binding("loose", "secret-reader", [sa("app")])],
                 ["ClusterRoleBinding loose: subjects[0]: ServiceAccount app has no namespace, so it matches no one"],
                 id="cluster-binding-sa-no-namespace"),
    pytest.param([SECRET_READER,
                  role_binding("test", "robots", "ClusterRole", "secret-reader", [{"kind": "Robot", "name": "r2"}])],
                 ["RoleBinding test/robots: subjects[0].kind: 'Robot' is not one of User, Group, ServiceAccount; "
                  "the subject is ignored"], id="unknown-subject-kind"),
    pytest.param([SECRET_READER, SECRET_READER],
                 ["ClusterRole secret-reader: listed more than once; the last copy is used"], id="duplicate-object"),
    pytest.param([dict(cluster_role("broken", [rule(["get"], [])]), origin={"file": "rbac/broken.yaml", "line": 4})],
                 ["ClusterRole broken (rbac/broken.yaml:4): rules[0].resources: a rule needs resources or nonResourceURLs; "
                  "the API server would reject this ClusterRole, so it grants nothing"], id="invalid-cluster-role"),
    pytest.param([role("test", "urls", [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}])],
                 ["Role test/urls: rules[0].nonResourceURLs: a Role cannot grant non-resource URLs; "
                  "the API server would reject this Role, so it grants nothing"], id="role-with-urls"),
]


@pytest.mark.parametrize(("objects", "expected_warnings"), WARNING_CASES)
def test_resolve_grants_warns_on_fault(objects: list[dict], expected_warnings: list[str]) -> None:
    grants, warnings = resolve_grants(objects)
    assert warnings == expected_warnings
    assert grants == []


# --- Capabilities: one row per request that gives one --------------------------------------------


def single_rule_objects(raw_rule: dict, *, cluster_wide: bool = False) -> list[dict]:
    if cluster_wide:
        return [cluster_role("probe", [raw_rule]), cluster_role_binding("probe", "probe", [sa("app", "test")])]
    return [role("test", "probe", [raw_rule]), role_binding("test", "probe", "Role", "probe", [sa("app")])]


CAPABILITY_CASES = [
    pytest.param(rule(["get"], ["secrets"]), False, {("read_secrets", "test", None)}, id="get-secrets"),
    pytest.param(rule(["list"], ["secrets"]), False, {("read_secrets", "test", None)}, id="list-secrets"),
    pytest.param(rule(["watch"], ["secrets"]), False, {("read_secrets", "test", None)}, id="watch-secrets"),
    pytest.param(rule(["create"], ["secrets"]), False, {("overwrite_secrets", "test", None)}, id="create-secrets"),
    pytest.param(rule(["patch"], ["secrets"], names=["tls"]), False, {("overwrite_secrets", "test", frozenset({"tls"}))},
                 id="patch-named-secret"),
    pytest.param(rule(["create"], ["secrets"], names=["tls"]), False, set(), id="create-with-names-nothing"),
    pytest.param(rule(["create"], ["deployments"], groups=("apps",)), False, {("create_workloads", "test", None)},
                 id="create-deployments"),
    pytest.param(rule(["create"], ["deployments"], groups=("extensions",)), False, set(),
                 id="extensions-deployments-nothing"),
    pytest.param(rule(["patch"], ["pods"]), False, {("create_workloads", "test", None)}, id="patch-pods"),
    pytest.param(rule(["create"], ["pods/exec"]), False, {("exec_pods", "test", None)}, id="create-pods-exec"),
    pytest.param(rule(["create"], ["pods/attach"], names=["web-0"]), False, {("exec_pods", "test", frozenset({"web-0"}))},
                 id="create-named-pod-attach"),
    pytest.param(rule(["get"], ["pods/exec"]), False, {("exec_pods", "test", None)}, id="get-pods-exec-websocket"),
    pytest.param(rule(["patch"], ["pods/ephemeralcontainers"]), False, {("exec_pods", "test", None)},
                 id="patch-ephemeral-containers"),
    pytest.param(rule(["get"], ["pods/log"]), False, set(), id="pods-log-nothing"),
    pytest.param(rule(["get"], ["nodes/proxy"]), True, {("proxy_nodes", None, None)}, id="get-nodes-proxy"),
    pytest.param(rule(["get"], ["nodes/proxy"]), False, set(), id="nodes-proxy-in-rolebinding"),
    pytest.param(rule(["create"], ["serviceaccounts/token"], names=["deployer"]), False,
                 {("create_serviceaccount_tokens", "test", frozenset({"deployer"}))}, id="create-named-token"),
    pytest.param(rule(["impersonate"], ["users"]), True, {("impersonate_users", None, None)}, id="impersonate-users"),
    pytest.param(rule(["impersonate"], ["groups"], names=["system:masters"]), True,
                 {("impersonate_groups", None, frozenset({"system:masters"}))}, id="impersonate-named-group"),
    pytest.param(rule(["impersonate"], ["users"]), False, set(), id="impersonate-users-in-rolebinding"),
    pytest.param(rule(["impersonate"], ["serviceaccounts"]), False, {("impersonate_serviceaccounts", "test", None)},
                 id="impersonate-serviceaccounts"),
    pytest.param(rule(["create"], ["externalsecrets"], groups=("external-secrets.io",)), False,
                 {("create_externalsecrets", "test", None)}, id="create-externalsecrets"),
    pytest.param(rule(["update"], ["secretstores"], groups=("external-secrets.io",)), False,
                 {("create_secretstores", "test", None)}, id="update-secretstores"),
    pytest.param(rule(["create"], ["clustersecretstores"], groups=("external-secrets.io",)), True,
                 {("create_clustersecretstores", None, None)}, id="create-clustersecretstores"),
    pytest.param(rule(["create"], ["clustersecretstores"], groups=("external-secrets.io",)), False, set(),
                 id="clustersecretstores-in-rolebinding"),
    pytest.param(rule(["create"], ["clusterexternalsecrets"], groups=("external-secrets.io",)), True,
                 {("create_clusterexternalsecrets", None, None)}, id="create-clusterexternalsecrets"),
    pytest.param(rule(["patch"], ["pushsecrets"], groups=("external-secrets.io",)), False,
                 {("create_pushsecrets", "test", None)}, id="patch-pushsecrets"),
    pytest.param(rule(["delete"], ["externalsecrets"], groups=("external-secrets.io",), names=["db"]), False,
                 {("delete_externalsecrets", "test", frozenset({"db"}))}, id="delete-named-externalsecret"),
    pytest.param(rule(["create"], ["externalsecrets"], groups=("external-secrets.io.example",)), False, set(),
                 id="lookalike-group-nothing"),
]


@pytest.mark.parametrize(("raw_rule", "cluster_wide", "expected"), CAPABILITY_CASES)
def test_single_rule_capabilities(raw_rule: dict, cluster_wide: bool, expected: set) -> None:
    grants, _ = resolve_grants(single_rule_objects(raw_rule, cluster_wide=cluster_wide))
    assert {(c.name, c.scope, c.resource_names) for c in subject_capabilities(grants)} == expected


BINDER = cluster_role("role-binder", [rule(["bind"], ["clusterroles"], groups=("rbac.authorization.k8s.io",))])
BINDING_CREATOR = cluster_role("binding-creator",
                               [rule(["create"], ["rolebindings"], groups=("rbac.authorization.k8s.io",))])

ESCALATION_CASES = [
    pytest.param([role_binding("test", "b", "ClusterRole", "role-binder", [sa("app")]),
                  role_binding("test", "c", "ClusterRole", "binding-creator", [sa("app")])],
                 {("escalate_roles", "test", None)}, id="both-in-one-namespace"),
    pytest.param([role_binding("test", "b", "ClusterRole", "role-binder", [sa("app")])], set(), id="bind-alone"),
    pytest.param([role_binding("test", "c", "ClusterRole", "binding-creator", [sa("app")])], set(), id="create-alone"),
    pytest.param([role_binding("test", "b", "ClusterRole", "role-binder", [sa("app")]),
                  role_binding("other", "c", "ClusterRole", "binding-creator", [sa("app", "test")])],
                 set(), id="different-namespaces"),
    pytest.param([cluster_role_binding("b", "role-binder", [sa("app", "test")]),
                  role_binding("test", "c", "ClusterRole", "binding-creator", [sa("app")])],
                 {("escalate_roles", "test", None)}, id="cluster-bind-namespace-create"),
    pytest.param([role_binding("test", "b", "ClusterRole", "role-binder", [sa("app")]),
                  role_binding("test", "c", "ClusterRole", "binding-creator", [sa("ci")])],
                 set(), id="different-subjects"),
]


@pytest.mark.parametrize(("bindings", "expected"), ESCALATION_CASES)
def test_escalate_roles_needs_pair(bindings: list[dict], expected: set) -> None:
    grants, _ = resolve_grants([BINDER, BINDING_CREATOR] + bindings)
    escalations = {(c.name, c.scope, c.resource_names) for c in subject_capabilities(grants) if c.name == "escalate_roles"}
    assert escalations == expected


def test_escalate_cluster_bindings_cluster_wide() -> None:
    cluster_binder = cluster_role("cluster-binder", [
        rule(["bind"], ["clusterroles"], groups=("rbac.authorization.k8s.io",), names=["cluster-admin"]),
        rule(["create"], ["clusterrolebindings"], groups=("rbac.authorization.k8s.io",))])
    grants, _ = resolve_grants([cluster_binder, cluster_role_binding("binder", "cluster-binder", [user("deployer")])])
    escalations = [(c.scope, c.resource_names, c.grant.rule.index, c.companion.rule.index)
                   for c in subject_capabilities(grants) if c.name == "escalate_roles"]
    assert escalations == [(None, frozenset({"cluster-admin"}), 0, 1)]


def test_escalate_namespace_bind_misses_cluster_bindings() -> None:
    creator = cluster_role("crb-creator", [rule(["create"], ["clusterrolebindings"], groups=("rbac.authorization.k8s.io",))])
    grants, _ = resolve_grants([BINDER, creator, role_binding("test", "b", "ClusterRole", "role-binder", [sa("app")]),
                                cluster_role_binding("c", "crb-creator", [sa("app", "test")])])
    assert [c for c in subject_capabilities(grants) if c.name == "escalate_roles"] == []


# --- The catalogue as data ---------------------------------------------------------------------


def test_catalogue_names_unique() -> None:
    names = [definition.name for definition in CAPABILITIES]
    assert len(names) == len(set(names))


def test_catalogue_cluster_only_set() -> None:
    assert {d.name for d in CAPABILITIES if d.cluster_only} == {
        "proxy_nodes", "impersonate_users", "impersonate_groups", "create_clustersecretstores",
        "create_clusterexternalsecrets"}


def test_catalogue_narrowable_set() -> None:
    assert {d.name for d in CAPABILITIES if not d.narrowable_by_name} == set()


def test_catalogue_entries_explain_themselves() -> None:
    assert [d.name for d in CAPABILITIES if not d.meaning or not d.patterns] == []


# --- Properties --------------------------------------------------------------------------------

TOKENS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-.", min_size=1, max_size=12)
VERBS = st.sampled_from(["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
                         "impersonate", "bind", "escalate"])


@given(verb=VERBS, api_group=st.one_of(st.just(""), TOKENS), resource=TOKENS,
       subresource=st.one_of(st.just(""), TOKENS), name=st.one_of(st.none(), TOKENS))
def test_wildcard_rule_allows_everything(verb: str, api_group: str, resource: str, subresource: str,
                                         name: str | None) -> None:
    everything = PolicyRule(verbs=("*",), api_groups=("*",), resources=("*",))
    assert rule_allows(everything, verb=verb, api_group=api_group, resource=resource, subresource=subresource, name=name)


@given(names=st.lists(TOKENS, min_size=1, max_size=3), verb=VERBS, resource=TOKENS)
def test_named_rule_rejects_nameless(names: list[str], verb: str, resource: str) -> None:
    named = PolicyRule(verbs=("*",), api_groups=("*",), resources=("*",), resource_names=tuple(names))
    assert not rule_allows(named, verb=verb, api_group="", resource=resource, name=None)


CATALOGUE_RESOURCES = sorted({p.resource for d in CAPABILITIES for p in d.patterns + d.companion_patterns})
RULES = st.builds(
    lambda verbs, groups, resources, names: rule(verbs, resources, groups=tuple(groups), names=names),
    st.lists(st.sampled_from(["get", "list", "create", "patch", "impersonate", "bind", "*"]), min_size=1, max_size=3),
    st.lists(st.sampled_from(["", "apps", "rbac.authorization.k8s.io", "external-secrets.io", "*"]), min_size=1, max_size=2),
    st.lists(st.sampled_from(CATALOGUE_RESOURCES + ["pods/exec", "nodes/proxy", "serviceaccounts/token", "*"]),
             min_size=1, max_size=3),
    st.one_of(st.none(), st.lists(st.sampled_from(["db-creds", "web-0"]), min_size=1, max_size=2)),
)


@given(base=st.lists(RULES, min_size=1, max_size=3), extra=RULES, cluster_wide=st.booleans())
def test_adding_rule_keeps_capabilities(base: list[dict], extra: dict, cluster_wide: bool) -> None:
    before = capabilities_of(_objects_with_rules(base, cluster_wide))
    after = capabilities_of(_objects_with_rules(base + [extra], cluster_wide))
    assert before <= after


def _objects_with_rules(rules: list[dict], cluster_wide: bool) -> list[dict]:
    return [cluster_role("generated", rules),
            role_binding("test", "generated", "ClusterRole", "generated", [sa("app")]),
            cluster_role_binding("generated", "generated", [sa("app", "test")]) if cluster_wide else
            role_binding("other", "generated", "ClusterRole", "generated", [sa("app", "test")])]


@given(raw=RULES)
def test_policy_rule_parse_keeps_fields(raw: dict) -> None:
    parsed = PolicyRule.from_dict(raw)
    assert _as_dict(parsed) == {"apiGroups": raw["apiGroups"], "resources": raw["resources"],
                                "resourceNames": raw.get("resourceNames") or [], "nonResourceURLs": [],
                                "verbs": raw["verbs"]}


@given(labels=st.dictionaries(TOKENS, TOKENS, max_size=4), extra=st.dictionaries(TOKENS, TOKENS, max_size=2))
def test_selector_of_own_labels_matches(labels: dict, extra: dict) -> None:
    assert label_selector_matches({"matchLabels": labels}, {**extra, **labels})
