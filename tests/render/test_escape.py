"""Tests for the escaping of snapshot text per output format."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess

import pytest

from blastradius.cli.app import configure_logging
from blastradius.render.escape import (
    csv_cell,
    data_text,
    json_controls_escaped,
    markdown_code,
    markdown_text,
    shell_quote,
    terminal_text,
)
from tests.render.hostile_estate import PAYLOADS

TERMINAL_CASES = [
    ("plain", "group:dev-team", "group:dev-team"),
    ("ansi", "\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("newlines", "a\nb\r\nc\td", "a\\nb\\r\\nc\\td"),
    ("c1-csi", "x\x9b31m", "x\\x9b31m"),
    ("bidi", "admin\u202etxt.exe", "admin\\u202etxt.exe"),
    ("line-separator", "a\u2028b", "a\\u2028b"),
    ("lone-surrogate", "a\ud800b", "a\\ud800b"),
    ("unicode-kept", "équipe-données", "équipe-données"),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in TERMINAL_CASES], ids=[case[0] for case in TERMINAL_CASES])
def test_terminal_text_escapes_controls(text: str, expected: str) -> None:
    assert terminal_text(text) == expected


def test_data_text_keeps_whitespace() -> None:
    assert data_text("a\tb\nc\r\x1b[0m\x00") == "a\tb\nc\r\\x1b[0m\\x00"


CSV_CASES = [
    ("equals", "=1+1", "'=1+1"),
    ("plus", "+1", "'+1"),
    ("minus", "-1", "'-1"),
    ("at", "@SUM(A1)", "'@SUM(A1)"),
    ("tab", "\tx", "'\tx"),
    ("carriage-return", "\rx", "'\rx"),
    ("inside", "group:=x", "group:=x"),
    ("escape", "\x1b[31m", "\\x1b[31m"),
    ("empty", "", ""),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in CSV_CASES], ids=[case[0] for case in CSV_CASES])
def test_csv_cell_defuses_formulas(text: str, expected: str) -> None:
    assert csv_cell(text) == expected


def test_markdown_text_escapes_markup() -> None:
    assert markdown_text("<b>[x](y)</b> *a* `c` #1 |\x1b") == "\\<b\\>\\[x\\](y)\\</b\\> \\*a\\* \\`c\\` \\#1 \\|\\\\x1b"


MARKDOWN_CODE_CASES = [
    ("plain", "user:<img>", True, "`user:<img>`"),
    ("pipe-in-cell", "a|b", True, "`a\\|b`"),
    ("pipe-in-prose", "a|b", False, "`a|b`"),
    ("one-backtick", "a`b", True, "`` a`b ``"),
    ("three-backticks", "a```b", True, "```` a```b ````"),
    ("newline", "a\nb", True, "`a\\nb`"),
]


@pytest.mark.parametrize(("text", "table_cell", "expected"), [case[1:] for case in MARKDOWN_CODE_CASES],
                         ids=[case[0] for case in MARKDOWN_CODE_CASES])
def test_markdown_code_span(text: str, table_cell: bool, expected: str) -> None:
    assert markdown_code(text, table_cell=table_cell) == expected


SHELL_CASES = [
    ("plain", "db", "db"),
    ("space-and-quote", "it's me", "'it'\"'\"'s me'"),
    ("ansi", "\x1b[31m", "$'\\033[31m'"),
    ("newline-and-quote", "a'\nb\\", "$'a\\'\\012b\\\\'"),
    ("bidi", "a\u202e", "$'a\\342\\200\\256'"),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in SHELL_CASES], ids=[case[0] for case in SHELL_CASES])
def test_shell_quote_form(text: str, expected: str) -> None:
    assert shell_quote(text) == expected


# bash cannot pass a NUL byte in an argument, so the payloads that contain one are left out.
ROUND_TRIP = {key: text for key, text in PAYLOADS.items() if "\x00" not in text}


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize("key", list(ROUND_TRIP), ids=list(ROUND_TRIP))
def test_shell_quote_round_trips_bash(key: str) -> None:
    printed = subprocess.run(["bash", "-c", f"printf %s {shell_quote(ROUND_TRIP[key])}"], capture_output=True, check=True)

    assert printed.stdout == ROUND_TRIP[key].encode("utf-8")


def test_json_controls_escaped_same_value() -> None:
    document = json.dumps({"name": "a\x9b\u202e\ud800\x7f\nb"}, ensure_ascii=False, indent=1)

    escaped = json_controls_escaped(document)

    assert escaped == '{\n "name": "a\\u009b\\u202e\\ud800\\u007f\\nb"\n}'
    assert json.loads(escaped) == json.loads(document)


def test_log_message_escapes_controls(capsys: pytest.CaptureFixture[str]) -> None:
    handler = configure_logging(logging.WARNING)
    try:
        logging.getLogger("blastradius.test").warning("binding names %s", "user:\x1b[31mred\nfake line")
    finally:
        logging.getLogger("blastradius").removeHandler(handler)

    assert capsys.readouterr().err == "WARNING blastradius.test: binding names user:\\x1b[31mred\\nfake line\n"
