"""product.stock_changed: stock stays current without restarting reminders; sends re-check it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.models import DeliveryState, ProductStock, ShopEvent
from tests.helpers.delivery import MAMEZARA, MUG, START, cart_body, pushes

M15 = timedelta(minutes=15)
DAY = timedelta(days=1)


def _stock(shop: Any, sku: str, stock: int, **kwargs: Any) -> Any:
    return shop.event("product.stock_changed", {"sku": sku, "stock": stock}, member=None, **kwargs)


def _text(push: dict[str, Any]) -> str:
    return json.dumps(push["messages"][0], ensure_ascii=False)


def _reminder_after(shop: Any, items: list[dict], sku: str, stock: int) -> None:
    """A cart at START, a stock change 10 minutes later, the dispatcher at the reminder's time."""
    shop.event("cart.updated", cart_body(items=items))
    shop.at(START + timedelta(minutes=10))
    _stock(shop, sku, stock)
    shop.at(START + M15)
    shop.tick()


def _low_stock_after(shop: Any, items: list[dict], sku: str, stock: int) -> Any:
    """A cart at START, a stock change on day 2; the low-stock step as decided on day 3."""
    shop.event("cart.updated", cart_body(items=items))
    shop.at(START + 2 * DAY)
    _stock(shop, sku, stock)
    shop.at(START + 3 * DAY)
    shop.tick()
    return shop.delivery("low_stock")


def test_stock_change_keeps_the_reminder_timers(shop: Any) -> None:
    shop.event("cart.updated", cart_body(items=[MUG, MAMEZARA]))
    planned = {d.step_id: d.due_at for d in shop.deliveries()}
    shop.at(START + timedelta(minutes=10))
    assert _stock(shop, "MAME-5", 0).status_code == 202
    assert {d.step_id: d.due_at for d in shop.deliveries()} == planned
    assert planned["reminder"] == START + M15


def test_reminder_shows_a_sold_out_item_as_such(shop: Any, line: Any) -> None:
    _reminder_after(shop, [MAMEZARA, MUG], "MAME-5", 0)
    [reminder] = pushes(line)
    bubbles = reminder["messages"][0]["contents"]["contents"]
    names = [json.dumps(b, ensure_ascii=False) for b in bubbles[1:]]
    # What can still be bought comes first; the sold-out item is marked.
    assert "マグカップ" in names[0] and "在庫切れ" not in names[0]
    assert "豆皿" in names[1] and "在庫切れ" in names[1]


def test_reminder_is_skipped_when_every_item_is_sold_out(shop: Any, line: Any) -> None:
    _reminder_after(shop, [MAMEZARA], "MAME-5", 0)
    assert pushes(line) == []
    reminder = shop.delivery("reminder")
    assert reminder.state is DeliveryState.SKIPPED
    assert reminder.reason == "condition: every item is sold out"
    # Back in stock before the next step: the cart is worth a message again.
    shop.at(START + timedelta(hours=20))
    _stock(shop, "MAME-5", 8)
    shop.at(START + DAY)
    shop.tick()
    assert len(pushes(line)) == 1
    assert "在庫切れ" not in _text(pushes(line)[0])


def test_low_stock_step_uses_the_stock_as_it_is_now(shop: Any, line: Any) -> None:
    low = _low_stock_after(shop, [MUG], "MUG-AI", 2)  # 12 left when the cart was reported
    assert low.state is DeliveryState.SENT
    assert "残り2点" in _text(pushes(line)[-1])


def test_low_stock_step_is_skipped_once_the_shop_restocked(shop: Any, line: Any) -> None:
    low = _low_stock_after(shop, [MAMEZARA], "MAME-5", 40)  # 2 left when reported
    assert low.state is DeliveryState.SKIPPED
    assert low.reason == "condition: no item has 3 or fewer left"
    assert all("残り" not in _text(p) for p in pushes(line))


def test_sold_out_is_not_low_stock(shop: Any, line: Any) -> None:
    low = _low_stock_after(shop, [MUG, MAMEZARA], "MAME-5", 0)
    assert low.state is DeliveryState.SKIPPED  # MUG has 12: no honest urgency left


def _stock_row(shop: Any, sku: str) -> ProductStock:
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        row = session.get(ProductStock, sku)
        assert row is not None
        session.expunge(row)
        return row


def test_an_older_stock_figure_does_not_replace_a_newer_one(shop: Any) -> None:
    shop.at(START + timedelta(hours=1))
    _stock(shop, "MAME-5", 0, at=START + timedelta(hours=1))
    late = _stock(shop, "MAME-5", 9, at=START + timedelta(minutes=30), event_id="late-1")
    assert late.status_code == 202
    assert _stock_row(shop, "MAME-5").stock == 0
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        row = session.scalars(select(ShopEvent).where(ShopEvent.event_id == "late-1")).one()
        assert row.outcome == "stale: a newer stock figure is known"
    # A cart reported after the change carries the newer figure.
    shop.event("cart.updated", cart_body(items=[MAMEZARA]), at=START + timedelta(minutes=61))
    assert _stock_row(shop, "MAME-5").stock == 2


def test_stock_change_is_idempotent(shop: Any) -> None:
    assert _stock(shop, "MUG-AI", 3, event_id="stock-1").status_code == 202
    again = _stock(shop, "MUG-AI", 1, event_id="stock-1")
    assert again.status_code == 200 and again.json == {"duplicate": True}
    assert _stock_row(shop, "MUG-AI").stock == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": "MUG-AI", "stock": -1}, "stock"),
        ({"sku": "MUG-AI", "stock": 1.5}, "stock"),
        ({"sku": "MUG-AI"}, "stock"),
        ({"stock": 3}, "sku"),
        ({"sku": " ", "stock": 3}, "sku"),
    ],
)
def test_a_bad_stock_event_gets_a_400_naming_the_field(shop: Any, body: dict, field: str) -> None:
    response = shop.event("product.stock_changed", body, member=None)
    assert response.status_code == 400
    assert response.json["error"]["field"] == field


def test_the_event_is_in_the_openapi_document(client: FlaskClient) -> None:
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    event = schemas["ProductStockChangedEvent"]
    assert event["required"] == ["type", "event_id", "occurred_at", "sku", "stock"]
    assert event["properties"]["type"]["enum"] == ["product.stock_changed"]
    refs = [ref["$ref"] for ref in schemas["ShopEvent"]["oneOf"]]
    assert "#/components/schemas/ProductStockChangedEvent" in refs


def test_a_restock_notice_is_skipped_if_the_item_sold_out_again(shop: Any, line: Any) -> None:
    shop.event("cart.updated", cart_body("C1", [MAMEZARA]))
    shop.at(START + 10 * DAY)
    shop.tick()
    sent_before = len(pushes(line))
    restocked = {
        "sku": "MAME-5",
        "name": "有田焼 豆皿5枚セット(花づくし)",
        "product_url": "https://shop.example.jp/items/MAME-5",
    }
    assert shop.event("product.restocked", restocked, member=None).status_code == 202
    shop.run()  # the background job plans the notice
    shop.at(START + 10 * DAY + timedelta(minutes=1))
    _stock(shop, "MAME-5", 0)
    shop.tick()
    assert len(pushes(line)) == sent_before
    notice = shop.delivery("restocked")
    assert notice.state is DeliveryState.SKIPPED
    assert notice.reason == "condition: sold out again"
