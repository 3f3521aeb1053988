"""Member links: direct links, account-link nonces and unlinking (`init_api` adds them)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Response, jsonify
from sqlalchemy.exc import IntegrityError

from bot.core.services import current_services
from bot.linking import service as linking
from bot.linking.schemas import (
    MEMBER_PATH_PARAM,
    LinkNonceRequest,
    LinkRequest,
    member_id_param,
    parse_request,
)
from bot.models import LinkSource
from bot.shop_api.api import ShopApi, json_body, on_commit, shop_endpoint
from bot.shop_api.errors import ApiError
from bot.shop_api.openapi import (
    common_errors,
    component_schemas,
    error,
    json_request,
    json_response,
    signed,
)

ACCOUNT_LINK_URL = "https://access.line.me/dialog/bot/accountLink"


def init_api(api: ShopApi) -> None:
    """Add POST /links, POST /link-nonces and DELETE /links/{member_id} to `api`."""
    api.bp.add_url_rule("/links", view_func=create_link, methods=["POST"])
    api.bp.add_url_rule("/link-nonces", view_func=create_link_nonce, methods=["POST"])
    api.bp.add_url_rule(
        "/links/<member:member_id>",
        view_func=delete_link,
        methods=["DELETE"],
        merge_slashes=False,
    )
    api.add_paths(OPENAPI_PATHS, {**REQUEST_SCHEMAS, **RESPONSE_SCHEMAS})


@shop_endpoint
def create_link() -> tuple[Response, int]:
    """Link a member to a LINE user id known from LINE Login; 201 new, 200 already linked."""
    body = parse_request(LinkRequest, json_body())
    member_id, line_user_id = body.member_id, body.line_user_id
    services = current_services()
    session = services.db.session()
    try:
        outcome = linking.link_member(
            session, member_id, line_user_id, services.clock.now(), LinkSource.API
        )
    except IntegrityError:
        # A concurrent request linked the same member or LINE user first.
        raise ApiError(409, "conflict", "the link changed concurrently; retry") from None
    if outcome.created:
        _notify(outcome.history_id, outcome.displaced_history_id)
    return jsonify(link_body(member_id, outcome.shopper.line_user_id, outcome.shopper.linked_at)), (
        201 if outcome.created else 200
    )


@shop_endpoint
def create_link_nonce() -> tuple[Response, int]:
    """A nonce for the account-link flow and the LINE URL to send the shopper to."""
    body = parse_request(LinkNonceRequest, json_body())
    member_id, link_token = body.member_id, body.link_token
    services = current_services()
    try:
        nonce = linking.create_nonce(
            services.db.session(), member_id, link_token, services.clock.now()
        )
    except linking.LinkError as exc:
        status = 404 if exc.code == "unknown_link_token" else 409
        raise ApiError(status, exc.code, exc.message, "link_token") from None
    query = urlencode({"linkToken": link_token, "nonce": nonce.nonce})
    return jsonify(
        nonce=nonce.nonce,
        redirect_url=f"{ACCOUNT_LINK_URL}?{query}",
        expires_at=nonce.expires_at.isoformat().replace("+00:00", "Z"),
    ), 201


@shop_endpoint
def delete_link(member_id: str) -> tuple[str, int]:
    """Unlink a member (the shopper is told); 404 if not linked."""
    member_id_param(member_id)
    services = current_services()
    session = services.db.session()
    shopper = linking.member_shopper(session, member_id)
    if shopper is None:
        raise ApiError(404, "not_linked", "this member is not linked", "member_id")
    entry = linking.unlink_shopper(session, shopper, services.clock.now(), LinkSource.API)
    if entry is not None:
        _notify(entry.id)
    return "", 204


def link_body(member_id: str, line_user_id: str, linked_at: object) -> dict[str, object]:
    """The JSON body describing one link."""
    when = getattr(linked_at, "isoformat", None)
    return {
        "member_id": member_id,
        "line_user_id": line_user_id,
        "linked_at": when().replace("+00:00", "Z") if when else None,
    }


def _notify(*history_ids: int | None) -> None:
    from bot.linking.handlers import enqueue_link_notice

    queues = current_services().queues
    for history_id in history_ids:
        if history_id is not None:
            on_commit(lambda hid=history_id: enqueue_link_notice(queues, hid))


REQUEST_SCHEMAS = {
    **component_schemas("LinkRequest", LinkRequest),
    **component_schemas("LinkNonceRequest", LinkNonceRequest),
}
# Responses are written out: the models above are the request shapes.
RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "Link": {
        "type": "object",
        "required": ["member_id", "line_user_id", "linked_at"],
        "properties": {
            "member_id": {"type": "string"},
            "line_user_id": {"type": "string"},
            "linked_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "LinkNonce": {
        "type": "object",
        "required": ["nonce", "redirect_url", "expires_at"],
        "properties": {
            "nonce": {"type": "string", "minLength": 22},
            "redirect_url": {"type": "string", "format": "uri"},
            "expires_at": {"type": "string", "format": "date-time"},
        },
    },
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/links": {
        "post": {
            "operationId": "createLink",
            "summary": "Link a member to a LINE user id obtained through LINE Login",
            "parameters": signed(idempotent=True),
            "requestBody": json_request("LinkRequest"),
            "responses": {
                "201": json_response("Linked now.", "Link"),
                "200": json_response("Already linked exactly so; nothing changed.", "Link"),
                **common_errors(body=True, idempotent=True),
                "409": error("Idempotency-Key reuse, or the link changed concurrently."),
            },
        }
    },
    "/link-nonces": {
        "post": {
            "operationId": "createLinkNonce",
            "summary": "Start the account-link flow for a member who just logged in",
            "parameters": signed(idempotent=True),
            "requestBody": json_request("LinkNonceRequest"),
            "responses": {
                "201": json_response("Redirect the shopper to redirect_url.", "LinkNonce"),
                **common_errors(body=True, idempotent=True),
                "404": error("The link token was not issued by this bot."),
                "409": error(
                    "The link token is used or expired, or the Idempotency-Key was reused."
                ),
            },
        }
    },
    "/links/{member_id}": {
        "delete": {
            "operationId": "deleteLink",
            "summary": "Unlink a member; the shopper is told on LINE",
            "parameters": [MEMBER_PATH_PARAM, *signed(idempotent=True)],
            "responses": {
                "204": {"description": "Unlinked."},
                **common_errors(body=False, idempotent=True),
                "404": error("The member is not linked."),
            },
        }
    },
}
