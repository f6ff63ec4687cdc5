"""Snapshots whose objects contradict each other, or are random but well formed, still build a graph.

A contradiction (a binding to a missing role, a store naming a missing ServiceAccount, a policy that
is not JSON, an ExternalSecret naming a missing store) becomes one warning that names the object and
the fault, and everything else is built as usual.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastradius.graph.builder import build_graph
from blastradius.graph.model import CapabilityGraph
from blastradius.queries.reachability import reach_from, reaching
from blastradius.queries.who_can import who_can
from tests.graph.estate import (
    READ_SECRETS,
    account,
    aws,
    aws_provider,
    build,
    cluster_role,
    cluster_secret_store,
    deployment,
    external_secret,
    external_secret_spec,
    grant,
    irsa_trust,
    namespace,
    reaches,
    read,
    read_policy,
    role,
    role_binding,
    rule,
    sa_subject,
    secret,
    secret_store,
    service_account,
    snapshot,
    user_subject,
)

CONTRADICTIONS = [
    namespace("apps"), namespace("external-secrets"),
    secret("apps", "db"), service_account("apps", "api"),
    role_binding("apps", "ghost-binding", ("ClusterRole", "ghost"), sa_subject("apps", "api")),
    *grant("apps", user_subject("alice"), READ_SECRETS),
    cluster_secret_store("ghostly", aws_provider(service_account=("external-secrets", "ghost"))),
    external_secret("apps", "orphan", ("ClusterSecretStore", "missing"), key="team/config", target="orphan"),
]
CONTRADICTIONS_ACCOUNT = account(secrets=("team/config",), users=(
    aws.user("broken", inline={"bad": "{not json"}),
    aws.user("misspelt", inline={"typo": aws.document({"Effect": "Allow", "Action": "*", "Resource": "*", "Principle": "x"})}),
    aws.user("fine", inline={"read": read_policy("team/*")}),
))


def contradictions_graph() -> CapabilityGraph:
    return build(CONTRADICTIONS, CONTRADICTIONS_ACCOUNT)


def test_binding_missing_role_warns() -> None:
    assert ("cluster test: RoleBinding apps/ghost-binding: roleRef names ClusterRole ghost, which is not in the "
            "snapshot; the binding grants nothing until that role exists") in contradictions_graph().warnings


def test_store_missing_serviceaccount_warns() -> None:
    assert ("cluster test: ClusterSecretStore ghostly: ServiceAccount external-secrets/ghost named by "
            "auth.jwt.serviceAccountRef is not in the snapshot (used from namespace apps)"
            ) in contradictions_graph().warnings


def test_policy_invalid_json_warns() -> None:
    assert ("aws: user arn:aws:iam::111122223333:user/broken: policy inline:broken/bad: invalid JSON (Expecting "
            "property name enclosed in double quotes at line 1); treated as granting nothing, and it contains no Deny"
            ) in contradictions_graph().warnings


def test_policy_unknown_element_warns() -> None:
    assert ("aws: user arn:aws:iam::111122223333:user/misspelt: policy inline:misspelt/typo, statement #0: unknown "
            "element(s) ['Principle']; treated as granting nothing, and it contains no Deny"
            ) in contradictions_graph().warnings


def test_external_secret_missing_store_warns() -> None:
    assert ("cluster test: ExternalSecret apps/orphan: refers to ClusterSecretStore missing, which is not in the "
            "snapshot") in contradictions_graph().warnings


def test_contradictions_rest_still_built() -> None:
    graph = contradictions_graph()

    assert reaches(graph, "user:alice") == read("user:alice", "secret:apps/db", "secret:apps/orphan")
    assert reaches(graph, aws.user_arn("fine")) == read("user/fine", "team/config")
    assert reaches(graph, aws.user_arn("broken")) == set()
    assert reaches(graph, aws.user_arn("misspelt")) == set()
    assert reaches(graph, "system:serviceaccount:apps:api") == set()


# --- Random, well-formed snapshots ------------------------------------------------------------------

NAMESPACES = ("apps", "prod", "external-secrets")
NAMES = ("api", "db", "eso", "default", "worker")
RESOURCES = ("secrets", "pods", "pods/exec", "pods/*", "*", "*/exec", "serviceaccounts", "serviceaccounts/token",
             "deployments", "cronjobs", "nodes/proxy", "users", "groups", "roles", "clusterroles", "rolebindings",
             "externalsecrets", "secretstores", "pushsecrets", "configmaps")
API_GROUPS = ("", "apps", "batch", "*", "rbac.authorization.k8s.io", "external-secrets.io", "example.com")
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "impersonate", "bind", "escalate", "*")
SECRET_NAMES = ("team/config", "prod/db", "admin/root")
ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:*", "sts:AssumeRole", "iam:PutRolePolicy", "kms:Decrypt", "*")
RESOURCE_PATTERNS = ("*", "arn:aws:secretsmanager:us-east-1:111122223333:secret:team/*",
                     "arn:aws:iam::111122223333:role/*", "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db")

namespaces = st.sampled_from(NAMESPACES)
names = st.sampled_from(NAMES)
rules = st.builds(
    lambda verbs, resources, groups, named: rule(verbs, resources, groups=groups, names=named),
    st.lists(st.sampled_from(VERBS), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from(API_GROUPS), min_size=1, max_size=2, unique=True),
    st.none() | st.lists(names, min_size=1, max_size=2, unique=True),
)
subjects = st.one_of(
    st.builds(sa_subject, namespaces, names),
    st.builds(lambda name: {"kind": "Group", "name": name, "apiGroup": "rbac.authorization.k8s.io"},
              st.sampled_from(("developers", "system:serviceaccounts", "system:authenticated", "system:masters"))),
    st.builds(user_subject, st.sampled_from(("alice", "bob"))),
)


@st.composite
def rbac_objects(draw: st.DrawFn) -> list[dict[str, Any]]:
    ns, name = draw(namespaces), draw(names)
    role_kind = draw(st.sampled_from(("Role", "ClusterRole")))
    role_rules = draw(st.lists(rules, max_size=3))
    role_object = role(ns, name, *role_rules) if role_kind == "Role" else cluster_role(name, *role_rules)
    binding = role_binding(ns, f"{name}-binding", (draw(st.sampled_from(("Role", "ClusterRole"))), name),
                           *draw(st.lists(subjects, min_size=1, max_size=3)))
    return [role_object, binding]


@st.composite
def eso_objects(draw: st.DrawFn) -> list[dict[str, Any]]:
    ns, name = draw(namespaces), draw(names)
    auth = draw(st.sampled_from(("jwt", "keys", "controller")))
    provider = aws_provider(
        service_account=(draw(st.none() | namespaces), draw(names)) if auth == "jwt" else None,
        keys_secret=(None, draw(names)) if auth == "keys" else None,
        assume=draw(st.none() | st.sampled_from(("reader", "missing"))),
    )
    conditions = draw(st.none() | st.lists(st.sampled_from(
        ({"namespaces": ["apps"]}, {"namespaceRegexes": ["pro"]}, {"namespaceSelector": {"matchLabels": {"env": "prod"}}})),
        max_size=2))
    store = (cluster_secret_store(name, provider, conditions=conditions) if draw(st.booleans())
             else secret_store(ns, name, provider, conditions=conditions))
    store_ref = (draw(st.sampled_from(("SecretStore", "ClusterSecretStore"))), draw(names))
    es = external_secret(draw(namespaces), f"{name}-es", store_ref,
                         key=draw(st.none() | st.sampled_from(SECRET_NAMES)),
                         find=draw(st.none() | st.sampled_from(({"path": "team/"}, {"name": {"regexp": "^prod"}}))),
                         target=draw(names))
    ces = {"apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret", "metadata": {"name": f"{name}-ces"},
           "spec": {"namespaceSelectors": [{"matchLabels": {"env": "prod"}}],
                    "externalSecretSpec": external_secret_spec(store_ref, key="team/config")}}
    push = {"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "metadata": {"name": f"{name}-push", "namespace": ns},
            "spec": {"secretStoreRefs": [{"kind": store_ref[0], "name": store_ref[1]}],
                     "selector": {"secret": {"name": draw(names)}},
                     "data": [{"match": {"secretKey": "value", "remoteRef": {"remoteKey": draw(st.sampled_from(SECRET_NAMES))}}}]}}
    return [store, es, ces, push]


statements = st.builds(
    lambda effect, action, resource: {"Effect": effect, "Action": action, "Resource": resource},
    st.sampled_from(("Allow", "Deny")), st.sampled_from(ACTIONS), st.sampled_from(RESOURCE_PATTERNS),
)
trusts = st.one_of(
    st.builds(lambda subject, operator: irsa_trust(subject, operator=operator),
              st.sampled_from(("system:serviceaccount:*:*", "system:serviceaccount:apps:api", "system:serviceaccount:prod:*")),
              st.sampled_from(("StringEquals", "StringLike"))),
    st.just(aws.trust({"AWS": "arn:aws:iam::111122223333:root"})),
    st.just(aws.trust({"AWS": aws.user_arn("alice")}, Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
)


@st.composite
def aws_accounts(draw: st.DrawFn) -> dict[str, Any]:
    roles = [aws.role(name, trust_policy=draw(trusts), inline={"p": aws.document(*draw(st.lists(statements, max_size=3)))})
             for name in ("reader", "api", "eso")]
    users = [aws.user("alice", inline={"p": aws.document(*draw(st.lists(statements, max_size=3)))})]
    return account(secrets=SECRET_NAMES, roles=tuple(roles), users=tuple(users))


@st.composite
def random_snapshots(draw: st.DrawFn) -> dict[str, Any]:
    objects: list[dict[str, Any]] = [namespace("apps"), namespace("prod", env="prod"), namespace("external-secrets")]
    seen: set[tuple[str, str, str | None]] = set()
    candidates = [
        *(service_account(draw(namespaces), draw(names), role=draw(st.none() | st.sampled_from(("reader", "api", "eso", "gone"))))
          for _ in range(draw(st.integers(0, 4)))),
        *(secret(draw(namespaces), draw(names)) for _ in range(draw(st.integers(0, 3)))),
        *(deployment(draw(namespaces), draw(names), draw(names), mounts=draw(st.lists(names, max_size=2)))
          for _ in range(draw(st.integers(0, 2)))),
        *(obj for _ in range(draw(st.integers(0, 4))) for obj in draw(rbac_objects())),
        *(obj for _ in range(draw(st.integers(0, 2))) for obj in draw(eso_objects())),
    ]
    for obj in candidates:
        key = (obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))
        if key not in seen:
            seen.add(key)
            objects.append(obj)
    return snapshot(objects, draw(aws_accounts()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_snapshots())
def test_random_snapshots_build(snapshot_dict: dict[str, Any]) -> None:
    graph = build_graph(snapshot_dict)
    principals = sorted(node for node, data in graph.g.nodes(data=True)
                        if data["kind"] in ("user", "group", "serviceaccount", "iam_role", "iam_user"))
    secrets = sorted(node for node, data in graph.g.nodes(data=True) if data["kind"] in ("secret", "cloud_secret"))

    for principal in principals:
        for reach in reach_from(graph, principal):
            assert reach.steps[0].source == principal
            assert reach.steps[-1].target == reach.target
    for target in secrets:
        for reach in reaching(graph, target, "overwrite"):
            assert reach.steps[-1].target == target


def test_unreadable_policy_is_a_coverage_gap() -> None:
    role = aws.role("probe", inline={"under-test": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
         "Condition": {"StringEqualsFooBar": {"aws:PrincipalTag/team": "a"}}}]}})
    graph = build([], aws.account(roles=(role,), secrets=(aws.secret("prod/db"),)))

    result = who_can(graph, "prod/db")

    assert result.rows == []
    assert result.message.endswith("so this is unknown rather than no access (see the notes)")
    assert len(result.coverage_notes) == 1
    assert "unknown condition operator 'StringEqualsFooBar'" in result.coverage_notes[0]


def test_rejected_store_named_once():
    from tests.graph.estate import aws_provider, build, cluster_secret_store, namespace

    store = cluster_secret_store("aws-keys", aws_provider(), conditions="team-a")
    graph = build([namespace("team-a"), store])
    warnings = [warning for warning in graph.warnings if "spec.conditions" in warning]
    assert warnings == ["cluster test: ClusterSecretStore aws-keys: spec.conditions must be a list, got string"]


@pytest.mark.parametrize("server, expected", [(None, True), ("https://127.0.0.1:6443", False)], ids=["manifests", "live"])
def test_bound_serviceaccount_added_from_manifests(server, expected):
    from tests.graph.estate import cluster_role, cluster_role_binding, rule, sa_subject, snapshot

    objects = [cluster_role("reader", rule(["get"], ["secrets"])),
               cluster_role_binding("reader", "reader", sa_subject("kube-system", "namespace-controller"))]
    data = snapshot(objects)
    data["clusters"][0]["server"] = server
    graph = build_graph(data)
    sa_set = "k8s:test:serviceaccounts-in:kube-system"
    assert (sa_set in graph.g) is expected
    assert graph.g.has_edge(sa_set, "k8s:test:serviceaccount:kube-system/namespace-controller") is expected
