"""Birthday-month offer from the member attribute: marketing, once a year per shopper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from bot.app import create_app
from bot.delivery import jobs as delivery_jobs
from bot.models import Flow, MemberAttributes, Shopper
from tests.helpers.delivery import START, order_body, pushes

SCENARIOS = """\
scenarios:
  birthday_offer:
    trigger: customer.birthday_month
    steps:
      - {id: birthday, delay: 0s, template: repeat_offer, expires_after: 7d}
"""


@pytest.fixture
def app(settings, db, redis, line, tmp_path: Path) -> Flask:
    path = tmp_path / "scenarios.yaml"
    path.write_text(SCENARIOS, encoding="utf-8")
    return create_app(
        settings.with_changes(scenarios_path=path), line=line, redis=redis, database=db
    )


def born_in(shop, month: int) -> None:
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        session.add(
            MemberAttributes(member_id="M123", tags=[], birthday_month=month, updated_at=START)
        )
        session.commit()


def birthdays(shop) -> int:
    with shop.app.app_context():
        return delivery_jobs.start_customer_flows()["birthday"]


def subjects(shop) -> list[str]:
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        return [f.subject for f in session.scalars(select(Flow).order_by(Flow.id))]


def test_the_birthday_month_offer_goes_out_once_a_year(shop, line):
    born_in(shop, 8)
    shop.event("order.placed", order_body("O1"), at=START)  # its items fill the offer
    assert birthdays(shop) == 0  # July
    # 2025-08-01 00:00 in Tokyo is still July in UTC: the shop's time zone decides.
    shop.at(datetime(2025, 7, 31, 15, 0, tzinfo=UTC))
    assert birthdays(shop) == 1
    shop.tick()
    assert pushes(line) == []  # midnight in Tokyo: a marketing message waits for 09:00
    shop.at(datetime(2025, 8, 1, 0, 0, tzinfo=UTC))
    shop.tick()
    assert len(pushes(line)) == 1
    for day in (2, 15, 31):  # every daily run of August
        shop.at(datetime(2025, 8, day, 0, 0, tzinfo=UTC))
        assert birthdays(shop) == 0
    shop.at(datetime(2026, 8, 1, 0, 0, tzinfo=UTC))
    assert birthdays(shop) == 1
    assert subjects(shop) == ["birthday:2025", "birthday:2026"]


def test_the_offer_is_marketing(shop, line):
    born_in(shop, 7)
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        for shopper in session.scalars(select(Shopper)):
            shopper.marketing_opt_in = False
        session.commit()
    assert birthdays(shop) == 1
    shop.tick()
    assert pushes(line) == []
    (delivery,) = shop.deliveries()
    assert delivery.marketing and delivery.reason is not None


def test_no_birthday_month_no_offer(shop, line):
    for month in range(12):
        shop.at(START + timedelta(days=31 * month))
        assert birthdays(shop) == 0
