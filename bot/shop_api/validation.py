"""Request bodies checked by pydantic models, refusals told as a field path and a reason.

Each feature defines its request shapes once, as pydantic models in its `schemas` module;
the OpenAPI components come from the same models (`openapi.component_schemas`). This module
turns pydantic's first error into what the API answers: the field as the client wrote it
(`cart.items[0].price`) and a plain reason (`must be at most 2147483647`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

# A custom error (pydantic_core.PydanticCustomError) raised by a model-level check names the
# field it is about with this context key, e.g. {"field": "member_id"}.
FIELD_KEY = "field"


@dataclass(frozen=True)
class FieldError:
    """The first thing wrong with a request body."""

    code: str  # missing_field, invalid_field or unknown_field
    field: str  # "cart.items[0].price"; "" for the body itself
    message: str  # the reason, without the field name: "must be at most 200 characters"


def field_path(loc: Sequence[str | int]) -> str:
    """A pydantic location as a client spells the field: ("cart", "items", 0) → cart.items[0]."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def first_error(exc: ValidationError) -> ErrorDetails:
    """The error to report: an unknown field first (often a typo of the one reported
    missing), otherwise the first in field order."""
    errors = exc.errors(include_url=False)
    return next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])


def describe(
    error: ErrorDetails,
    patterns: Mapping[str, str],
    *,
    null_is_missing: bool,
    loc: Sequence[str | int] | None = None,
) -> FieldError:
    """One pydantic error as a FieldError.

    `patterns` says in words what each pattern of the models stands for ("1-128 printable
    ASCII characters without spaces"). With `null_is_missing`, a null for a required field
    reads "is required", as if absent. `loc` overrides the error's own location.
    """
    where = list(error["loc"] if loc is None else loc)
    ctx = error.get("ctx") or {}
    if FIELD_KEY in ctx:
        where.append(ctx[FIELD_KEY])
    field = field_path(where)
    kind = error["type"]
    # A null list entry is not a missing field: it reads "must be an object" (or so).
    null_field = error.get("input", 0) is None and bool(where) and isinstance(where[-1], str)
    if kind == "missing" or (null_is_missing and null_field):
        return FieldError("missing_field", field, "is required")
    if kind == "extra_forbidden":
        return FieldError("unknown_field", field, "is not a field of this request")
    return FieldError("invalid_field", field, _reason(kind, ctx, patterns) or error["msg"])


# The reason for each kind of pydantic error, filled in from the error's context.
_REASONS: Mapping[str, str] = {
    "string_type": "must be a string",
    # JSON can escape a lone surrogate; no database (or LINE) can store it.
    "string_unicode": "contains an unpaired surrogate",
    "string_too_long": "must be at most {max_length} characters",
    "string_too_short": "must be at least {min_length} characters",
    "int_type": "must be a whole number (yen amounts have no decimals)",
    "int_from_float": "must be a whole number (yen amounts have no decimals)",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "too_long": "must have at most {max_length} entries",
}


def _reason(kind: str, ctx: Mapping[str, object], patterns: Mapping[str, str]) -> str | None:
    if kind == "string_pattern_mismatch":
        pattern = str(ctx["pattern"])
        return f"must be {patterns.get(pattern, f'text matching {pattern}')}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "literal_error":
        # pydantic quotes the allowed values as Python does ('JPY'); a JSON client reads "JPY".
        expected = str(ctx["expected"]).replace("'", '"')
        return f"must be {expected}"
    reason = _REASONS.get(kind)
    return reason.format(**ctx) if reason is not None else None
