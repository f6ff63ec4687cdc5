"""Tests for `blastradius query who-can|reach|path`, driven through typer's CliRunner on the example estate."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Callable

import pytest
from click.testing import Result
from typer.testing import CliRunner

from blastradius.cli.app import app

CANARY = "CANARY-do-not-store-7f3a9c"
REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "snapshots" / "example"
DB = "production/database/credentials"
HEADLINE_CHAIN = ("group:dev-team -[eso_pull]-> ExternalSecrets in namespace dev-sandbox -[eso_store_admits]-> "
                  "clustersecretstore:aws-global -[eso_acts_as]-> role/eso-global -[iam_read_secret]-> "
                  "production/database/credentials")

WHO_CAN = ["who-can", DB]
REACH = ["reach", "group:dev-team"]
PATH = ["path", "group:dev-team", DB]


@pytest.fixture(scope="module")
def example_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("snapshots") / "example.json.gz"
    result = CliRunner().invoke(app, ["collect", "--manifests", str(EXAMPLE / "k8s"), "--aws-json", str(EXAMPLE / "aws.json"),
                                      "--cluster-name", "example", "-o", str(output)])
    assert result.exit_code == 0, result.stderr
    return output


def query(snapshot: Path, *arguments: str) -> Result:
    return CliRunner().invoke(app, ["query", *arguments, "-s", str(snapshot)])


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- Every command in every format -------------------------------------------------------------------


def check_who_can_table(stdout: str) -> None:
    assert stdout.startswith(f"who-can {DB}")
    assert "│ group:dev-team " in stdout
    assert "│   -[eso_store_admits]-> clustersecretstore:aws-global" in stdout


def check_who_can_json(stdout: str) -> None:
    document = json.loads(stdout)
    rows = {row["principal"]: row for row in document["rows"]}
    assert (document["query"], document["reference"], document["message"]) == ("who-can", DB, None)
    assert len(rows) == 15
    assert rows["group:dev-team"]["path"] == HEADLINE_CHAIN
    assert rows["group:dev-team"]["hops"] == 4


def check_who_can_csv(stdout: str) -> None:
    assert stdout.splitlines()[0] == ("principal,target,capability,hops,conditions,path,"
                                      "principal_kind,principal_id,target_kind,target_id,conditional")
    rows = {row["principal"]: row for row in csv_rows(stdout)}
    assert rows["group:dev-team"]["path"] == HEADLINE_CHAIN
    assert rows["user/ops-admin"]["conditions"] == "aws:MultiFactorAuthPresent Bool true"


def check_reach_table(stdout: str) -> None:
    assert stdout.startswith("reach group:dev-team")
    assert "│ aws:111122223333 " in stdout
    assert "│ example/dev-sandbox " in stdout


def check_reach_json(stdout: str) -> None:
    document = json.loads(stdout)
    assert (document["query"], document["reference"]) == ("reach", "group:dev-team")
    assert len(document["rows"]) == 19
    assert {row["scope"] for row in document["rows"]} == {
        "aws:111122223333", "example/dev-sandbox", "example/production", "example/staging"}
    assert [row["path"] for row in document["rows"] if row["target"] == DB] == [HEADLINE_CHAIN]


def check_reach_csv(stdout: str) -> None:
    assert stdout.splitlines()[0].startswith("scope,target,target_kind,capability,hops,conditions,path,")
    assert [(row["target"], row["capability"]) for row in csv_rows(stdout) if row["scope"] == "example/dev-sandbox"] == [
        ("system:serviceaccount:dev-sandbox:default", "act-as"),
        ("secret:dev-sandbox/shared-config", "overwrite"),
        ("secret:dev-sandbox/shared-config", "read"),
    ]


def check_path_table(stdout: str) -> None:
    assert stdout.startswith(f"path group:dev-team -> {DB}")
    assert "│ 4    │ role/eso-global " in stdout
    assert f"group:dev-team can obtain {DB} in 4 step(s)" in stdout


def check_path_json(stdout: str) -> None:
    document = json.loads(stdout)
    assert document["message"] == f"group:dev-team can obtain {DB} in 4 step(s)"
    assert [(row["step"], row["kind"]) for row in document["rows"]] == [
        (1, "eso_pull"), (2, "eso_store_admits"), (3, "eso_acts_as"), (4, "iam_read_secret")]


def check_path_csv(stdout: str) -> None:
    assert stdout.splitlines()[0] == "step,from,kind,to,reason,from_id,to_id,conditions"
    assert [(row["step"], row["to"]) for row in csv_rows(stdout)] == [
        ("1", "ExternalSecrets in namespace dev-sandbox"), ("2", "clustersecretstore:aws-global"),
        ("3", "role/eso-global"), ("4", DB)]


COMMAND_FORMATS = [
    pytest.param(WHO_CAN, "table", check_who_can_table, id="who-can-table"),
    pytest.param(WHO_CAN, "json", check_who_can_json, id="who-can-json"),
    pytest.param(WHO_CAN, "csv", check_who_can_csv, id="who-can-csv"),
    pytest.param(REACH, "table", check_reach_table, id="reach-table"),
    pytest.param(REACH, "json", check_reach_json, id="reach-json"),
    pytest.param(REACH, "csv", check_reach_csv, id="reach-csv"),
    pytest.param(PATH, "table", check_path_table, id="path-table"),
    pytest.param(PATH, "json", check_path_json, id="path-json"),
    pytest.param(PATH, "csv", check_path_csv, id="path-csv"),
]


@pytest.mark.parametrize(("arguments", "output", "check"), COMMAND_FORMATS)
def test_query_command_output(example_snapshot: Path, arguments: list[str], output: str,
                              check: Callable[[str], None]) -> None:
    result = query(example_snapshot, *arguments, "-o", output)

    assert result.exit_code == 0, result.stderr
    check(result.stdout)
    assert CANARY not in result.stdout


def test_query_default_format_table(example_snapshot: Path) -> None:
    result = query(example_snapshot, *WHO_CAN)

    lines = result.stdout.splitlines()
    assert result.exit_code == 0
    assert lines[0].rstrip() == f"who-can {DB}"
    assert lines[1].startswith("┏")


def test_query_warnings_on_stderr(example_snapshot: Path) -> None:
    result = query(example_snapshot, *REACH, "-o", "json")

    assert result.stderr.startswith("WARNING blastradius.cli.common: cluster example: no OIDC issuer recorded")
    assert json.loads(result.stdout)["query"] == "reach"


# --- Options -----------------------------------------------------------------------------------------


def test_who_can_overwrite_option(example_snapshot: Path) -> None:
    result = query(example_snapshot, "who-can", "secret:production/payments-api-key", "--overwrite", "-o", "json")

    assert result.exit_code == 0
    assert [(row["principal"], row["capability"]) for row in json.loads(result.stdout)["rows"]] == [
        ("role/admin", "overwrite"), ("group:sre", "overwrite"), ("group:system:masters", "overwrite"),
        ("system:serviceaccount:external-secrets:external-secrets", "overwrite"), ("user/ops-admin", "overwrite"),
    ]


def test_who_can_repeated_kind(example_snapshot: Path) -> None:
    result = query(example_snapshot, *WHO_CAN, "--kind", "group", "--kind", "user", "-o", "json")

    assert result.exit_code == 0
    assert [row["principal"] for row in json.loads(result.stdout)["rows"]] == [
        "group:sre", "group:system:masters", "group:dev-team"]


def test_who_can_config_hides_trusted(example_snapshot: Path) -> None:
    result = query(example_snapshot, *WHO_CAN, "--config", str(EXAMPLE / "blastradius.toml"), "-o", "json")

    document = json.loads(result.stdout)
    assert result.exit_code == 0
    assert "group:system:masters" not in {row["principal"] for row in document["rows"]}
    assert document["message"] == "1 row(s) of trusted principals hidden; pass --all to show them"


def test_who_can_all_shows_trusted(example_snapshot: Path) -> None:
    result = query(example_snapshot, *WHO_CAN, "--config", str(EXAMPLE / "blastradius.toml"), "--all", "-o", "json")

    document = json.loads(result.stdout)
    assert "group:system:masters" in {row["principal"] for row in document["rows"]}
    assert document["message"] is None


def test_who_can_via_lists_paths(example_snapshot: Path) -> None:
    result = query(example_snapshot, *WHO_CAN, "--via", "--kind", "group", "-o", "json")

    rows = [row for row in json.loads(result.stdout)["rows"] if row["principal"] == "group:sre"]
    assert result.exit_code == 0
    assert [row["hops"] for row in rows] == [3, 3, 4, 4, 4, 4, 4, 4, 4, 5]
    assert len({row["path"] for row in rows}) == len(rows)


def test_path_no_path_message(example_snapshot: Path) -> None:
    result = query(example_snapshot, "path", "user:alice@example.com", DB, "-o", "json")

    document = json.loads(result.stdout)
    assert result.exit_code == 0
    assert document["rows"] == []
    assert document["message"] == (f"no path from user:alice@example.com to {DB}: "
                                   "user:alice@example.com reaches nothing that leads towards it")


def test_reach_cluster_option(example_snapshot: Path) -> None:
    result = query(example_snapshot, *REACH, "--cluster", "example", "-o", "json")

    assert result.exit_code == 0
    assert len(json.loads(result.stdout)["rows"]) == 19


# --- Errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arguments", [
    pytest.param(["who-can", "production/database/credential"], id="who-can"),
    pytest.param(["reach", "group:dev-teams"], id="reach"),
    pytest.param(["path", "group:dev-team", "secret:production/database-credential"], id="path"),
])
def test_unknown_reference_exit_2(example_snapshot: Path, arguments: list[str]) -> None:
    result = query(example_snapshot, *arguments)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "closest matches: " in result.stderr


def test_unknown_reference_names_closest(example_snapshot: Path) -> None:
    result = query(example_snapshot, "reach", "group:dev-teams")

    assert result.stderr.splitlines()[-1] == ("error: no node matches 'group:dev-teams'; closest matches: "
                                              "group:dev-team, group:sre, group:system:masters")


def test_unknown_cluster_exit_2(example_snapshot: Path) -> None:
    result = query(example_snapshot, *WHO_CAN, "--cluster", "prod")

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "error: unknown cluster 'prod'; the snapshot has: example"


def test_missing_snapshot_names_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json.gz"

    result = query(missing, *WHO_CAN)

    assert result.exit_code == 2
    assert result.stderr == f"error: {missing}: snapshot file not found\n"


def test_corrupt_snapshot_names_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{not json", encoding="utf-8")

    result = query(corrupt, *REACH)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {corrupt}: not a blastradius snapshot: invalid JSON")


def test_invalid_config_value_exit_2(example_snapshot: Path, tmp_path: Path) -> None:
    config = tmp_path / "blastradius.toml"
    config.write_text('trusted_principals = "group:system:masters"\n', encoding="utf-8")

    result = query(example_snapshot, *WHO_CAN, "--config", str(config))

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (f"error: {config}: trusted_principals must be a list of strings, "
                                              "got 'group:system:masters'")


def test_missing_config_exit_2(example_snapshot: Path, tmp_path: Path) -> None:
    config = tmp_path / "absent.toml"

    result = query(example_snapshot, *WHO_CAN, "--config", str(config))

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"error: {config}: configuration file not found"


def test_invalid_kind_rejected(example_snapshot: Path) -> None:
    result = query(example_snapshot, *WHO_CAN, "--kind", "robot")

    assert result.exit_code == 2
    assert "Invalid value for '--kind'" in result.stderr
    assert "'robot' is not one of" in result.stderr
