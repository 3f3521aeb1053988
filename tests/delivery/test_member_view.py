"""The shop sees a member's pending and finished deliveries, with reasons."""

from __future__ import annotations

from tests.helpers.delivery import MEMBER, cart_body, later, order_body


def test_member_endpoint_lists_pending_then_cancelled_reminders(shop):
    assert shop.event("cart.updated", cart_body()).status_code == 202
    state = shop.api.get(f"/members/{MEMBER}").json
    pending = [d for d in state["deliveries"] if d["state"] == "pending"]
    assert pending and pending[-1]["scenario"] == "cart_abandonment"
    assert min(d["due_at"] for d in pending) > shop.now.isoformat()[:19]

    shop.at(later(shop.now, minutes=5))
    assert shop.event("order.placed", order_body()).status_code == 202
    after = shop.api.get(f"/members/{MEMBER}").json["deliveries"]
    reminders = [d for d in after if d["scenario"] == "cart_abandonment"]
    assert reminders and all(d["state"] == "cancelled" for d in reminders)
    assert all(d["reason"] for d in reminders)  # the shop can see why nothing was sent
