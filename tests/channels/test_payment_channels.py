"""Payment reminders for shoppers who are not on LINE: by e-mail, and by SMS three hours
before the deadline. They are about the shopper's own order, so no marketing consent is
needed and no opt-out is offered, and the mail says why it came."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sms_emulator import EmulatorServer as SmsEmulatorServer
from tests.helpers.channels import Smtp, add_contact
from tests.helpers.delivery import START, Shop

DEADLINE = datetime(2025, 7, 4, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
HANAKO, PHONE = "hanako@example.jp", "+819012345678"


def _pending(order_id: str) -> dict:
    return {
        "order_id": order_id,
        "payment": {
            "method": "コンビニ払い",
            "deadline": DEADLINE.isoformat(),
            "amount": 4380,
            "url": f"https://shop.example.jp/orders/{order_id}/payment",
        },
    }


def test_a_member_known_by_contact_is_reminded_to_pay_by_mail_and_sms(
    shop: Shop, smtp: Smtp, sms_emulator: SmsEmulatorServer
):
    # Addresses only, no marketing consent for either.
    add_contact(shop.app, "M-MAIL", START, email=HANAKO)
    add_contact(shop.app, "M-SMS", START, phone=PHONE)
    for member, order_id in (("M-MAIL", "O-MAIL"), ("M-SMS", "O-SMS")):
        response = shop.event("order.payment_pending", _pending(order_id), member=member)
        assert response.status_code == 202

    shop.at(DEADLINE - timedelta(days=1))
    shop.tick()
    (mail,) = smtp.to(HANAKO)
    assert (
        "お支払い期限のお知らせ" in mail.message["Subject"] and "O-MAIL" in mail.message["Subject"]
    )
    text = mail.part("plain")
    assert "2025年7月4日(金) 09:00" in text and "¥4,380" in text and "コンビニ払い" in text
    assert "配信停止の設定にかかわらず" in text  # why a mail without an opt-out came
    assert mail.message["List-Unsubscribe"] is None
    assert sms_emulator.sent() == []  # the day before: e-mail or LINE only

    shop.at(DEADLINE - timedelta(hours=3))
    shop.tick()
    assert len(smtp.to(HANAKO)) == 2  # e-mail comes before SMS for the one with an address
    (sms,) = sms_emulator.sent(PHONE)
    assert "O-SMS" in sms.body and "2025年7月4日(金) 09:00" in sms.body
    assert "停止" not in sms.body  # not marketing: no opt-out line
    reminders = {
        (d.step_id, d.channel): d.state.value
        for d in shop.deliveries()
        if d.scenario_id == "payment_reminder"
    }
    assert reminders == {
        ("day_before", "email"): "sent",
        ("hours_before", "email"): "sent",
        ("day_before", "line"): "skipped",  # M-SMS: no channel it can receive that day
        ("hours_before", "sms"): "sent",
    }
