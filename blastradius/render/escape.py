"""Make text taken from a snapshot inert in each output format.

Names, labels, annotations and AWS tags come from whoever wrote the cluster's objects and the
account's resources, and a snapshot may come from elsewhere. So such text may carry markup,
terminal escape sequences, bidirectional overrides or spreadsheet formulas. Each renderer passes
it through the function for the place it lands in: a terminal, a data file (CSV, GraphML,
HTML), Markdown, or a shell command.

Control characters become their Python escape (`\\x1b`, `\\n`, `\\u202e`), so the reader sees
that a name contains them. A literal backslash is left as it is, so a name that spells out
`\\x1b` looks the same as one that contains the character: the JSON output tells them apart.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from markupsafe import Markup

# C0 controls, DEL and C1 controls, which a terminal acts on (ESC starts colour, cursor and
# hyperlink sequences, and C1 0x9b is a one-byte CSI). Also the Unicode characters that reorder
# or break text (bidirectional marks, embeddings, overrides and isolates, and the line and
# paragraph separators), and lone surrogates, which cannot be encoded as UTF-8 at all.
_UNICODE_CONTROLS = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f{_UNICODE_CONTROLS}]")
# The same without tab, line feed and carriage return, which data formats carry as plain text.
_CONTROL_EXCEPT_WHITESPACE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_UNICODE_CONTROLS}]")
# The ones that `json.dumps` leaves raw: it escapes everything below 0x20 itself.
_CONTROL_RAW_IN_JSON = re.compile(f"[\x7f-\x9f{_UNICODE_CONTROLS}]")

_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

# OWASP's CSV injection rule: a spreadsheet reads a cell that starts with one of these as a formula.
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_MARKDOWN_SPECIAL = "\\`*_[]<>|#"


def _escaped(match: re.Match[str]) -> str:
    character = match.group()
    if character in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[character]
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(text: str) -> str:
    """Return `text` with every control character shown as its escape, safe to print on a terminal.

    Newlines are escaped as well, so a name cannot start a fake line of a table or a log.
    """
    return _CONTROL.sub(_escaped, text)


def data_text(text: str) -> str:
    """Return `text` with control characters escaped except tab, line feed and carriage return.

    For formats that carry those three as ordinary text (CSV cells, XML, HTML). The others are
    invalid in XML 1.0, and a terminal that shows the file would act on them.
    """
    return _CONTROL_EXCEPT_WHITESPACE.sub(_escaped, text)


def html_value(value: Any) -> Any:
    """Return a template value with control characters escaped, for Jinja2's `finalize` hook.

    Autoescaping then makes markup inert. Values already marked safe (`tojson`, inlined assets)
    pass unchanged.
    """
    if isinstance(value, str) and not isinstance(value, Markup):
        return data_text(value)
    return value


def csv_cell(text: str) -> str:
    """Return a CSV cell that a spreadsheet shows as text: control characters escaped, formulas defused.

    A cell that starts with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, as the
    OWASP CSV injection guidance recommends, so the spreadsheet does not evaluate it.
    """
    cell = data_text(text)
    if cell.startswith(CSV_FORMULA_STARTS):
        return "'" + cell
    return cell


def markdown_text(text: str) -> str:
    """Return `text` for Markdown prose: control characters escaped, then every character that
    Markdown or inline HTML would interpret escaped with a backslash."""
    escaped = terminal_text(text)
    for character in _MARKDOWN_SPECIAL:
        escaped = escaped.replace(character, "\\" + character)
    return escaped


def markdown_code(text: str, *, table_cell: bool = True) -> str:
    """Return `text` as a Markdown code span, with control characters shown as escapes.

    The fence is one backtick longer than the longest run of backticks in the text. In a table
    cell `|` is escaped, because a GitHub table splits cells at it even inside a code span, and
    elsewhere it stays as it is, because a code span shows a backslash literally.
    """
    body = terminal_text(text)
    if table_cell:
        body = body.replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", body)), default=0)
    if longest == 0:
        return f"`{body}`"
    fence = "`" * (longest + 1)
    return f"{fence} {body} {fence}"


def shell_quote(text: str) -> str:
    """Return `text` as one shell word that passes exactly this string to the command.

    Printable text gets POSIX single quotes (`shlex.quote`). Text with control characters gets
    ANSI-C quoting, `$'...'` with three-digit octal escapes of the UTF-8 bytes, so the command
    stays on one line and shows no raw escape sequence. Bash, zsh, ksh and POSIX.1-2024 `sh`
    read that form, and dash before 0.5.13 does not.
    """
    if not _CONTROL.search(text):
        return shlex.quote(text)
    parts = []
    for character in text:
        if character in "\\'":
            parts.append("\\" + character)
        elif _CONTROL.match(character):
            parts.append("".join(f"\\{byte:03o}" for byte in character.encode("utf-8", "surrogatepass")))
        else:
            parts.append(character)
    return "$'" + "".join(parts) + "'"


def json_controls_escaped(document: str) -> str:
    """Return JSON text with every control character escaped as `\\uXXXX`, the same JSON value.

    `json.dumps(..., ensure_ascii=False)` escapes the characters below 0x20 but writes DEL, the C1
    controls and the bidirectional overrides raw, and lone surrogates as characters that UTF-8
    cannot encode. Such characters occur only inside JSON strings, where `\\uXXXX` means the
    same character.
    """
    return _CONTROL_RAW_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", document)
