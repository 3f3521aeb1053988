"""A LINE user's events are handled one at a time, in the order they happened."""

from __future__ import annotations

from sqlalchemy import func, select, update

from bot.line import jobs
from bot.models import Shopper, WebhookEvent, WebhookEventState
from tests.helpers.line import load_webhook, signed_post

FOLLOW = load_webhook("follow")
QUESTION = load_webhook(
    "message__text",
    timestamp=FOLLOW["timestamp"] + 1000,
    message={"id": "5000000009", "type": "text", "text": "送料はいくらですか?", "quoteToken": "q"},
)


def _rows(app) -> dict[str, WebhookEvent]:
    with app.app_context():
        rows = app.extensions["db"].session().scalars(select(WebhookEvent)).all()
    return {row.webhook_event_id: row for row in rows}


def _set_state(app, event_id: int, state: WebhookEventState) -> None:
    with app.app_context():
        session = app.extensions["db"].session()
        session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(state=state))
        session.commit()


def _handle(app, *event_ids: int) -> None:
    with app.app_context():
        jobs.handle_webhook_events(list(event_ids))


def test_a_later_event_waits_for_an_earlier_one_of_the_same_user(app, client, line):
    # Two deliveries, so two jobs that two workers could run at once.
    assert signed_post(client, [FOLLOW]).status_code == 200
    assert signed_post(client, [QUESTION]).status_code == 200
    app.extensions["bot"].event_writer.drain()
    rows = _rows(app)
    follow, question = rows[FOLLOW["webhookEventId"]], rows[QUESTION["webhookEventId"]]

    _set_state(app, follow.id, WebhookEventState.PROCESSING)  # another worker has the follow
    _handle(app, question.id)
    assert _rows(app)[QUESTION["webhookEventId"]].state is WebhookEventState.RECEIVED
    assert line.sent("reply") == []  # the question did not overtake the follow

    _set_state(app, follow.id, WebhookEventState.RECEIVED)  # that worker died; a retry runs
    _handle(app, follow.id)
    states = {key: row.state for key, row in _rows(app).items()}
    assert set(states.values()) == {WebhookEventState.HANDLED}  # the follow's job went on
    tokens = [request["reply_token"] for request in line.sent("reply")]
    assert tokens == [FOLLOW["replyToken"], QUESTION["replyToken"]]
    with app.app_context():
        session = app.extensions["db"].session()
        assert session.scalar(select(func.count()).select_from(Shopper)) == 1


def test_other_users_do_not_wait(app, client, line):
    other = load_webhook(
        "message__text",
        webhookEventId="01JOTHERUSER00000000000000",
        replyToken="rt-other",
        timestamp=FOLLOW["timestamp"] + 500,
        source={"type": "user", "userId": "U22222222222222222222222222222222"},
    )
    assert signed_post(client, [FOLLOW]).status_code == 200
    assert signed_post(client, [other]).status_code == 200
    app.extensions["bot"].event_writer.drain()
    rows = _rows(app)
    _set_state(app, rows[FOLLOW["webhookEventId"]].id, WebhookEventState.PROCESSING)
    _handle(app, rows[other["webhookEventId"]].id)
    assert _rows(app)[other["webhookEventId"]].state is WebhookEventState.HANDLED
    assert [request["reply_token"] for request in line.sent("reply")] == ["rt-other"]
