"""POST /api/v1/events: cart and order events from the EC site."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from flask import Response, jsonify
from sqlalchemy.orm import Session

from bot.core.services import current_services
from bot.delivery import events as shop_events
from bot.delivery.engine import erase_customer, member_deliveries
from bot.delivery.events import (
    EVENT_TIME_PATTERN,
    LINK_FIELDS,
    MAX_WHOLE,
    NOT_BLANK_PATTERN,
    PRODUCT_EVENTS,
)
from bot.delivery.jobs import enqueue_restock
from bot.linking.service import register_eraser, register_member_extras
from bot.models import Shopper
from bot.shop_api.api import (
    OPENAPI_SCHEMAS,
    bp,
    json_body,
    on_commit,
    register_openapi_paths,
    shop_endpoint,
)
from bot.shop_api.errors import ApiError
from bot.shop_api.openapi import (
    LINK_MARK,
    MEMBER_ID_SCHEMA,
    common_errors,
    json_request,
    json_response,
    signed,
)


@bp.post("/events")
@shop_endpoint
def post_event() -> tuple[Response, int]:
    """Record one shop event; 202 when accepted, 200 `{"duplicate": true}` for a known event_id."""
    from bot.delivery.receivers import delivery_rules

    services = current_services()
    try:
        event = shop_events.validate_event(json_body(), services.settings.allowed_link_hosts)
    except shop_events.EventInvalid as exc:
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


_ITEM: dict[str, Any] = {
    "type": "object",
    "required": ["sku", "name", "price", "quantity"],
    "properties": {
        "sku": {"type": "string", "maxLength": 128},
        "name": {"type": "string", "maxLength": 200},
        "price": {
            "type": "integer",
            "minimum": 0,
            "description": "Unit price in yen.",
            "maximum": MAX_WHOLE,
        },
        "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_WHOLE},
        "image_url": {"type": "string", "format": "uri"},
        "product_url": {"type": "string", "format": "uri", "description": "Required in carts."},
        "stock": {
            "type": "integer",
            "minimum": 0,
            "description": "Units left (optional).",
            "maximum": MAX_WHOLE,
        },
    },
}
_COMMON = {
    "type": {"type": "string"},
    "event_id": {
        "type": "string",
        "maxLength": 128,
        "pattern": NOT_BLANK_PATTERN,
        "description": "Unique per event.",
    },
    "occurred_at": {
        "type": "string",
        "format": "date-time",
        "pattern": EVENT_TIME_PATTERN,
        "description": "With offset; a year from 2000 to 2999.",
    },
    "member_id": MEMBER_ID_SCHEMA,
    "line_user_id": {"type": "string", "pattern": "^U[0-9a-f]{32}$"},
}
# Every event but a restock is about one customer: the member, or the LINE user if unlinked.
_CUSTOMER = {"anyOf": [{"required": ["member_id"]}, {"required": ["line_user_id"]}]}


def _event(kind: str, required: list[str], props: dict[str, Any]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": ["type", "event_id", "occurred_at", *required],
        "properties": {**_COMMON, "type": {"type": "string", "enum": [kind]}, **props},
    }
    return schema if kind in PRODUCT_EVENTS else {**schema, **_CUSTOMER}


_SCHEMAS: dict[str, dict[str, Any]] = {
    "ShopEventItem": _ITEM,
    "CartUpdatedEvent": _event(
        "cart.updated",
        ["cart"],
        {
            "cart": {
                "type": "object",
                "required": ["id", "url", "currency", "subtotal", "items"],
                "properties": {
                    "id": {"type": "string"},
                    "url": {"type": "string", "format": "uri"},
                    "currency": {"type": "string", "enum": ["JPY"]},
                    "subtotal": {"type": "integer", "minimum": 0, "maximum": MAX_WHOLE},
                    "items": {
                        "type": "array",
                        "items": {
                            "allOf": [
                                {"$ref": "#/components/schemas/ShopEventItem"},
                                {"required": ["product_url"]},  # the reminder links to it
                            ]
                        },
                    },
                },
            }
        },
    ),
    "CartClearedEvent": _event("cart.cleared", ["cart_id"], {"cart_id": {"type": "string"}}),
    "OrderPlacedEvent": _event(
        "order.placed",
        ["order"],
        {
            "order": {
                "type": "object",
                "required": ["id", "total", "items"],
                "properties": {
                    "id": {"type": "string"},
                    "cart_id": {"type": "string"},
                    "total": {"type": "integer", "minimum": 0, "maximum": MAX_WHOLE},
                    "url": {"type": "string", "format": "uri"},
                    "items": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/ShopEventItem"},
                    },
                },
            }
        },
    ),
    "OrderShippedEvent": _event(
        "order.shipped",
        ["order_id", "carrier", "tracking_number"],
        {
            "order_id": {"type": "string"},
            "carrier": {"type": "string"},
            "tracking_number": {"type": "string"},
            "tracking_url": {"type": "string", "format": "uri"},
            "estimated_delivery_date": {"type": "string", "format": "date"},
        },
    ),
    "OrderDeliveredEvent": _event(
        "order.delivered", ["order_id"], {"order_id": {"type": "string"}}
    ),
    "ProductRestockedEvent": _event(
        "product.restocked",
        ["sku", "name", "product_url"],
        {
            "sku": {"type": "string"},
            "name": {"type": "string"},
            "product_url": {"type": "string", "format": "uri"},
            "image_url": {"type": "string", "format": "uri"},
        },
    ),
    "ProductStockChangedEvent": _event(
        "product.stock_changed",
        ["sku", "stock"],
        {
            "sku": {"type": "string", "maxLength": 128},
            "stock": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_WHOLE,
                "description": (
                    "Units left now. Updates every cart holding the SKU without restarting "
                    "its reminders; an older figure than one already known is ignored."
                ),
            },
        },
    ),
}


def _as_validated(schema: Any) -> Any:
    """Tighten string fields to what `validate_event` accepts, so the contract is exact.

    The validator refuses blank strings, strings over 200 characters, non-http(s) URLs and
    URLs with a user name (`user@host`); the schema says the same, so a schema-valid request
    is never refused. Link fields are marked: the served document names their hosts.
    """
    if isinstance(schema, list):
        return [_as_validated(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _as_validated(value) for key, value in schema.items()}
    for name, prop in out.get("properties", {}).items():
        if name in LINK_FIELDS and prop.get("format") == "uri":
            prop[LINK_MARK] = True
    if out.get("type") == "string" and "enum" not in out and "pattern" not in out:
        if out.get("format") == "uri":
            out.update(pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\s@\\]+([/?#]|$)", maxLength=2000)
        elif out.get("format") not in ("date", "date-time"):
            out.setdefault("maxLength", 200)
            out["pattern"] = NOT_BLANK_PATTERN
    return out


_SCHEMAS = {name: _as_validated(schema) for name, schema in _SCHEMAS.items()}
_SCHEMAS |= {
    "ShopEvent": {
        "oneOf": [
            {"$ref": f"#/components/schemas/{name}"}
            for name in (
                "CartUpdatedEvent",
                "CartClearedEvent",
                "OrderPlacedEvent",
                "OrderShippedEvent",
                "OrderDeliveredEvent",
                "ProductRestockedEvent",
                "ProductStockChangedEvent",
            )
        ],
        "discriminator": {"propertyName": "type"},
    },
    "EventAccepted": {
        "type": "object",
        "properties": {"accepted": {"type": "boolean"}, "duplicate": {"type": "boolean"}},
    },
}

register_openapi_paths(
    {
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
                    "200": json_response(
                        "This event_id was seen before: no effect.", "EventAccepted"
                    ),
                    **common_errors(body=True, idempotent=True),
                },
            }
        }
    },
    _SCHEMAS,
)


# DELETE /members/{id} also removes the carts, orders and event contents the shop sent us.
register_eraser(erase_customer)


@register_member_extras
def _pending_deliveries(session: Session, shopper: Shopper) -> dict[str, Any]:
    """GET /members/{id} also shows the member's deliveries: pending, sent, and why skipped."""
    return {"deliveries": member_deliveries(session, shopper)}


# Keep the Member schema exact now that it carries deliveries (schemathesis checks responses).
# `members` registers that schema; importing it here makes the order of imports irrelevant.
import_module("bot.linking.members_api")
OPENAPI_SCHEMAS["Member"]["properties"]["deliveries"] = {
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
            "flow_state": {"type": "string"},
        },
    },
}
