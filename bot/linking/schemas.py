"""The shapes of the linking requests (pydantic): ids, link bodies, and how a refusal reads.

The same models check the bodies (`parse_request`) and describe them in the OpenAPI document
(`bot.linking.api`); the member-id type is also the grammar of every event and path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from bot.linking.service import (
    LINE_USER_ID_PATTERN,
    LINK_TOKEN_PATTERN,
    MEMBER_ID_MAX,
    MEMBER_ID_PATTERN,
    MEMBER_ID_WHAT,
)
from bot.shop_api.errors import ApiError
from bot.shop_api.openapi import type_schema
from bot.shop_api.validation import describe, first_error

LINE_USER_ID_WHAT = "'U' followed by 32 lowercase hex digits"
LINK_TOKEN_WHAT = "the link token from the bot's login link"

MemberId = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=1, max_length=MEMBER_ID_MAX, pattern=MEMBER_ID_PATTERN),
    Field(description=MEMBER_ID_WHAT, json_schema_extra={"example": "M123"}),
]
LineUserId = Annotated[str, Strict(), StringConstraints(pattern=LINE_USER_ID_PATTERN)]
LinkToken = Annotated[str, Strict(), StringConstraints(pattern=LINK_TOKEN_PATTERN)]

# What each pattern stands for, in the words a refusal uses: "member_id must be ...".
PATTERNS: Mapping[str, str] = {
    MEMBER_ID_PATTERN: MEMBER_ID_WHAT,
    LINE_USER_ID_PATTERN: LINE_USER_ID_WHAT,
    LINK_TOKEN_PATTERN: LINK_TOKEN_WHAT,
}


class LinkRequest(BaseModel):
    """POST /links: link a member to a LINE user id known from LINE Login."""

    model_config = ConfigDict(extra="forbid")  # catches typos such as `memberId`

    member_id: MemberId
    line_user_id: LineUserId


class LinkNonceRequest(BaseModel):
    """POST /link-nonces: start the account-link flow for a member who just logged in."""

    model_config = ConfigDict(extra="forbid")

    member_id: MemberId
    link_token: LinkToken


M = TypeVar("M", bound=BaseModel)


def parse_request(model: type[M], body: Mapping[str, Any]) -> M:
    """`body` as `model`; a 400 naming the first field at fault (an unknown one first)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        error = describe(first_error(exc), PATTERNS, null_is_missing=False)
        raise ApiError(400, error.code, f"{error.field} {error.message}", error.field) from None


_MEMBER_ID = TypeAdapter(MemberId)


def member_id_param(value: str) -> str:
    """The `{member_id}` of a path, in the same grammar as every body that carries one."""
    try:
        return _MEMBER_ID.validate_python(value)
    except ValidationError:
        raise ApiError(
            400, "invalid_parameter", f"member_id must be {MEMBER_ID_WHAT}", "member_id"
        ) from None


MEMBER_PATH_PARAM: dict[str, Any] = {
    "name": "member_id",
    "in": "path",
    "required": True,
    "description": "The shop's member id (URL-encoded).",
    "schema": type_schema(MemberId),
}
