"""A message that makes an offer is marketing; every shop message carries the help link."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from bot.delivery.scenarios import ScenarioError, load_scenarios, parse_scenarios
from bot.models import DeliveryState, Shopper
from tests.helpers.delivery import START, cart_body, order_body, pushes

DAY = timedelta(days=1)
OPTOUT = {
    "type": "postback",
    "label": "配信停止",
    "data": "action=optout",
    "displayText": "配信停止",
}


def _deliver_order(shop: Any) -> Any:
    """Order, ship and deliver O1 on day 0; returns the delivery time (10:00 in Tokyo)."""
    shop.event("order.placed", order_body())
    shop.event("order.shipped", {"order_id": "O1", "carrier": "佐川急便", "tracking_number": "1"})
    shop.event("order.delivered", {"order_id": "O1"})
    shop.tick()  # the thanks and the shipping notice (transactional) go out now
    return START


def _quick_replies(push: dict[str, Any]) -> list[dict[str, Any]]:
    return [i["action"] for i in push["messages"][0].get("quickReply", {}).get("items", [])]


def test_the_shipped_review_step_is_marketing() -> None:
    step = load_scenarios().get("after_delivery").step("review")  # type: ignore[union-attr]
    assert step.data.get("incentive") and step.marketing


def test_review_request_carries_the_optout_quick_reply(shop: Any, line: Any) -> None:
    delivered = _deliver_order(shop)
    shop.at(delivered + 3 * DAY)
    shop.tick()
    review = pushes(line)[-1]
    assert "レビュー" in review["messages"][0]["altText"]
    assert OPTOUT in _quick_replies(review)
    assert shop.delivery("review").marketing is True


def test_review_request_is_not_sent_to_an_opted_out_shopper(app: Flask, shop: Any, line) -> None:
    delivered = _deliver_order(shop)
    sent_before = len(pushes(line))
    with app.app_context():
        session = app.extensions["bot"].db.session()
        session.execute(update(Shopper).values(marketing_opt_in=False))
        session.commit()
    shop.at(delivered + 3 * DAY)
    shop.tick()
    assert len(pushes(line)) == sent_before
    review = shop.delivery("review")
    assert review.state is DeliveryState.CANCELLED and review.reason == "opted out"


def test_review_request_waits_for_the_end_of_quiet_hours(shop: Any, line: Any) -> None:
    # Delivered at 22:00 in Tokyo: the review falls due at 22:00 three days later.
    late = START + timedelta(hours=12)
    shop.at(late)
    _deliver_order(shop)
    sent_before = len(pushes(line))
    shop.at(late + 3 * DAY)
    shop.tick()
    assert len(pushes(line)) == sent_before
    review = shop.delivery("review")
    assert review.state is DeliveryState.PENDING
    assert review.reason == "postponed: quiet hours"
    assert review.due_at == START + 4 * DAY - timedelta(hours=1)  # 09:00 in Tokyo
    shop.at(review.due_at)
    shop.tick()
    assert "レビュー" in pushes(line)[-1]["messages"][0]["altText"]


SCENARIO = """
scenarios:
  after_delivery:
    trigger: order.delivered
    category: transactional
    steps:
      - id: review
        delay: 3d
        template: review_request
{extra}
"""


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("        data: {incentive: 100ポイント差し上げます}", "steps[0].data.incentive"),
        (
            "        category: transactional\n        data: {coupon: {code: THANKS}}",
            "steps[0].data.coupon",
        ),
        (
            "        variants:\n          - {name: a, data: {free_shipping_threshold: 5000}}",
            "steps[0].variants[0].data.free_shipping_threshold",
        ),
    ],
)
def test_a_transactional_step_with_an_offer_is_refused(extra: str, field: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(f"{field}: is an offer")):
        parse_scenarios(SCENARIO.format(extra=extra))


def test_a_step_with_an_offer_loads_when_marketing() -> None:
    extra = "        category: marketing\n        data: {incentive: 100ポイント差し上げます}"
    book = parse_scenarios(SCENARIO.format(extra=extra))
    assert book.scenarios[0].steps[0].marketing


def _help_targets(message: dict[str, Any], client: FlaskClient) -> list[str]:
    """Where the 「お問い合わせ」 buttons lead, through the tracking redirect."""
    targets = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "uri" and node.get("label") == "お問い合わせ":
                response = client.get(urlsplit(node["uri"]).path)
                assert response.status_code == 302
                targets.append(response.headers["Location"].partition("?")[0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message)
    return targets


def test_cart_messages_carry_the_help_link(shop: Any, line: Any, client: FlaskClient) -> None:
    shop.event("cart.updated", cart_body())
    shop.at(START + timedelta(minutes=15))
    shop.tick()
    [reminder] = pushes(line)
    # SHOP_HELP_URL is not set in the tests: the top page of the shop's site.
    assert _help_targets(reminder["messages"][0], client) == ["https://shop.example.jp/"]


def test_help_link_follows_the_setting(app: Flask, shop: Any, line: Any, client) -> None:
    services = app.extensions["bot"]
    services.settings = services.settings.with_changes(
        shop_help_url="https://shop.example.jp/contact"
    )
    shop.event("cart.updated", cart_body())
    shop.at(START + timedelta(minutes=15))
    shop.tick()
    [reminder] = pushes(line)
    assert _help_targets(reminder["messages"][0], client) == ["https://shop.example.jp/contact"]
