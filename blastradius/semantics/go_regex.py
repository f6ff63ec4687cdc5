"""Go (RE2) regular expressions evaluated with Python's `re`, translated so both engines agree.

ESO matches namespaces with Go's `regexp` package. This module translates the syntax the two
engines spell differently. It also rejects what Go rejects, so a pattern ESO refuses fails here too.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Go's POSIX bracket classes (regexp/syntax), as Python character-class ranges.
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_PASS_THROUGH_ESCAPES = set("dDsSwWaftnrv")
_GO_QUANTIFIER = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_GO_FLAG_GROUP = re.compile(r"\(\?([A-Za-z-]*)([:)])")


class GoRegexError(ValueError):
    """A pattern that Go's regexp rejects, or that blastradius cannot evaluate the way Go does."""


@lru_cache(maxsize=1024)
def compile_go_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Go (RE2) regular expression into an equivalent Python pattern.

    Translates the syntax the two engines spell differently (`\\z`, `(?<name>`, `\\Q…\\E`, POSIX
    bracket classes, `\\x{…}`, octal escapes, flags set mid-pattern) and rejects what Go rejects
    (lookaround, backreferences, nested repetition) so that a pattern ESO would refuse is refused
    here too. Unicode classes (`\\pL`) raise `GoRegexError` because Python's `re` lacks them.
    `\\d`, `\\w`, `\\s` and `\\b` are ASCII-only, as in Go.
    """
    translated = _translate_go_regex(pattern)
    try:
        return re.compile(translated, re.ASCII)
    except re.error as error:
        raise GoRegexError(f"invalid regular expression {pattern!r}: {error}") from error


def _translate_go_regex(pattern: str) -> str:
    out: list[str] = []
    # One entry per open group: the flag sets of `(?i)`-style groups opened inside it, still to close.
    scoped_flags: list[list[str]] = [[]]
    in_class = False
    repeat_state = _NO_REPEAT
    index = 0

    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            piece, index = _translate_escape(pattern, index, in_class)
            out.append(piece)
            repeat_state = _NO_REPEAT
        elif in_class:
            index, in_class = _translate_class_char(pattern, index, out)
        elif char == "[":
            index = _open_class(pattern, index, out)
            in_class = True
            repeat_state = _NO_REPEAT
        elif char == "(":
            index = _open_group(pattern, index, out, scoped_flags)
            repeat_state = _NO_REPEAT
        elif char == ")":
            if len(scoped_flags) == 1:
                raise GoRegexError(f"invalid regular expression {pattern!r}: unexpected )")
            out.append(")" * len(scoped_flags.pop()) + ")")
            index += 1
            repeat_state = _NO_REPEAT
        elif char == "|":
            # Go keeps `(?i)` in force across `|`, so each alternative reopens the scoped groups.
            flags = scoped_flags[-1]
            out.append(")" * len(flags) + "|" + "".join(f"(?{letters}:" for letters in flags))
            index += 1
            repeat_state = _NO_REPEAT
        else:
            text, repeat_state = _repetition_step(pattern, index, repeat_state)
            out.append(text)
            index += len(text)

    if in_class:
        raise GoRegexError(f"invalid regular expression {pattern!r}: missing closing ]")
    if len(scoped_flags) > 1:
        raise GoRegexError(f"invalid regular expression {pattern!r}: missing closing )")
    out.append(")" * len(scoped_flags[0]))
    return "".join(out)


# States of `_repetition_step`: nothing repeated just before, a quantifier, a lazy quantifier.
_NO_REPEAT, _REPEAT, _LAZY_REPEAT = 0, 1, 2


def _repetition_step(pattern: str, index: int, repeat_state: int) -> tuple[str, int]:
    """Return the literal or quantifier at `index` and the new state, rejecting nested repetition as Go does."""
    char = pattern[index]
    quantifier = _GO_QUANTIFIER.match(pattern, index) if char == "{" else None
    if char not in "*+?" and not quantifier:
        return char, _NO_REPEAT

    text = quantifier.group(0) if quantifier else char
    if repeat_state == _REPEAT and text == "?":
        return text, _LAZY_REPEAT
    if repeat_state != _NO_REPEAT:
        # Python would read `a*+` as possessive, but Go rejects it.
        raise GoRegexError(f"invalid regular expression {pattern!r}: invalid nested repetition operator")
    return text, _REPEAT


def _open_class(pattern: str, index: int, out: list[str]) -> int:
    out.append("[")
    index += 1
    if pattern.startswith("^", index):
        out.append("^")
        index += 1
    if pattern.startswith("]", index):
        out.append("\\]")
        index += 1
    return index


def _translate_class_char(pattern: str, index: int, out: list[str]) -> tuple[int, bool]:
    """Translate one character inside a bracket class; return the next index and whether still inside."""
    char = pattern[index]
    if char == "]":
        out.append("]")
        return index + 1, False
    if pattern.startswith("[:", index):
        end = pattern.find(":]", index + 2)
        name = pattern[index + 2 : end] if end != -1 else ""
        if name in _POSIX_CLASSES:
            out.append(_POSIX_CLASSES[name])
            return end + 2, True
        if name.startswith("^") and name[1:] in _POSIX_CLASSES:
            raise GoRegexError(f"regular expression {pattern!r}: negated POSIX class [:{name}:] is not supported")
    if char in "[&~|":
        # Python reserves these inside sets for future set operations; Go reads them literally.
        out.append("\\" + char)
        return index + 1, True
    out.append(char)
    return index + 1, True


def _open_group(pattern: str, index: int, out: list[str], scoped_flags: list[list[str]]) -> int:
    if not pattern.startswith("(?", index):
        out.append("(")
        scoped_flags.append([])
        return index + 1
    if pattern.startswith("(?P<", index):
        out.append("(?P<")
        scoped_flags.append([])
        return index + 4
    for construct in ("(?=", "(?!", "(?<=", "(?<!", "(?>", "(?#", "(?P=", "(?P>"):
        if pattern.startswith(construct, index):
            raise GoRegexError(f"regular expression {pattern!r}: Go does not support the {construct} construct")
    if pattern.startswith("(?<", index):
        out.append("(?P<")
        scoped_flags.append([])
        return index + 3

    flags = _GO_FLAG_GROUP.match(pattern, index)
    if not flags or set(flags.group(1)) - set("imsU-") or (not flags.group(1) and flags.group(2) == ")"):
        raise GoRegexError(f"regular expression {pattern!r}: invalid or unsupported group syntax at offset {index}")
    letters, terminator = flags.group(1), flags.group(2)
    if "U" in letters:
        raise GoRegexError(f"regular expression {pattern!r}: the ungreedy flag U is not supported")
    out.append(f"(?{letters}:")
    if terminator == ":":
        scoped_flags.append([])
    else:
        # Go applies `(?i)` to the rest of the enclosing group; Python needs a scoped group.
        scoped_flags[-1].append(letters)
    return flags.end()


def _translate_escape(pattern: str, index: int, in_class: bool) -> tuple[str, int]:
    """Translate the escape at `index` (a backslash); return Python text and the next index."""
    if index + 1 >= len(pattern):
        raise GoRegexError(f"invalid regular expression {pattern!r}: trailing backslash")
    char = pattern[index + 1]
    if char == "Q":
        end = pattern.find("\\E", index + 2)
        literal = pattern[index + 2 :] if end == -1 else pattern[index + 2 : end]
        return re.escape(literal), len(pattern) if end == -1 else end + 2
    if char in _PASS_THROUGH_ESCAPES:
        return "\\" + char, index + 2
    if char in "AbB" and not in_class:
        return "\\" + char, index + 2
    if char == "z" and not in_class:
        return "\\Z", index + 2
    if char == "x":
        return _translate_hex_escape(pattern, index)
    if char in "01234567":
        return _translate_octal_escape(pattern, index)
    if char in "pP":
        raise GoRegexError(
            f"regular expression {pattern!r}: Unicode classes (\\{char}) are not supported by Python's re"
        )
    if not char.isascii() or not char.isalnum():
        return re.escape(char), index + 2
    raise GoRegexError(f"invalid regular expression {pattern!r}: invalid escape sequence \\{char}")


def _translate_hex_escape(pattern: str, index: int) -> tuple[str, int]:
    if pattern.startswith("{", index + 2):
        end = pattern.find("}", index + 3)
        digits = pattern[index + 3 : end] if end != -1 else ""
        if not digits or not re.fullmatch(r"[0-9A-Fa-f]+", digits) or int(digits, 16) > 0x10FFFF:
            raise GoRegexError(f"invalid regular expression {pattern!r}: invalid escape \\x{{{digits}}}")
        return re.escape(chr(int(digits, 16))), end + 1
    digits = pattern[index + 2 : index + 4]
    if not re.fullmatch(r"[0-9A-Fa-f]{2}", digits):
        raise GoRegexError(f"invalid regular expression {pattern!r}: invalid escape \\x{digits}")
    return re.escape(chr(int(digits, 16))), index + 4


def _translate_octal_escape(pattern: str, index: int) -> tuple[str, int]:
    """Go reads `\\0`, `\\012`, `\\12` as octal codes; a lone `\\1`–`\\7` is a backreference, which it rejects."""
    first = pattern[index + 1]
    following = pattern[index + 2 : index + 3]
    if first != "0" and not following.isdigit():
        raise GoRegexError(f"regular expression {pattern!r}: backreferences (\\{first}) are not supported by Go")
    match = re.match(r"[0-7]{1,3}", pattern[index + 1 :])
    digits = match.group(0) if match else first
    return re.escape(chr(int(digits, 8))), index + 1 + len(digits)
