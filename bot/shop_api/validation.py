"""Checks for JSON bodies and path parameters that name the offending field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from werkzeug.routing import BaseConverter

from bot.linking.service import MEMBER_ID_WHAT, is_member_id
from bot.shop_api.api import bp
from bot.shop_api.errors import ApiError

# Python's `$` also matches before a final newline, so every check here is a full match:
# "M7\n" is not "M7".


def _required_string(body: Mapping[str, Any], name: str) -> str:
    if name not in body:
        raise ApiError(400, "missing_field", f"{name} is required", name)
    value = body[name]
    if not isinstance(value, str):
        raise ApiError(400, "invalid_field", f"{name} must be a string", name)
    return value


def string_field(body: Mapping[str, Any], name: str, pattern: str, what: str) -> str:
    """A required string field wholly matching `pattern`; 400 naming the field otherwise."""
    value = _required_string(body, name)
    if not re.fullmatch(pattern, value):
        raise ApiError(400, "invalid_field", f"{name} must be {what}", name)
    return value


def member_id_field(body: Mapping[str, Any]) -> str:
    """The required `member_id` of a request body, in the one member-id grammar."""
    value = _required_string(body, "member_id")
    if not is_member_id(value):
        raise ApiError(400, "invalid_field", f"member_id must be {MEMBER_ID_WHAT}", "member_id")
    return value


def no_other_fields(body: Mapping[str, Any], allowed: set[str]) -> None:
    """400 for a field the endpoint does not know (catches typos such as `memberId`)."""
    for name in body:
        if name not in allowed:
            raise ApiError(400, "unknown_field", f"{name} is not a field of this request", name)


def member_id_param(value: str) -> str:
    """The `{member_id}` of a path, in the same grammar as every body that carries one."""
    if not is_member_id(value):
        raise ApiError(400, "invalid_parameter", f"member_id must be {MEMBER_ID_WHAT}", "member_id")
    return value


class MemberIdConverter(BaseConverter):
    """`<member:name>`: the rest of the path, slashes included, even leading or doubled ones.

    Werkzeug's `path` converter refuses a leading slash, so a member id such as "/7" (valid
    printable ASCII) could not be addressed; the routes also turn off slash merging. What the
    id may contain is checked by `member_id_param`, with a reason.
    """

    regex = r"[\s\S]+"  # not ".": a newline must reach `member_id_param` and get its reason
    part_isolating = False


# Recorded when this module is first imported, which is before the endpoint modules that use
# `<member:...>` add their routes, so the converter exists when the rules are built.
bp.record_once(lambda state: state.app.url_map.converters.setdefault("member", MemberIdConverter))
