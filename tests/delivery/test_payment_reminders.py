"""Unpaid orders (konbini, bank transfer): reminders before the payment deadline, on a timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.delivery.engine import TOO_CLOSE_REASON
from bot.linking import service as linking
from bot.models import DeliveryState, Flow, FlowState, LinkSource, Shopper
from tests.helpers.delivery import START, add_shopper, alt_texts, pushes

# START is 2025-07-01 10:00 in Tokyo. The deadline: 2025-07-04 09:00 in Tokyo.
DEADLINE = datetime(2025, 7, 4, 0, 0, tzinfo=UTC)
PAY_URL = "https://shop.example.jp/orders/O1/payment"


def pending(order_id: str = "O1", deadline: datetime = DEADLINE, **payment: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "payment": {
            "method": "コンビニ払い",
            "deadline": deadline.astimezone(UTC).isoformat(),
            "amount": 4380,
            "url": PAY_URL,
            **payment,
        },
    }


def reminders(shop) -> dict[str, Any]:
    return {d.step_id: d for d in shop.deliveries() if d.scenario_id == "payment_reminder"}


def no_marketing_consent(shop) -> None:
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        for shopper in session.scalars(select(Shopper)):
            shopper.marketing_opt_in = False
        session.commit()


def test_reminders_a_day_and_three_hours_before_even_without_marketing_consent(shop, line):
    no_marketing_consent(shop)
    assert shop.event("order.payment_pending", pending()).status_code == 202
    planned = reminders(shop)
    assert planned["day_before"].due_at == DEADLINE - timedelta(days=1)
    assert planned["hours_before"].due_at == DEADLINE - timedelta(hours=3)
    assert planned["hours_before"].expires_at == DEADLINE  # never after the deadline
    assert all(not d.marketing for d in planned.values())

    shop.at(DEADLINE - timedelta(days=1, minutes=1))
    assert shop.tick() == 0
    shop.at(DEADLINE - timedelta(days=1))
    shop.tick()
    assert len(pushes(line)) == 1
    text = alt_texts(line)[0]
    # The deadline in the shop's time zone, and the amount.
    assert "2025年7月4日(金) 09:00" in text and "¥4,380" in text
    message = pushes(line)[0]["messages"][0]
    assert "コンビニ払い" in str(message["contents"])
    # The button opens the payment page (through a tracking link that redirects to it).
    assert message["contents"]["footer"]["contents"][0]["action"]["label"] == "お支払い方法を確認"

    # 06:00 in Tokyo is inside the quiet hours (21:00-09:00): transactional messages
    # are not held back by them, as for order thanks and shipping notices.
    shop.at(DEADLINE - timedelta(hours=3))
    shop.tick()
    assert len(pushes(line)) == 2
    assert {d.state for d in reminders(shop).values()} == {DeliveryState.SENT}


def test_a_deadline_too_close_for_the_day_before_reminder_skips_it(shop, line):
    deadline = START + timedelta(hours=10)
    shop.event("order.payment_pending", pending(deadline=deadline))
    planned = reminders(shop)
    assert planned["day_before"].state is DeliveryState.SKIPPED
    assert planned["day_before"].reason == TOO_CLOSE_REASON
    assert planned["hours_before"].state is DeliveryState.PENDING
    assert planned["hours_before"].due_at == deadline - timedelta(hours=3)
    shop.tick()
    assert pushes(line) == []  # nothing at once
    shop.at(deadline - timedelta(hours=3))
    shop.tick()
    assert len(pushes(line)) == 1


def test_a_deadline_already_past_sends_nothing(shop, line):
    shop.event("order.payment_pending", pending(deadline=START - timedelta(minutes=1)))
    assert {d.state for d in reminders(shop).values()} == {DeliveryState.SKIPPED}
    shop.at(START + timedelta(days=2))
    shop.tick()
    assert pushes(line) == []


def test_a_reminder_never_goes_out_after_the_deadline(shop, line):
    shop.event("order.payment_pending", pending())
    # The dispatcher was down from before the first reminder until past the deadline.
    shop.at(DEADLINE + timedelta(minutes=1))
    shop.tick()
    assert pushes(line) == []
    assert {d.state for d in reminders(shop).values()} == {DeliveryState.SKIPPED}


@pytest.mark.parametrize(
    ("kind", "word"), [("order.paid", "paid"), ("order.cancelled", "cancelled")]
)
def test_paid_or_cancelled_stops_the_reminders(shop, line, kind, word):
    shop.event("order.payment_pending", pending())
    shop.at(DEADLINE - timedelta(days=1))
    shop.tick()
    assert len(pushes(line)) == 1
    shop.at(DEADLINE - timedelta(hours=12))
    assert shop.event(kind, {"order_id": "O1"}).status_code == 202
    later = reminders(shop)["hours_before"]
    assert later.state is DeliveryState.CANCELLED and later.reason == f"{word}: O1"
    shop.at(DEADLINE - timedelta(hours=3))
    shop.tick()
    assert len(pushes(line)) == 1


def test_paying_one_order_leaves_another_orders_reminders(shop, line):
    shop.event("order.payment_pending", pending("O1"))
    shop.event("order.payment_pending", pending("O2", deadline=DEADLINE + timedelta(days=1)))
    shop.event("order.paid", {"order_id": "O1"})
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        flows = {f.subject: f.state for f in session.scalars(select(Flow))}
    assert flows == {"payment:O1": FlowState.ENDED, "payment:O2": FlowState.ACTIVE}
    shop.at(DEADLINE)  # O2's day-before reminder
    shop.tick()
    assert len(pushes(line)) == 1


def test_a_pending_event_arriving_after_the_payment_starts_nothing(shop, line):
    shop.event("order.paid", {"order_id": "O1"}, at=START)
    late = shop.event("order.payment_pending", pending(), at=START - timedelta(minutes=5))
    assert late.status_code == 202
    assert all(d.state is not DeliveryState.PENDING for d in reminders(shop).values())
    shop.at(DEADLINE - timedelta(hours=3))
    shop.tick()
    assert pushes(line) == []


def test_a_duplicate_event_plans_once(shop, line):
    assert shop.event("order.payment_pending", pending(), event_id="pay-1").status_code == 202
    again = shop.event("order.payment_pending", pending(deadline=START), event_id="pay-1")
    assert again.status_code == 200 and again.get_json() == {"duplicate": True}
    planned = reminders(shop)
    assert len(planned) == 2
    assert planned["hours_before"].due_at == DEADLINE - timedelta(hours=3)
    paid = shop.event("order.paid", {"order_id": "O1"}, event_id="paid-1")
    assert paid.status_code == 202
    assert shop.event("order.paid", {"order_id": "O1"}, event_id="paid-1").status_code == 200


def test_a_new_deadline_for_the_same_order_moves_the_reminders(shop, line):
    shop.event("order.payment_pending", pending())
    later_deadline = DEADLINE + timedelta(days=2)
    shop.event("order.payment_pending", pending(deadline=later_deadline))
    planned = reminders(shop)
    assert len(planned) == 2
    assert planned["day_before"].due_at == later_deadline - timedelta(days=1)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "https://evil.example.net/pay"}, "payment.url"),
        ({"url": "javascript:alert(1)"}, "payment.url"),
        ({"amount": -1}, "payment.amount"),
        ({"amount": "4380円"}, "payment.amount"),
        ({"deadline": "2025-07-04T09:00:00"}, "payment.deadline"),
        ({"deadline": None}, "payment.deadline"),
        ({"method": ""}, "payment.method"),
    ],
)
def test_bad_payment_events_get_a_field_level_400(shop, change, field):
    body = pending()
    body["payment"].update(change)
    body["payment"] = {k: v for k, v in body["payment"].items() if v is not None}
    response = shop.event("order.payment_pending", body)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field
    assert reminders(shop) == {}


@pytest.mark.parametrize("kind", ["order.paid", "order.cancelled", "order.payment_pending"])
def test_payment_events_need_an_order_id(shop, kind):
    body = pending() if kind == "order.payment_pending" else {"order_id": "O1"}
    del body["order_id"]
    response = shop.event(kind, body)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "order_id"


def _link(app, member_id: str, line_user_id: str, at: datetime) -> None:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        linking.link_member(session, member_id, line_user_id, at, LinkSource.API)
        session.commit()


def test_an_unpaid_order_before_linking_is_reminded_after_the_link(app, shop, line):
    other = "U" + "3" * 32
    add_shopper(app, line_user_id=other, member_id=None, name="佐藤 一郎")
    shop.event("order.payment_pending", pending("O7"), member="M777")
    shop.event("order.payment_pending", pending("O8"), member="M777")
    shop.event("order.paid", {"order_id": "O8"}, member="M777")
    assert reminders(shop) == {}
    _link(app, "M777", other, START + timedelta(hours=1))
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        subjects = {f.subject for f in session.scalars(select(Flow))}
    assert subjects == {"payment:O7"}  # O8 was paid before the link
    shop.at(DEADLINE - timedelta(days=1))
    shop.tick()
    sent = pushes(line)
    assert len(sent) == 1 and sent[0]["to"] == other
