"""Win-back of dormant customers: once per dormancy, ended by an order, on a timeline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from bot.app import create_app
from bot.delivery import jobs as delivery_jobs
from bot.models import DeliveryState, Flow, FlowState, MemberAttributes
from tests.helpers.delivery import START, order_body, pushes

DAY = timedelta(days=1)
SCENARIOS = """\
scenarios:
  win_back:
    trigger: customer.dormant
    dormant_days: 90
    exit_on: [order.placed]
    steps:
      - {id: come_back, delay: 0s, template: repeat_offer, expires_after: 3d}
"""


@pytest.fixture
def app(settings, db, redis, line, tmp_path: Path) -> Flask:
    path = tmp_path / "scenarios.yaml"
    path.write_text(SCENARIOS, encoding="utf-8")
    return create_app(
        settings.with_changes(scenarios_path=path), line=line, redis=redis, database=db
    )


def winbacks(shop) -> int:
    with shop.app.app_context():
        return delivery_jobs.start_customer_flows()["win_back"]


def flows(shop) -> dict[str, FlowState]:
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        return {f.subject: f.state for f in session.scalars(select(Flow).order_by(Flow.id))}


def test_a_dormant_shopper_is_won_back_once_per_dormancy(shop, line):
    shop.event("order.placed", order_body("O1"), at=START)
    shop.at(START + 89 * DAY)
    assert winbacks(shop) == 0
    shop.at(START + 90 * DAY)
    assert winbacks(shop) == 1
    shop.tick()
    assert len(pushes(line)) == 1
    assert "マグカップ" in str(pushes(line)[0]["messages"])  # the last order's item
    # The next daily runs find the same dormancy: nothing again.
    for days in (91, 92, 120):
        shop.at(START + days * DAY)
        assert winbacks(shop) == 0
        shop.tick()
    assert len(pushes(line)) == 1
    assert flows(shop) == {"dormant:2025-07-01": FlowState.ACTIVE}


def test_an_order_ends_the_flow_and_a_later_dormancy_starts_it_again(shop, line):
    shop.event("order.placed", order_body("O1"), at=START)
    shop.at(START + 90 * DAY)
    # An order comes before the dispatcher sent the message.
    assert winbacks(shop) == 1
    shop.at(START + 90 * DAY + timedelta(hours=1))
    shop.event("order.placed", order_body("O2", cart_id="C2"))
    assert flows(shop) == {"dormant:2025-07-01": FlowState.ENDED}
    shop.at(START + 150 * DAY)
    assert winbacks(shop) == 0  # O2 is only 60 days old
    shop.at(START + 181 * DAY)
    assert winbacks(shop) == 1
    assert flows(shop) == {
        "dormant:2025-07-01": FlowState.ENDED,
        "dormant:2025-09-29": FlowState.ACTIVE,
    }


def test_the_shops_last_order_date_counts_too(shop, line):
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        session.add(
            MemberAttributes(
                member_id="M123", tags=[], last_order_date=date(2025, 6, 1), updated_at=START
            )
        )
        session.commit()
    shop.event("order.placed", order_body("O1"), at=START - 200 * DAY)
    # The attribute is later than the order the bot knows: dormant from 2025-06-01.
    shop.at(START + 59 * DAY)
    assert winbacks(shop) == 0
    shop.at(START + 60 * DAY)
    assert winbacks(shop) == 1
    assert flows(shop) == {"dormant:2025-06-01": FlowState.ACTIVE}


def test_marketing_rules_apply_to_the_win_back(shop, line):
    from bot.models import Shopper

    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        for shopper in session.scalars(select(Shopper)):
            shopper.marketing_opt_in = False
        session.commit()
    shop.event("order.placed", order_body("O1"), at=START)
    shop.at(START + 90 * DAY)
    assert winbacks(shop) == 1
    shop.tick()
    assert pushes(line) == []
    (delivery,) = shop.deliveries()
    assert delivery.marketing and delivery.state is DeliveryState.CANCELLED  # no consent


def test_shoppers_who_never_ordered_are_not_dormant(shop, line):
    shop.at(START + 400 * DAY)
    assert winbacks(shop) == 0


def test_dormancy_counts_days_in_the_shops_time_zone(shop, line):
    # 2025-07-02 08:00 in Tokyo is still 2025-07-01 in UTC: the shop calls it the 2nd.
    placed = datetime(2025, 7, 1, 23, 0, tzinfo=UTC)
    shop.event("order.placed", order_body("O1"), at=placed)
    # 2025-09-29 17:00 Tokyo: 89 days after the 2nd there (90 after the 1st in UTC dates).
    shop.at(datetime(2025, 9, 29, 8, 0, tzinfo=UTC))
    assert winbacks(shop) == 0
    # 2025-09-30 00:30 Tokyo: the 90th day there.
    shop.at(datetime(2025, 9, 30, 15, 30, tzinfo=UTC))
    assert winbacks(shop) == 1
    assert flows(shop) == {"dormant:2025-07-02": FlowState.ACTIVE}
