"""Restock notices beyond LINE: a scenario whose step may go by e-mail or SMS reaches every
recent holder of the item (LINE friends by LINE, a blocked friend or a member known only by
contact by the channel they agreed to); a LINE-only scenario still reaches LINE friends only."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from bot.line.gateway import InMemoryLineGateway
from bot.models import Delivery, DeliveryState, Flow, Shopper
from bot.shoppers.service import record_unfollow
from sms_emulator import EmulatorServer as SmsEmulatorServer
from tests.helpers.channels import Smtp, add_contact
from tests.helpers.delivery import MAMEZARA, START, Shop, add_shopper, cart_body, pushes

SCENARIOS = """
scenarios:
  restock_line:
    title: 再入荷のお知らせ(LINE)
    trigger: product.restocked
    category: marketing
    steps:
      - id: restocked
        delay: 0s
        template: restock_notice
  restock_everywhere:
    title: 再入荷のお知らせ(メール・SMSも)
    trigger: product.restocked
    category: marketing
    audience_within: 30d
    steps:
      - id: restocked
        delay: 0s
        template: restock_notice
        channels: [line, email, sms]
"""
RESTOCK = {
    "sku": MAMEZARA["sku"],
    "name": "有田焼 豆皿5枚セット(花づくし)",
    "product_url": "https://shop.example.jp/items/MAME-5",
    "image_url": "https://shop.example.jp/images/mame5.jpg",
}
FRIEND, BLOCKED = "U" + "f" * 32, "U" + "e" * 32
PHONE = "+819012345678"


def test_a_restock_reaches_each_holder_where_they_can_be_reached(
    shop: Shop, smtp: Smtp, sms_emulator: SmsEmulatorServer, line: InMemoryLineGateway
):
    add_shopper(shop.app, line_user_id=FRIEND, member_id="M-FRIEND")
    add_shopper(shop.app, line_user_id=BLOCKED, member_id="M-BLOCKED", name="佐藤 次郎")
    add_contact(shop.app, "M-BLOCKED", START, email="jiro@example.jp", consent=("email",))
    add_contact(shop.app, "M-SMS", START, phone=PHONE, consent=("sms",))
    add_contact(shop.app, "M-NOCONSENT", START, email="nobody@example.jp")
    for member in ("M-FRIEND", "M-BLOCKED", "M-SMS", "M-NOCONSENT"):
        response = shop.event("cart.updated", cart_body(f"C-{member}", [MAMEZARA]), member=member)
        assert response.status_code == 202
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        record_unfollow(session, BLOCKED, START)
        session.commit()
        session.close()

    shop.at(START + timedelta(days=2))
    assert shop.event("product.restocked", RESTOCK, member=None).status_code == 202
    shop.run()  # the restock job finds the holders
    shop.tick()

    flows = _flows_by_scenario(shop.app)
    assert flows["restock_line"] == {"M-FRIEND"}
    assert flows["restock_everywhere"] == {"M-FRIEND", "M-BLOCKED", "M-SMS", "M-NOCONSENT"}
    # The friend gets both scenarios by LINE (two scenarios, two notices: the shop's choice).
    assert [p["to"] for p in pushes(line)] == [FRIEND, FRIEND]
    (mail,) = smtp.received
    assert mail.recipients == ("jiro@example.jp",)
    assert "「有田焼 豆皿5枚セット(花づくし)」が再入荷しました" in mail.message["Subject"]
    assert "佐藤 次郎様" in mail.part("plain") and "商品を見る" in mail.part("html")
    (text,) = sms_emulator.sent()
    assert text.to == PHONE and "再入荷しました" in text.body and "停止" in text.body
    everywhere = _deliveries(shop.app, "restock_everywhere")
    assert everywhere["M-BLOCKED"].channel == "email"
    assert everywhere["M-SMS"].channel == "sms"
    # An address without consent: nothing is sent, and the delivery says why.
    assert everywhere["M-NOCONSENT"].state is DeliveryState.SKIPPED
    assert "consent" in everywhere["M-NOCONSENT"].reason


def _flows_by_scenario(app: Flask) -> dict[str, set[str]]:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        rows = session.execute(select(Flow.scenario_id, Shopper).join(Shopper)).all()
        out: dict[str, set[str]] = {}
        for scenario_id, shopper in rows:
            out.setdefault(scenario_id, set()).add(
                shopper.member_id or shopper.contact_member_id or ""
            )
        session.close()
        return out


def _deliveries(app: Flask, scenario: str) -> dict[str, Delivery]:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        rows = session.execute(
            select(Delivery, Shopper).join(Shopper).where(Delivery.scenario_id == scenario)
        ).all()
        session.expunge_all()
        return {(s.member_id or s.contact_member_id or ""): d for d, s in rows}
