"""The playground's stand-in shop: a small catalogue, a cart per shopper, and the real
signed shop-API requests a shop's server would send for each button.

Requests go through the app's own WSGI stack (signature check, validation, idempotency and
all) without a network hop, signed with SHOP_API_SECRET exactly as a shop signs them.
The shop's side of the state (carts, the last order) lives in Redis under `playground:`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from bot.core.services import Services
from bot.models import Shopper
from bot.shop_api.auth import signed_headers

STATE_TTL_SECONDS = 90 * 24 * 3600
MAX_QUANTITY = 99


@dataclass(frozen=True)
class Item:
    """A product of the sample catalogue (its picture is a local drawing in the page)."""

    sku: str
    name: str
    price: int
    stock: int
    picture: str  # file under static/items/


CATALOGUE = {
    item.sku: item
    for item in (
        Item("MUG-AI", "美濃焼 手描き藍染め マグカップ", 2750, 12, "mug.svg"),
        Item("MAMEZARA-5", "有田焼 豆皿5枚セット(花づくし)", 4400, 2, "plates.svg"),
        Item("HINOKI-BOARD", "ひのき 一枚板カッティングボード", 5800, 5, "board.svg"),
        Item("GYOKURO-100", "八女茶 玉露 100g", 1620, 30, "tea.svg"),
    )
}


@dataclass(frozen=True)
class ApiAnswer:
    """What the shop API answered: status and JSON body."""

    status: int
    body: Any


def shop_origin(services: Services) -> str:
    """The shop's site (SHOP_LINK_URL's scheme and host): product and cart links live there."""
    parts = urlsplit(services.settings.shop_link_url)
    return f"{parts.scheme}://{parts.netloc}"


def image_url(services: Services, item: Item) -> str:
    """The picture's address as the shop would send it (https, on the shop's host)."""
    return f"https://{urlsplit(shop_origin(services)).netloc}/images/{item.sku.lower()}.png"


def catalogue(services: Services) -> list[dict[str, Any]]:
    """The catalogue with the stock the shop last reported."""
    stock = _state(services, "stock") or {}
    return [
        {
            "sku": item.sku,
            "name": item.name,
            "price": item.price,
            "stock": int(stock.get(item.sku, item.stock)),
            "picture": item.picture,
        }
        for item in CATALOGUE.values()
    ]


def member_id(services: Services, line_user_id: str) -> str | None:
    """The member the shopper is linked to, as the bot knows it."""
    session = services.db.session_factory()
    try:
        return session.scalars(
            select(Shopper.member_id).where(Shopper.line_user_id == line_user_id)
        ).first()
    finally:
        session.close()


def cart(services: Services, line_user_id: str) -> dict[str, Any]:
    """The shopper's cart at the shop: its id and quantities by SKU."""
    return _state(services, f"cart:{line_user_id}") or {"id": _new_id("C"), "items": {}}


def last_order(services: Services, line_user_id: str) -> dict[str, Any] | None:
    """The shopper's last order at the shop (id and how far it went)."""
    return _state(services, f"order:{line_user_id}")


def add_to_cart(services: Services, line_user_id: str, sku: str, quantity: int) -> ApiAnswer:
    """Put an item in the cart and report the whole cart (`cart.updated`)."""
    current = cart(services, line_user_id)
    items = dict(current["items"])
    items[sku] = min(MAX_QUANTITY, int(items.get(sku, 0)) + quantity)
    current = {"id": current["id"], "items": items}
    body = {"cart": _cart_body(services, current)}
    answer = _post_event(services, line_user_id, "cart.updated", body)
    if answer.status < 300:
        _save(services, f"cart:{line_user_id}", current)
    return answer


def clear_cart(services: Services, line_user_id: str) -> ApiAnswer:
    """Empty the cart (`cart.cleared`); the next item starts a new cart."""
    current = cart(services, line_user_id)
    answer = _post_event(services, line_user_id, "cart.cleared", {"cart_id": current["id"]})
    if answer.status < 300:
        _save(services, f"cart:{line_user_id}", {"id": _new_id("C"), "items": {}})
    return answer


def place_order(services: Services, line_user_id: str) -> ApiAnswer | None:
    """Order what is in the cart (`order.placed`); None when the cart is empty."""
    current = cart(services, line_user_id)
    if not current["items"]:
        return None
    lines = _lines(services, current)
    order_id = _new_id("O")
    order = {
        "id": order_id,
        "cart_id": current["id"],
        "total": sum(line["price"] * line["quantity"] for line in lines),
        "items": lines,
        "url": f"{shop_origin(services)}/orders/{order_id}",
    }
    answer = _post_event(services, line_user_id, "order.placed", {"order": order})
    if answer.status < 300:
        _save(services, f"order:{line_user_id}", {"id": order_id, "stage": "placed"})
        _save(services, f"cart:{line_user_id}", {"id": _new_id("C"), "items": {}})
    return answer


def advance_order(services: Services, line_user_id: str, stage: str) -> ApiAnswer | None:
    """Ship or deliver the last order (`order.shipped` / `order.delivered`); None if none."""
    order = last_order(services, line_user_id)
    if order is None:
        return None
    if stage == "shipped":
        body: dict[str, Any] = {
            "order_id": order["id"],
            "carrier": "ヤマト運輸",
            "tracking_number": str(uuid.uuid4().int)[:12],
            "tracking_url": f"{shop_origin(services)}/tracking/{order['id']}",
        }
    else:
        body = {"order_id": order["id"]}
    answer = _post_event(services, line_user_id, f"order.{stage}", body)
    if answer.status < 300:
        _save(services, f"order:{line_user_id}", {"id": order["id"], "stage": stage})
    return answer


def change_stock(services: Services, sku: str, stock: int) -> ApiAnswer:
    """Report a product's stock (`product.stock_changed`)."""
    answer = _post_event(services, None, "product.stock_changed", {"sku": sku, "stock": stock})
    if answer.status < 300:
        levels = _state(services, "stock") or {}
        _save(services, "stock", {**levels, sku: stock})
    return answer


def restock(services: Services, sku: str) -> ApiAnswer:
    """Report a product back in stock (`product.restocked`): its waiting shoppers hear of it."""
    item = CATALOGUE[sku]
    answer = _post_event(
        services,
        None,
        "product.restocked",
        {
            "sku": sku,
            "name": item.name,
            "product_url": f"{shop_origin(services)}/items/{sku.lower()}",
            "image_url": image_url(services, item),
        },
    )
    if answer.status < 300:
        levels = _state(services, "stock") or {}
        _save(services, "stock", {**levels, sku: max(int(levels.get(sku, 0)), item.stock)})
    return answer


def link_member(services: Services, line_user_id: str, member: str) -> ApiAnswer:
    """Link the shopper to a member directly (`POST /links`, as after LINE Login)."""
    return signed_request(
        services, "POST", "/api/v1/links", {"member_id": member, "line_user_id": line_user_id}
    )


def signed_request(services: Services, method: str, target: str, body: Any) -> ApiAnswer:
    """One request to the shop API, signed as the shop signs it, through the app itself."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    timestamp = int(services.clock.now().timestamp())  # the server checks it against its clock
    headers = signed_headers(services.settings.shop_api_secret, timestamp, method, target, data)
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = str(uuid.uuid4())
    response = current_app.test_client().open(
        target, method=method, data=data, headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    )
    try:
        payload = response.get_json(silent=True)
    finally:
        response.close()
    return ApiAnswer(response.status_code, payload)


# -- helpers ---------------------------------------------------------------------------------


def _post_event(
    services: Services, line_user_id: str | None, kind: str, body: dict[str, Any]
) -> ApiAnswer:
    event: dict[str, Any] = {
        "type": kind,
        "event_id": f"pg-{uuid.uuid4()}",
        "occurred_at": services.clock.now().isoformat(),
        **body,
    }
    if line_user_id is not None:
        member = member_id(services, line_user_id)
        # A shop knows its member; before linking it can only name the LINE user.
        event.update({"member_id": member} if member else {"line_user_id": line_user_id})
    return signed_request(services, "POST", "/api/v1/events", event)


def _lines(services: Services, current: dict[str, Any]) -> list[dict[str, Any]]:
    stock = {entry["sku"]: entry["stock"] for entry in catalogue(services)}
    lines = []
    for sku, quantity in current["items"].items():
        item = CATALOGUE[sku]
        lines.append(
            {
                "sku": sku,
                "name": item.name,
                "price": item.price,
                "quantity": int(quantity),
                "image_url": image_url(services, item),
                "product_url": f"{shop_origin(services)}/items/{sku.lower()}",
                "stock": stock[sku],
            }
        )
    return lines


def _cart_body(services: Services, current: dict[str, Any]) -> dict[str, Any]:
    lines = _lines(services, current)
    return {
        "id": current["id"],
        "url": f"{shop_origin(services)}/cart",
        "currency": "JPY",
        "subtotal": sum(line["price"] * line["quantity"] for line in lines),
        "items": lines,
    }


def _new_id(prefix: str) -> str:
    return f"PG-{prefix}-{uuid.uuid4().hex[:10].upper()}"


def _state(services: Services, key: str) -> Any:
    raw = services.redis.get(f"playground:{key}")
    return json.loads(raw) if raw else None


def _save(services: Services, key: str, value: Any) -> None:
    services.redis.set(f"playground:{key}", json.dumps(value), ex=STATE_TTL_SECONDS)
