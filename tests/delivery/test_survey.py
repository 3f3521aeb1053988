"""The abandoned-cart question: when it is planned, how it goes out, and the answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select, update

from bot.delivery.survey import THANKS, plan_abandonment_surveys
from bot.models import AbandonmentSurvey, DeliveryState, Shopper
from flex_templates.builders import CART_SURVEY_REASONS
from tests.helpers.delivery import MUG, START, cart_body, order_body, pushes
from tests.helpers.line import load_webhook, signed_post

M15 = timedelta(minutes=15)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def plan(app: Flask) -> int:
    with app.app_context():
        return plan_abandonment_surveys()


def surveys(app: Flask) -> list[AbandonmentSurvey]:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        rows = list(session.scalars(select(AbandonmentSurvey).order_by(AbandonmentSurvey.id)))
        session.expunge_all()
        return rows


_taps = iter(range(1, 1000))


def tap(client, run_jobs, reason: str, event_id: str | None = None) -> dict[str, Any]:
    """The shopper taps a quick reply of the question (a signed postback webhook)."""
    n = next(_taps)
    event = load_webhook(
        "postback__cart_survey",
        webhookEventId=event_id or f"01JCARTSURVEYTAP{n:010d}",
        replyToken=f"rt-cart-survey-{n}",
        postback={"data": f"action=cart_survey&reason={reason}"},
    )
    assert signed_post(client, [event]).status_code == 200
    run_jobs()
    return event


def survey_pushes(line) -> list[dict[str, Any]]:
    return [p for p in pushes(line) if p.get("aggregation_unit") == "abandonment_survey_ask"]


def remind_until_done(shop) -> None:
    """A cart of mugs (plenty in stock): the reminder and the incentive go out, the low-stock
    step is skipped at 3 days; the flow is then done."""
    shop.event("cart.updated", cart_body(items=[MUG]))
    for when in (START + M15, START + DAY, START + 3 * DAY):
        shop.at(when)
        shop.tick()


def test_the_question_follows_the_last_reminder(app, shop, line):
    remind_until_done(shop)
    assert [d.state for d in shop.deliveries()] == [
        DeliveryState.SENT,
        DeliveryState.SENT,
        DeliveryState.SKIPPED,
    ]
    shop.at(START + 3 * DAY + HOUR - timedelta(minutes=1))
    assert plan(app) == 0
    shop.at(START + 3 * DAY + HOUR)
    assert plan(app) == 1
    shop.tick()

    (push,) = survey_pushes(line)
    message = push["messages"][0]
    labels = [item["action"]["label"] for item in message["quickReply"]["items"]]
    assert labels == [*CART_SURVEY_REASONS.values(), "配信停止"]
    assert labels[:6] == [
        "送料が高い",
        "支払い方法がない",
        "他のお店と比較中",
        "後で買うつもり",
        "在庫・サイズが合わない",
        "その他",
    ]
    assert "見送った理由" in message["altText"]
    (row,) = surveys(app)
    assert (row.cart_id, row.trigger, row.cart_value) == ("C1", "last_reminder", 5500)
    assert row.reason is None
    assert shop.delivery("ask", "abandonment_survey").state is DeliveryState.SENT


def test_a_cart_is_asked_about_once(app, shop, line):
    remind_until_done(shop)
    shop.at(START + 3 * DAY + HOUR)
    assert plan(app) == 1
    shop.tick()
    for later in (2 * HOUR, DAY, 40 * DAY):
        shop.at(START + 3 * DAY + later)
        assert plan(app) == 0
        shop.tick()
    assert len(survey_pushes(line)) == 1
    assert len(surveys(app)) == 1


def test_the_answer_is_stored_and_thanked_once(app, client, run_jobs, shop, line):
    remind_until_done(shop)
    shop.at(START + 3 * DAY + HOUR)
    plan(app)
    shop.tick()
    shop.at(START + 3 * DAY + 2 * HOUR)

    first = tap(client, run_jobs, "shipping_fee")
    (reply,) = line.sent("reply")
    assert reply["messages"] == [{"type": "text", "text": THANKS}]
    (row,) = surveys(app)
    assert (row.reason, row.answered_at) == ("shipping_fee", START + 3 * DAY + 2 * HOUR)

    tap(client, run_jobs, "later")  # a second tap: the first answer stands
    assert signed_post(client, [first]).status_code == 200  # LINE redelivers the first one
    run_jobs()
    assert len(line.sent("reply")) == 1
    assert surveys(app)[0].reason == "shipping_fee"


def test_a_tap_without_a_question_or_with_an_unknown_reason_does_nothing(
    app, client, run_jobs, shop, line
):
    tap(client, run_jobs, "shipping_fee")
    remind_until_done(shop)
    shop.at(START + 3 * DAY + HOUR)
    plan(app)
    tap(client, run_jobs, "cheaper_elsewhere")
    assert line.sent("reply") == []
    assert surveys(app)[0].reason is None


def test_a_cleared_cart_is_asked_about_and_a_shopper_once_per_30_days(app, shop, line):
    shop.event("cart.updated", cart_body("C1"))
    shop.at(START + 30 * timedelta(minutes=1))
    shop.event("cart.cleared", {"cart_id": "C1"})
    shop.at(START + 89 * timedelta(minutes=1))
    assert plan(app) == 0
    shop.at(START + 90 * timedelta(minutes=1))
    assert plan(app) == 1
    shop.tick()
    (row,) = surveys(app)
    assert (row.cart_id, row.trigger, row.cart_value) == ("C1", "cart_cleared", 5500)
    assert len(survey_pushes(line)) == 1

    # Another cart left the same way 20 days later: too soon to ask this shopper again.
    shop.at(START + 20 * DAY)
    shop.event("cart.updated", cart_body("C2"))
    shop.event("cart.cleared", {"cart_id": "C2"}, at=START + 20 * DAY + M15)
    shop.at(START + 20 * DAY + 2 * HOUR)
    assert plan(app) == 0
    # 31 days after the first question, a third cart is asked about.
    shop.at(START + 31 * DAY)
    shop.event("cart.updated", cart_body("C3"))
    shop.event("cart.cleared", {"cart_id": "C3"}, at=START + 31 * DAY + M15)
    shop.at(START + 31 * DAY + 2 * HOUR)
    assert plan(app) == 1
    assert [r.cart_id for r in surveys(app)] == ["C1", "C3"]


def test_carts_that_end_in_an_order_are_not_asked_about(app, shop, line):
    shop.event("cart.updated", cart_body("C1"))
    shop.event("cart.updated", cart_body("C2"), at=START + timedelta(seconds=1))
    shop.at(START + M15)
    shop.tick()
    shop.at(START + 20 * timedelta(minutes=1))
    shop.event("order.placed", order_body("O1", cart_id="C1"))  # bought with this cart
    shop.event("cart.cleared", {"cart_id": "C2"})  # cleared at checkout of another cart
    shop.event("order.placed", order_body("O2", cart_id="C9"), at=START + 21 * timedelta(minutes=1))
    for when in (2 * HOUR, DAY, 4 * DAY):
        shop.at(START + when)
        assert plan(app) == 0
    assert surveys(app) == []


def test_opted_out_shoppers_are_not_asked_and_an_order_cancels_a_planned_question(app, shop, line):
    with app.app_context():
        session = app.extensions["bot"].db.session()
        session.execute(update(Shopper).values(marketing_opt_in=False))
        session.commit()
    shop.event("cart.updated", cart_body("C1"))
    shop.event("cart.cleared", {"cart_id": "C1"}, at=START + M15)
    shop.at(START + 2 * HOUR)
    assert plan(app) == 0
    with app.app_context():
        session = app.extensions["bot"].db.session()
        session.execute(update(Shopper).values(marketing_opt_in=True))
        session.commit()
    assert plan(app) == 1
    shop.event("order.placed", order_body("O1", cart_id="C7"))  # bought before it went out
    shop.tick()
    assert survey_pushes(line) == []
    ask = shop.delivery("ask", "abandonment_survey")
    assert ask.state is DeliveryState.CANCELLED


def test_quiet_hours_hold_the_question_until_morning(app, shop, line):
    evening = START.replace(hour=11)  # 20:00 in Tokyo
    shop.at(evening)
    shop.event("cart.updated", cart_body("C1"))
    shop.event("cart.cleared", {"cart_id": "C1"}, at=evening + timedelta(minutes=20))
    shop.at(evening + 90 * timedelta(minutes=1))  # 21:30 in Tokyo
    assert plan(app) == 1
    shop.tick()
    assert survey_pushes(line) == []
    ask = shop.delivery("ask", "abandonment_survey")
    assert ask.reason == "postponed: quiet hours"
    assert ask.due_at == START.replace(day=2, hour=0)  # 09:00 in Tokyo
    shop.at(ask.due_at)
    shop.tick()
    assert len(survey_pushes(line)) == 1
