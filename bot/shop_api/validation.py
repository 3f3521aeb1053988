"""Checks for JSON bodies and path parameters that name the offending field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.shop_api.errors import ApiError


def string_field(body: Mapping[str, Any], name: str, pattern: str, what: str) -> str:
    """A required string field matching `pattern`; 400 naming the field otherwise."""
    if name not in body:
        raise ApiError(400, "missing_field", f"{name} is required", name)
    value = body[name]
    if not isinstance(value, str):
        raise ApiError(400, "invalid_field", f"{name} must be a string", name)
    if not re.match(pattern, value):
        raise ApiError(400, "invalid_field", f"{name} must be {what}", name)
    return value


def no_other_fields(body: Mapping[str, Any], allowed: set[str]) -> None:
    """400 for a field the endpoint does not know (catches typos such as `memberId`)."""
    for name in body:
        if name not in allowed:
            raise ApiError(400, "unknown_field", f"{name} is not a field of this request", name)


def path_param(value: str, name: str, pattern: str, what: str) -> str:
    """A path parameter matching `pattern`; 400 naming it otherwise."""
    if not re.match(pattern, value):
        raise ApiError(400, "invalid_parameter", f"{name} must be {what}", name)
    return value
