"""Conditions and branches on timelines: decided at send time from the member attributes the
shop sent, skipped or branched with the reason recorded (the shipped segmented example)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.models import DeliveryState
from tests.helpers.delivery import MAMEZARA, MEMBER, MUG, START, cart_body, cart_item, pushes

DAY = timedelta(days=1)
M15 = timedelta(minutes=15)


def set_attributes(shop: Any, body: dict[str, Any], member: str = MEMBER) -> None:
    response = shop.api.call("PUT", f"/members/{member}/attributes", body)
    assert response.status_code in (200, 201), response.json


def incentive_text(line: Any) -> str:
    return str(pushes(line)[-1]["messages"][0])


def run_to(shop: Any, *offsets: timedelta) -> None:
    for offset in offsets:
        shop.at(START + offset)
        shop.tick()


def test_a_first_time_buyer_gets_the_free_shipping_message(shop, line):
    set_attributes(shop, {"order_count": 0})
    shop.event("cart.updated", cart_body(items=[MUG]))
    run_to(shop, M15, DAY)
    incentive = shop.delivery("incentive")
    assert incentive.state is DeliveryState.SENT
    assert incentive.variant == "free_shipping" and not incentive.coupon
    assert incentive.reason == "branch: order_count == 0 was true (0) → free_shipping"
    text = incentive_text(line)
    assert "送料無料" in text and "THANKS500" not in text


def test_a_repeat_buyer_gets_the_coupon_message(shop, line):
    set_attributes(shop, {"order_count": 4, "tags": ["newsletter"]})
    shop.event("cart.updated", cart_body(items=[MUG]))
    run_to(shop, M15, DAY)
    incentive = shop.delivery("incentive")
    assert (incentive.state, incentive.variant, incentive.coupon) == (
        DeliveryState.SENT,
        "coupon",
        True,
    )
    assert incentive.reason == "branch: order_count > 0 was true (4) → coupon"
    assert "THANKS500" in incentive_text(line)


def test_a_nested_any_matches_on_rank_without_an_order_count(shop, line):
    set_attributes(shop, {"rank": "Platinum"})  # compared without case
    shop.event("cart.updated", cart_body(items=[MUG]))
    run_to(shop, M15, DAY)
    incentive = shop.delivery("incentive")
    assert incentive.variant == "coupon"
    assert incentive.reason == "branch: rank in [gold, platinum] was true (Platinum) → coupon"


def test_without_attributes_the_default_branch_is_sent(shop, line):
    shop.event("cart.updated", cart_body(items=[MUG]))
    run_to(shop, M15, DAY)
    incentive = shop.delivery("incentive")
    assert incentive.variant == "free_shipping"
    assert incentive.reason == "branch: default → free_shipping"
    assert "THANKS500" not in incentive_text(line)


def test_attributes_are_read_when_the_step_is_sent_not_when_it_is_planned(shop, line):
    set_attributes(shop, {"order_count": 0})
    shop.event("cart.updated", cart_body(items=[MUG]))
    run_to(shop, M15)
    assert shop.delivery("incentive").variant is None  # planned without an arm
    shop.at(START + timedelta(hours=20))
    set_attributes(shop, {"order_count": 1})  # the shopper ordered something else meanwhile
    run_to(shop, DAY)
    assert shop.delivery("incentive").variant == "coupon"
    assert "THANKS500" in incentive_text(line)


def test_a_false_condition_skips_the_step_with_the_value_it_saw(shop, line):
    cheap = cart_item("TEA-S", "ほうじ茶 ティーバッグ", 1200, stock=1)
    shop.event("cart.updated", cart_body(items=[cheap]))
    run_to(shop, M15, DAY, 3 * DAY)
    low = shop.delivery("low_stock")
    assert low.state is DeliveryState.SKIPPED
    assert low.reason == "condition: cart_value >= 3000 was false (1200)"
    assert len(pushes(line)) == 2


def test_a_true_condition_lets_the_step_go_with_the_cart_as_it_is_then(shop, line):
    cheap = cart_item("TEA-S", "ほうじ茶 ティーバッグ", 1200, stock=1)
    shop.event("cart.updated", cart_body(items=[cheap]))
    run_to(shop, M15, DAY)
    # The shopper adds to the cart later: the flow is re-timed from the change, and the
    # value is read when the low-stock step is due.
    changed = START + timedelta(days=1, hours=2)
    shop.at(changed)
    shop.event("cart.updated", cart_body(items=[cheap, MAMEZARA]))
    shop.at(changed + 3 * DAY)
    shop.tick()
    low = shop.delivery("low_stock")
    assert low.state is DeliveryState.SENT, low.reason
    assert low.reason is None
    assert "残り" in str(pushes(line)[-1]["messages"][0])
