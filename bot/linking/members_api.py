"""Members: what the bot knows about a member's LINE side, and erasure on request."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from bot.core.services import current_services
from bot.linking import service as linking
from bot.shop_api.api import bp, register_openapi_paths, shop_endpoint
from bot.shop_api.errors import ApiError
from bot.shop_api.openapi import MEMBER_PATH_PARAM, common_errors, error, json_response, signed
from bot.shop_api.validation import member_id_param


@bp.get("/members/<member:member_id>", merge_slashes=False)
@shop_endpoint
def get_member(member_id: str) -> Response:
    """Link state, LINE follow state and marketing consent of a member."""
    member_id_param(member_id)
    state = linking.member_state(current_services().db.session(), member_id)
    if state is None:
        raise ApiError(404, "unknown_member", "this member has never been linked", "member_id")
    return jsonify(state)


@bp.delete("/members/<member:member_id>", merge_slashes=False)
@shop_endpoint
def erase_member(member_id: str) -> tuple[str, int]:
    """Erase the member's personal data; only anonymous counts remain."""
    member_id_param(member_id)
    services = current_services()
    counts = linking.erase_member(
        services.db.session(),
        member_id,
        services.clock.now(),
        services.settings.secret_key.encode(),
    )
    if counts is None:
        raise ApiError(404, "unknown_member", "nothing is stored about this member", "member_id")
    return "", 204


_NULLABLE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}

register_openapi_paths(
    {
        "/members/{member_id}": {
            "get": {
                "operationId": "getMember",
                "summary": "A member's link, LINE follow state and marketing consent",
                "parameters": [MEMBER_PATH_PARAM, *signed(idempotent=False)],
                "responses": {
                    "200": json_response("The member's state.", "Member"),
                    **common_errors(body=False, idempotent=False),
                    "400": error("member_id is malformed."),
                    "404": error("The member has never been linked."),
                },
            },
            "delete": {
                "operationId": "eraseMember",
                "summary": "Erase the member's personal data (anonymous counts are kept)",
                "description": (
                    "Also erases every LINE user linked to the member now or before, unless "
                    "linked to another member since. See the shop API guide for what is kept."
                ),
                "parameters": [MEMBER_PATH_PARAM, *signed(idempotent=True)],
                "responses": {
                    "204": {"description": "Erased."},
                    **common_errors(body=False, idempotent=True),
                    "400": error("member_id or the Idempotency-Key header is malformed."),
                    "404": error("The member is unknown."),
                },
            },
        }
    },
    {
        "Member": {
            "type": "object",
            "required": [
                "member_id",
                "linked",
                "line_user_id",
                "linked_at",
                "follow_state",
                "marketing_opt_in",
                "consent_changed_at",
            ],
            "properties": {
                "member_id": {"type": "string"},
                "linked": {"type": "boolean"},
                "line_user_id": {"type": ["string", "null"]},
                "linked_at": _NULLABLE_TIME,
                "follow_state": {
                    "type": ["string", "null"],
                    "enum": ["following", "blocked", None],
                },
                "marketing_opt_in": {"type": ["boolean", "null"]},
                "consent_changed_at": _NULLABLE_TIME,
            },
        }
    },
)
