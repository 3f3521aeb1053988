"""Win-back and birthday offers beyond LINE: a scenario that may go by e-mail reaches members
the bot knows only by the shop's attributes and an address, and members who blocked the
account, by e-mail where they agreed to it; the daily run makes their contact rows once."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Flask
from sqlalchemy import func, select

from bot.delivery import jobs as delivery_jobs
from bot.line.gateway import InMemoryLineGateway
from bot.models import DeliveryState, Flow, MemberAttributes, Shopper
from bot.shoppers.service import record_unfollow
from tests.helpers.channels import Smtp, add_contact
from tests.helpers.delivery import START, Shop, add_shopper, pushes

SCENARIOS = """\
scenarios:
  win_back:
    title: 休眠顧客の掘り起こし
    trigger: customer.dormant
    dormant_days: 90
    category: marketing
    exit_on: [order.placed, opt_out]
    steps:
      - id: come_back
        delay: 0s
        template: repeat_offer
        channels: [line, email]
        data:
          shop_url: https://shop.example.jp/
          coupon: {code: COMEBACK10, description: お久しぶりクーポン 10%OFF}
  birthday_offer:
    title: お誕生月のプレゼント
    trigger: customer.birthday_month
    category: marketing
    exit_on: [opt_out]
    steps:
      - id: birthday
        delay: 0s
        template: repeat_offer
        channels: [line, email]
        data:
          coupon: {code: BIRTHDAY, description: お誕生月クーポン 500円OFF}
"""
BLOCKED = "U" + "b" * 32
LONG_AGO = date(2025, 3, 1)  # START is 2025-07-01: 122 days before


def _attributes(app: Flask, *members: str) -> None:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        for member in members:
            session.add(
                MemberAttributes(
                    member_id=member, tags=[], last_order_date=LONG_AGO, updated_at=START
                )
            )
        session.commit()


def _run(app: Flask) -> int:
    with app.app_context():
        return delivery_jobs.start_customer_flows()["win_back"]


def test_dormant_members_off_line_are_won_back_by_mail(
    shop: Shop, smtp: Smtp, line: InMemoryLineGateway
):
    # The shop fixture's shopper M123 follows on LINE; give it a dormancy too.
    add_shopper(shop.app, line_user_id=BLOCKED, member_id="M-BLOCKED")
    add_contact(shop.app, "M-BLOCKED", START, email="blocked@example.jp", consent=("email",))
    add_contact(shop.app, "M-MAIL", START, email="mail@example.jp", consent=("email",))
    add_contact(shop.app, "M-NOCONSENT", START, email="quiet@example.jp")
    _attributes(shop.app, "M123", "M-BLOCKED", "M-MAIL", "M-NOCONSENT", "M-NOADDRESS")
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        record_unfollow(session, BLOCKED, START)
        session.commit()

    assert _run(shop.app) == 4  # not M-NOADDRESS: nothing can reach them
    shop.tick()
    assert len(pushes(line)) == 1  # M123, by LINE
    assert sorted(r for m in smtp.received for r in m.recipients) == [
        "blocked@example.jp",
        "mail@example.jp",
    ]
    (mail,) = smtp.to("mail@example.jp")
    assert "お久しぶりクーポン 10%OFF" in mail.message["Subject"]
    assert "COMEBACK10" in mail.part("plain")
    assert mail.message["List-Unsubscribe"] is not None  # marketing: one-click unsubscribe
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        contact_rows = session.scalar(
            select(func.count()).select_from(Shopper).where(Shopper.contact_member_id.is_not(None))
        )
        assert contact_rows == 2  # M-MAIL and M-NOCONSENT; none for an address never given
        skipped = [d for d in shop.deliveries() if d.state is DeliveryState.SKIPPED]
        assert len(skipped) == 1 and "consent" in skipped[0].reason
        flows = session.scalar(select(func.count()).select_from(Flow))
    # The next day's run starts nothing again and makes no second contact row.
    shop.at(START + timedelta(days=1))
    assert _run(shop.app) == 0
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        assert session.scalar(select(func.count()).select_from(Flow)) == flows


def test_a_birthday_offer_reaches_a_member_known_only_by_mail(shop: Shop, smtp: Smtp):
    add_contact(shop.app, "M-MAIL", START, email="mail@example.jp", consent=("email",))
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        for member, month in (("M-MAIL", 7), ("M-AUGUST", 8)):
            session.add(
                MemberAttributes(member_id=member, tags=[], birthday_month=month, updated_at=START)
            )
        session.commit()
        assert delivery_jobs.start_customer_flows()["birthday"] == 1
    shop.tick()
    (mail,) = smtp.received
    assert mail.recipients == ("mail@example.jp",)
    assert "お誕生月クーポン 500円OFF" in mail.message["Subject"]
