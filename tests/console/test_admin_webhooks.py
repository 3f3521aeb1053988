"""The admin page of failed webhook events: admins only, CSRF-protected retry."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import WebhookEvent, WebhookEventState
from tests.helpers.console import post
from tests.helpers.line import load_webhook, signed_post

POISON = load_webhook("message__not_an_object")
LATER = load_webhook("message__text", timestamp=POISON["timestamp"] + 1000)


def _failed_event(app, client, run_jobs) -> WebhookEvent:
    assert signed_post(client, [POISON, LATER]).status_code == 200
    run_jobs()
    with app.app_context():
        row = (
            app.extensions["db"]
            .session()
            .scalars(
                select(WebhookEvent).where(
                    WebhookEvent.webhook_event_id == POISON["webhookEventId"]
                )
            )
            .one()
        )
    assert row.state is WebhookEventState.FAILED
    return row


def _state(app, ident: int) -> WebhookEventState:
    with app.app_context():
        return app.extensions["db"].session().get(WebhookEvent, ident).state


def test_admin_sees_failed_events_without_message_text(app, client, run_jobs, as_admin):
    row = _failed_event(app, client, run_jobs)
    page = as_admin.get("/console/admin/webhooks")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "処理に失敗したLINEイベント" in html
    assert f"<td>{row.id}</td>" in html
    assert POISON["source"]["userId"] in html
    assert "TypeError: message must be an object" in html
    assert "こんにちは" not in html  # neither event's text is shown
    assert 'href="/console/admin/webhooks"' in html  # in the admin menu


def test_operators_may_not_see_or_retry(app, client, run_jobs, as_operator):
    row = _failed_event(app, client, run_jobs)
    assert as_operator.get("/console/admin/webhooks").status_code == 403
    assert (
        post(as_operator, "/console/admin/webhooks/retry", event_id=str(row.id)).status_code == 403
    )
    assert _state(app, row.id) is WebhookEventState.FAILED


def test_retry_needs_the_csrf_token(app, client, run_jobs, as_admin):
    row = _failed_event(app, client, run_jobs)
    refused = as_admin.post("/console/admin/webhooks/retry", data={"event_id": str(row.id)})
    assert refused.status_code == 400
    assert _state(app, row.id) is WebhookEventState.FAILED


def test_retry_button_requeues_the_event(app, client, run_jobs, as_admin):
    row = _failed_event(app, client, run_jobs)
    answer = post(as_admin, "/console/admin/webhooks/retry", event_id=str(row.id))
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/console/admin/webhooks")
    assert _state(app, row.id) is WebhookEventState.RECEIVED
    assert len(app.extensions["bot"].queues.webhooks.jobs) == 1
    page = as_admin.get("/console/admin/webhooks").get_data(as_text=True)
    assert "1件のイベントを再実行キューに入れました。" in page
    again = post(as_admin, "/console/admin/webhooks/retry", event_id=str(row.id))
    assert again.status_code == 303
    assert len(app.extensions["bot"].queues.webhooks.jobs) == 1  # nothing queued twice
    bad = post(as_admin, "/console/admin/webhooks/retry", event_id="abc")
    assert bad.status_code == 400
    assert "再実行するイベントを選んでください。" in bad.get_data(as_text=True)


def test_retry_all(app, client, run_jobs, as_admin):
    row = _failed_event(app, client, run_jobs)
    assert post(as_admin, "/console/admin/webhooks/retry", all="1").status_code == 303
    assert _state(app, row.id) is WebhookEventState.RECEIVED


def test_admin_page_shows_how_many_chats_another_channel_controls(app, client, run_jobs, as_admin):
    signed_post(client, [load_webhook("deactivated")])
    run_jobs()
    html = as_admin.get("/console/admin/webhooks").get_data(as_text=True)
    assert "他のチャネル（LINE公式アカウントのチャットなど）が応答中のトーク 1 件" in html
