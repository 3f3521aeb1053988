"""One cart scenario, three shoppers, three channels, one timeline, over real sockets:
LINE through the LINE emulator (HTTP), e-mail through an SMTP server on loopback, SMS
through the SMS emulator (HTTP). Each gets exactly its messages; an order stops them all
and is attributed to the message that brought the shopper back."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from flask import Flask
from freezegun import freeze_time
from sqlalchemy import select

from bot.delivery import jobs as delivery_jobs
from bot.delivery.channel_render import sms_segments
from bot.delivery.receivers import delivery_rules
from bot.models import Conversion, Delivery, DeliveryState, Shopper
from bot.report.build import build_report
from bot.report.queries import period_for
from line_emulator import EmulatorServer
from sms_emulator import EmulatorServer as SmsEmulatorServer
from tests.helpers.channels import Smtp, add_contact, tracked_paths
from tests.helpers.delivery import START, add_shopper, cart_body, order_body
from tests.helpers.line import SHOPPER_ID
from tests.helpers.shop_api import ShopApi

HANAKO = "hanako@example.jp"


def frozen_now() -> datetime:
    return datetime.now(UTC)


PHONE = "+819012345678"


def _deliveries(app: Flask) -> dict[tuple[str, str], Delivery]:
    """(member, step) → delivery."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        rows = session.execute(select(Delivery, Shopper).join(Shopper)).all()
        out = {((s.member_id or s.contact_member_id), d.step_id): d for d, s in rows}
        session.close()
        return out


def _conversions(app: Flask) -> list[Conversion]:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        rows = list(session.scalars(select(Conversion).order_by(Conversion.order_id)))
        session.close()
        return rows


def test_a_cart_scenario_reaches_each_shopper_where_they_are(
    emulator: EmulatorServer,
    sms_emulator: SmsEmulatorServer,
    smtp: Smtp,
    e2e_app: Flask,
    e2e_jobs: Callable[[], None],
):
    shop = ShopApi(e2e_app.test_client())
    browser = e2e_app.test_client()

    def event(kind: str, member: str, at: datetime, **body: object) -> None:
        payload = {
            "type": kind,
            "event_id": f"{kind}:{member}:{at.isoformat()}",
            "occurred_at": at.isoformat(),
            "member_id": member,
            **body,
        }
        response = shop.post("/events", payload)
        assert response.status_code == 202, response.json

    def tick() -> None:
        with e2e_app.app_context():
            delivery_jobs.dispatch_due_deliveries()
        e2e_jobs()

    with freeze_time(START) as frozen:
        emulator.add_user(SHOPPER_ID, display_name="山田 花子")
        add_shopper(e2e_app, member_id="M-LINE")
        # LINE comes first even for a member the shop also knows by e-mail.
        add_contact(e2e_app, "M-LINE", START, email="line-user@example.jp", consent=("email",))
        add_contact(e2e_app, "M-MAIL", START, email=HANAKO, consent=("email",))
        add_contact(e2e_app, "M-SMS", START, phone="090-1234-5678", consent=("sms",))
        for member in ("M-LINE", "M-MAIL", "M-SMS"):
            event("cart.updated", member, START, **cart_body(f"C-{member}"))

        frozen.move_to(START + timedelta(minutes=10))
        tick()
        assert emulator.inbox(SHOPPER_ID) == [] and smtp.received == []
        assert sms_emulator.sent() == []

        frozen.move_to(START + timedelta(minutes=20))
        tick()
        # LINE: one push to the linked shopper, nothing to the others.
        (line_message,) = emulator.inbox(SHOPPER_ID)
        assert line_message["via"] == "push"
        # E-mail: one mail, to the e-mail-only member.
        (mail,) = smtp.received
        assert mail.recipients == (HANAKO,)
        message = mail.message
        assert "美濃焼 手描き藍染め マグカップ" in str(message["Subject"])
        assert "暮らしの器 やまと" in str(message["From"])
        assert re.fullmatch(
            r"<delivery-\d+\.[0-9a-f]{16}@bot\.example\.com>", message["Message-ID"]
        )
        assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        assert "/email/unsubscribe/" in str(message["List-Unsubscribe"])
        html, text = mail.part("html"), mail.part("plain")
        assert 'src="https://shop.example.jp/images/MUG-AI.jpg"' in html
        assert "¥2,750 × 2" in text and "所在地: 東京都台東区蔵前1-2-3" in text
        assert "配信停止: https://bot.example.com/email/unsubscribe/" in text
        # SMS: one text, to the SMS-only member, with a short tracked link and the opt-out.
        (sms,) = sms_emulator.sent()
        assert sms.to == PHONE
        assert "【暮らしの器 やまと】" in sms.body and "「停止」と返信" in sms.body
        assert sms_segments(sms.body) <= 2
        (short,) = re.findall(
            r"https://bot\.example\.com(/r/s/[0-9a-z]+\.[A-Za-z0-9_-]+)", sms.body
        )

        rows = _deliveries(e2e_app)
        assert [(rows[m, "reminder"].channel, rows[m, "reminder"].reason) for m in (
            "M-LINE", "M-MAIL", "M-SMS"
        )] == [
            ("line", None),
            ("email", "channel:email (line: not_on_line)"),
            ("sms", "channel:sms (line: not_on_line, email: no_address)"),
        ]  # fmt: skip
        assert all(rows[m, "reminder"].state is DeliveryState.SENT for m in ("M-MAIL", "M-SMS"))
        assert rows["M-MAIL", "reminder"].message_id == message["Message-ID"]
        assert rows["M-SMS", "reminder"].message_id == sms.sid

        # The e-mail and SMS shoppers tap their links: back to their cart, tagged per channel.
        frozen.move_to(START + timedelta(minutes=40))
        mail_link = next(p for p in tracked_paths(text) if "/r/s/" not in p)
        for path, member, source in ((mail_link, "M-MAIL", "email"), (short, "M-SMS", "sms")):
            tapped = browser.get(path)
            assert tapped.status_code == 302, path
            location = urlsplit(tapped.headers["Location"])
            assert location.path in (f"/cart/C-{member}", "/items/MUG-AI")
            assert parse_qs(location.query)["utm_source"] == [source]

        # All three order: their flows end on every channel.
        frozen.move_to(START + timedelta(hours=2))
        for member in ("M-LINE", "M-MAIL", "M-SMS"):
            event("order.placed", member, START + timedelta(hours=2), **order_body(
                f"O-{member}", f"C-{member}"
            ))  # fmt: skip

        frozen.move_to(START + timedelta(days=1, hours=1))
        tick()
        frozen.move_to(START + timedelta(days=3, hours=1))
        tick()
        # LINE: the order's thanks (a LINE-only scenario), no further reminder.
        reminder, thanks = emulator.inbox(SHOPPER_ID)
        assert "ご注文" in thanks["message"]["altText"], thanks["message"]["altText"]
        assert len(smtp.received) == 1 and len(sms_emulator.sent()) == 1
        rows = _deliveries(e2e_app)
        for member in ("M-LINE", "M-MAIL", "M-SMS"):
            incentive = rows[member, "incentive"]
            assert incentive.state is DeliveryState.CANCELLED, (member, incentive.reason)
        # Recovered revenue per channel: each order is attributed to its own reminder.
        conversions = {c.order_id: c for c in _conversions(e2e_app)}
        for member in ("M-LINE", "M-MAIL", "M-SMS"):
            assert conversions[f"O-{member}"].delivery_ids == [rows[member, "reminder"].id]
        assert conversions["O-M-MAIL"].click_id is not None
        assert conversions["O-M-SMS"].click_id is not None

        # The report splits the step's figures by channel (an added key of each row).
        with e2e_app.app_context():
            session = e2e_app.extensions["bot"].db.session()
            period = period_for(frozen_now(), ZoneInfo("Asia/Tokyo"))
            data = build_report(session, delivery_rules().book, period, frozen_now())
            session.close()
        (row,) = [
            r
            for r in data["rows"]
            if (r["scenario"], r["step"]) == ("cart_abandonment", "reminder")
        ]
        assert row["sent"] == 3 and row["orders"] == 3
        assert row["channels"] == {
            channel: {
                "sent": 1,
                "clicked": clicked,
                "orders": 1,
                "revenue": 5500,
                "opt_outs_24h": 0,
            }
            for channel, clicked in (("line", 0), ("email", 1), ("sms", 1))
        }
