"""Restock: the API answers at once; a background job finds the audience through the SKU index."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.delivery import jobs as delivery_jobs
from bot.delivery.engine import abandoned_cart_holders
from bot.models import CartSku, Flow, ShopEvent
from tests.helpers.delivery import MAMEZARA, MEMBER, MUG, START, cart_body, pushes

RESTOCK = {
    "sku": MAMEZARA["sku"],
    "name": "有田焼 豆皿5枚セット(花づくし)",
    "product_url": "https://shop.example.jp/items/MAME-5",
}


def _count(shop, model, *where) -> int:
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        return session.scalar(select(func.count()).select_from(model).where(*where))


def _holders(shop, sku: str) -> list[str]:
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        return [key for key, _ in abandoned_cart_holders(session, sku, START - timedelta(days=30))]


def test_the_sku_index_follows_the_cart(shop):
    shop.event("cart.updated", cart_body("C1", [MAMEZARA, MUG]))
    assert _holders(shop, MAMEZARA["sku"]) == [f"m:{MEMBER}"]
    shop.at(START + timedelta(minutes=5))
    shop.event("cart.updated", cart_body("C1", [MUG]))  # the 豆皿 left the cart
    assert _holders(shop, MAMEZARA["sku"]) == []
    assert _holders(shop, MUG["sku"]) == [f"m:{MEMBER}"]
    assert shop.api.delete(f"/members/{MEMBER}").status_code == 204
    assert _count(shop, CartSku) == 0  # erased with the cart


def test_restock_is_answered_at_once_and_fanned_out_once(shop, line):
    shop.event("cart.updated", cart_body("C1", [MAMEZARA]))
    shop.at(START + timedelta(days=2))
    response = shop.event("product.restocked", RESTOCK, member=None, event_id="restock-1")
    assert response.status_code == 202
    assert _count(shop, Flow, Flow.scenario_id == "restock") == 0  # not in the request
    assert _count(shop, ShopEvent, ShopEvent.applied.is_(False)) == 1
    shop.run()
    assert _count(shop, Flow, Flow.scenario_id == "restock") == 1
    assert _count(shop, ShopEvent, ShopEvent.applied.is_(False)) == 0
    with shop.app.app_context():
        (row_id,) = (
            shop.app.extensions["bot"]
            .db.session()
            .scalars(select(ShopEvent.id).where(ShopEvent.event_id == "restock-1"))
        )
        assert delivery_jobs.apply_restock(row_id) == 0  # a second run finds it applied
    shop.tick()
    assert sum("再入荷" in p["messages"][0]["altText"] for p in pushes(line)) == 1
    again = shop.event("product.restocked", RESTOCK, member=None, event_id="restock-1")
    assert again.status_code == 200 and again.json == {"duplicate": True}


def test_a_restock_whose_job_was_lost_is_swept(shop, line, redis):
    shop.event("cart.updated", cart_body("C1", [MAMEZARA]))
    shop.at(START + timedelta(days=2))
    shop.event("product.restocked", RESTOCK, member=None)
    redis.flushdb()  # Redis lost the job; the event is in the database
    with shop.app.app_context():
        assert delivery_jobs.requeue_pending_restocks() == 0  # too recent to call lost
    shop.at(START + timedelta(days=2, minutes=3))
    with shop.app.app_context():
        assert delivery_jobs.requeue_pending_restocks() == 1
    shop.run()
    assert _count(shop, Flow, Flow.scenario_id == "restock") == 1
    with shop.app.app_context():
        assert delivery_jobs.requeue_pending_restocks() == 0
