"""A follow racing the shop's link call: both create the shopper, neither may fail (PostgreSQL).

LINE Login's add-friend option sends the follow webhook and the shop's `POST /api/v1/links`
at the same moment. Both look the shopper up, find nobody and insert: one INSERT used to hit
the unique key, so either the follow was marked failed (no greeting, ever) or the link
answered 409.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from bot.line import jobs
from bot.models import Shopper, WebhookEvent, WebhookEventState
from bot.shoppers import service as shoppers
from tests.helpers.line import load_webhook, signed_post
from tests.helpers.shop_api import ShopApi

ROUNDS = 3


@pytest.fixture(params=["link", "follow"])
def both_miss_the_shopper(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> threading.Barrier:
    """Hold each side after its first lookup found nobody until the other side found nobody
    too, so both go on to create the shopper: the race, every time. The side named by the
    parameter inserts first ("link" first is the lost greeting)."""
    barrier = threading.Barrier(2)
    waited = threading.local()
    real = shoppers.find_shopper

    def find_shopper(session: Any, line_user_id: str) -> Shopper | None:
        found = real(session, line_user_id)
        if found is None and not getattr(waited, "done", False):
            waited.done = True
            barrier.wait(timeout=10)
            if threading.current_thread().name != request.param:
                time.sleep(0.2)  # the other side's INSERT goes first and holds the key
        return found

    monkeypatch.setattr(shoppers, "find_shopper", find_shopper)
    return barrier


def test_follow_and_link_at_the_same_moment_both_succeed(
    app: Flask, client, line, both_miss_the_shopper: threading.Barrier
) -> None:
    database = app.extensions["bot"].db
    if database.dialect != "postgresql":
        pytest.skip("the race needs concurrent writers: set TEST_DATABASE_URL to PostgreSQL")
    for n in range(ROUNDS):
        user_id = "U" + f"{n:x}" * 32
        follow = load_webhook(
            "follow",
            webhookEventId=f"01JRACEFOLLOW{n:013d}",
            replyToken=f"rt-race-{n}",
            source={"type": "user", "userId": user_id},
        )
        assert signed_post(client, [follow]).status_code == 200
        app.extensions["bot"].event_writer.drain()
        with app.app_context():
            row_id = (
                database.session()
                .scalars(
                    select(WebhookEvent.id).where(
                        WebhookEvent.webhook_event_id == follow["webhookEventId"]
                    )
                )
                .one()
            )
        both_miss_the_shopper.reset()
        member_id = f"会員{n}".encode().hex()
        answers, errors = _follow_and_link(app, row_id, member_id, user_id)

        assert errors == []
        assert answers == [201]
        with app.app_context():
            session = database.session()
            event = session.get(WebhookEvent, row_id)
            assert (event.state, event.error) == (WebhookEventState.HANDLED, None)
            shopper = session.scalars(select(Shopper).where(Shopper.line_user_id == user_id)).one()
            assert shopper.member_id == member_id
            assert shopper.follow_count == 1
        greetings = [r for r in line.sent("reply") if r["reply_token"] == follow["replyToken"]]
        assert len(greetings) == 1
        assert "友だち追加ありがとうございます" in greetings[0]["messages"][0]["text"]


def _follow_and_link(
    app: Flask, row_id: int, member_id: str, user_id: str
) -> tuple[list[int], list[BaseException]]:
    """Handle the follow and call the link API in two threads; the link's status codes."""
    answers: list[int] = []
    errors: list[BaseException] = []

    def handle_follow() -> None:
        try:
            with app.app_context():
                jobs.handle_webhook_events([row_id])
        except BaseException as exc:  # surfaced by the caller
            errors.append(exc)

    def link() -> None:
        try:
            answer = ShopApi(app.test_client()).post(
                "/links", {"member_id": member_id, "line_user_id": user_id}
            )
            answers.append(answer.status_code)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=handle_follow, name="follow"),
        threading.Thread(target=link, name="link"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return answers, errors
