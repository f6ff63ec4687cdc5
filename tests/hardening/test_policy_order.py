"""IAM condition results do not depend on the order in which a policy lists condition values or keys.

The reordering property in test_properties.py covers this at random. These cases pin the two
faults it found: a condition line that followed the written order of values, and a `Null` test
with two values that read only the first.
"""

from __future__ import annotations

import pytest

from blastradius.semantics.iam_policy import Condition, PolicyDocument, RequestContext

SOURCE_IP = "aws:SourceIp"
PRINCIPAL_TAG = "aws:PrincipalTag/team"


def test_condition_values_sorted_in_description() -> None:
    condition = Condition("StringLike", "aws:PrincipalArn", ("arn:aws:iam::111122223333:role/deploy-*", "arn:aws:iam::111122223333:role/ci-*"))

    assert condition.describe() == (
        "aws:PrincipalArn StringLike arn:aws:iam::111122223333:role/ci-*, arn:aws:iam::111122223333:role/deploy-*"
    )


def test_undecided_conditions_sorted_by_description() -> None:
    document = PolicyDocument.parse({"Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
                                                   "Condition": {"IpAddress": {SOURCE_IP: "203.0.113.0/24"},
                                                                 "Bool": {"aws:MultiFactorAuthPresent": "true"}}}},
                                    "inline:ci/read")

    undecided = document.statements[0].evaluate_conditions(RequestContext({}))

    assert undecided == ("aws:MultiFactorAuthPresent Bool true", "aws:SourceIp IpAddress 203.0.113.0/24")


@pytest.mark.parametrize(("values", "tags", "expected"), [
    (("true", "false"), {}, True),
    (("false", "true"), {}, True),
    (("true", "false"), {PRINCIPAL_TAG: "payments"}, True),
    (("true",), {PRINCIPAL_TAG: "payments"}, False),
    (("false",), {}, False),
], ids=["both-absent", "both-reversed-absent", "both-present", "true-present", "false-absent"])
def test_null_values_ored(values: tuple[str, ...], tags: dict[str, str], expected: bool) -> None:
    condition = Condition("Null", PRINCIPAL_TAG, values)
    context = RequestContext(tags, decidable_prefixes=("aws:PrincipalTag/",))

    assert condition.evaluate(context) is expected
