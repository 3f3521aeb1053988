"""Handled and ignored webhook events are deleted after WEBHOOK_EVENTS_KEPT_DAYS; failed and
unfinished ones stay, and a redelivery inside the window is still a duplicate."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.line.jobs import prune_webhook_events
from bot.line.webhook_events import prune_done_events
from bot.models import WebhookEvent, WebhookEventState
from tests.helpers.line import load_webhook, signed_post

FOLLOW = load_webhook("follow")


def _add(session, name: str, state: WebhookEventState, age: timedelta, now) -> None:
    session.add(
        WebhookEvent(
            webhook_event_id=name,
            event_type="message",
            line_user_id="U" + "0" * 32,
            payload={"message": {"type": "text", "text": "住所は東京都…"}},
            state=state,
            occurred_at=now - age,
            received_at=now - age,
        )
    )


def _names(session) -> list[str]:
    return list(session.scalars(select(WebhookEvent.webhook_event_id).order_by(WebhookEvent.id)))


def test_only_done_events_past_the_window_are_deleted(app) -> None:
    with app.app_context():
        services = app.extensions["bot"]
        session = services.db.session()
        now = services.clock.now()
        old, recent = timedelta(days=31), timedelta(days=29)
        _add(session, "old-handled", WebhookEventState.HANDLED, old, now)
        _add(session, "old-ignored", WebhookEventState.IGNORED, old, now)
        _add(session, "old-failed", WebhookEventState.FAILED, old, now)
        _add(session, "old-received", WebhookEventState.RECEIVED, old, now)
        _add(session, "recent-handled", WebhookEventState.HANDLED, recent, now)
        session.commit()

        assert prune_webhook_events() == 2
        assert _names(services.db.session()) == [
            "old-failed",
            "old-received",
            "recent-handled",
        ]
        assert prune_webhook_events() == 0  # nothing more to do


def test_the_walk_goes_batch_by_batch_and_stops_at_recent_events(app) -> None:
    with app.app_context():
        services = app.extensions["bot"]
        session = services.db.session()
        now = services.clock.now()
        for n in range(7):
            _add(session, f"old-{n}", WebhookEventState.HANDLED, timedelta(days=40 - n), now)
        _add(session, "new", WebhookEventState.HANDLED, timedelta(hours=1), now)
        _add(session, "after-new", WebhookEventState.HANDLED, timedelta(days=90), now)
        session.commit()

        assert prune_done_events(session, now - timedelta(days=30), batch=4) == 7
        # The walk stopped at the first batch that reached a recent event: an old one
        # stored after it (clock skew, a replay) waits for a later run.
        assert _names(services.db.session()) == ["new", "after-new"]


def test_a_redelivery_within_the_window_is_still_a_duplicate(app, client, line, run_jobs) -> None:
    assert signed_post(client, [FOLLOW]).status_code == 200
    run_jobs()
    sent = len(line.sent())
    with app.app_context():
        assert prune_webhook_events() == 0
    assert (
        signed_post(client, [{**FOLLOW, "deliveryContext": {"isRedelivery": True}}]).status_code
        == 200
    )
    run_jobs()
    assert len(line.sent()) == sent
