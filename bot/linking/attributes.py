"""Member attributes from the shop: `PUT /api/v1/members/{member_id}/attributes`.

The shop sends what it knows of a member (tags, rank, birthday month, first and last order
date, order count, lifetime value) and the step-delivery engine's conditions read them at
send time (`bot.delivery.segments`). A PUT replaces the whole set: a field left out is
"unknown" again (tags: none). A member who has not linked a LINE account yet may have
attributes; they are erased with the member.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Any

from flask import Response, jsonify
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError
from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot.core.services import current_services
from bot.linking.members import MemberHooks
from bot.linking.schemas import MEMBER_PATH_PARAM, PATTERNS, member_id_param
from bot.models import MemberAttributes
from bot.shop_api.api import ShopApi, json_body, shop_endpoint
from bot.shop_api.errors import ApiError
from bot.shop_api.openapi import (
    common_errors,
    component_schemas,
    error,
    json_request,
    json_response,
    signed,
)
from bot.shop_api.validation import describe, first_error

MAX_TAGS = 50
MAX_WHOLE = 2**31 - 1  # a 32-bit database integer, as for amounts in events
# A label: 1-64 characters, no control characters (tabs and newlines included).
LABEL_PATTERN = r"^[^\x00-\x1f\x7f]{1,64}$"
LABEL_WHAT = "1-64 characters without control characters"


def _integral(value: object) -> object:
    # JSON has one number type: 3.0 is the whole number 3.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _whole(minimum: int, maximum: int = MAX_WHOLE) -> Any:
    return Annotated[int, Strict(), Field(ge=minimum, le=maximum), BeforeValidator(_integral)]


def _iso_date(value: object) -> object:
    if not isinstance(value, str):
        raise PydanticCustomError("date", "must be a date YYYY-MM-DD")
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date", "must be a date YYYY-MM-DD") from None


Label = Annotated[str, Strict(), StringConstraints(pattern=LABEL_PATTERN)]
OrderDate = Annotated[date, BeforeValidator(_iso_date)]
Month = _whole(1, 12)
Whole = _whole(0)


class MemberAttributesRequest(BaseModel):
    """PUT /members/{member_id}/attributes: everything the shop knows of the member now."""

    model_config = ConfigDict(extra="forbid")  # catches typos such as `orderCount`

    tags: list[Label] | None = Field(
        default=None,
        max_length=MAX_TAGS,
        description="The shop's tags (conditions: tags contains vip). Compared without case.",
    )
    rank: Label | None = Field(default=None, description="The member's rank, e.g. gold.")
    birthday_month: Month | None = Field(default=None, description="1-12.")
    first_order_date: OrderDate | None = None
    last_order_date: OrderDate | None = None
    order_count: Whole | None = Field(default=None, description="Orders placed (0: none).")
    lifetime_value: Whole | None = Field(
        default=None, description="Yen spent in all, a whole number."
    )


_PATTERNS: Mapping[str, str] = {**PATTERNS, LABEL_PATTERN: LABEL_WHAT}


def parse_attributes(body: Mapping[str, Any]) -> MemberAttributesRequest:
    """The body as attributes; a 400 naming the first field at fault (an unknown one first)."""
    try:
        return MemberAttributesRequest.model_validate(body)
    except ValidationError as exc:
        found = describe(first_error(exc), _PATTERNS, null_is_missing=False)
        raise ApiError(400, found.code, f"{found.field} {found.message}", found.field) from None


def store_attributes(
    session: Session, member_id: str, body: MemberAttributesRequest, now: datetime
) -> tuple[MemberAttributes, bool]:
    """Replace the member's attributes; returns the row and whether it is new."""
    row = session.get(MemberAttributes, member_id)
    created = row is None
    if row is None:
        row = MemberAttributes(member_id=member_id)
        session.add(row)
    row.tags = list(dict.fromkeys(body.tags or []))  # the order sent, each tag once
    row.rank = body.rank
    row.birthday_month = body.birthday_month
    row.first_order_date = body.first_order_date
    row.last_order_date = body.last_order_date
    row.order_count = body.order_count
    row.lifetime_value = body.lifetime_value
    row.updated_at = now
    session.flush()
    return row, created


def erase_attributes(
    session: Session, member_id: str, _line_user_ids: Sequence[str]
) -> dict[str, int]:
    """The member's attributes go with the member (DELETE /members/{member_id})."""
    result = session.execute(
        delete(MemberAttributes).where(MemberAttributes.member_id == member_id)
    )
    return {"member_attributes": int(getattr(result, "rowcount", 0) or 0)}


def attributes_body(row: MemberAttributes) -> dict[str, Any]:
    """The JSON body describing a member's stored attributes."""

    def day(value: date | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "member_id": row.member_id,
        "tags": list(row.tags or []),
        "rank": row.rank,
        "birthday_month": row.birthday_month,
        "first_order_date": day(row.first_order_date),
        "last_order_date": day(row.last_order_date),
        "order_count": row.order_count,
        "lifetime_value": row.lifetime_value,
        "updated_at": row.updated_at.isoformat().replace("+00:00", "Z"),
    }


# -- the endpoint ----------------------------------------------------------------------------


def init_api(api: ShopApi, hooks: MemberHooks) -> None:
    """Add PUT, GET and DELETE /members/{member_id}/attributes to `api`; the attributes are
    also erased with the member."""
    path = "/members/<member:member_id>/attributes"
    # All three methods, so that the path never falls through to GET or DELETE
    # /members/{member_id} (a member id may hold slashes: "M1/attributes" is one).
    api.bp.add_url_rule(path, view_func=put_attributes, methods=["PUT"], merge_slashes=False)
    api.bp.add_url_rule(path, view_func=get_attributes, methods=["GET"], merge_slashes=False)
    api.bp.add_url_rule(path, view_func=delete_attributes, methods=["DELETE"], merge_slashes=False)
    api.add_paths(OPENAPI_PATHS, {**REQUEST_SCHEMAS, **RESPONSE_SCHEMAS})
    hooks.erasers.append(erase_attributes)


@shop_endpoint
def put_attributes(member_id: str) -> tuple[Response, int]:
    """Replace a member's attributes; 201 the first time, 200 after."""
    member_id_param(member_id)
    body = parse_attributes(json_body())
    services = current_services()
    row, created = store_attributes(services.db.session(), member_id, body, services.clock.now())
    return jsonify(attributes_body(row)), 201 if created else 200


@shop_endpoint
def get_attributes(member_id: str) -> Response:
    """The member's stored attributes; 404 if the shop never sent any."""
    member_id_param(member_id)
    row = current_services().db.session().get(MemberAttributes, member_id)
    if row is None:
        raise ApiError(
            404, "unknown_member", "no attributes are stored for this member", "member_id"
        )
    return jsonify(attributes_body(row))


@shop_endpoint
def delete_attributes(member_id: str) -> tuple[str, int]:
    """Forget the member's attributes (the member and its link stay); 404 if none."""
    member_id_param(member_id)
    counts = erase_attributes(current_services().db.session(), member_id, ())
    if not counts["member_attributes"]:
        raise ApiError(
            404, "unknown_member", "no attributes are stored for this member", "member_id"
        )
    return "", 204


REQUEST_SCHEMAS = component_schemas("MemberAttributesRequest", MemberAttributesRequest)
_NULLABLE_TEXT: dict[str, Any] = {"type": ["string", "null"]}
_NULLABLE_WHOLE: dict[str, Any] = {"type": ["integer", "null"], "minimum": 0}
_NULLABLE_DATE: dict[str, Any] = {"type": ["string", "null"], "format": "date"}
RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "MemberAttributes": {
        "type": "object",
        "required": [
            "member_id",
            "tags",
            "rank",
            "birthday_month",
            "first_order_date",
            "last_order_date",
            "order_count",
            "lifetime_value",
            "updated_at",
        ],
        "properties": {
            "member_id": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "rank": _NULLABLE_TEXT,
            "birthday_month": {"type": ["integer", "null"], "minimum": 1, "maximum": 12},
            "first_order_date": _NULLABLE_DATE,
            "last_order_date": _NULLABLE_DATE,
            "order_count": _NULLABLE_WHOLE,
            "lifetime_value": _NULLABLE_WHOLE,
            "updated_at": {"type": "string", "format": "date-time"},
        },
    }
}
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/members/{member_id}/attributes": {
        "put": {
            "operationId": "putMemberAttributes",
            "summary": "Replace what the shop knows of a member, for segments and conditions",
            "description": (
                "The whole set: a field left out is unknown again (tags: none), and no "
                "condition on an unknown attribute is true. The member need not be linked."
            ),
            "parameters": [MEMBER_PATH_PARAM, *signed(idempotent=True)],
            "requestBody": json_request("MemberAttributesRequest"),
            "responses": {
                "201": json_response("Stored; the member had none before.", "MemberAttributes"),
                "200": json_response("Replaced.", "MemberAttributes"),
                **common_errors(body=True, idempotent=True),
                "400": error(
                    "Invalid JSON, member_id or Idempotency-Key is malformed, or a field is "
                    "wrong (`field` names it)."
                ),
            },
        },
        "get": {
            "operationId": "getMemberAttributes",
            "summary": "The attributes stored for a member",
            "parameters": [MEMBER_PATH_PARAM, *signed(idempotent=False)],
            "responses": {
                "200": json_response("The stored attributes.", "MemberAttributes"),
                **common_errors(body=False, idempotent=False),
                "400": error("member_id is malformed."),
                "404": error("No attributes are stored for this member."),
            },
        },
        "delete": {
            "operationId": "deleteMemberAttributes",
            "summary": "Forget a member's attributes (the member and its link stay)",
            "parameters": [MEMBER_PATH_PARAM, *signed(idempotent=True)],
            "responses": {
                "204": {"description": "Forgotten."},
                **common_errors(body=False, idempotent=True),
                "400": error("member_id or the Idempotency-Key header is malformed."),
                "404": error("No attributes are stored for this member."),
            },
        },
    }
}
