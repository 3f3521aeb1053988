"""Step conditions of the scenario file: parsed once at start-up, evaluated at send time.

A condition is data, never code: a comparison written as text, or `all:` / `any:` / `not:`
over conditions, nested at most `MAX_DEPTH` deep.

    when: cart_value >= 5000
    when:
      all:
        - order_count > 0
        - any: [tags contains vip, "rank in [gold, platinum]"]

A comparison is `ATTRIBUTE OPERATOR VALUE`. The attribute is one of `ATTRIBUTES` (the shop's
member attributes and what the engine works out), and its kind says which operators and
values make sense, so `tags >= 3` or `order_count == many` is refused when the file is read.
A comparison whose attribute is unknown for the shopper (the shop never sent it, or the flow
is not about a cart) is false, whatever the operator: a message is never sent on a guess.
Text is compared without regard to case (`VIP` equals `vip`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

MAX_DEPTH = 5  # all/any/not nested deeper than this is refused
MAX_ITEMS = 50  # entries of one all/any, and values of one `in [...]` list
MAX_TEXT = 300  # characters of one comparison

# -- the attributes ----------------------------------------------------------------------------

NUMBER, TEXT, TAGS, DATE, FLAG = "number", "text", "tags", "date", "flag"


@dataclass(frozen=True)
class Attribute:
    """What a condition may compare: its kind and, for refusals and docs, what it means."""

    name: str
    kind: str
    meaning: str


ATTRIBUTES: dict[str, Attribute] = {
    a.name: a
    for a in (
        Attribute("tags", TAGS, "the shop's tags for the member (a list)"),
        Attribute("rank", TEXT, "the member's rank, e.g. gold"),
        Attribute("birthday_month", NUMBER, "the month of the member's birthday, 1-12"),
        Attribute("birthday_this_month", FLAG, "the birthday month is the current month"),
        Attribute("first_order_date", DATE, "the date of the member's first order"),
        Attribute("last_order_date", DATE, "the date of the member's last order"),
        Attribute("order_count", NUMBER, "how many orders the member has placed"),
        Attribute("lifetime_value", NUMBER, "what the member has spent in all (yen)"),
        Attribute("first_purchase", FLAG, "no order yet (order_count == 0)"),
        Attribute("repeat_buyer", FLAG, "ordered before (order_count > 0)"),
        Attribute("days_since_last_order", NUMBER, "whole days since the last order"),
        Attribute("linked_since", NUMBER, "whole days since the LINE account was linked"),
        Attribute("cart_value", NUMBER, "the subtotal of the flow's cart now (yen)"),
    )
}

# Which operators each kind of attribute takes.
_ORDERED = ("==", "!=", "<", "<=", ">", ">=")
OPERATORS: dict[str, tuple[str, ...]] = {
    NUMBER: (*_ORDERED, "in", "not in"),
    DATE: _ORDERED,
    TEXT: ("==", "!=", "in", "not in"),
    TAGS: ("contains", "not contains"),
    FLAG: ("==", "!="),
}
_OPERATOR_WORDS = {
    NUMBER: "a number",
    DATE: "a date",
    TEXT: "a text",
    TAGS: "a list of tags",
    FLAG: "true or false",
}


class ConditionError(ValueError):
    """A condition of the file cannot be used; `path` is where, below the `when:` key."""

    def __init__(self, message: str, path: Sequence[str | int] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = list(path)


# -- the parsed form -------------------------------------------------------------------------

Value = int | str | bool | date | tuple[int | str, ...]


@dataclass(frozen=True)
class Comparison:
    """`attribute operator value`, with the text it was written as (for reasons)."""

    attribute: str
    operator: str
    value: Value
    text: str

    def holds(self, facts: Mapping[str, Any]) -> bool:
        """True only if the attribute is known and the comparison is true."""
        actual = facts.get(self.attribute)
        if actual is None:
            return False
        op, wanted = self.operator, self.value
        if op in ("contains", "not contains"):
            tags = {_fold(t) for t in actual}
            return (_fold(str(wanted)) in tags) == (op == "contains")
        if isinstance(actual, str):
            actual = _fold(actual)
            wanted = (
                tuple(_fold(str(w)) for w in wanted)
                if isinstance(wanted, tuple)
                else _fold(str(wanted))
            )
        if op == "in":
            return actual in wanted  # type: ignore[operator]
        if op == "not in":
            return actual not in wanted  # type: ignore[operator]
        return bool(_COMPARE[op](actual, wanted))


_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class NotOf:
    part: Condition


Condition = Comparison | AllOf | AnyOf | NotOf


def _fold(text: str) -> str:
    return text.casefold()


# -- evaluation ------------------------------------------------------------------------------


def evaluate(condition: Condition, facts: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the condition holds for these facts, and the comparison that decided it,
    with the value it saw: `cart_value >= 5000 was false (3200)`."""
    if isinstance(condition, Comparison):
        held = condition.holds(facts)
        seen = _shown(facts.get(condition.attribute))
        return held, f"{condition.text} was {'true' if held else 'false'} ({seen})"
    if isinstance(condition, NotOf):
        held, why = evaluate(condition.part, facts)
        return not held, f"not: {why}"
    want_all = isinstance(condition, AllOf)
    last = ""
    for part in condition.parts:
        held, last = evaluate(part, facts)
        if held != want_all:
            return held, last  # the first false of all:, the first true of any:
    return want_all, last


def attributes_used(condition: Condition) -> set[str]:
    """The attributes a condition reads."""
    if isinstance(condition, Comparison):
        return {condition.attribute}
    if isinstance(condition, NotOf):
        return attributes_used(condition.part)
    return set().union(*(attributes_used(p) for p in condition.parts))


def _shown(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


# -- parsing ---------------------------------------------------------------------------------

_WORD = r"[^\s\[\],'\"<>=!]+"
_TOKEN = re.compile(
    rf"""\s*(?:
        (?P<op>==|!=|<=|>=|<|>|=|!)
      | (?P<punct>[\[\],])
      | '(?P<squoted>[^'\n]*)'
      | "(?P<dquoted>[^"\n]*)"
      | (?P<word>{_WORD})
    )""",
    re.VERBOSE,
)
_NUMBER = re.compile(r"^-?[0-9]{1,15}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
FORM = "ATTRIBUTE OPERATOR VALUE, such as cart_value >= 5000 or tags contains vip"


def parse_condition(raw: Any) -> Condition:
    """The condition a `when:` of the file holds; ConditionError says what and where."""
    return _parse(raw, [], 0)


def _parse(raw: Any, path: list[str | int], depth: int) -> Condition:
    if isinstance(raw, str):
        return parse_comparison(raw, path)
    if isinstance(raw, Mapping):
        if len(raw) != 1:
            keys = ", ".join(sorted(str(k) for k in raw)) or "none"
            raise ConditionError(f"must have exactly one of all, any, not (found: {keys})", path)
        key, value = next(iter(raw.items()))
        if key not in ("all", "any", "not"):
            raise ConditionError("unknown key (allowed: all, any, not)", [*path, str(key)])
        here = [*path, key]
        if depth >= MAX_DEPTH:
            raise ConditionError(f"conditions nest at most {MAX_DEPTH} deep", here)
        if key == "not":
            return NotOf(_parse(value, here, depth + 1))
        if not isinstance(value, list) or not value:
            raise ConditionError("must be a non-empty list of conditions", here)
        if len(value) > MAX_ITEMS:
            raise ConditionError(f"must have at most {MAX_ITEMS} conditions", here)
        parts = tuple(_parse(v, [*here, i], depth + 1) for i, v in enumerate(value))
        return AllOf(parts) if key == "all" else AnyOf(parts)
    if raw is None:
        raise ConditionError(f"is empty: write {FORM}", path)
    raise ConditionError(f"must be a comparison ({FORM}) or a mapping with all, any or not", path)


def _tokens(text: str, path: list[str | int]) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    at = 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise ConditionError(f"cannot read {text[at:].strip()!r} in {text!r}", path)
        kind = match.lastgroup or ""
        value = match.group(kind)
        tokens.append(("text" if kind.endswith("quoted") else kind, value))
        at = match.end()
    return tokens


def parse_comparison(text: str, path: Sequence[str | int] = ()) -> Comparison:
    """One comparison written as text; ConditionError names what is wrong."""
    where = list(path)
    shown = " ".join(text.split())
    if len(text) > MAX_TEXT:
        raise ConditionError(f"is longer than {MAX_TEXT} characters", where)
    tokens = _tokens(text, where)
    if not tokens:
        raise ConditionError(f"is empty: write {FORM}", where)
    kind, name = tokens[0]
    if kind != "word":
        raise ConditionError(f"must start with an attribute: write {FORM}", where)
    attribute = ATTRIBUTES.get(name)
    if attribute is None:
        known = ", ".join(ATTRIBUTES)
        raise ConditionError(f"unknown attribute {name!r} (known: {known})", where)
    rest = tokens[1:]
    if not rest:
        if attribute.kind == FLAG:  # `first_purchase` alone reads `first_purchase == true`
            return Comparison(name, "==", True, shown)
        raise ConditionError(f"{shown!r} needs an operator and a value: write {FORM}", where)
    operator, rest = _operator(rest)
    if operator is None:
        raise ConditionError(
            f"{rest[0][1]!r} is not an operator (use one of "
            f"{', '.join(OPERATORS[attribute.kind])})",
            where,
        )
    if operator not in OPERATORS[attribute.kind]:
        raise ConditionError(
            f"{operator!r} does not apply to {name}, which is "
            f"{_OPERATOR_WORDS[attribute.kind]}: use {', '.join(OPERATORS[attribute.kind])}",
            where,
        )
    if not rest:
        raise ConditionError(f"{shown!r} has no value after {operator!r}", where)
    if operator in ("in", "not in"):
        value: Value = _list(rest, attribute, shown, where)
    else:
        if len(rest) != 1 or rest[0][0] not in ("word", "text"):
            raise ConditionError(f"{shown!r} must end with one value after {operator!r}", where)
        value = _value(rest[0], attribute, where)
    return Comparison(name, operator, value, shown)


def _operator(tokens: list[tuple[str, str]]) -> tuple[str | None, list[tuple[str, str]]]:
    kind, text = tokens[0]
    if kind == "op" and text in _ORDERED:
        return text, tokens[1:]
    if kind == "word" and text in ("in", "contains"):
        return text, tokens[1:]
    if kind == "word" and text == "not" and len(tokens) > 1:
        following = tokens[1][1]
        if tokens[1][0] == "word" and following in ("in", "contains"):
            return f"not {following}", tokens[2:]
    return None, tokens


def _list(
    tokens: list[tuple[str, str]], attribute: Attribute, shown: str, where: list[str | int]
) -> tuple[int | str, ...]:
    if tokens[0] != ("punct", "[") or tokens[-1] != ("punct", "]"):
        raise ConditionError(
            f"{shown!r}: the values after 'in' go in [ ], e.g. [gold, platinum]", where
        )
    inner = tokens[1:-1]
    values: list[int | str] = []
    expect_value = True
    for token in inner:
        if expect_value and token[0] in ("word", "text"):
            value = _value(token, attribute, where)
            assert not isinstance(value, tuple | bool | date)
            values.append(value)
        elif not expect_value and token == ("punct", ","):
            pass
        else:
            raise ConditionError(f"{shown!r}: cannot read the list of values", where)
        expect_value = not expect_value
    if not values or expect_value:
        raise ConditionError(f"{shown!r}: the list must hold values separated by commas", where)
    if len(values) > MAX_ITEMS:
        raise ConditionError(f"{shown!r}: at most {MAX_ITEMS} values", where)
    return tuple(values)


def _value(token: tuple[str, str], attribute: Attribute, where: list[str | int]) -> Value:
    kind, text = token
    if attribute.kind == NUMBER:
        if kind != "word" or not _NUMBER.match(text):
            raise ConditionError(f"{attribute.name} needs a whole number, got {text!r}", where)
        return int(text)
    if attribute.kind == DATE:
        try:
            if not _DATE.match(text):
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            raise ConditionError(
                f"{attribute.name} needs a date YYYY-MM-DD, got {text!r}", where
            ) from None
    if attribute.kind == FLAG:
        if kind == "word" and text in ("true", "false"):
            return text == "true"
        raise ConditionError(f"{attribute.name} needs true or false, got {text!r}", where)
    if not text:
        raise ConditionError(f"{attribute.name} needs a non-empty value", where)
    return text
