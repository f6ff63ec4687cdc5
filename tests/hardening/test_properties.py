"""Properties of collection, graph build and evaluation over random, often broken, input.

(a) Random Kubernetes RBAC and External Secrets objects, valid or with one field of the wrong
type, go through the manifests collector, the graph build, the audit and who-can. Collection
either succeeds or raises ManifestError naming the file. The later stages never raise: they warn.
(b) Random IAM policy documents, valid or not, go through the policy parser and the evaluator.
Parsing raises only PolicyError, and evaluation never raises.
(c) Reordering statements, actions, resources and condition values leaves an IAM decision's
effect and conditions unchanged, and reordering rules, verbs and resources leaves the RBAC
capabilities of every subject unchanged.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastradius.collectors.aws_files import collect_aws_files
from blastradius.collectors.manifests import ManifestError, collect_manifests
from blastradius.graph.builder import build_graph
from blastradius.queries.audit import run_audit
from blastradius.queries.who_can import who_can
from blastradius.semantics import rbac
from blastradius.semantics.iam import AccountAuthorizations
from blastradius.semantics.iam_policy import PolicyDocument, PolicyError
from blastradius.snapshot import Collection, assemble
from tests.hardening import estate
from tests.semantics import iam_fixtures as aws

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- (a) Kubernetes objects through collection, graph build and queries ---------------------------

# Well-formed YAML values of the types that most often stand where another type belongs.
HOSTILE_VALUES = (
    None, "", "x", "*", 0, -1, 7, 3.5, True, [], [None], ["x"], [1, 2], {}, {"a": 1}, {"name": 5},
    [{"kind": "User"}], "system:masters", "CANARY-do-not-store-7f3a9c",
)
hostile_values = st.sampled_from(HOSTILE_VALUES) | st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)
RBAC_AND_ESO_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "SecretStore", "ClusterSecretStore",
                      "ExternalSecret", "ClusterExternalSecret", "PushSecret", "ECRAuthorizationToken", "ServiceAccount",
                      "Deployment", "Namespace", "Secret")


def field_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Return the path of every field and list element below `value`, parents before children."""
    children: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    paths: list[tuple[Any, ...]] = []
    for key, child in children:
        paths.append((*prefix, key))
        paths.extend(field_paths(child, (*prefix, key)))
    return paths


@st.composite
def broken_estates(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Draw the estate with up to three fields of RBAC and ESO objects replaced or removed."""
    objects = estate.manifests()
    candidates = [obj for obj in objects if obj["kind"] in RBAC_AND_ESO_KINDS]
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        target = draw(st.sampled_from(candidates))
        path = draw(st.sampled_from(field_paths(target)))
        parent = target
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(draw(hostile_values))
    return objects


@pytest.fixture(scope="module")
def aws_collection(tmp_path_factory: pytest.TempPathFactory) -> Collection:
    return collect_aws_files([str(estate.write_bundle(tmp_path_factory.mktemp("aws")))])


@SETTINGS
@given(objects=broken_estates())
def test_broken_objects_collect_or_reject(tmp_path: Path, aws_collection: Collection, objects: list[dict[str, Any]]) -> None:
    path = estate.write_manifests(tmp_path, objects)

    try:
        collection = collect_manifests([str(path)], "payments", oidc_issuer=estate.ISSUER)
    except ManifestError as error:
        assert str(error).startswith(f"{path}:")
        return
    collection.extend(copy.deepcopy(aws_collection))
    snapshot = assemble(collection)
    graph = build_graph(snapshot)
    run_audit(snapshot, graph)
    who_can(graph, estate.DB_SECRET)


# --- (b) IAM policy documents through the parser and the evaluator -------------------------------

ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:*", "secretsmanager:Get*", "secretsmanager:PutSecretValue",
           "sts:AssumeRole", "iam:PutRolePolicy", "iam:PassRole", "kms:Decrypt", "*", "s3:GetObject")
RESOURCES = ("*", aws.secret_arn("payments/db"), "arn:aws:secretsmanager:us-east-1:111122223333:secret:payments/*",
             "arn:aws:secretsmanager:*:*:secret:*", aws.role_arn("ci"), "arn:aws:iam::111122223333:role/${aws:username}",
             aws.key_arn("1234abcd-12ab-34cd-56ef-1234567890ab"))
OPERATORS = ("StringEquals", "StringLike", "StringNotEquals", "ArnLike", "ArnNotEquals", "Bool", "Null",
             "NumericLessThan", "DateGreaterThan", "IpAddress", "StringEqualsIfExists", "ForAnyValue:StringLike",
             "ForAllValues:StringEquals", "StringEqualsFooBar")
CONDITION_KEYS = ("aws:PrincipalArn", "aws:PrincipalTag/team", "aws:ResourceTag/team", "aws:SourceIp",
                  "aws:MultiFactorAuthPresent", "aws:PrincipalAccount", "secretsmanager:ResourceTag/env",
                  "aws:username", "kms:ViaService")
CONDITION_VALUES = ("payments", "true", "false", "111122223333", aws.role_arn("*"), "203.0.113.0/24",
                    "secretsmanager.us-east-1.amazonaws.com", "${aws:username}", "*")

condition_values = st.one_of(
    st.sampled_from(CONDITION_VALUES),
    st.lists(st.sampled_from(CONDITION_VALUES), min_size=1, max_size=3, unique=True),
)
conditions = st.dictionaries(
    st.sampled_from(OPERATORS),
    st.dictionaries(st.sampled_from(CONDITION_KEYS), condition_values, min_size=1, max_size=2),
    min_size=1,
    max_size=2,
)
principals = st.one_of(
    st.just("*"),
    st.builds(lambda arns: {"AWS": arns}, st.lists(st.sampled_from(
        ("111122223333", aws.role_arn("ci"), aws.user_arn("alice"), "arn:aws:iam::444455556666:root")), min_size=1, max_size=2)),
    st.just({"Service": "ec2.amazonaws.com"}),
)


def one_or_list(values: tuple[str, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values) | st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True)


@st.composite
def valid_statements(draw: st.DrawFn, *, with_principal: bool = False) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": draw(st.sampled_from(("Allow", "Deny")))}
    statement["Action" if draw(st.integers(0, 4)) else "NotAction"] = draw(one_or_list(ACTIONS))
    statement["Resource" if draw(st.integers(0, 4)) else "NotResource"] = draw(one_or_list(RESOURCES))
    if with_principal:
        statement["Principal"] = draw(principals)
    if draw(st.booleans()):
        statement["Condition"] = draw(conditions)
    if draw(st.booleans()):
        statement["Sid"] = draw(st.sampled_from(("ReadPayments", "DenyOutsideVpc", "")))
    return statement


# A statement element with a value of the wrong type, or an element that does not exist.
broken_elements = st.tuples(
    st.sampled_from(("Effect", "Action", "NotAction", "Resource", "Principal", "Condition", "Sid", "Principle")),
    st.sampled_from(HOSTILE_VALUES) | st.just({"StringEquals": {"aws:PrincipalTag/team": []}})
    | st.just({"StringEquals": "payments"}) | st.just({"AWS": [None]}) | st.just({"Bool": {"aws:SecureTransport": 1}}),
)


@st.composite
def policy_documents(draw: st.DrawFn, *, with_principal: bool = False) -> Any:
    """Draw a policy document: valid, with one statement broken, or not a policy at all."""
    statements = draw(st.lists(valid_statements(with_principal=with_principal), min_size=1, max_size=4))
    shape = draw(st.sampled_from(("valid", "valid", "broken-statement", "single-statement", "json-text", "not-a-policy")))
    if shape == "broken-statement":
        element, value = draw(broken_elements)
        draw(st.sampled_from(statements))[element] = copy.deepcopy(value)
    if shape == "single-statement":
        return {"Version": "2012-10-17", "Statement": statements[0]}
    if shape == "json-text":
        return json.dumps({"Version": "2012-10-17", "Statement": statements})
    if shape == "not-a-policy":
        return draw(st.sampled_from(("{not json", "[]", "%7B%22Statement%22%3A%5B%5D%7D", "", {"Statement": None},
                                     {"Version": "2012-10-17"}, {"Statement": [], "Extra": 1})))
    return {"Version": "2012-10-17", "Statement": statements}


@settings(max_examples=200, deadline=None)
@given(document=policy_documents(with_principal=True))
def test_policy_parse_raises_only_policy_error(document: Any) -> None:
    try:
        parsed = PolicyDocument.parse(document, "inline:ci/generated")
    except PolicyError as error:
        assert str(error).startswith("policy inline:ci/generated")
        return
    assert all(statement.effect in ("Allow", "Deny") for statement in parsed.statements)


@st.composite
def accounts_with_policies(draw: st.DrawFn) -> dict[str, Any]:
    """Draw an account whose identity, trust, resource, boundary and SCP documents are all random."""
    boundary = aws.policy_arn("boundary")
    return aws.account(
        users=(aws.user("alice", inline={"generated": draw(policy_documents())}),),
        roles=(aws.role("ci", inline={"generated": draw(policy_documents())}, boundary=draw(st.sampled_from((None, boundary))),
                        trust_policy=draw(policy_documents(with_principal=True))),),
        policies=(aws.managed_policy(boundary, draw(policy_documents())),),
        secrets=(aws.secret("payments/db", kms_key_id=aws.key_arn("1234abcd-12ab-34cd-56ef-1234567890ab"),
                            resource_policy=draw(policy_documents(with_principal=True)), tags={"team": "payments"}),),
        kms_keys=(aws.kms_key("1234abcd-12ab-34cd-56ef-1234567890ab", draw(policy_documents(with_principal=True))),),
        organization_policies=(aws.organization_policy("p-guardrail", draw(policy_documents())),),
    )


@SETTINGS
@given(account=accounts_with_policies())
def test_random_policies_evaluate_without_error(account: dict[str, Any]) -> None:
    authorizations = AccountAuthorizations([account])

    for principal in (aws.user_arn("alice"), aws.role_arn("ci")):
        authorizations.secret_access(principal, "read")
        authorizations.secret_access(principal, "overwrite")
        authorizations.assumable_by(principal)
        authorizations.escalation_paths(principal)
        decision = authorizations.evaluate(principal, "secretsmanager:GetSecretValue", aws.secret_arn("payments/db"))
        assert decision.effect in ("allow", "deny", "conditional")


# --- (c) Results do not depend on the order of statements, rules and list elements ---------------


def shuffled(value: Any, rng: Any) -> Any:
    """Return a copy of a JSON-like value with every list and every mapping's key order shuffled."""
    if isinstance(value, list):
        items = [shuffled(item, rng) for item in value]
        rng.shuffle(items)
        return items
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {key: shuffled(value[key], rng) for key in keys}
    return value


def canonical_conditions(conditions: tuple[str, ...]) -> list[str]:
    """Sort the conditions, and the alternatives inside an `(a) or (b)` line, which list the same grant in any order."""
    return sorted(" or ".join(sorted(line.split(" or "))) if line.startswith("(") else line for line in conditions)


REQUESTS = (
    ("secretsmanager:GetSecretValue", aws.secret_arn("payments/db")),
    ("secretsmanager:PutSecretValue", aws.secret_arn("payments/db")),
    ("sts:AssumeRole", aws.role_arn("ci")),
    ("iam:PutRolePolicy", aws.role_arn("ci")),
)
valid_documents = st.lists(valid_statements(), max_size=5).map(lambda statements: aws.document(*statements))


def decisions(account: dict[str, Any]) -> list[tuple[str, list[str]]]:
    authorizations = AccountAuthorizations([account])
    return [
        (decision.effect, canonical_conditions(decision.conditions))
        for principal in (aws.user_arn("alice"), aws.role_arn("ci"))
        for action, resource in REQUESTS
        for decision in [authorizations.evaluate(principal, action, resource)]
    ]


@SETTINGS
@given(identity=valid_documents, resource_policy=st.lists(valid_statements(with_principal=True), min_size=1, max_size=3),
       scp=valid_documents, rng=st.randoms(use_true_random=False))
def test_iam_decision_ignores_order(identity: dict[str, Any], resource_policy: list[dict[str, Any]], scp: dict[str, Any],
                                    rng: Any) -> None:
    def account(identity: dict[str, Any], resource_policy: dict[str, Any], scp: dict[str, Any]) -> dict[str, Any]:
        return aws.account(
            users=(aws.user("alice", inline={"generated": identity}),),
            roles=(aws.role("ci", inline={"generated": identity}, trust_policy=aws.trust({"AWS": aws.user_arn("alice")})),),
            secrets=(aws.secret("payments/db", resource_policy=resource_policy, tags={"team": "payments"}),),
            organization_policies=(aws.organization_policy("p-guardrail", scp),),
        )

    original = account(identity, aws.document(*resource_policy), scp)
    reordered = account(shuffled(identity, rng), shuffled(aws.document(*resource_policy), rng), shuffled(scp, rng))

    assert decisions(reordered) == decisions(original)


rbac_rules = st.builds(
    lambda verbs, resources, groups, names: {"apiGroups": groups, "resources": resources, "verbs": verbs,
                                             **({"resourceNames": names} if names else {})},
    st.lists(st.sampled_from(("get", "list", "watch", "create", "update", "patch", "delete", "impersonate", "bind",
                              "escalate", "*")), min_size=1, max_size=4, unique=True),
    st.lists(st.sampled_from(("secrets", "pods", "pods/exec", "serviceaccounts", "serviceaccounts/token", "deployments",
                              "users", "groups", "roles", "rolebindings", "clusterroles", "externalsecrets",
                              "secretstores", "*")), min_size=1, max_size=4, unique=True),
    st.lists(st.sampled_from(("", "apps", "rbac.authorization.k8s.io", "external-secrets.io", "*")), min_size=1, max_size=3,
             unique=True),
    st.lists(st.sampled_from(("db", "api", "admin")), max_size=2, unique=True),
)


def capability_set(objects: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """Return every (capability, subject, scope, names) the RBAC objects give, without rule positions."""
    grants, _ = rbac.resolve_grants(objects)
    return {(capability.name, capability.subject, capability.scope, capability.resource_names)
            for capability in rbac.subject_capabilities(grants)}


@SETTINGS
@given(role_rules=st.lists(rbac_rules, min_size=1, max_size=4), cluster_rules=st.lists(rbac_rules, min_size=1, max_size=4),
       rng=st.randoms(use_true_random=False))
def test_rbac_capabilities_ignore_order(role_rules: list[dict[str, Any]], cluster_rules: list[dict[str, Any]], rng: Any) -> None:
    def objects(role_rules: list[dict[str, Any]], cluster_rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        subjects = [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"},
                    {"kind": "ServiceAccount", "name": "api", "namespace": "payments"}]
        return [
            {"apiVersion": estate.RBAC, "kind": "Role", "metadata": {"name": "app", "namespace": "payments"}, "rules": role_rules},
            {"apiVersion": estate.RBAC, "kind": "ClusterRole", "metadata": {"name": "ops"}, "rules": cluster_rules},
            {"apiVersion": estate.RBAC, "kind": "RoleBinding", "metadata": {"name": "app", "namespace": "payments"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "app"}, "subjects": subjects},
            {"apiVersion": estate.RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": "ops"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ops"},
             "subjects": subjects[:1]},
        ]

    original = capability_set(objects(role_rules, cluster_rules))

    assert capability_set(objects(shuffled(role_rules, rng), shuffled(cluster_rules, rng))) == original
