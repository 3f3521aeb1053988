"""POST /api/v1/events: cart and order events from the EC site; deliveries in member views."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy.orm import Session

from bot.core.services import current_services
from bot.delivery import events as shop_events
from bot.delivery.engine import erase_customer, member_deliveries
from bot.delivery.jobs import enqueue_restock
from bot.delivery.schemas import EVENT_SCHEMAS, EventInvalid
from bot.delivery.staff_sends import erase_member_traces
from bot.linking.members import MemberHooks
from bot.models import Shopper
from bot.shop_api.api import ShopApi, json_body, on_commit, shop_endpoint
from bot.shop_api.errors import ApiError
from bot.shop_api.openapi import common_errors, json_request, json_response, signed


def init_api(api: ShopApi, members: MemberHooks) -> None:
    """Add POST /events to `api`, and the member's deliveries to the member endpoints:
    shown by GET /members/{id} and erased by DELETE /members/{id}, with the carts, orders
    and event contents the shop sent. Needs the member endpoints added first."""
    if "Member" not in api.schemas:
        raise RuntimeError("add the member endpoints (members_api.init_api) before the events")
    api.bp.add_url_rule("/events", view_func=post_event, methods=["POST"])
    api.add_paths(_PATHS, {**EVENT_SCHEMAS, **_RESPONSE_SCHEMAS})
    members.erasers.append(erase_customer)
    members.erasers.append(erase_member_traces)  # test sends made with the member's data
    members.extras.append(member_deliveries_field)
    api.schemas["Member"]["properties"]["deliveries"] = _MEMBER_DELIVERIES


@shop_endpoint
def post_event() -> tuple[Response, int]:
    """Record one shop event; 202 when accepted, 200 `{"duplicate": true}` for a known event_id."""
    from bot.delivery.receivers import delivery_rules

    services = current_services()
    try:
        event = shop_events.validate_event(json_body(), services.settings.allowed_link_hosts)
    except EventInvalid as exc:
        raise ApiError(400, "invalid_field", exc.message, exc.field) from None
    row = shop_events.record_event(
        services.db.session(), event, delivery_rules(services), services.clock.now()
    )
    if row is None:
        return jsonify(duplicate=True), 200
    if row.event_type == "product.restocked":
        row_id = row.id
        on_commit(lambda: enqueue_restock(services.queues, row_id))
    return jsonify(accepted=True), 202


# Responses are written out: the models in `schemas` are the request shapes.
_RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "EventAccepted": {
        "type": "object",
        "properties": {"accepted": {"type": "boolean"}, "duplicate": {"type": "boolean"}},
    },
}

_PATHS: dict[str, dict[str, Any]] = {
    "/events": {
        "post": {
            "summary": "Report a cart, order or product event",
            "description": (
                "Events about members not linked yet are kept and start their flows when "
                "the member links. An event older than what is known does not reopen a "
                "finished flow."
            ),
            "operationId": "postEvent",
            "parameters": signed(idempotent=True),
            "requestBody": json_request("ShopEvent"),
            "responses": {
                "202": json_response("Accepted.", "EventAccepted"),
                "200": json_response("This event_id was seen before: no effect.", "EventAccepted"),
                **common_errors(body=True, idempotent=True),
            },
        }
    }
}


def member_deliveries_field(session: Session, shopper: Shopper) -> dict[str, Any]:
    """GET /members/{id} also shows the member's deliveries: pending, sent, and why skipped."""
    return {"deliveries": member_deliveries(session, shopper)}


# The Member schema's `deliveries` (schemathesis checks responses against the document).
_MEMBER_DELIVERIES: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "scenario", "step", "state", "due_at"],
        "properties": {
            "id": {"type": "integer"},
            "scenario": {"type": "string"},
            "step": {"type": "string"},
            "template": {"type": "string"},
            "variant": {"type": ["string", "null"]},
            "marketing": {"type": "boolean"},
            "subject": {"type": ["string", "null"]},
            "state": {
                "type": "string",
                "enum": ["pending", "sending", "sent", "cancelled", "skipped", "failed"],
            },
            "due_at": {"type": "string", "format": "date-time"},
            "sent_at": {"type": ["string", "null"], "format": "date-time"},
            "reason": {"type": ["string", "null"]},
            "attempts": {"type": "integer"},
            "line_request_id": {"type": ["string", "null"]},
            "channel": {"type": "string", "enum": ["line", "email", "sms"]},
            "flow_state": {"type": "string"},
        },
    },
}
