"""The abandoned-cart question end to end over real HTTP: shop events → bot → LINE emulator
→ the shopper's tap → bot → the emulator's inbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask
from freezegun import freeze_time
from sqlalchemy import select

from bot.delivery import jobs as delivery_jobs
from bot.delivery.survey import THANKS, plan_abandonment_surveys
from bot.models import AbandonmentSurvey
from line_emulator import EmulatorServer
from tests.helpers.delivery import add_shopper, cart_body
from tests.helpers.line import SHOPPER_ID
from tests.helpers.live_server import LiveServer
from tests.helpers.shop_api import ShopApi

EVENING = datetime(2025, 7, 1, 11, 0, tzinfo=UTC)  # 20:00 in Tokyo
MORNING = datetime(2025, 7, 2, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo, when quiet hours end


def answers(app: Flask) -> list[tuple[str, str | None]]:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        rows = session.scalars(select(AbandonmentSurvey)).all()
        result = [(r.cart_id, r.reason) for r in rows]
        session.rollback()
        return result


def test_question_answer_and_thanks_through_the_emulator(
    emulator: EmulatorServer,
    live_bot: LiveServer,
    e2e_app: Flask,
    e2e_jobs: Callable[[], None],
):
    def tick() -> None:
        with e2e_app.app_context():
            plan_abandonment_surveys()
            delivery_jobs.dispatch_due_deliveries()
        e2e_jobs()

    shop = ShopApi(e2e_app.test_client())

    def event(kind: str, at: datetime, event_id: str, **body: object) -> None:
        payload = {"type": kind, "event_id": event_id, "occurred_at": at.isoformat()}
        response = shop.post("/events", {**payload, "member_id": "M123", **body})
        assert response.status_code == 202, response.json

    with freeze_time(EVENING) as frozen:
        emulator.add_user(SHOPPER_ID, display_name="山田 花子")
        add_shopper(e2e_app, now=EVENING)
        event("cart.updated", EVENING, "e1", **cart_body("C1"))
        event("cart.cleared", EVENING + timedelta(minutes=5), "e2", cart_id="C1")

        frozen.move_to(EVENING + timedelta(minutes=70))  # 21:10: quiet hours
        tick()
        assert emulator.inbox(SHOPPER_ID) == []
        assert answers(e2e_app) == [("C1", None)]

        frozen.move_to(MORNING)
        tick()
        (question,) = emulator.inbox(SHOPPER_ID)
        assert question["via"] == "push"
        labels = [i["action"]["label"] for i in question["message"]["quickReply"]["items"]]
        assert labels[:6] == [
            "送料が高い",
            "支払い方法がない",
            "他のお店と比較中",
            "後で買うつもり",
            "在庫・サイズが合わない",
            "その他",
        ]
        (request,) = emulator.requests("/v2/bot/message/push")
        assert request["body"]["customAggregationUnits"] == ["abandonment_survey_ask"]

        frozen.move_to(MORNING + timedelta(minutes=3))
        first = emulator.send_postback(SHOPPER_ID, "action=cart_survey&reason=comparing")
        assert first.ok
        e2e_jobs()
        thanks = emulator.inbox(SHOPPER_ID)[-1]
        assert thanks["via"] == "reply" and thanks["message"]["text"] == THANKS
        assert answers(e2e_app) == [("C1", "comparing")]

        # A second tap, and LINE redelivering the first: nothing more is stored or sent.
        assert emulator.send_postback(SHOPPER_ID, "action=cart_survey&reason=later").ok
        assert emulator.redeliver(first.event["webhookEventId"]).ok
        e2e_jobs()
        assert len(emulator.inbox(SHOPPER_ID)) == 2
        assert answers(e2e_app) == [("C1", "comparing")]

        # The same cart is never asked about again, nor another cart within 30 days.
        next_day = MORNING + timedelta(days=1)
        frozen.move_to(next_day)
        event("cart.updated", next_day, "e3", **cart_body("C2"))
        event("cart.cleared", next_day + timedelta(minutes=5), "e4", cart_id="C2")
        frozen.move_to(next_day + timedelta(hours=2))
        tick()
        assert len(emulator.requests("/v2/bot/message/push")) == 1
        assert answers(e2e_app) == [("C1", "comparing")]
