"""`flask webhooks failed` lists failed events; `flask webhooks retry` handles them again."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import WebhookEvent, WebhookEventState
from tests.helpers.line import load_webhook, signed_post

POISON = load_webhook("message__not_an_object")
FOLLOW = load_webhook("follow")


def _events(app) -> dict[str, WebhookEvent]:
    with app.app_context():
        rows = app.extensions["db"].session().scalars(select(WebhookEvent)).all()
    return {row.webhook_event_id: row for row in rows}


def _failed_follow(app, client, line, run_jobs) -> WebhookEvent:
    """A follow that failed because LINE refused the profile and then the greeting (a 400)."""
    from bot.line.gateway import LineClientError

    line.fail_next(LineClientError("The request body has 1 error(s)", status=400))
    line.fail_next(LineClientError("The request body has 1 error(s)", status=400))
    assert signed_post(client, [FOLLOW]).status_code == 200
    run_jobs()
    row = _events(app)[FOLLOW["webhookEventId"]]
    assert row.state is WebhookEventState.FAILED
    return row


def test_failed_lists_newest_first_with_the_reason(app, client, line, run_jobs):
    follow = _failed_follow(app, client, line, run_jobs)
    assert signed_post(client, [POISON]).status_code == 200
    run_jobs()
    poison = _events(app)[POISON["webhookEventId"]]
    result = app.test_cli_runner().invoke(args=["webhooks", "failed"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [int(line.split()[0]) for line in lines] == [poison.id, follow.id]
    assert lines[0].split()[1:3] == ["message", POISON["source"]["userId"]]
    assert "TypeError: message must be an object" in lines[0]
    assert "LINE 400: The request body has 1 error(s)" in lines[1]
    limited = app.test_cli_runner().invoke(args=["webhooks", "failed", "--limit", "1"])
    assert len(limited.output.splitlines()) == 1


def test_retry_handles_the_event_again_once(app, client, line, run_jobs):
    follow = _failed_follow(app, client, line, run_jobs)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["webhooks", "retry", str(follow.id)])
    assert result.exit_code == 0, result.output
    assert result.output == f"queued 1 event(s) for handling: {follow.id}\n"
    again = runner.invoke(args=["webhooks", "retry", str(follow.id)])  # not failed any more
    assert again.output == "nothing to retry: no such failed event\n"
    run_jobs()
    row = _events(app)[FOLLOW["webhookEventId"]]
    assert (row.state, row.error) == (WebhookEventState.HANDLED, None)
    # The refused attempt, then the greeting; nothing more.
    assert len(line.sent("reply")) == 2 and line.sent("push") == []
    assert runner.invoke(args=["webhooks", "failed"]).output == "no failed webhook events\n"


def test_retry_all_and_usage(app, client, line, run_jobs):
    _failed_follow(app, client, line, run_jobs)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["webhooks", "retry"]).exit_code == 2
    assert runner.invoke(args=["webhooks", "retry", "1", "--all"]).exit_code == 2
    result = runner.invoke(args=["webhooks", "retry", "--all"])
    assert result.output.startswith("queued 1 event(s)")
    run_jobs()
    assert _events(app)[FOLLOW["webhookEventId"]].state is WebhookEventState.HANDLED
