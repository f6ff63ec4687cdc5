"""Wildcard matching: the state-set matcher that replaces regexes for many-star patterns gives the same results."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from blastradius.semantics import iam_policy
from blastradius.semantics.iam_policy import Glob, action_matches, resource_matches

patterns = st.text(alphabet="ab:*?", max_size=10)
texts = st.text(alphabet="abAB:", max_size=12)


def _both(compile_pattern, pattern: str, restore_limit: int) -> tuple[Glob, Glob]:
    """Compile a pattern as a regex and as tokens, by moving the star limit around it."""
    compile_pattern.cache_clear()
    iam_policy.MAX_REGEX_STARS = 10_000
    as_regex = compile_pattern(pattern)
    compile_pattern.cache_clear()
    iam_policy.MAX_REGEX_STARS = -1
    as_tokens = compile_pattern(pattern)
    compile_pattern.cache_clear()
    iam_policy.MAX_REGEX_STARS = restore_limit
    return as_regex, as_tokens


@settings(max_examples=400, deadline=None)
@given(patterns, texts)
def test_resource_matchers_agree(pattern: str, text: str) -> None:
    limit = iam_policy.MAX_REGEX_STARS
    as_regex, as_tokens = _both(iam_policy._resource_glob, f"arn:{pattern}:x:y:{pattern}", limit)
    value = f"arn:{text}:x:y:{text}"
    assert as_regex.regex is not None and as_tokens.regex is None
    assert as_tokens.matches(value) == as_regex.matches(value)


@settings(max_examples=400, deadline=None)
@given(patterns, texts)
def test_action_matchers_agree(pattern: str, text: str) -> None:
    limit = iam_policy.MAX_REGEX_STARS
    as_regex, as_tokens = _both(iam_policy._action_glob, pattern, limit)
    assert as_tokens.matches(text) == as_regex.matches(text)


def test_many_stars_match_exactly() -> None:
    hostile = "arn:aws:secretsmanager:*:*:secret:" + "*a" * 30 + "*b"
    arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:" + "a" * 200
    assert resource_matches(hostile, arn) is False
    assert resource_matches(hostile, arn + "b") is True
    assert action_matches("s*c*r*e*t*s*:GET*", "secretsmanager:GetSecretValue") is True
    assert action_matches("s*c*r*e*t*s*:Put*", "secretsmanager:GetSecretValue") is False
