"""The served OpenAPI document and the request checks agree, limit by limit.

For every documented maxLength, minLength, maximum, minimum, enum and maxItems of a request
body, a body at the limit is accepted and one just past it is refused with 400 naming that
field. A limit changed on one side only fails here.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.helpers.line import SHOPPER_ID
from tests.helpers.shop_api import ShopApi

SHOP = "https://shop.example.jp"
ITEM = {
    "sku": "TEA-1",
    "name": "宇治抹茶 100g",
    "price": 1800,
    "quantity": 1,
    "image_url": "https://cdn.example.net/tea.jpg",
    "product_url": f"{SHOP}/items/TEA-1",
    "stock": 5,
}
# One body per event type with every documented field present, so each limit can be probed.
EVENTS: dict[str, dict[str, Any]] = {
    "CartUpdatedEvent": {
        "cart": {
            "id": "C1",
            "url": f"{SHOP}/cart/C1",
            "currency": "JPY",
            "subtotal": 1800,
            "items": [ITEM],
        }
    },
    "CartClearedEvent": {"cart_id": "C1"},
    "OrderPlacedEvent": {
        "order": {"id": "O1", "cart_id": "C1", "total": 1800, "url": f"{SHOP}/o", "items": [ITEM]}
    },
    "OrderShippedEvent": {
        "order_id": "O1",
        "carrier": "ヤマト運輸",
        "tracking_number": "4912-0000-0000",
        "tracking_url": f"{SHOP}/track/O1",
        "estimated_delivery_date": "2025-07-03",
    },
    "OrderDeliveredEvent": {"order_id": "O1"},
    "OrderPaymentPendingEvent": {
        "order_id": "O1",
        "payment": {
            "method": "コンビニ払い",
            "deadline": "2025-07-04T23:59:00+09:00",
            "amount": 1800,
            "url": f"{SHOP}/orders/O1/payment",
        },
    },
    "OrderPaidEvent": {"order_id": "O1"},
    "OrderCancelledEvent": {"order_id": "O1"},
    "ProductRestockedEvent": {
        "sku": "TEA-1",
        "name": "宇治抹茶 100g",
        "product_url": f"{SHOP}/items/TEA-1",
        "image_url": "https://cdn.example.net/tea.jpg",
    },
    "ProductStockChangedEvent": {"sku": "TEA-1", "stock": 3},
}
LIMITS = ("maxLength", "minLength", "maximum", "minimum", "enum", "maxItems")

Path = tuple[str | int, ...]


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _fields(
    schema: dict[str, Any], components: dict[str, Any], path: Path = ()
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every field of a body schema with its (resolved) schema; list entries as index 0."""
    schema = _resolve(schema, components)
    if path:
        yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _fields(sub, components, (*path, name))
    if schema.get("type") == "array":
        yield from _fields(schema["items"], components, (*path, 0))


def _spell(path: Path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _get(body: Any, path: Path) -> Any:
    for part in path:
        body = body[part]
    return body


def _with(body: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    _get(out, path[:-1])[path[-1]] = value
    return out


def _probes(base: Any, keyword: str, limit: Any) -> tuple[list[Any], list[Any]]:
    """Values at the limit (to be accepted) and just past it (to be refused)."""
    if keyword == "maxLength":
        return [base + "a" * (limit - len(base))], [base + "a" * (limit + 1 - len(base))]
    if keyword == "minLength":
        return [base[:limit]], ([base[: limit - 1]] if limit > 0 else [])
    if keyword == "maximum":
        return [limit], [limit + 1]
    if keyword == "minimum":
        return [limit], [limit - 1]
    if keyword == "enum":
        return list(limit), [f"{limit[0]}X"]
    assert keyword == "maxItems"
    # Distinct SKUs: one cart holds each SKU once.
    copies = [{**base[0], "sku": f"SKU-{n}"} for n in range(limit + 1)]
    return [copies[:limit]], [copies]


def _names_the_limit(message: str, keyword: str, field: dict[str, Any]) -> bool:
    """The refusal says what the limit is ("must be at most 60 characters")."""
    if keyword == "minLength":
        return "empty" in message if field[keyword] == 1 else str(field[keyword]) in message
    limit = field[keyword][0] if keyword == "enum" else field[keyword]
    return str(limit) in message


def _event(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "",  # filled in from the schema
        "event_id": f"ev-{uuid.uuid4()}",
        "occurred_at": "2025-07-01T10:00:00+09:00",
        "member_id": "M123",
        "line_user_id": SHOPPER_ID,
        **copy.deepcopy(fields),
    }


def _document(client: FlaskClient) -> dict[str, Any]:
    return client.get("/api/v1/openapi.json").json["components"]["schemas"]


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_every_documented_event_limit_is_the_checked_one(
    api: ShopApi, client: FlaskClient, name: str
) -> None:
    components = _document(client)
    schema = components[name]
    base = _event(name, EVENTS[name])
    (base["type"],) = schema["properties"]["type"]["enum"]
    fields = list(_fields(schema, components))
    assert {path for path, _ in fields} <= set(_paths(base)), "add the new field to EVENTS"
    probed = 0
    for path, field in fields:
        for keyword in LIMITS:
            if keyword not in field or path == ("type",):
                continue
            good, bad = _probes(_get(base, path), keyword, field[keyword])
            for value in good:
                body = _with(base, path, value)
                if path != ("event_id",):
                    body["event_id"] = f"ev-{uuid.uuid4()}"
                response = api.post("/events", body)
                assert response.status_code == 202, (path, keyword, value, response.json)
            for value in bad:
                response = api.post("/events", _with(base, path, value))
                assert response.status_code == 400, (path, keyword, value)
                assert response.json["error"]["field"] == _spell(path), (keyword, response.json)
                assert _names_the_limit(response.json["error"]["message"], keyword, field)
            probed += 1
    assert probed >= 3


def _paths(body: Any, path: Path = ()) -> Iterator[Path]:
    if path:
        yield path
    if isinstance(body, dict):
        for name, value in body.items():
            yield from _paths(value, (*path, name))
    elif isinstance(body, list) and body:
        yield from _paths(body[0], (*path, 0))


def test_every_event_type_is_documented_and_accepted(api: ShopApi, client: FlaskClient) -> None:
    components = _document(client)
    refs = {ref["$ref"].rsplit("/", 1)[1] for ref in components["ShopEvent"]["oneOf"]}
    assert refs == set(EVENTS)
    for name in EVENTS:
        body = _event(name, EVENTS[name])
        (body["type"],) = components[name]["properties"]["type"]["enum"]
        assert api.post("/events", body).status_code == 202, name
    unknown = _event("CartClearedEvent", EVENTS["CartClearedEvent"]) | {"type": "cart.lost"}
    response = api.post("/events", unknown)
    assert (response.status_code, response.json["error"]["field"]) == (400, "type")


@pytest.mark.parametrize(
    ("path", "name", "body"),
    [
        ("/links", "LinkRequest", {"member_id": "M123", "line_user_id": SHOPPER_ID}),
        ("/link-nonces", "LinkNonceRequest", {"member_id": "M123", "link_token": "tok"}),
    ],
)
def test_every_documented_link_limit_is_the_checked_one(
    api: ShopApi, client: FlaskClient, path: str, name: str, body: dict[str, Any]
) -> None:
    components = _document(client)
    schema = components[name]
    assert set(schema["properties"]) == set(body)
    assert schema["additionalProperties"] is False
    for field_path, field in _fields(schema, components):
        for keyword in LIMITS:
            if keyword not in field:
                continue
            good, bad = _probes(_get(body, field_path), keyword, field[keyword])
            for value in good:  # past the checks (an unknown link token is a 404)
                assert api.post(path, _with(body, field_path, value)).status_code != 400
            for value in bad:
                response = api.post(path, _with(body, field_path, value))
                assert response.status_code == 400
                assert response.json["error"]["field"] == _spell(field_path)
    response = api.post(path, {**body, "memberId": "M1"})
    assert (response.status_code, response.json["error"]["code"]) == (400, "unknown_field")
