"""Table tests for translating Go regular expressions to Python's re."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blastradius.semantics.go_regex import GoRegexError, compile_go_regex


@pytest.mark.parametrize(
    ("pattern", "namespace", "matches"),
    [
        ("team-a", "x-team-a-prod", True),
        ("^team-a$", "x-team-a-prod", False),
        ("^team-a$", "team-a", True),
        ("(?i)TEAM", "team-b", True),
        ("a(?i)B|c", "c", True),
        ("prod(?i)X|dev", "DEV", True),
        ("^[[:alpha:]]+-[[:digit:]]+$", "team-42", True),
        ("^[[:alpha:]]+-[[:digit:]]+$", "team-4x", False),
        (r"\Qteam.a\E", "team.a", True),
        (r"\Qteam.a\E", "teamxa", False),
        (r"prod\z", "team-prod", True),
        (r"^(?<team>[a-z]+)-prod$", "billing-prod", True),
        (r"^\x{74}eam$", "team", True),
        (r"^\164eam$", "team", True),
        (r"\d", "team-١", False),
    ],
    ids=["unanchored", "anchored-miss", "anchored-hit", "case-flag", "flag-spans-alternation", "flag-reopened-after-bar", "posix-hit", "posix-miss", "quoted-literal", "quoted-dot-literal", "end-of-text", "named-group", "hex-brace", "octal", "ascii-digit"],
)
def test_go_regex_matches_like_go(pattern: str, namespace: str, matches: bool) -> None:
    assert bool(compile_go_regex(pattern).search(namespace)) is matches


@pytest.mark.parametrize(
    "pattern",
    ["(?=a)", "(?<=a)b", r"(a)\1", "a*+", "a**", "a{2}{3}", r"\pL", r"\Z", "(?U)a", "a)", "(a", "[a", r"\8", "a\\"],
    ids=["lookahead", "lookbehind", "backreference", "possessive", "double-star", "nested-count", "unicode-class", "python-end", "ungreedy-flag", "unbalanced-close", "unbalanced-open", "open-class", "bad-octal", "trailing-backslash"],
)
def test_go_regex_rejects_what_go_rejects(pattern: str) -> None:
    with pytest.raises(GoRegexError):
        compile_go_regex(pattern)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abc-", min_size=1, max_size=4), st.text(alphabet="abc-", max_size=12))
def test_go_regex_literal_is_substring_search(literal: str, namespace_name: str) -> None:
    assert bool(compile_go_regex(literal).search(namespace_name)) is (literal in namespace_name)
