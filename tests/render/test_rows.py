"""Tests for the row renderers: the terminal table, JSON and CSV of a small query result."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console

from blastradius.queries.common import QueryResult
from blastradius.render.rows import flat_rows, render_csv, render_json, render_table

DB_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:production/database/credentials-a1B2c3"
MFA = "aws:MultiFactorAuthPresent Bool true"
SOURCE_IP = "aws:SourceIp IpAddress 203.0.113.0/24"
WHO_CAN_COLUMNS = ["principal", "target", "capability", "hops", "conditions", "path"]


def step(source: str, kind: str, target: str, *, conditions: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"from": source, "from_id": f"id:{source}", "to": target, "to_id": f"id:{target}", "kind": kind,
            "reason": f"{source} {kind} {target}", "conditions": list(conditions),
            "evidence": {"binding": "RoleBinding payments/dev-team"}}


def row(principal: str, target: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """A who-can row in the shape `reach_row` builds, with the path text made from `steps`."""
    conditions = [condition for item in steps for condition in item["conditions"]]
    path = " ".join([steps[0]["from"], *(f"-[{item['kind']}]-> {item['to']}" for item in steps)])
    return {"principal": principal, "principal_kind": "group", "principal_id": f"id:{principal}",
            "target": target, "target_kind": "secret", "target_id": f"id:{target}",
            "capability": "read", "hops": len(steps), "conditional": bool(conditions), "conditions": conditions,
            "path": path, "steps": steps}


DEV_TEAM_ROW = row("group:dev-team", "secret:payments/db", [
    step("group:dev-team", "rbac_read_secrets", "every Secret of namespace payments"),
    step("every Secret of namespace payments", "contains", "secret:payments/db"),
])
OPS_ADMIN_ROW = row("user/ops-admin", "production/database/credentials", [
    step("user/ops-admin", "sts_assume", "role/admin", conditions=(MFA, SOURCE_IP)),
    step("role/admin", "iam_read_secret", "production/database/credentials"),
])
NOTE = "results may be incomplete: secrets in namespace kube-system could not be read at collection (forbidden: HTTP 403)"
HIDDEN = "1 row(s) of trusted principals hidden; pass --all to show them"


def result(*rows: dict[str, Any], query: str = "who-can", reference: str = "secret:*", message: str | None = HIDDEN,
           notes: tuple[str, ...] = (NOTE,), columns: list[str] | None = None) -> QueryResult:
    return QueryResult(query, reference, columns or WHO_CAN_COLUMNS, list(rows), list(notes), message)


def table_text(query_result: QueryResult, width: int = 160) -> str:
    console = Console(record=True, width=width, color_system=None, file=io.StringIO())
    render_table(query_result, console)
    return console.export_text()


# --- Table -------------------------------------------------------------------------------------------


def test_table_exact_text() -> None:
    text = table_text(result(DEV_TEAM_ROW, OPS_ADMIN_ROW), width=130)

    assert [line.rstrip() for line in text.splitlines()] == [
        "who-can secret:*",
        "┏━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓",
        "┃ principal     ┃ target       ┃ capability ┃ hops ┃ conditions    ┃ path                                                        ┃",
        "┡━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩",
        "│ group:dev-tea │ secret:payme │ read       │ 2    │               │ group:dev-team                                              │",
        "│ m             │ nts/db       │            │      │               │   -[rbac_read_secrets]-> every Secret of namespace payments │",
        "│               │              │            │      │               │   -[contains]-> secret:payments/db                          │",
        "├───────────────┼──────────────┼────────────┼──────┼───────────────┼─────────────────────────────────────────────────────────────┤",
        "│ user/ops-admi │ production/d │ read       │ 2    │ aws:MultiFact │ user/ops-admin                                              │",
        "│ n             │ atabase/cred │            │      │ orAuthPresent │   -[sts_assume]-> role/admin                                │",
        "│               │ entials      │            │      │  Bool true;   │   -[iam_read_secret]-> production/database/credentials      │",
        "│               │              │            │      │ aws:SourceIp  │                                                             │",
        "│               │              │            │      │ IpAddress     │                                                             │",
        "│               │              │            │      │ 203.0.113.0/2 │                                                             │",
        "│               │              │            │      │ 4             │                                                             │",
        "└───────────────┴──────────────┴────────────┴──────┴───────────────┴─────────────────────────────────────────────────────────────┘",
        HIDDEN,
        f"note: {NOTE}",
    ]


def test_table_one_target_in_title() -> None:
    text = table_text(result(DEV_TEAM_ROW))

    assert text.splitlines()[0].rstrip() == "who-can secret:payments/db"
    assert "target" not in text.splitlines()[2]
    assert "┃ principal      ┃ capability ┃ hops ┃ conditions ┃ path" in text


def test_table_reach_keeps_target_column() -> None:
    reach_row = {**DEV_TEAM_ROW, "scope": "test/payments"}
    columns = ["scope", "target", "target_kind", "capability", "hops", "conditions", "path"]

    text = table_text(result(reach_row, query="reach", reference="group:dev-team", columns=columns))

    assert text.splitlines()[0].rstrip() == "reach group:dev-team"
    assert [cell.strip() for cell in text.splitlines()[2].split("┃")[1:-1]] == columns


def test_table_narrow_console_keeps_path() -> None:
    """A terminal narrower than a path wraps the path column instead of cutting it off."""
    lines = table_text(result(OPS_ADMIN_ROW, message=None, notes=()), width=90).splitlines()

    assert all(len(line) <= 90 for line in lines)
    assert all(line.rstrip()[-1] in "┓┃┩│┘" for line in lines[1:])
    path_cells = "".join(line.split("│")[-2] for line in lines[4:-1])
    assert "".join(path_cells.split()) == "".join(OPS_ADMIN_ROW["path"].split())


def test_table_message_without_rows() -> None:
    text = table_text(result(message="no principal can obtain secret:payments/db", notes=()))

    assert text == "no principal can obtain secret:payments/db\n"


def test_table_prints_markup_literally() -> None:
    hostile = row("[red]mallory[/red]", "secret:payments/<b>db</b>", [
        step("[red]mallory[/red]", "rbac_read_secrets", "[bold]every Secret[/]"),
        step("[bold]every Secret[/]", "contains", "secret:payments/<b>db</b>"),
    ])

    text = table_text(result(hostile, message="no principal can obtain [/]", notes=("gap in [link=x]ns[/link]",)))

    assert "[red]mallory[/red]" in text
    assert "  -[rbac_read_secrets]-> [bold]every Secret[/]" in text
    assert "secret:payments/<b>db</b>" in text
    assert "no principal can obtain [/]\n" in text
    assert "note: gap in [link=x]ns[/link]\n" in text


# --- JSON --------------------------------------------------------------------------------------------


def test_json_top_level_keys() -> None:
    document = json.loads(render_json(result(DEV_TEAM_ROW)))

    assert list(document) == ["coverage_notes", "message", "query", "reference", "rows"]
    assert document["query"] == "who-can"
    assert document["reference"] == "secret:*"
    assert document["message"] == HIDDEN
    assert document["coverage_notes"] == [NOTE]


def test_json_row_keys_and_steps() -> None:
    document = json.loads(render_json(result(OPS_ADMIN_ROW)))

    assert sorted(document["rows"][0]) == [
        "capability", "conditional", "conditions", "hops", "path", "principal", "principal_id", "principal_kind",
        "steps", "target", "target_id", "target_kind",
    ]
    assert document["rows"][0]["conditions"] == [MFA, SOURCE_IP]
    assert document["rows"][0]["steps"][0] == {
        "conditions": [MFA, SOURCE_IP], "evidence": {"binding": "RoleBinding payments/dev-team"},
        "from": "user/ops-admin", "from_id": "id:user/ops-admin", "kind": "sts_assume",
        "reason": "user/ops-admin sts_assume role/admin", "to": "role/admin", "to_id": "id:role/admin",
    }


def test_json_round_trips_result() -> None:
    query_result = result(DEV_TEAM_ROW, OPS_ADMIN_ROW)

    assert json.loads(render_json(query_result)) == query_result.to_dict()


def test_json_null_message() -> None:
    assert json.loads(render_json(result(DEV_TEAM_ROW, message=None)))["message"] is None


# --- CSV ---------------------------------------------------------------------------------------------

CSV_HEADER = ["principal", "target", "capability", "hops", "conditions", "path",
              "principal_kind", "principal_id", "target_kind", "target_id", "conditional"]


def csv_rows(query_result: QueryResult) -> list[list[str]]:
    return list(csv.reader(io.StringIO(render_csv(query_result))))


def test_csv_header_order() -> None:
    assert csv_rows(result(DEV_TEAM_ROW))[0] == CSV_HEADER


def test_csv_exact_rows() -> None:
    rows = csv_rows(result(DEV_TEAM_ROW, OPS_ADMIN_ROW))

    assert rows[1:] == [
        ["group:dev-team", "secret:payments/db", "read", "2", "",
         "group:dev-team -[rbac_read_secrets]-> every Secret of namespace payments -[contains]-> secret:payments/db",
         "group", "id:group:dev-team", "secret", "id:secret:payments/db", "False"],
        ["user/ops-admin", "production/database/credentials", "read", "2", f"{MFA}; {SOURCE_IP}",
         "user/ops-admin -[sts_assume]-> role/admin -[iam_read_secret]-> production/database/credentials",
         "group", "id:user/ops-admin", "secret", "id:production/database/credentials", "True"],
    ]


def test_csv_leaves_out_steps_and_evidence() -> None:
    header = csv_rows(result(DEV_TEAM_ROW))[0]

    assert "steps" not in header
    assert "evidence" not in header


def test_csv_path_rows_drop_evidence() -> None:
    """Path rows are steps: their `evidence` object has no CSV cell, the other fields do."""
    path_row = {"step": 1, **OPS_ADMIN_ROW["steps"][0]}
    columns = ["step", "from", "kind", "to", "reason"]

    rows = csv_rows(result(path_row, query="path", reference="user/ops-admin -> role/admin", columns=columns))

    assert rows == [
        ["step", "from", "kind", "to", "reason", "from_id", "to_id", "conditions"],
        ["1", "user/ops-admin", "sts_assume", "role/admin", "user/ops-admin sts_assume role/admin",
         "id:user/ops-admin", "id:role/admin", f"{MFA}; {SOURCE_IP}"],
    ]


def test_csv_without_rows_is_header() -> None:
    assert render_csv(result(message="no principal can obtain secret:payments/db")) == ",".join(WHO_CAN_COLUMNS) + "\r\n"


def test_csv_none_is_empty_cell() -> None:
    assert flat_rows(result({**DEV_TEAM_ROW, "principal_kind": None}))[0]["principal_kind"] == ""


def test_csv_quotes_markup_and_commas() -> None:
    hostile = {**DEV_TEAM_ROW, "principal": "[red]mallory, <b>admin</b>[/red]"}

    assert csv_rows(result(hostile))[1][0] == "[red]mallory, <b>admin</b>[/red]"


def test_compact_json_same_document():
    query_result = result(DEV_TEAM_ROW)
    compact = render_json(query_result, pretty=False)
    assert "\n" not in compact
    assert json.loads(compact) == json.loads(render_json(query_result))
