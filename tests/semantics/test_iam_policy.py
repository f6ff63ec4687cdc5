"""Parsing, matching and condition evaluation of IAM policy documents."""

from __future__ import annotations

import json
import string
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blastradius.semantics.iam_policy import (
    Condition,
    PolicyDocument,
    PolicyError,
    RequestContext,
    action_matches,
    literal_prefix,
    resource_matches,
)

SECRET = "arn:aws:secretsmanager:us-east-1:111122223333:secret:production/db-AbCdEf"
LABEL = "arn:aws:iam::111122223333:policy/app-secrets"


# Parsing -------------------------------------------------------------------------------------


def test_parse_single_statement_equals_list():
    single = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}
    listed = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}]}

    assert PolicyDocument.parse(single, LABEL) == PolicyDocument.parse(listed, LABEL)


@pytest.mark.parametrize(
    "encode",
    [json.dumps, lambda doc: quote(json.dumps(doc))],
    ids=["json-text", "url-encoded-json"],
)
def test_parse_accepts_policy_text(encode):
    doc = {"Version": "2012-10-17", "Statement": [{"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}

    parsed = PolicyDocument.parse(encode(doc), LABEL)

    assert parsed.statements[0].label == "Read"
    assert parsed.statements[0].actions == ("s3:GetObject",)


def test_statement_label_without_sid_is_index():
    doc = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}

    labels = [statement.label for statement in PolicyDocument.parse(doc, LABEL).statements]

    assert labels == ["#0", "#1"]


def test_parse_principal_star_and_types():
    doc = {
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": ["111122223333", "arn:aws:iam::444455556666:root"], "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
        ]
    }

    first, second = PolicyDocument.parse(doc, LABEL).statements

    assert first.principals == (("AWS", "*"),)
    assert second.principals == (("AWS", "111122223333"), ("AWS", "arn:aws:iam::444455556666:root"), ("Service", "ec2.amazonaws.com"))
    assert second.resources is None


def test_parse_condition_values_become_strings():
    doc = {"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": False}}}}

    (condition,) = PolicyDocument.parse(doc, LABEL).statements[0].conditions

    assert condition == Condition("Bool", "aws:SecureTransport", ("false",))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('{"Statement": [', "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ({"Version": "2012-10-17"}, "missing Statement"),
        ({"Statement": [], "Extra": 1}, "unknown top-level element(s) ['Extra']"),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Resources": "*"}]}, "unknown element(s) ['Resources']"),
        ({"Statement": [{"Effect": "allow", "Action": "s3:*", "Resource": "*"}]}, 'Effect must be "Allow" or "Deny"'),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*"}]}, "both Action and NotAction"),
        ({"Statement": [{"Effect": "Allow", "Resource": "*"}]}, "missing Action or NotAction"),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Principal": {"Aws": "*"}}]}, "unknown Principal type(s) ['Aws']"),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEqualz": {"a:b": "c"}}}]}, "unknown condition operator 'StringEqualz'"),
        ({"Statement": ["Allow"]}, "statement #0: expected an object"),
    ],
    ids=["invalid-json", "not-object", "no-statement", "unknown-top-level", "unknown-element", "lowercase-effect",
         "action-and-notaction", "no-action", "unknown-principal-type", "unknown-operator", "statement-not-object"],
)
def test_parse_invalid_policy_names_it(doc, message):
    with pytest.raises(PolicyError) as raised:
        PolicyDocument.parse(doc, LABEL)

    assert f"policy {LABEL}" in str(raised.value)
    assert message in str(raised.value)


statement_values = st.lists(st.from_regex(r"[a-z0-9]{1,8}:[A-Za-z*?]{1,10}", fullmatch=True), min_size=1, max_size=3)


@given(actions=statement_values, effect=st.sampled_from(["Allow", "Deny"]), sid=st.none() | st.text(string.ascii_letters, min_size=1, max_size=8))
def test_parse_dict_and_text_agree(actions, effect, sid):
    statement = {"Effect": effect, "Action": actions, "Resource": "*"}
    if sid:
        statement["Sid"] = sid
    doc = {"Version": "2012-10-17", "Statement": [statement]}

    assert PolicyDocument.parse(doc, LABEL) == PolicyDocument.parse(json.dumps(doc), LABEL)


@given(actions=statement_values)
def test_parse_scalar_and_list_agree(actions):
    as_list = {"Statement": [{"Effect": "Allow", "Action": [actions[0]], "Resource": ["*"]}]}
    as_scalar = {"Statement": {"Effect": "Allow", "Action": actions[0], "Resource": "*"}}

    assert PolicyDocument.parse(as_list, LABEL) == PolicyDocument.parse(as_scalar, LABEL)


# Matching ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("secretsmanager:GetSecretValue", "secretsmanager:GetSecretValue", True),
        ("SecretsManager:getsecretvalue", "secretsmanager:GetSecretValue", True),
        ("secretsmanager:Get*", "secretsmanager:GetSecretValue", True),
        ("secretsmanager:*Secret*", "secretsmanager:PutSecretValue", True),
        ("secretsmanager:GetSecretValu?", "secretsmanager:GetSecretValue", True),
        ("*", "kms:Decrypt", True),
        ("s3:*", "secretsmanager:GetSecretValue", False),
        ("secretsmanager:GetSecret", "secretsmanager:GetSecretValue", False),
        ("secretsmanager:Describe*", "secretsmanager:GetSecretValue", False),
    ],
    ids=["exact", "case-insensitive", "trailing-star", "inner-stars", "question-mark", "star-all",
         "other-service", "no-implicit-prefix", "other-verb"],
)
def test_action_matches_table(pattern, action, expected):
    assert action_matches(pattern, action) is expected


@pytest.mark.parametrize(
    ("pattern", "arn", "expected"),
    [
        ("arn:aws:secretsmanager:us-east-1:111122223333:secret:production/*", SECRET, True),
        ("arn:aws:secretsmanager:us-east-1:111122223333:secret:production/db", SECRET, False),
        ("arn:aws:secretsmanager:us-east-1:111122223333:secret:production/db-??????", SECRET, True),
        ("arn:aws:secretsmanager:us-east-1:111122223333:secret:Production/*", SECRET, False),
        ("arn:aws:secretsmanager:*:111122223333:secret:*", SECRET, True),
        ("arn:aws:secretsmanager:us-*-1:111122223333:secret:production/db-AbCdEf", SECRET, True),
        ("arn:aws:secretsmanager:us-east-1:*:secret:production/db-AbCdEf", SECRET, True),
        ("arn:aws:secretsmanager:us-east-1:444455556666:secret:*", SECRET, False),
        ("*", SECRET, True),
        ("arn:aws:iam::111122223333:role/*", "arn:aws:iam::111122223333:role/team/ci-deployer", True),
        ("arn:aws:iam::111122223333:role/ci-*", "arn:aws:iam::111122223333:role/team/ci-deployer", False),
        ("arn:aws:secretsmanager:us-east-1:111122223333:secret:*db*", SECRET, True),
        ("arn:aws:secretsmanager:us-east-1:*:production/db-AbCdEf", SECRET, True),
    ],
    ids=["prefix-star", "name-without-suffix", "six-char-suffix", "case-sensitive", "region-star",
         "star-inside-region", "account-star", "other-account", "star-all", "star-spans-slash",
         "path-not-skipped", "star-spans-colon-in-resource", "segment-final-star-spans-colon"],
)
def test_resource_matches_table(pattern, arn, expected):
    assert resource_matches(pattern, arn) is expected


def test_star_inside_segment_stops_at_colon():
    pattern = "arn:aws:secretsmanager:us-*1:111122223333:secret:x"

    assert resource_matches(pattern, "arn:aws:secretsmanager:us-east-1:111122223333:secret:x")
    assert not resource_matches(pattern, "arn:aws:secretsmanager:us-east:1:111122223333:secret:x")


def test_resource_variable_resolves_from_context():
    context = RequestContext({"aws:username": "alice"})

    assert resource_matches("arn:aws:iam::111122223333:user/${aws:username}", "arn:aws:iam::111122223333:user/alice", context)
    assert not resource_matches("arn:aws:iam::111122223333:user/${aws:username}", "arn:aws:iam::111122223333:user/bob", context)


def test_unresolved_variable_matches_nothing():
    assert not resource_matches("arn:aws:iam::111122223333:user/${aws:username}", "arn:aws:iam::111122223333:user/alice")


secret_names = st.from_regex(r"[A-Za-z0-9/_+=.@-]{1,30}", fullmatch=True)


@given(name=secret_names, suffix=st.from_regex(r"[A-Za-z0-9]{6}", fullmatch=True))
def test_secret_name_star_covers_suffix(name, suffix):
    arn = f"arn:aws:secretsmanager:us-east-1:111122223333:secret:{name}-{suffix}"

    assert resource_matches(f"arn:aws:secretsmanager:us-east-1:111122223333:secret:{name}*", arn)
    assert resource_matches(f"arn:aws:secretsmanager:us-east-1:111122223333:secret:{name}-??????", arn)
    assert not resource_matches(f"arn:aws:secretsmanager:us-east-1:111122223333:secret:{name}", arn)


@given(service=st.from_regex(r"[a-z0-9-]{2,12}", fullmatch=True), verb=st.from_regex(r"[A-Za-z]{1,20}", fullmatch=True))
def test_action_match_ignores_case(service, verb):
    action = f"{service}:{verb}"

    assert action_matches(action.swapcase(), action)
    assert action_matches(f"{service}:*", action)


@given(pattern=st.text(alphabet="ab*?:/", max_size=12))
def test_literal_prefix_precedes_wildcards(pattern):
    prefix = literal_prefix(pattern)

    assert pattern.startswith(prefix)
    assert "*" not in prefix
    assert "?" not in prefix


# Conditions ----------------------------------------------------------------------------------

CONTEXT = RequestContext(
    {
        "aws:PrincipalArn": "arn:aws:iam::111122223333:role/payments-api",
        "aws:PrincipalTag/team": "payments",
        "aws:SecureTransport": "true",
        "aws:TagKeys": ("env", "team"),
    },
    decidable_prefixes=("aws:PrincipalTag/", "aws:TagKeys"),
)


@pytest.mark.parametrize(
    ("operator", "key", "values", "expected"),
    [
        ("StringEquals", "aws:PrincipalTag/team", ("payments",), True),
        ("StringEquals", "aws:PrincipalTag/Team", ("payments",), True),
        ("StringEquals", "aws:PrincipalTag/team", ("Payments",), False),
        ("StringEqualsIgnoreCase", "aws:PrincipalTag/team", ("Payments",), True),
        ("StringNotEquals", "aws:PrincipalTag/team", ("payments",), False),
        ("StringLike", "aws:PrincipalTag/team", ("pay*",), True),
        ("StringNotLike", "aws:PrincipalTag/team", ("pay*",), False),
        ("StringEquals", "aws:PrincipalTag/owner", ("alice",), False),
        ("StringNotEquals", "aws:PrincipalTag/owner", ("alice",), True),
        ("StringEqualsIfExists", "aws:PrincipalTag/owner", ("alice",), True),
        ("StringEqualsIfExists", "aws:PrincipalTag/team", ("billing",), False),
        ("Null", "aws:PrincipalTag/owner", ("true",), True),
        ("Null", "aws:PrincipalTag/team", ("true",), False),
        ("Null", "aws:PrincipalTag/team", ("false",), True),
        ("Bool", "aws:SecureTransport", ("false",), False),
        ("Bool", "aws:SecureTransport", ("true",), True),
        ("ArnLike", "aws:PrincipalArn", ("arn:aws:iam::111122223333:role/payments-*",), True),
        ("ArnNotEquals", "aws:PrincipalArn", ("arn:aws:iam::111122223333:role/payments-api",), False),
        ("ArnLike", "aws:PrincipalArn", ("arn:aws:iam::*:role/payments-api",), True),
        ("ForAnyValue:StringEquals", "aws:TagKeys", ("env",), True),
        ("ForAllValues:StringEquals", "aws:TagKeys", ("env",), False),
        ("ForAllValues:StringEquals", "aws:TagKeys", ("env", "team", "owner"), True),
        ("ForAnyValue:StringEquals", "aws:PrincipalTag/owner", ("alice",), False),
        ("ForAllValues:StringEquals", "aws:PrincipalTag/owner", ("alice",), True),
        ("ForAnyValue:StringNotEquals", "aws:TagKeys", ("env",), True),
        ("StringEquals", "aws:SourceVpce", ("vpce-1a2b3c4d",), None),
        ("DateLessThan", "aws:CurrentTime", ("2027-01-01T00:00:00Z",), None),
        ("NumericLessThan", "aws:PrincipalTag/team", ("3",), None),
        ("IpAddressIfExists", "aws:SourceIp", ("203.0.113.0/24",), None),
    ],
    ids=["equals", "key-case-insensitive", "value-case-sensitive", "ignore-case", "not-equals", "like",
         "not-like", "absent-key", "absent-key-negated", "ifexists-absent", "ifexists-present-mismatch",
         "null-true-absent", "null-true-present", "null-false-present", "bool-false", "bool-true",
         "arn-like", "arn-not-equals", "arn-like-account-star", "for-any-value", "for-all-values-subset",
         "for-all-values-superset", "for-any-value-absent", "for-all-values-absent",
         "for-any-value-negated", "unknown-key", "date-unknown", "numeric-not-compared", "ip-unknown"],
)
def test_condition_evaluate_table(operator, key, values, expected):
    assert Condition(operator, key, values).evaluate(CONTEXT) is expected


def test_statement_keeps_undecided_conditions():
    doc = {
        "Statement": {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:PrincipalTag/team": "payments"},
                "IpAddress": {"aws:SourceIp": "203.0.113.0/24"},
            },
        }
    }

    statement = PolicyDocument.parse(doc, LABEL).statements[0]

    assert statement.evaluate_conditions(CONTEXT) == ("aws:SourceIp IpAddress 203.0.113.0/24",)


def test_statement_false_condition_drops_it():
    doc = {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "billing"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}}

    statement = PolicyDocument.parse(doc, LABEL).statements[0]

    assert statement.evaluate_conditions(CONTEXT) is None


@settings(max_examples=50)
@given(value=st.text(alphabet=string.ascii_letters + string.digits + ":/-_", min_size=1, max_size=20))
def test_string_like_star_matches_anything(value):
    context = RequestContext({"aws:PrincipalTag/team": value}, decidable_prefixes=("aws:PrincipalTag/",))

    assert Condition("StringLike", "aws:PrincipalTag/team", ("*",)).evaluate(context) is True
    assert Condition("StringNotLike", "aws:PrincipalTag/team", ("*",)).evaluate(context) is False
    assert Condition("StringEquals", "aws:PrincipalTag/team", (value,)).evaluate(context) is True


def test_condition_without_values_rejected() -> None:
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Null": {"aws:TokenIssueTime": []}}}]}

    with pytest.raises(PolicyError) as raised:
        PolicyDocument.parse(document, "inline:probe/empty")

    assert "condition Null aws:TokenIssueTime has no values" in str(raised.value)
