"""Webhook handling retries what is transient and parks what is not, and never blocks a user."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Retry
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.line import jobs
from bot.models import Shopper, WebhookEvent, WebhookEventState
from bot.shoppers import service as shoppers
from tests.helpers.line import load_webhook, signed_post

FOLLOW = load_webhook("follow")
POISON = load_webhook("message__not_an_object")
LATER_TEXT = load_webhook("message__text", timestamp=POISON["timestamp"] + 1000)


def _events(app) -> dict[str, WebhookEvent]:
    with app.app_context():
        rows = app.extensions["db"].session().scalars(select(WebhookEvent)).all()
    return {row.webhook_event_id: row for row in rows}


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """RQ retries without delay, so the in-process burst worker runs them too."""
    monkeypatch.setattr(jobs, "WEBHOOK_RETRY", Retry(max=2, interval=0))


def _failing_follow(monkeypatch: pytest.MonkeyPatch, error: Exception, times: int) -> list[int]:
    """Make recording a follow raise `error` on its first `times` calls; counts the calls."""
    real = shoppers.record_follow
    calls: list[int] = []

    def record_follow(*args: Any, **kwargs: Any) -> Shopper:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(shoppers, "record_follow", record_follow)
    return calls


TRANSIENT: dict[str, Callable[[], Exception]] = {
    "dropped connection": lambda: OperationalError(
        "UPDATE shoppers", {}, Exception("server closed the connection unexpectedly")
    ),
    "unique race": lambda: IntegrityError(
        "INSERT INTO shoppers", {}, sqlite3.IntegrityError("UNIQUE constraint failed: x")
    ),
    "redis timeout": lambda: RedisConnectionError("Connection reset by peer"),
}


@pytest.mark.parametrize("make_error", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_a_transient_error_is_retried_and_the_follow_is_greeted(
    app, client, line, run_jobs, quick_retries, monkeypatch, make_error
):
    calls = _failing_follow(monkeypatch, make_error(), times=1)
    assert signed_post(client, [FOLLOW]).status_code == 200
    run_jobs()
    row = _events(app)[FOLLOW["webhookEventId"]]
    assert (row.state, row.error) == (WebhookEventState.HANDLED, None)
    assert len(calls) == 2
    (greeting,) = line.sent("reply")
    assert "友だち追加ありがとうございます" in greeting["messages"][0]["text"]


def test_after_the_last_retry_the_event_is_failed_with_the_reason(
    app, client, line, run_jobs, quick_retries, monkeypatch
):
    calls = _failing_follow(monkeypatch, TRANSIENT["dropped connection"](), times=99)
    assert signed_post(client, [FOLLOW]).status_code == 200
    run_jobs()
    row = _events(app)[FOLLOW["webhookEventId"]]
    assert row.state is WebhookEventState.FAILED
    assert row.error == (
        "gave up after the last retry: OperationalError: "
        "(builtins.Exception) server closed the connection unexpectedly"
    )
    assert len(calls) == 3  # the first run and two retries, then no more
    with app.app_context():
        assert jobs.requeue_stale_webhook_events() == 0  # the sweep leaves it alone


def test_a_programming_error_fails_at_once(app, client, line, run_jobs, quick_retries, monkeypatch):
    calls = _failing_follow(monkeypatch, IntegrityError("UPDATE", {}, Exception("NOT NULL")), 99)
    assert signed_post(client, [FOLLOW]).status_code == 200
    run_jobs()
    row = _events(app)[FOLLOW["webhookEventId"]]
    assert row.state is WebhookEventState.FAILED
    assert row.error.startswith("IntegrityError: ")
    assert len(calls) == 1


def test_a_poison_event_is_failed_and_its_user_goes_on(app, client, line, run_jobs):
    assert signed_post(client, [POISON]).status_code == 200
    assert signed_post(client, [LATER_TEXT]).status_code == 200
    run_jobs()
    rows = _events(app)
    poison, later = rows[POISON["webhookEventId"]], rows[LATER_TEXT["webhookEventId"]]
    assert poison.state is WebhookEventState.FAILED
    assert poison.error.startswith("TypeError: ")
    assert later.state is WebhookEventState.HANDLED
    assert [r["reply_token"] for r in line.sent("reply")] == [LATER_TEXT["replyToken"]]


def test_a_poison_event_in_the_same_job_does_not_stop_the_job(app, client, line):
    assert signed_post(client, [POISON, LATER_TEXT]).status_code == 200
    app.extensions["bot"].event_writer.drain()
    rows = _events(app)
    with app.app_context():
        jobs.handle_webhook_events([rows[POISON["webhookEventId"]].id])  # raised before
    states = {key: row.state for key, row in _events(app).items()}
    assert states == {
        POISON["webhookEventId"]: WebhookEventState.FAILED,
        LATER_TEXT["webhookEventId"]: WebhookEventState.HANDLED,  # went on with the user
    }


def test_a_transient_failure_lets_other_users_events_in_the_job_go_on(
    app, client, line, monkeypatch
):
    other = load_webhook(
        "message__text",
        webhookEventId="01JOTHERUSER00000000000000",
        replyToken="rt-other",
        source={"type": "user", "userId": "U22222222222222222222222222222222"},
    )
    _failing_follow(monkeypatch, TRANSIENT["dropped connection"](), times=1)
    assert signed_post(client, [FOLLOW, other]).status_code == 200
    app.extensions["bot"].event_writer.drain()
    ids = sorted(row.id for row in _events(app).values())
    with app.app_context(), pytest.raises(OperationalError):
        jobs.handle_webhook_events(ids)  # raised at the end, for RQ's retry
    states = {key: row.state for key, row in _events(app).items()}
    assert states == {
        FOLLOW["webhookEventId"]: WebhookEventState.RECEIVED,
        other["webhookEventId"]: WebhookEventState.HANDLED,
    }


def test_on_the_last_attempt_a_waiting_event_of_the_user_keeps_its_own_retries(
    app, client, line, monkeypatch
):
    question = load_webhook("message__text", timestamp=FOLLOW["timestamp"] + 1000)
    monkeypatch.setattr(jobs, "_final_attempt", lambda: True)
    drops: list[int] = []

    def note_shopper_activity(*args: Any) -> None:
        drops.append(1)
        raise TRANSIENT["dropped connection"]()

    services = app.extensions["bot"]
    monkeypatch.setattr(
        services, "router", dataclasses.replace(services.router, on_activity=note_shopper_activity)
    )
    assert signed_post(client, [FOLLOW, question]).status_code == 200
    app.extensions["bot"].event_writer.drain()
    follow_id = _events(app)[FOLLOW["webhookEventId"]].id
    with app.app_context(), pytest.raises(OperationalError):
        jobs.handle_webhook_events([follow_id])  # the follow's job, on its last attempt
    states = {key: row.state for key, row in _events(app).items()}
    assert drops == [1]
    assert states == {
        FOLLOW["webhookEventId"]: WebhookEventState.HANDLED,
        question["webhookEventId"]: WebhookEventState.RECEIVED,  # for the sweep, not failed
    }
