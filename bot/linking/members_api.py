"""Members: what the bot knows about a member's LINE side, and erasure on request.

Other features add to both through the app's `MemberHooks` (see `init_api`).
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify
from flask.blueprints import BlueprintSetupState

from bot.core.services import current_services
from bot.linking import members
from bot.linking.schemas import MEMBER_PATH_PARAM, member_id_param
from bot.shop_api.api import ShopApi, shop_endpoint
from bot.shop_api.errors import ApiError
from bot.shop_api.openapi import common_errors, error, json_response, signed

HOOKS_KEY = "member_hooks"  # app.extensions[HOOKS_KEY]: the app's members.MemberHooks


def init_api(api: ShopApi, hooks: members.MemberHooks) -> None:
    """Add GET and DELETE /members/{member_id} to `api`; they use `hooks`, which other
    features may still add to (until the app serves requests)."""
    path = "/members/<member:member_id>"
    api.bp.add_url_rule(path, view_func=get_member, methods=["GET"], merge_slashes=False)
    api.bp.add_url_rule(path, view_func=erase_member, methods=["DELETE"], merge_slashes=False)

    def keep_hooks(state: BlueprintSetupState) -> None:
        state.app.extensions[HOOKS_KEY] = hooks

    api.bp.record_once(keep_hooks)
    api.add_paths(OPENAPI_PATHS, {"Member": MEMBER_SCHEMA})


def member_hooks() -> members.MemberHooks:
    """The current app's member hooks."""
    return current_app.extensions[HOOKS_KEY]


@shop_endpoint
def get_member(member_id: str) -> Response:
    """Link state, LINE follow state and marketing consent of a member."""
    member_id_param(member_id)
    hooks = member_hooks()
    state = members.member_state(
        current_services().db.session(), member_id, hooks.extras, hooks.fields, hooks.known
    )
    if state is None:
        raise ApiError(404, "unknown_member", "nothing is known about this member", "member_id")
    return jsonify(state)


@shop_endpoint
def erase_member(member_id: str) -> tuple[str, int]:
    """Erase the member's personal data; only anonymous counts remain."""
    member_id_param(member_id)
    services = current_services()
    counts = members.erase_member(
        services.db.session(),
        member_id,
        services.clock.now(),
        services.settings.secret_key.encode(),
        member_hooks().erasers,
    )
    if counts is None:
        raise ApiError(404, "unknown_member", "nothing is stored about this member", "member_id")
    return "", 204


_NULLABLE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/members/{member_id}": {
        "get": {
            "operationId": "getMember",
            "summary": "A member's link, LINE follow state, contact and marketing consent",
            "parameters": [MEMBER_PATH_PARAM, *signed(idempotent=False)],
            "responses": {
                "200": json_response("The member's state.", "Member"),
                **common_errors(body=False, idempotent=False),
                "400": error("member_id is malformed."),
                "404": error("The member has never been linked and nothing is stored of it."),
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
}
MEMBER_SCHEMA: dict[str, Any] = {
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
