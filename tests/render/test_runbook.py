"""The incident runbook: exact commands for a small estate, shell quoting, and no secret value."""

from __future__ import annotations

import dataclasses
import json
import shlex

import pytest

from blastradius.graph.model import CapabilityGraph
from blastradius.queries.incident import ExternalSecretSync
from blastradius.queries.simulate import simulate
from blastradius.render.runbook import DENY_ALL_POLICY, render_runbook
from tests.graph import estate
from tests.semantics import iam_fixtures as aws

# IAM role names may contain `+=,.@-`: the runbook must pass such a name as one argument, unchanged.
ROLE = "app+reader=1,a.b@c-d"
ROLE_ARN = aws.role_arn(ROLE)
USER_ARN = aws.user_arn("ci-bot")
DB_ARN = aws.secret_arn("app/db")
API_ARN = aws.secret_arn("app/api")
DENY_POLICY = "'" + json.dumps(DENY_ALL_POLICY) + "'"


def _rotating_secret(name: str) -> dict:
    entry = aws.secret(name)
    entry["rotation_enabled"] = True
    entry["rotation_days"] = 30
    return entry


@pytest.fixture(scope="module")
def graph() -> CapabilityGraph:
    objects = [
        *estate.eso_controller(),
        estate.namespace("app"),
        estate.service_account("app", "eso-app", role=ROLE),
        estate.secret_store("app", "aws-app", estate.aws_provider(service_account=("app", "eso-app"))),
        estate.external_secret("app", "db-sync", ("SecretStore", "aws-app"), key="app/db", target="db"),
        estate.secret("app", "db"),
        estate.secret("app", "manual"),
        *estate.grant("app", estate.user_subject("alice@example.com"), estate.READ_SECRETS, name="secret-reader"),
    ]
    account = estate.account(
        secrets=("app/api",),
        secret_entries=(_rotating_secret("app/db"),),
        roles=(estate.irsa_role(ROLE, "system:serviceaccount:app:eso-app", "app/*"),),
        users=(aws.user("ci-bot", inline={"ci-bot-read": estate.read_policy("app/api*")}),),
    )
    return estate.build(objects, account)


def commands(runbook: str) -> list[str]:
    """Return the lines inside the runbook's sh code blocks."""
    lines, inside = [], False
    for line in runbook.splitlines():
        if line.startswith("```"):
            inside = line == "```sh"
            continue
        if inside:
            lines.append(line)
    return lines


@pytest.fixture(scope="module")
def role_runbook(graph: CapabilityGraph) -> list[str]:
    return commands(render_runbook(simulate(graph, ROLE_ARN)))


@pytest.mark.parametrize("expected", [
    pytest.param(f"aws iam put-role-policy --role-name {ROLE} --policy-name blastradius-incident-deny-all "
                 f"--policy-document {DENY_POLICY}", id="contain-role"),
    pytest.param(f'aws cloudtrail lookup-events --region us-east-1 --lookup-attributes '
                 f'AttributeKey=ResourceName,AttributeValue={ROLE_ARN} --start-time "$START"', id="investigate-role"),
    pytest.param(f'aws cloudtrail lookup-events --region us-east-1 --lookup-attributes '
                 f'AttributeKey=ResourceName,AttributeValue={DB_ARN} --start-time "$START" '
                 "--query 'Events[?EventName==`GetSecretValue`]'", id="investigate-secret"),
    pytest.param(f"aws secretsmanager rotate-secret --region us-east-1 --secret-id {DB_ARN}", id="rotate-enabled"),
    pytest.param(f"aws secretsmanager put-secret-value --region us-east-1 --secret-id {API_ARN} "
                 "--secret-string file://new-value.json", id="rotate-manual"),
    pytest.param(f"aws iam create-role --role-name {ROLE}-v2 --assume-role-policy-document file://{ROLE}-trust.json",
                 id="replacement-role"),
    pytest.param(f"kubectl annotate serviceaccount -n app eso-app eks.amazonaws.com/role-arn={ROLE_ARN}-v2 --overwrite",
                 id="reannotate"),
    pytest.param("kubectl annotate externalsecret -n app db-sync force-sync=$(date +%s) --overwrite", id="force-sync"),
    pytest.param(f"aws iam get-role-policy --role-name {ROLE} --policy-name blastradius-incident-deny-all", id="verify"),
])
def test_runbook_role_commands(role_runbook: list[str], expected: str) -> None:
    assert expected in role_runbook


def test_runbook_rotates_only_exposed_secrets(role_runbook: list[str]) -> None:
    rotations = [line for line in role_runbook if line.startswith(("aws secretsmanager rotate-secret", "aws secretsmanager put-"))]

    assert len(rotations) == 2


def test_runbook_deny_policy_is_one_argument(role_runbook: list[str]) -> None:
    line = next(line for line in role_runbook if line.startswith("aws iam put-role-policy"))
    argv = shlex.split(line)

    assert argv[argv.index("--role-name") + 1] == ROLE
    assert json.loads(argv[-1]) == DENY_ALL_POLICY


def test_runbook_commands_split_cleanly(role_runbook: list[str]) -> None:
    for line in role_runbook:
        assert shlex.split(line)


def test_runbook_user_contain_commands(graph: CapabilityGraph) -> None:
    lines = commands(render_runbook(simulate(graph, USER_ARN)))

    assert lines[:3] == [
        f"aws iam put-user-policy --user-name ci-bot --policy-name blastradius-incident-deny-all --policy-document {DENY_POLICY}",
        "aws iam list-access-keys --user-name ci-bot",
        "aws iam update-access-key --user-name ci-bot --access-key-id <ACCESS_KEY_ID> --status Inactive",
    ]


def test_runbook_subject_revokes_binding(graph: CapabilityGraph) -> None:
    runbook = render_runbook(simulate(graph, "user:alice@example.com"))

    assert "kubectl delete rolebinding -n app -- secret-reader" in commands(runbook)
    assert "kubectl auth can-i --list --as=alice@example.com" in commands(runbook)
    assert "`app/manual` (type Opaque): issue a new value" in runbook


def test_runbook_quotes_odd_names(graph: CapabilityGraph) -> None:
    simulation = simulate(graph, ROLE_ARN)
    odd = ExternalSecretSync("test", "team a", "db;rm -rf ~", "db", ("its Secret is exposed",))
    simulation.response = dataclasses.replace(simulation.response, external_secrets=[odd])

    lines = commands(render_runbook(simulation))

    assert "kubectl annotate externalsecret -n 'team a' 'db;rm -rf ~' force-sync=$(date +%s) --overwrite" in lines


def test_runbook_etcd_lists_windows(graph: CapabilityGraph) -> None:
    runbook = render_runbook(simulate(graph, "etcd"))

    assert "| secret:app/db | up to 1h before the backup |" in runbook
    assert "| secret:app/manual | unknown: not managed by External Secrets |" in runbook


@pytest.mark.parametrize("reference", ["etcd", "eso-controller", ROLE_ARN, "user:alice@example.com"])
def test_runbook_has_no_canary(graph: CapabilityGraph, reference: str) -> None:
    assert estate.CANARY not in render_runbook(simulate(graph, reference))


def test_runbook_binding_name_kept_whole() -> None:
    odd = "-edit for $(whoami) ```"
    graph = estate.build([
        estate.namespace("app"),
        estate.secret("app", "manual"),
        *estate.grant("app", estate.user_subject("bob"), estate.READ_SECRETS, name=odd),
    ])

    runbook = render_runbook(simulate(graph, "user:bob"))

    assert f"kubectl delete rolebinding -n app -- {shlex.quote(odd)}" in runbook.splitlines()
    assert "````sh" in runbook
