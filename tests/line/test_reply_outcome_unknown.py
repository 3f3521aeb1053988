"""A reply whose outcome is unknown is never followed by a push of the same answer.

Through the real SDK gateway to the LINE emulator, which can answer 500 after delivering.
A reply token works once: a retried job that replied again got "invalid reply token",
pushed instead, and the shopper saw the greeting twice. Now a second reply with the same token
settles it: refused if the first reply arrived, accepted if it did not. The handler replies
again a second later itself, while the token is young; if that is ambiguous too, the event's
retry replies again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.line import dispatch, jobs
from bot.models import ConversationMessage, WebhookEvent, WebhookEventState
from line_emulator import EmulatorServer

REPLY = "/v2/bot/message/reply"
GREETING = "友だち追加ありがとうございます"


def _event(app: Flask) -> WebhookEvent:
    with app.app_context():
        return app.extensions["db"].session().scalars(select(WebhookEvent)).one()


def _log(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        rows = (
            app.extensions["db"]
            .session()
            .scalars(select(ConversationMessage).order_by(ConversationMessage.id))
        )
        return [(row.status, row.text) for row in rows]


def _retry(app: Flask, event_id: int) -> None:
    """What RQ's retry of the job does (the in-process worker does not wait for it)."""
    with app.app_context():
        jobs.handle_webhook_events([event_id])


def _greetings(emulator: EmulatorServer, user_id: str) -> list[dict[str, Any]]:
    return [m for m in emulator.inbox(user_id) if GREETING in m["message"].get("text", "")]


def _follow_then_retry(emulator: EmulatorServer, app: Flask, run_jobs: Any) -> str:
    """A new friend's follow handled once, put back for a retry, and retried; the user id."""
    user = emulator.add_user(display_name="山田 花子")["userId"]
    assert emulator.send_follow(user).ok
    run_jobs()
    event = _event(app)
    assert event.state is WebhookEventState.RECEIVED  # put back for the retry
    _retry(app, event.id)
    return user


def test_reply_answered_500_after_delivery_is_not_pushed_again(
    live_bot, emulator: EmulatorServer, e2e_app: Flask, e2e_jobs
) -> None:
    """Replying again a second later finds the token spent: the first reply arrived."""
    user = emulator.add_user(display_name="山田 花子")["userId"]
    emulator.fail_next(500, path=REPLY, deliver=True)
    assert emulator.send_follow(user).ok
    e2e_jobs()

    assert len(_greetings(emulator, user)) == 1
    first, second = emulator.requests(REPLY)
    assert (first["status"], second["status"]) == (500, 400)
    assert second["time"] - first["time"] >= 0.9  # the settle wait
    assert emulator.requests("/v2/bot/message/push") == []
    assert _event(e2e_app).state is WebhookEventState.HANDLED
    ((status, text),) = _log(e2e_app)
    assert status == "unknown" and GREETING in text


def test_retry_after_a_delivered_reply_does_not_push_it_again(
    live_bot, emulator: EmulatorServer, e2e_app: Flask, e2e_jobs, monkeypatch
) -> None:
    """The reply went out, then the database connection dropped at the commit: the event is
    retried, its spent token is refused, and the log says the answer went out."""
    real_finish = dispatch._finish
    drops: list[int] = []

    def finish(session: Any, row: Any, services: Any, state: Any, error: Any) -> None:
        if state is WebhookEventState.HANDLED and not drops:
            drops.append(1)
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))
        real_finish(session, row, services, state, error)

    monkeypatch.setattr(dispatch, "_finish", finish)
    user = _follow_then_retry(emulator, e2e_app, e2e_jobs)

    assert len(_greetings(emulator, user)) == 1
    assert [r["status"] for r in emulator.requests(REPLY)] == [200, 400]
    assert emulator.requests("/v2/bot/message/push") == []
    assert _event(e2e_app).state is WebhookEventState.HANDLED
    ((status, text),) = _log(e2e_app)  # logged once, though the first commit was lost
    assert status == "sent" and GREETING in text


def test_a_rate_limited_reply_is_retried(
    live_bot, emulator: EmulatorServer, e2e_app: Flask, e2e_jobs
) -> None:
    """A 429 certainly delivered nothing: the retry replies with the same token."""
    emulator.fail_next(429, path=REPLY)
    user = _follow_then_retry(emulator, e2e_app, e2e_jobs)
    assert _event(e2e_app).state is WebhookEventState.HANDLED
    assert [r["status"] for r in emulator.requests(REPLY)] == [429, 200]
    assert len(_greetings(emulator, user)) == 1


def test_a_5xx_reply_that_delivered_nothing_is_replied_again(
    live_bot, emulator: EmulatorServer, e2e_app: Flask, e2e_jobs
) -> None:
    """A 5xx that in fact delivered nothing left the token unused: the second reply is
    accepted, and the earlier attempt is recorded as failed, not as maybe delivered."""
    user = emulator.add_user(display_name="山田 花子")["userId"]
    emulator.fail_next(503, path=REPLY)
    assert emulator.send_follow(user).ok
    e2e_jobs()

    assert _event(e2e_app).state is WebhookEventState.HANDLED
    assert [r["status"] for r in emulator.requests(REPLY)] == [503, 200]
    assert emulator.requests("/v2/bot/message/push") == []
    assert len(_greetings(emulator, user)) == 1
    assert [status for status, _ in _log(e2e_app)] == ["failed", "sent"]


def test_a_reply_still_unknown_after_the_second_try_is_settled_by_the_retry(
    live_bot, emulator: EmulatorServer, e2e_app: Flask, e2e_jobs
) -> None:
    user = emulator.add_user(display_name="山田 花子")["userId"]
    emulator.fail_next(503, n=2, path=REPLY)
    assert emulator.send_follow(user).ok
    e2e_jobs()
    event = _event(e2e_app)
    assert event.state is WebhookEventState.RECEIVED  # put back for the retry
    assert [status for status, _ in _log(e2e_app)] == ["unknown", "unknown"]
    _retry(e2e_app, event.id)

    assert _event(e2e_app).state is WebhookEventState.HANDLED
    assert [r["status"] for r in emulator.requests(REPLY)] == [503, 503, 200]
    assert emulator.requests("/v2/bot/message/push") == []
    assert len(_greetings(emulator, user)) == 1
    assert [status for status, _ in _log(e2e_app)] == ["failed", "failed", "sent"]


def test_an_event_whose_worker_died_after_replying_is_not_pushed_again(
    live_bot, emulator: EmulatorServer, e2e_app: Flask, e2e_jobs
) -> None:
    """The worker replied, then died before its commit: nothing in the database shows the
    reply. The sweep hands the event out again; its spent token is refused, and because the
    event was interrupted, nothing is pushed."""
    user = emulator.add_user(display_name="山田 花子")["userId"]
    assert emulator.send_follow(user).ok
    with e2e_app.app_context():
        session = e2e_app.extensions["db"].session()
        row = session.scalars(select(WebhookEvent)).one()
        # What the dead worker did: claimed the event and replied with its token.
        e2e_app.extensions["bot"].line.reply(
            row.payload["replyToken"], [{"type": "text", "text": f"{GREETING}!"}]
        )
        row.state = WebhookEventState.PROCESSING
        row.received_at -= timedelta(minutes=3)
        session.commit()
        assert jobs.requeue_stale_webhook_events() == 1
    e2e_jobs()

    assert _event(e2e_app).state is WebhookEventState.HANDLED
    assert [r["status"] for r in emulator.requests(REPLY)] == [200, 400]
    assert emulator.requests("/v2/bot/message/push") == []
    assert len(_greetings(emulator, user)) == 1
