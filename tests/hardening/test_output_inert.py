"""Every output of every command shows hostile names from a snapshot as inert text.

The estate (`tests.render.hostile_estate`) carries each payload as a User, a Group, an AWS secret,
a tag, an annotation and a coverage gap. Each table below gives, by hand, the exact form a payload
must take in one output format. A check for raw control characters guards the rest of the text.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import Result
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.snapshot import write_snapshot
from tests.graph import estate
from tests.render.hostile_estate import ESO_SUBJECT, PAYLOADS, write_hostile_snapshot

# What a terminal acts on: C0 controls except tab and line feed, DEL, C1 controls and the bidi override.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]")

TERMINAL = {
    "html": "<img src=x onerror=alert(1)>",
    "dot": 'dot"{x}\\N',
    "ansi": "\\x1b[31mred\\x1b[0m",
    "osc8": "\\x1b]8;;http://127.0.0.1/\\x07link\\x1b]8;;\\x07",
    "controls": "bell\\x07nul\\x00del\\x7fcsi\\x9brlo\\u202e",
    "newline": "one\\ntwo\\r\\nthree",
    "formula": '=HYPERLINK("http://127.0.0.1/")',
    "plus": "+SUM(1)",
    "minus": "-SUM(1)",
    "at": "@SUM(1)",
    "tab": "\\tSUM(1)",
    "cr": "\\rSUM(1)",
}
# A CSV cell keeps tab, line feed and carriage return, and gets `'` before a formula.
CSV = {
    "html": "<img src=x onerror=alert(1)>",
    "dot": 'dot"{x}\\N',
    "ansi": "\\x1b[31mred\\x1b[0m",
    "osc8": "\\x1b]8;;http://127.0.0.1/\\x07link\\x1b]8;;\\x07",
    "controls": "bell\\x07nul\\x00del\\x7fcsi\\x9brlo\\u202e",
    "newline": "one\ntwo\r\nthree",
    "formula": "'=HYPERLINK(\"http://127.0.0.1/\")",
    "plus": "'+SUM(1)",
    "minus": "'-SUM(1)",
    "at": "'@SUM(1)",
    "tab": "'\tSUM(1)",
    "cr": "'\rSUM(1)",
}
# Jinja2 autoescaping after the control characters became escapes; tab and newlines stay.
HTML = {
    "html": "&lt;img src=x onerror=alert(1)&gt;",
    "dot": "dot&#34;{x}\\N",
    "ansi": "\\x1b[31mred\\x1b[0m",
    "osc8": "\\x1b]8;;http://127.0.0.1/\\x07link\\x1b]8;;\\x07",
    "controls": "bell\\x07nul\\x00del\\x7fcsi\\x9brlo\\u202e",
    "newline": "one\ntwo\r\nthree",
    "formula": "=HYPERLINK(&#34;http://127.0.0.1/&#34;)",
    "plus": "+SUM(1)",
    "minus": "-SUM(1)",
    "at": "@SUM(1)",
    "tab": "\tSUM(1)",
    "cr": "\rSUM(1)",
}
# The DOT string of a secret's node label: backslashes doubled, double quotes escaped.
DOT = {
    "html": "<img src=x onerror=alert(1)>",
    "dot": 'dot\\"{x}\\\\N',
    "ansi": "\\\\x1b[31mred\\\\x1b[0m",
    "osc8": "\\\\x1b]8;;http://127.0.0.1/\\\\x07link\\\\x1b]8;;\\\\x07",
    "controls": "bell\\\\x07nul\\\\x00del\\\\x7fcsi\\\\x9brlo\\\\u202e",
    "newline": "one\\\\ntwo\\\\r\\\\nthree",
    "formula": '=HYPERLINK(\\"http://127.0.0.1/\\")',
    "plus": "+SUM(1)",
    "minus": "-SUM(1)",
    "at": "@SUM(1)",
    "tab": "\\\\tSUM(1)",
    "cr": "\\\\rSUM(1)",
}
# The text of a secret's node in Graphviz's SVG.
SVG = {
    "html": "&lt;img src=x onerror=alert(1)&gt;",
    "dot": "dot&quot;{x}\\N",
    "ansi": "\\x1b[31mred\\x1b[0m",
    "osc8": "\\x1b]8;;http://127.0.0.1/\\x07link\\x1b]8;;\\x07",
    "controls": "bell\\x07nul\\x00del\\x7fcsi\\x9brlo\\u202e",
    "newline": "one\\ntwo\\r\\nthree",
    "formula": "=HYPERLINK(&quot;http://127.0.0.1/&quot;)",
    "plus": "+SUM(1)",
    "minus": "&#45;SUM(1)",
    "at": "@SUM(1)",
    "tab": "\\tSUM(1)",
    "cr": "\\rSUM(1)",
}
# The secret's ARN as one shell word in the runbook.
SHELL = {
    "html": "'arn:aws:secretsmanager:us-east-1:111122223333:secret:<img src=x onerror=alert(1)>-AbCdEf'",
    "dot": "'arn:aws:secretsmanager:us-east-1:111122223333:secret:dot\"{x}\\N-AbCdEf'",
    "ansi": "$'arn:aws:secretsmanager:us-east-1:111122223333:secret:\\033[31mred\\033[0m-AbCdEf'",
    "osc8": "$'arn:aws:secretsmanager:us-east-1:111122223333:secret:\\033]8;;http://127.0.0.1/\\007link\\033]8;;\\007-AbCdEf'",
    "controls": "$'arn:aws:secretsmanager:us-east-1:111122223333:secret:bell\\007nul\\000del\\177csi\\302\\233rlo\\342\\200\\256-AbCdEf'",
    "newline": "$'arn:aws:secretsmanager:us-east-1:111122223333:secret:one\\012two\\015\\012three-AbCdEf'",
    "formula": "'arn:aws:secretsmanager:us-east-1:111122223333:secret:=HYPERLINK(\"http://127.0.0.1/\")-AbCdEf'",
    "plus": "'arn:aws:secretsmanager:us-east-1:111122223333:secret:+SUM(1)-AbCdEf'",
    "minus": "'arn:aws:secretsmanager:us-east-1:111122223333:secret:-SUM(1)-AbCdEf'",
    "at": "'arn:aws:secretsmanager:us-east-1:111122223333:secret:@SUM(1)-AbCdEf'",
    "tab": "$'arn:aws:secretsmanager:us-east-1:111122223333:secret:\\011SUM(1)-AbCdEf'",
    "cr": "$'arn:aws:secretsmanager:us-east-1:111122223333:secret:\\015SUM(1)-AbCdEf'",
}
KEYS = list(PAYLOADS)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Write the hostile snapshot, an empty earlier one for diff, and every report file once."""
    folder = tmp_path_factory.mktemp("hostile")
    paths = {"snapshot": write_hostile_snapshot(folder / "hostile.json.gz"),
             "old": write_snapshot(estate.snapshot([estate.namespace("app")], estate.account()), folder / "old.json.gz")}
    outputs = {"html": "report.html", "dot": "report.dot", "graphml": "report.graphml", "json": "report.json"}
    if shutil.which("dot"):
        outputs["svg"] = "report.svg"
    arguments = ["report", "-s", str(paths["snapshot"])]
    for option, name in outputs.items():
        paths[option] = folder / name
        arguments += [f"--{option}", str(paths[option])]
    paths["runbook"] = folder / "runbook.md"
    for command in (arguments, ["simulate", "eso-controller", "-s", str(paths["snapshot"]), "--runbook", str(paths["runbook"])]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 0, result.output
    return paths


@functools.cache
def invoke(arguments: tuple[str, ...]) -> Result:
    """Run a command once per module run: the parametrized tests read the same output."""
    return CliRunner().invoke(app, list(arguments))


def run(arguments: list[str], snapshot: Path, expected_exit: int = 0) -> str:
    """Return a command's stdout as written: click's `Result.stdout` would turn CR LF into LF."""
    result = invoke((*arguments, "-s", str(snapshot)))
    assert result.exit_code == expected_exit, result.output
    return result.stdout_bytes.decode("utf-8")


def run_diff(files: dict[str, Path], *options: str) -> str:
    result = invoke(("diff", str(files["old"]), str(files["snapshot"]), "--limit", "0", "--no-findings", *options))
    assert result.exit_code == 0, result.output
    return result.stdout_bytes.decode("utf-8")


def strings(document: Any) -> Iterator[str]:
    """Yield every string value of a parsed JSON document."""
    if isinstance(document, str):
        yield document
    elif isinstance(document, dict):
        for value in document.values():
            yield from strings(value)
    elif isinstance(document, list):
        for value in document:
            yield from strings(value)


# --- terminal tables -------------------------------------------------------------------------------

TABLE_COMMANDS = {
    "who-can": (["query", "who-can", "secret:app/db"], 0),
    "reach": (["query", "reach", ESO_SUBJECT], 0),
    "path": (["query", "path", "group:*", "secret:app/db"], 0),
    "simulate": (["simulate", "eso-controller"], 0),
    "audit": (["audit"], 1),
    "snapshot-show": (["snapshot", "show"], 0),
}


@pytest.mark.parametrize("command", list(TABLE_COMMANDS), ids=list(TABLE_COMMANDS))
def test_table_has_no_raw_controls(files: dict[str, Path], command: str) -> None:
    arguments, exit_code = TABLE_COMMANDS[command]
    if command == "snapshot-show":
        output = invoke((*arguments, str(files["snapshot"]))).stdout
    else:
        output = run(arguments, files["snapshot"], exit_code)

    assert RAW_CONTROL.findall(output) == []
    assert "\\x1b[31mred\\x1b[0m" in output


@pytest.mark.parametrize("key", KEYS, ids=KEYS)
def test_who_can_table_escapes_principal(files: dict[str, Path], key: str) -> None:
    output = run(["query", "who-can", "secret:app/db"], files["snapshot"])

    assert f"│ user:{TERMINAL[key]} " in output


@pytest.mark.parametrize("key", KEYS, ids=KEYS)
def test_diff_table_escapes_principal(files: dict[str, Path], key: str) -> None:
    output = run_diff(files)

    assert RAW_CONTROL.findall(output) == []
    assert f"│ user:{TERMINAL[key]} " in output


def test_error_message_escapes_reference(files: dict[str, Path]) -> None:
    result = CliRunner().invoke(app, ["query", "reach", "user:\x1b[31mnobody", "-s", str(files["snapshot"])])

    assert result.exit_code == 2
    assert RAW_CONTROL.findall(result.stderr) == []
    assert "user:\\x1b[31mnobody" in result.stderr


# --- CSV -------------------------------------------------------------------------------------------

CSV_COMMANDS = {
    "who-can": (["query", "who-can", "secret:app/db", "-o", "csv"], 0),
    "reach": (["query", "reach", ESO_SUBJECT, "-o", "csv"], 0),
    "path": (["query", "path", "group:*", "secret:app/db", "-o", "csv"], 0),
    "simulate": (["simulate", "eso-controller", "-o", "csv"], 0),
    "audit": (["audit", "-o", "csv"], 1),
}


@pytest.mark.parametrize("command", list(CSV_COMMANDS), ids=list(CSV_COMMANDS))
def test_csv_cells_never_start_formula(files: dict[str, Path], command: str) -> None:
    arguments, exit_code = CSV_COMMANDS[command]
    rows = list(csv.reader(io.StringIO(run(arguments, files["snapshot"], exit_code), newline="")))

    formulas = [cell for row in rows[1:] for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert len(rows) > 1
    assert formulas == []
    assert [cell for row in rows for cell in row if RAW_CONTROL.search(cell.replace("\r", ""))] == []


@pytest.mark.parametrize("key", KEYS, ids=KEYS)
def test_reach_csv_target_cell(files: dict[str, Path], key: str) -> None:
    output = run(["query", "reach", ESO_SUBJECT, "-o", "csv"], files["snapshot"])
    rows = list(csv.DictReader(io.StringIO(output, newline="")))

    targets = {row["target"] for row in rows if row["target_kind"] == "cloud_secret"}
    assert CSV[key] in targets


# --- JSON and SARIF --------------------------------------------------------------------------------

JSON_COMMANDS = {
    "who-can": (["query", "who-can", "secret:app/db", "-o", "json"], 0),
    "reach": (["query", "reach", ESO_SUBJECT, "-o", "json"], 0),
    "simulate": (["simulate", "eso-controller", "-o", "json"], 0),
    "audit": (["audit", "-o", "json"], 1),
    "sarif": (["audit", "-o", "sarif"], 1),
}


@pytest.mark.parametrize("command", list(JSON_COMMANDS), ids=list(JSON_COMMANDS))
def test_json_keeps_exact_names(files: dict[str, Path], command: str) -> None:
    arguments, exit_code = JSON_COMMANDS[command]
    output = run(arguments, files["snapshot"], exit_code)
    values = "\n".join(strings(json.loads(output)))

    assert RAW_CONTROL.findall(output) == []
    assert [key for key, text in PAYLOADS.items() if text not in values] == []


def test_report_json_keeps_exact_names(files: dict[str, Path]) -> None:
    text = files["json"].read_text(encoding="utf-8")
    names = {node["name"] for node in json.loads(text)["nodes"]}

    assert RAW_CONTROL.findall(text) == []
    assert [key for key, payload in PAYLOADS.items() if payload not in names] == []


# --- HTML, DOT, SVG, GraphML -----------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS, ids=KEYS)
def test_report_html_escapes_gap_message(files: dict[str, Path], key: str) -> None:
    page = files["html"].read_bytes().decode("utf-8")

    assert f"kubernetes:test: {HTML[key]} in namespace app is unknown" in page
    assert RAW_CONTROL.findall(page.replace("\r", "")) == []
    assert "<img" not in page


def test_report_html_picture_data_is_json(files: dict[str, Path]) -> None:
    page = files["html"].read_text(encoding="utf-8")

    assert '"name": "\\u003cimg src=x onerror=alert(1)\\u003e"' in page


@pytest.mark.parametrize("key", KEYS, ids=KEYS)
def test_diff_html_escapes_principal(files: dict[str, Path], key: str) -> None:
    page = run_diff(files, "-o", "html")

    assert f"<td><code>user:{HTML[key]}</code></td>" in page
    assert "<img" not in page


@pytest.mark.parametrize("key", KEYS, ids=KEYS)
def test_diff_markdown_code_span(files: dict[str, Path], key: str) -> None:
    output = run_diff(files, "-o", "markdown")

    assert f"| `user:{TERMINAL[key]}` |" in output
    assert RAW_CONTROL.findall(output) == []


@pytest.mark.parametrize("key", KEYS, ids=KEYS)
def test_dot_secret_label(files: dict[str, Path], key: str) -> None:
    source = files["dot"].read_text(encoding="utf-8")

    assert f'[label="{DOT[key]}" color="#b91c1c"' in source
    assert RAW_CONTROL.findall(source) == []


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
@pytest.mark.parametrize("key", KEYS, ids=KEYS)
def test_svg_secret_text(files: dict[str, Path], key: str) -> None:
    drawing = files["svg"].read_text(encoding="utf-8")

    assert f'font-size="11.00">{SVG[key]}</text>' in drawing
    assert RAW_CONTROL.findall(drawing) == []


def test_graphml_parses_as_xml(files: dict[str, Path]) -> None:
    root = ElementTree.parse(files["graphml"]).getroot()
    ids = {node.get("id") for node in root.iter("{http://graphml.graphdrawing.org/xmlns}node")}

    assert "k8s:test:user:\\x1b[31mred\\x1b[0m" in ids
    assert "k8s:test:user:one\ntwo\r\nthree" in ids


# --- runbook ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS, ids=KEYS)
def test_runbook_quotes_secret_arn(files: dict[str, Path], key: str) -> None:
    runbook = files["runbook"].read_text(encoding="utf-8")

    assert f"aws secretsmanager put-secret-value --region us-east-1 --secret-id {SHELL[key]} " in runbook
    assert RAW_CONTROL.findall(runbook) == []
