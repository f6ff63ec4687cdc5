"""AWS IAM policy documents: parsing, Action and Resource matching, and Condition evaluation.

The rules follow the IAM User Guide ("IAM JSON policy element reference" and "Condition
operators"): actions match case-insensitively, resources case-sensitively, and a condition on a
key that the request does not carry is false, except for negated operators, `...IfExists`, `Null`
and `ForAllValues`. Nothing here depends on accounts or principals beyond the strings it is given.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping
from urllib.parse import unquote

DOCUMENT_ELEMENTS = frozenset({"Version", "Id", "Statement"})
STATEMENT_ELEMENTS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition"}
)
PRINCIPAL_TYPES = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})

_STRING_OPERATORS = frozenset(
    {
        "stringequals", "stringnotequals", "stringequalsignorecase", "stringnotequalsignorecase",
        "stringlike", "stringnotlike",
    }
)
_ARN_OPERATORS = frozenset({"arnequals", "arnlike", "arnnotequals", "arnnotlike"})
# Operators whose values blastradius does not compare. No key it decides has a number, a date, an
# address or binary data as its value, so a known key with one of these makes the statement conditional.
_UNCOMPARED_OPERATORS = frozenset(
    {
        "numericequals", "numericnotequals", "numericlessthan", "numericlessthanequals",
        "numericgreaterthan", "numericgreaterthanequals",
        "dateequals", "datenotequals", "datelessthan", "datelessthanequals",
        "dategreaterthan", "dategreaterthanequals",
        "ipaddress", "notipaddress", "binaryequals",
    }
)
_NEGATED_OPERATORS = frozenset(
    {
        "stringnotequals", "stringnotequalsignorecase", "stringnotlike", "arnnotequals", "arnnotlike",
        "numericnotequals", "datenotequals", "notipaddress",
    }
)
_KNOWN_OPERATORS = _STRING_OPERATORS | _ARN_OPERATORS | _UNCOMPARED_OPERATORS | {"bool", "null"}

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_ESCAPES = {"*": "*", "?": "?", "$": "$"}


class PolicyError(ValueError):
    """A policy document that is not valid JSON or not a valid IAM policy; the message names it."""


class UnknownKey:
    """Marker for a condition key whose value the snapshot cannot know (source IP, MFA, time)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = UnknownKey()


class RequestContext:
    """Condition keys of one request, split into known values, known absences and unknowns.

    `values` maps key names (compared in lower case) to their values. A key listed in `values` or
    in `absent_keys`, or starting with one of `decidable_prefixes` (such as `aws:principaltag/`),
    is decided. Every other key is unknown and makes the statement conditional. With
    `provider_keys_decided`, keys of identity providers (`<provider URL>:sub`, whose prefix holds a
    dot, unlike the `aws:` or `sts:` service prefixes) are decided too: a web-identity request
    carries only its own provider's claims.
    """

    def __init__(
        self,
        values: Mapping[str, str | tuple[str, ...]],
        *,
        decidable_prefixes: tuple[str, ...] = (),
        absent_keys: frozenset[str] = frozenset(),
        provider_keys_decided: bool = False,
    ) -> None:
        self._values = {
            key.lower(): (value,) if isinstance(value, str) else tuple(value) for key, value in values.items()
        }
        self._prefixes = tuple(prefix.lower() for prefix in decidable_prefixes)
        self._absent = frozenset(key.lower() for key in absent_keys)
        self._provider_keys_decided = provider_keys_decided

    def lookup(self, key: str) -> tuple[str, ...] | None | UnknownKey:
        """Return the key's values, None when the request is known not to carry it, or UNKNOWN."""
        name = key.lower()
        if name in self._values:
            return self._values[name]
        if name in self._absent or name.startswith(self._prefixes):
            return None
        if self._provider_keys_decided and "." in name.rpartition(":")[0]:
            return None
        return UNKNOWN

    def variable(self, name: str) -> str | None:
        """Return the single value a policy variable `${name}` resolves to, or None if unknown."""
        if name in _VARIABLE_ESCAPES:
            return _VARIABLE_ESCAPES[name]
        found = self.lookup(name)
        if isinstance(found, tuple) and len(found) == 1:
            return found[0]
        return None


EMPTY_CONTEXT = RequestContext({})


# A pattern with more stars than this is matched by a state set instead of a regex: Python's regex
# engine backtracks, so many `*` against a long value that does not match could take seconds.
MAX_REGEX_STARS = 3

# Wildcard tokens: any run of characters, any run without a colon, one character, one non-colon.
_ANY_RUN, _SEGMENT_RUN, _ANY_ONE, _SEGMENT_ONE = "*", "*:", "?", "?:"


@dataclass(frozen=True)
class Glob:
    """A compiled wildcard pattern: a regex for the usual case, or tokens matched without backtracking.

    `tokens` lists each position as a wildcard token or ("", char) for a literal. With
    `fold`, literals compare without case (IAM actions).
    """

    tokens: tuple[tuple[str, str], ...]
    fold: bool
    regex: re.Pattern[str] | None

    def matches(self, text: str) -> bool:
        """Return whether the whole text matches the pattern."""
        if self.regex is not None:
            return self.regex.fullmatch(text) is not None
        return self._state_match(text.lower() if self.fold else text)

    def _state_match(self, text: str) -> bool:
        """Simulate the pattern as an automaton over the text: O(len(text) x len(tokens)), no backtracking."""
        states = self._closure({0})
        for char in text:
            following = set()
            for state in states:
                if state == len(self.tokens):
                    continue
                kind, literal = self.tokens[state]
                if kind == _ANY_RUN or (kind == _SEGMENT_RUN and char != ":"):
                    following.add(state)
                elif kind == _ANY_ONE or (kind == _SEGMENT_ONE and char != ":") or (not kind and literal == char):
                    following.add(state + 1)
            states = self._closure(following)
            if not states:
                return False
        return len(self.tokens) in states

    def _closure(self, states: set[int]) -> set[int]:
        """Add the states reached by letting each run token match nothing."""
        closed = set()
        for state in states:
            while state < len(self.tokens) and self.tokens[state][0] in (_ANY_RUN, _SEGMENT_RUN):
                closed.add(state)
                state += 1
            closed.add(state)
        return closed


def _compile(tokens: list[tuple[str, str]], fold: bool) -> Glob:
    stars = sum(kind in (_ANY_RUN, _SEGMENT_RUN) for kind, _ in tokens)
    if stars > MAX_REGEX_STARS:
        lowered = tuple((kind, literal.lower() if fold else literal) for kind, literal in tokens)
        return Glob(lowered, fold, None)
    classes = {_ANY_RUN: ".*", _SEGMENT_RUN: "[^:]*", _ANY_ONE: ".", _SEGMENT_ONE: "[^:]"}
    body = "".join(classes[kind] if kind else re.escape(literal) for kind, literal in tokens)
    flags = re.DOTALL | (re.IGNORECASE if fold else 0)
    return Glob(tuple(tokens), fold, re.compile(body, flags))


def _glob_tokens(pattern: str) -> list[tuple[str, str]]:
    """Tokens of a plain glob: `*` any run, `?` any one character, everything else literal."""
    return [(_ANY_RUN, "") if char == "*" else (_ANY_ONE, "") if char == "?" else ("", char) for char in pattern]


@lru_cache(maxsize=65536)
def _like_glob(pattern: str) -> Glob:
    return _compile(_glob_tokens(pattern), fold=False)


@lru_cache(maxsize=65536)
def _action_glob(pattern: str) -> Glob:
    return _compile(_glob_tokens(pattern), fold=True)


def action_matches(pattern: str, action: str) -> bool:
    """Return whether an Action pattern (`s3:Get*`, `*`) covers an action, ignoring case."""
    return _action_glob(pattern).matches(action)


def _resource_segment_tokens(segment: str) -> list[tuple[str, str]]:
    """Tokens of one colon-separated ARN segment of a Resource pattern.

    A `*` stays inside its segment unless it is the segment's last character, where it may run on
    across later colons, as the IAM User Guide describes for Resource wildcards.
    """
    tokens = []
    for position, char in enumerate(segment):
        if char == "*":
            tokens.append((_ANY_RUN if position == len(segment) - 1 else _SEGMENT_RUN, ""))
        elif char == "?":
            tokens.append((_SEGMENT_ONE, ""))
        else:
            tokens.append(("", char))
    return tokens


@lru_cache(maxsize=65536)
def _resource_glob(pattern: str) -> Glob:
    head = pattern.split(":", 5)
    if len(head) < 6:
        return _compile(_glob_tokens(pattern), fold=False)
    tokens: list[tuple[str, str]] = []
    for segment in head[:5]:
        tokens += _resource_segment_tokens(segment) + [("", ":")]
    return _compile(tokens + _glob_tokens(head[5]), fold=False)


def resource_matches(pattern: str, arn: str, context: RequestContext = EMPTY_CONTEXT) -> bool:
    """Return whether a Resource pattern covers an ARN, case-sensitively.

    Policy variables such as `${aws:username}` are replaced from the request context. A variable
    the context cannot resolve makes the pattern match nothing.
    """
    if "${" in pattern:
        resolved = resolve_variables(pattern, context)
        if resolved is None:
            return False
        pattern = resolved
    return _resource_glob(pattern).matches(arn)


def resolve_variables(text: str, context: RequestContext) -> str | None:
    """Replace every `${key}` in a policy value; None when one of them cannot be resolved."""
    unresolved = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal unresolved
        value = context.variable(match.group(1))
        if value is None:
            unresolved = True
            return ""
        return value

    resolved = _VARIABLE.sub(substitute, text)
    return None if unresolved else resolved


def literal_prefix(pattern: str) -> str:
    """Return the part of a pattern before its first wildcard or policy variable."""
    cut = len(pattern)
    for marker in ("*", "?", "${"):
        position = pattern.find(marker)
        if position != -1:
            cut = min(cut, position)
    return pattern[:cut]


def has_wildcard(pattern: str) -> bool:
    return literal_prefix(pattern) != pattern


def _arn_condition_matches(pattern: str, value: str) -> bool:
    """ArnEquals/ArnLike: each of the six colon-separated ARN parts is matched on its own."""
    if pattern == "*":
        return True
    pattern_parts = pattern.split(":", 5)
    value_parts = value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(
        _like_glob(pattern_part).matches(value_part)
        for pattern_part, value_part in zip(pattern_parts, value_parts)
    )


@dataclass(frozen=True)
class Condition:
    """One key test of a Condition block, such as `StringLike aws:PrincipalArn [arn:...:role/ci-*]`."""

    operator: str
    key: str
    values: tuple[str, ...]

    @property
    def _parts(self) -> tuple[str | None, str, bool]:
        """Return (set qualifier, base operator in lower case, whether IfExists is set)."""
        qualifier: str | None = None
        operator = self.operator
        if ":" in operator:
            qualifier, operator = operator.split(":", 1)
            qualifier = qualifier.lower()
        if_exists = operator.lower().endswith("ifexists") and operator.lower() != "ifexists"
        base = operator[: -len("IfExists")] if if_exists else operator
        return qualifier, base.lower(), if_exists

    def describe(self) -> str:
        """Return the condition as one readable line for reports, its values sorted.

        Every operator tests the values as a set, so the order written in the policy carries no
        meaning, and sorting keeps the line the same however the policy orders them.
        """
        return f"{self.key} {self.operator} {', '.join(sorted(set(self.values)))}"

    def evaluate(self, context: RequestContext) -> bool | None:
        """Return True or False when the context decides the condition, None when it cannot."""
        qualifier, base, if_exists = self._parts
        found = context.lookup(self.key)
        if isinstance(found, UnknownKey):
            return None
        if base == "null":
            # Several values are ORed as for every operator, so ["true", "false"] is true whether or not the key is present.
            is_absent = found is None or found == ()
            return any((value.lower() == "true") == is_absent for value in self.values)
        if found is None or found == ():
            return self._absent_result(qualifier, base, if_exists)
        if base in _UNCOMPARED_OPERATORS:
            return None
        negated = base in _NEGATED_OPERATORS
        if qualifier == "forallvalues":
            return all(self._value_passes(value, base, negated, context) for value in found)
        return any(self._value_passes(value, base, negated, context) for value in found)

    @staticmethod
    def _absent_result(qualifier: str | None, base: str, if_exists: bool) -> bool:
        if if_exists or qualifier == "forallvalues":
            return True
        if qualifier == "foranyvalue":
            return False
        return base in _NEGATED_OPERATORS

    def _value_passes(self, value: str, base: str, negated: bool, context: RequestContext) -> bool:
        """Test one request value against every policy value: a positive test needs one match, a negated one none."""
        matched = any(self._matches(value, policy_value, base, context) for policy_value in self.values)
        return not matched if negated else matched

    @staticmethod
    def _matches(value: str, policy_value: str, base: str, context: RequestContext) -> bool:
        resolved = resolve_variables(policy_value, context) if "${" in policy_value else policy_value
        if resolved is None:
            return False
        if base == "bool":
            return value.lower() == resolved.lower()
        if base in _ARN_OPERATORS:
            return _arn_condition_matches(resolved, value)
        if base in ("stringlike", "stringnotlike"):
            return _like_glob(resolved).matches(value)
        if base in ("stringequalsignorecase", "stringnotequalsignorecase"):
            return value.lower() == resolved.lower()
        return value == resolved


@dataclass(frozen=True)
class Statement:
    """One statement of a policy, with every element normalised to tuples of strings.

    `principals` and `not_principals` are (type, value) pairs such as ("AWS", "123456789012"), and
    the bare `"Principal": "*"` becomes ("AWS", "*"). None means the element is absent.
    """

    effect: str
    sid: str | None
    index: int
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    principals: tuple[tuple[str, str], ...] | None
    not_principals: tuple[tuple[str, str], ...] | None
    conditions: tuple[Condition, ...]

    @property
    def label(self) -> str:
        """The statement's Sid, or `#<index>` (0-based) when it has none."""
        return self.sid if self.sid else f"#{self.index}"

    @property
    def is_deny(self) -> bool:
        return self.effect == "Deny"

    def matches_action(self, action: str) -> bool:
        if self.actions is not None:
            return any(action_matches(pattern, action) for pattern in self.actions)
        assert self.not_actions is not None
        return not any(action_matches(pattern, action) for pattern in self.not_actions)

    def matches_resource(self, arn: str, context: RequestContext = EMPTY_CONTEXT) -> bool:
        """Return whether the statement covers a resource; a statement without either element covers all."""
        if self.resources is not None:
            return any(resource_matches(pattern, arn, context) for pattern in self.resources)
        if self.not_resources is not None:
            return not any(resource_matches(pattern, arn, context) for pattern in self.not_resources)
        return True

    def evaluate_conditions(self, context: RequestContext) -> tuple[str, ...] | None:
        """Return None when a condition is false, else the sorted descriptions of those the context cannot decide.

        All conditions of a statement must hold, so their order in the Condition block carries no meaning.
        """
        undecided: set[str] = set()
        for condition in self.conditions:
            result = condition.evaluate(context)
            if result is False:
                return None
            if result is None:
                undecided.add(condition.describe())
        return tuple(sorted(undecided))


@dataclass(frozen=True)
class PolicyDocument:
    """A parsed policy: its label (ARN, `inline:<role>/<name>`, ...) and its statements in order."""

    label: str
    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, document: Any, source_label: str) -> PolicyDocument:
        """Parse a policy given as a dict or as JSON text (URL-encoded or not).

        Raises PolicyError naming `source_label` for invalid JSON, unknown elements, a bad Effect,
        or a statement without Action/NotAction.
        """
        data = _load_document(document, source_label)
        unknown = set(data) - DOCUMENT_ELEMENTS
        if unknown:
            raise PolicyError(f"policy {source_label}: unknown top-level element(s) {sorted(unknown)}")
        if "Statement" not in data:
            raise PolicyError(f"policy {source_label}: missing Statement")
        raw_statements = data["Statement"]
        if isinstance(raw_statements, dict):
            raw_statements = [raw_statements]
        if not isinstance(raw_statements, list):
            raise PolicyError(f"policy {source_label}: Statement must be an object or a list of objects")
        statements = tuple(_parse_statement(raw, index, source_label) for index, raw in enumerate(raw_statements))
        return cls(label=source_label, statements=statements)


def _load_document(document: Any, source_label: str) -> dict[str, Any]:
    if isinstance(document, str):
        text = document.strip()
        if text.startswith("%7B") or text.startswith("%7b"):
            text = unquote(text)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise PolicyError(f"policy {source_label}: invalid JSON ({error.msg} at line {error.lineno})") from error
    if not isinstance(document, dict):
        raise PolicyError(f"policy {source_label}: expected a JSON object, got {type(document).__name__}")
    return document


def _string_tuple(value: Any, element: str, where: str) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    result = []
    for item in values:
        if isinstance(item, bool):
            result.append("true" if item else "false")
        elif isinstance(item, (str, int, float)):
            result.append(str(item))
        else:
            raise PolicyError(f"{where}: {element} values must be strings, got {type(item).__name__}")
    return tuple(result)


def _parse_principal(value: Any, element: str, where: str) -> tuple[tuple[str, str], ...]:
    if value == "*":
        return (("AWS", "*"),)
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: {element} must be \"*\" or an object of principal types")
    unknown = set(value) - PRINCIPAL_TYPES
    if unknown:
        raise PolicyError(f"{where}: unknown {element} type(s) {sorted(unknown)}")
    return tuple((kind, item) for kind, items in value.items() for item in _string_tuple(items, element, where))


def _parse_conditions(value: Any, where: str) -> tuple[Condition, ...]:
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: Condition must be an object")
    conditions = []
    for operator, tests in value.items():
        condition_operator = operator.split(":", 1)[-1]
        base = condition_operator
        if base.lower().endswith("ifexists"):
            base = base[: -len("IfExists")]
        qualifier = operator.split(":", 1)[0].lower() if ":" in operator else None
        if base.lower() not in _KNOWN_OPERATORS or qualifier not in (None, "foranyvalue", "forallvalues"):
            raise PolicyError(f"{where}: unknown condition operator {operator!r}")
        if not isinstance(tests, dict):
            raise PolicyError(f"{where}: condition {operator} must map keys to values")
        for key, values in tests.items():
            parsed = _string_tuple(values, "Condition", where)
            if not parsed:
                raise PolicyError(f"{where}: condition {operator} {key} has no values")
            conditions.append(Condition(operator=operator, key=key, values=parsed))
    return tuple(conditions)


def _optional(raw: dict[str, Any], element: str, where: str) -> tuple[str, ...] | None:
    return _string_tuple(raw[element], element, where) if element in raw else None


def _parse_statement(raw: Any, index: int, source_label: str) -> Statement:
    where = f"policy {source_label}, statement #{index}"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected an object, got {type(raw).__name__}")
    unknown = set(raw) - STATEMENT_ELEMENTS
    if unknown:
        raise PolicyError(f"{where}: unknown element(s) {sorted(unknown)}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{where}: Effect must be \"Allow\" or \"Deny\", got {effect!r}")
    for first, second in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
        if first in raw and second in raw:
            raise PolicyError(f"{where}: has both {first} and {second}")
    if "Action" not in raw and "NotAction" not in raw:
        raise PolicyError(f"{where}: missing Action or NotAction")
    sid = raw.get("Sid")
    return Statement(
        effect=effect,
        sid=str(sid) if sid not in (None, "") else None,
        index=index,
        actions=_optional(raw, "Action", where),
        not_actions=_optional(raw, "NotAction", where),
        resources=_optional(raw, "Resource", where),
        not_resources=_optional(raw, "NotResource", where),
        principals=_parse_principal(raw["Principal"], "Principal", where) if "Principal" in raw else None,
        not_principals=_parse_principal(raw["NotPrincipal"], "NotPrincipal", where) if "NotPrincipal" in raw else None,
        conditions=_parse_conditions(raw["Condition"], where) if "Condition" in raw else (),
    )
