"""The coupon guard: at most one coupon-bearing message per shopper in COUPON_INTERVAL_DAYS,
across scenarios; inside the window a step falls back to its variant without a coupon, or is
skipped when it has none, with the reason recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.line.gateway import LineServerError
from bot.models import DeliveryState
from tests.helpers.delivery import MAMEZARA, MEMBER, MUG, START, cart_body, pushes

DAY = timedelta(days=1)
M15 = timedelta(minutes=15)
SENT_COUPON_AT = START + DAY  # the first cart's incentive


@pytest.fixture
def extra_scenarios() -> dict[str, Any]:
    # A second scenario on the same carts whose only message carries a coupon: nothing to
    # fall back to.
    return {
        "cart_coupon_only": {
            "title": "クーポンのみ",
            "trigger": "cart.updated",
            "steps": [
                {
                    "id": "coupon_only",
                    "delay": "1d",  # due with the incentive: decided in the same batch
                    "template": "cart_incentive",
                    "data": {"coupon": {"code": "ONLY300"}},
                }
            ],
        }
    }


def repeat_buyer(shop: Any) -> None:
    response = shop.api.call("PUT", f"/members/{MEMBER}/attributes", {"order_count": 2})
    assert response.status_code == 201


def first_coupon(shop: Any, line: Any) -> None:
    """Cart C1: its incentive goes out with the coupon at START + 1 day."""
    repeat_buyer(shop)
    shop.event("cart.updated", cart_body("C1", [MUG]))
    for offset in (M15, DAY):
        shop.at(START + offset)
        shop.tick()
    first = shop.delivery("incentive")
    assert (first.state, first.variant, first.coupon) == (DeliveryState.SENT, "coupon", True)
    assert first.sent_at == SENT_COUPON_AT


def second_incentive(shop: Any, due: Any) -> Any:
    """Cart C2, abandoned so that its incentive falls due at `due`; sent then."""
    shop.at(due - DAY)
    shop.event("cart.updated", cart_body("C2", [MAMEZARA]))  # other items: no cooldown
    shop.tick()
    shop.at(due)
    shop.tick()
    (incentive,) = [d for d in shop.deliveries() if d.step_id == "incentive" and d.due_at == due]
    return incentive


@pytest.mark.parametrize(
    ("after", "variant", "coupon"),
    [
        (timedelta(days=2), "free_shipping", False),
        (timedelta(days=30) - timedelta(seconds=1), "free_shipping", False),
        (timedelta(days=30), "coupon", True),  # exactly 30 days on: the window is over
    ],
)
def test_a_second_coupon_within_the_window_falls_back(shop, line, after, variant, coupon):
    first_coupon(shop, line)
    incentive = second_incentive(shop, SENT_COUPON_AT + after)
    assert incentive.state is DeliveryState.SENT
    assert (incentive.variant, incentive.coupon) == (variant, coupon)
    text = str(pushes(line)[-1]["messages"][0])
    assert ("THANKS500" in text) is coupon
    if coupon:
        assert incentive.reason == "branch: order_count > 0 was true (2) → coupon"
    else:
        assert incentive.reason == (
            "branch: order_count > 0 was true (2) → coupon; coupon guard: free_shipping "
            "instead of coupon (a coupon message went out 2025-07-02 01:00 UTC, within 30 days)"
        )


def test_the_window_follows_the_setting(app, shop, line):
    with app.app_context():
        services = app.extensions["bot"]
        services.settings = services.settings.with_changes(coupon_interval_days=7)
    first_coupon(shop, line)
    assert second_incentive(shop, SENT_COUPON_AT + timedelta(days=7)).variant == "coupon"


def test_zero_days_turns_the_guard_off(app, shop, line):
    with app.app_context():
        services = app.extensions["bot"]
        services.settings = services.settings.with_changes(coupon_interval_days=0)
    first_coupon(shop, line)
    assert second_incentive(shop, SENT_COUPON_AT + DAY).variant == "coupon"


def test_a_step_without_a_coupon_free_variant_is_skipped_across_scenarios(shop, line):
    first_coupon(shop, line)  # the incentive of cart_abandonment_by_customer
    skipped = shop.delivery("coupon_only")
    assert skipped.state is DeliveryState.SKIPPED and not skipped.coupon
    assert skipped.reason == (
        "coupon guard: a coupon message went out 2025-07-02 01:00 UTC, within 30 days, "
        "and the step has no variant without a coupon"
    )
    assert ["ONLY300" in str(p["messages"][0]) for p in pushes(line)] == [False, False]


def test_a_skip_that_relied_on_an_unsent_coupon_is_decided_again(shop, line):
    repeat_buyer(shop)
    shop.event("cart.updated", cart_body("C1", [MUG]))
    shop.at(START + M15)
    shop.tick()
    shop.at(START + DAY)
    line.fail_next(LineServerError("internal error", status=500))  # the incentive's push
    shop.tick()
    assert shop.delivery("incentive").state is DeliveryState.PENDING
    again = shop.delivery("coupon_only")
    # Not skipped: the coupon it was skipped for never went out.
    assert again.state is DeliveryState.PENDING
    assert again.reason.startswith("re-check")
    shop.at(START + DAY + timedelta(seconds=1))
    shop.tick()
    assert shop.delivery("coupon_only").state is DeliveryState.SENT
    assert "ONLY300" in str(pushes(line)[-1]["messages"][0])
