"""Erasing a member also removes what the shop sent about them (carts, orders, events)."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.models import Cart, Delivery, Order, ShopEvent
from tests.helpers.delivery import MEMBER, MUG, cart_body, order_body


def _dump(shop, model) -> str:
    with shop.app.app_context():
        rows = shop.app.extensions["bot"].db.session().scalars(select(model)).all()
        return json.dumps(
            [{c.name: getattr(r, c.name) for c in model.__table__.columns} for r in rows],
            default=str,
            ensure_ascii=False,
        )


def test_erasure_removes_carts_orders_and_event_contents(shop):
    shop.event("cart.updated", cart_body("C-ERASE"), event_id="evt-cart")
    shop.event("order.placed", order_body("O-ERASE", "C-ERASE"), event_id="evt-order")
    assert MEMBER in _dump(shop, ShopEvent) and MUG["name"] in _dump(shop, Order)

    assert shop.api.delete(f"/members/{MEMBER}").status_code == 204

    for model in (ShopEvent, Cart, Order, Delivery):
        dumped = _dump(shop, model)
        assert MEMBER not in dumped and MUG["name"] not in dumped and "C-ERASE" not in dumped
    # The event ids stay, so the EC site resending an old event changes nothing.
    assert "evt-cart" in _dump(shop, ShopEvent)
    again = shop.event("cart.updated", cart_body("C-ERASE"), event_id="evt-cart")
    assert again.status_code == 200 and again.json == {"duplicate": True}
    assert "C-ERASE" not in _dump(shop, Cart)


def test_a_member_who_never_linked_is_erased_too(shop):
    unlinked = "M-UNLINKED-7"  # the shop sent events, but this member never linked LINE
    sent = shop.event("cart.updated", cart_body("C-UNLINKED"), member=unlinked, event_id="evt-u")
    assert sent.status_code == 202
    shop.event("cart.updated", cart_body("C-KEPT"), event_id="evt-kept")  # another member
    assert unlinked in _dump(shop, ShopEvent) and "C-UNLINKED" in _dump(shop, Cart)

    assert shop.api.delete(f"/members/{unlinked}").status_code == 204

    for model in (ShopEvent, Cart):
        assert unlinked not in _dump(shop, model) and "C-UNLINKED" not in _dump(shop, model)
    assert "C-KEPT" in _dump(shop, Cart)
    response = shop.api.delete(f"/members/{unlinked}")
    assert response.status_code == 404  # nothing is stored about them any more
    assert response.json["error"]["message"] == "nothing is stored about this member"
