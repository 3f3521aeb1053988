from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bot.line.webhook_events import sign_body
from bot.models import ConversationMessage, Direction, FollowState, Shopper, WebhookEvent
from tests.helpers.line import SHOPPER_ID, TEST_SECRET, load_webhook, signed_post


def _count(app, model) -> int:
    with app.app_context():
        return app.extensions["db"].session().scalar(select(func.count()).select_from(model))


def _inbound(app) -> ConversationMessage:
    """The one inbound entry of the conversation log."""
    with app.app_context():
        return (
            app.extensions["db"]
            .session()
            .scalars(
                select(ConversationMessage).where(
                    ConversationMessage.direction == Direction.INBOUND
                )
            )
            .one()
        )


def test_missing_signature_is_refused_and_changes_nothing(app, client):
    body = json.dumps({"events": [load_webhook("follow")]}).encode()
    response = client.post("/callback", data=body)
    assert response.status_code == 400
    assert "X-Line-Signature" in response.get_json()["error"]["message"]
    assert _count(app, WebhookEvent) == 0


def test_wrong_signature_is_refused(app, client):
    body = json.dumps({"events": [load_webhook("follow")]}).encode()
    forged = sign_body("another-secret", body)
    assert (
        client.post("/callback", data=body, headers={"X-Line-Signature": forged}).status_code == 400
    )
    tampered = sign_body(TEST_SECRET, body)
    body2 = body.replace(b"follow", b"unfollow", 1)
    assert (
        client.post("/callback", data=body2, headers={"X-Line-Signature": tampered}).status_code
        == 400
    )
    assert _count(app, WebhookEvent) == 0


def test_verification_request_gets_200(app, client):
    assert signed_post(client, []).status_code == 200
    assert _count(app, WebhookEvent) == 0


def test_signed_garbage_gets_a_reason(client):
    body = b'{"events": [{"type": "follow"}]}'
    response = client.post(
        "/callback", data=body, headers={"X-Line-Signature": sign_body(TEST_SECRET, body)}
    )
    assert response.status_code == 400
    assert "webhookEventId" in response.get_json()["error"]["message"]
    body = b"not json"
    response = client.post(
        "/callback", data=body, headers={"X-Line-Signature": sign_body(TEST_SECRET, body)}
    )
    assert response.status_code == 400


def test_follow_records_shopper_and_greets_by_name(app, client, run_jobs, line):
    assert signed_post(client, [load_webhook("follow")]).status_code == 200
    assert run_jobs() == 1
    with app.app_context():
        shopper = app.extensions["db"].session().scalars(select(Shopper)).one()
        assert shopper.line_user_id == SHOPPER_ID
        assert shopper.follow_state is FollowState.FOLLOWING
        assert shopper.display_name == "山田 花子"
    replies = line.sent("reply")
    assert len(replies) == 1 and replies[0]["reply_token"] == "rt-follow-1"
    assert "山田 花子さん" in replies[0]["messages"][0]["text"]
    assert "はじめまして" in replies[0]["messages"][0]["text"]


def test_redelivered_event_has_no_second_effect(app, client, run_jobs, line):
    event = load_webhook("follow")
    assert signed_post(client, [event]).status_code == 200
    redelivered = dict(event, deliveryContext={"isRedelivery": True})
    assert signed_post(client, [redelivered, event]).status_code == 200
    run_jobs()
    assert _count(app, WebhookEvent) == 1
    assert len(line.sent("reply")) == 1
    assert _count(app, ConversationMessage) == 1


def test_one_request_with_several_users(app, client, run_jobs, line):
    other = "U" + "2" * 32
    events = [
        load_webhook("follow"),
        load_webhook(
            "follow",
            webhookEventId="01JOTHER",
            source={"type": "user", "userId": other},
            replyToken="rt-o",
        ),
    ]
    assert signed_post(client, events).status_code == 200
    run_jobs()
    with app.app_context():
        ids = set(app.extensions["db"].session().scalars(select(Shopper.line_user_id)))
    assert ids == {SHOPPER_ID, other}
    assert {r["reply_token"] for r in line.sent("reply")} == {"rt-follow-1", "rt-o"}


def test_unfollow_then_return(app, client, run_jobs, line):
    signed_post(client, [load_webhook("follow")])
    signed_post(client, [load_webhook("unfollow")])
    run_jobs()
    with app.app_context():
        shopper = app.extensions["db"].session().scalars(select(Shopper)).one()
        assert shopper.follow_state is FollowState.BLOCKED
        assert shopper.blocked_at is not None
    signed_post(client, [load_webhook("follow__unblocked")])
    run_jobs()
    with app.app_context():
        shopper = app.extensions["db"].session().scalars(select(Shopper)).one()
        assert shopper.follow_state is FollowState.FOLLOWING
        assert shopper.follow_count == 2
    assert "おかえりなさい" in line.sent("reply")[-1]["messages"][0]["text"]


def test_text_is_logged_in_the_conversation(app, client, run_jobs):
    signed_post(client, [load_webhook("message__text")])
    run_jobs()
    entry = _inbound(app)
    assert entry.webhook_event_id == "01JMESSAGE0000000000000000"
    assert entry.text == "こんにちは!送料について教えてください😊"


def test_unknown_event_type_is_ignored_not_an_error(app, client, run_jobs, line):
    assert signed_post(client, [load_webhook("membership__joined")]).status_code == 200
    run_jobs()
    with app.app_context():
        row = app.extensions["db"].session().scalars(select(WebhookEvent)).one()
    assert row.state.value == "ignored"
    assert line.calls == []


def test_optout_postback_and_text_command(app, client, run_jobs, line):
    signed_post(client, [load_webhook("postback__optout")])
    run_jobs()
    with app.app_context():
        assert (
            app.extensions["db"].session().scalars(select(Shopper)).one().marketing_opt_in is False
        )
    text_in = load_webhook("message__text", webhookEventId="01JOPTIN", replyToken="rt-optin")
    text_in["message"] = dict(text_in["message"], text="配信再開")
    signed_post(client, [text_in])
    run_jobs()
    with app.app_context():
        assert (
            app.extensions["db"].session().scalars(select(Shopper)).one().marketing_opt_in is True
        )
    assert "再開" in line.sent("reply")[-1]["messages"][0]["text"]


def test_healthz_checks_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {
        "database": "ok",
        "redis": "ok",
        "dispatcher": "ok",
        "deliveries": "ok",
    }


def test_metrics_count_webhook_events(client, run_jobs):
    signed_post(client, [load_webhook("follow")])
    run_jobs()
    text = client.get("/metrics").get_data(as_text=True)
    assert 'bot_webhook_events_total{outcome="handled",type="follow"}' in text


def test_text_with_a_nul_character_is_logged_not_lost(app, client, run_jobs):
    event = load_webhook("message__text", webhookEventId="01JNUL", replyToken="rt-nul")
    event["message"] = dict(event["message"], text="注文番号\x00A-1001")
    assert signed_post(client, [event]).status_code == 200
    run_jobs()
    with app.app_context():
        row = app.extensions["db"].session().scalars(select(WebhookEvent)).one()
    logged = _inbound(app)
    assert row.state.value == "handled"
    assert logged.text == "注文番号\ufffdA-1001"


def test_callback_answers_other_methods_and_oversized_bodies_with_json(client):
    response = client.get("/callback")
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    big = b"{" + b" " * (1024 * 1024) + b"}"
    response = client.post("/callback", data=big, headers={"X-Line-Signature": "x"})
    assert response.status_code == 413


def _signed_raw(client, body: bytes):
    return client.post(
        "/callback", data=body, headers={"X-Line-Signature": sign_body(TEST_SECRET, body)}
    )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"webhookEventId": "01J\x00NUL"}, "webhookEventId"),
        ({"webhookEventId": "E" * 65}, "webhookEventId"),
        ({"type": ""}, "type"),
        ({"timestamp": True}, "timestamp"),
        ({"timestamp": -1}, "timestamp"),
        ({"timestamp": 10**20}, "timestamp"),
        ({"source": "U4af4980629"}, "source"),
        ({"source": {"type": "user", "userId": "U" * 65}}, "source.userId"),
    ],
)
def test_events_that_could_not_be_stored_are_refused_by_name(app, client, change, named):
    ok = load_webhook("message__text", webhookEventId="01JOK")
    bad = dict(load_webhook("message__text", webhookEventId="01JBAD"), **change)
    response = signed_post(client, [ok, bad])
    assert response.status_code == 400
    assert f"events[1].{named}" in response.get_json()["error"]["message"]
    assert _count(app, WebhookEvent) == 0  # the whole delivery is refused; LINE keeps it


def test_half_a_surrogate_pair_is_refused_and_a_whole_pair_is_kept(app, client, run_jobs):
    event = load_webhook("message__text", webhookEventId="01JSUR", replyToken="rt-sur")
    event["message"] = dict(event["message"], text="PLACEHOLDER")
    body = json.dumps({"destination": "Uxxxxxxxx", "events": [event]}).encode()
    response = _signed_raw(client, body.replace(b"PLACEHOLDER", b"\\ud83d\\u3042"))
    assert response.status_code == 400
    assert "surrogate" in response.get_json()["error"]["message"]
    assert _count(app, WebhookEvent) == 0
    assert (
        _signed_raw(client, body.replace(b"PLACEHOLDER", b"\\ud83d\\ude00\\u3042")).status_code
        == 200
    )
    run_jobs()
    logged = _inbound(app)
    assert logged.text == "😀あ"


def test_an_unknown_long_event_type_is_stored_truncated(app, client, run_jobs):
    event = dict(load_webhook("follow"), type="someFutureEventTypeWithAVeryLongName" * 2)
    assert signed_post(client, [event]).status_code == 200
    run_jobs()
    with app.app_context():
        row = app.extensions["db"].session().scalars(select(WebhookEvent)).one()
    assert row.event_type == event["type"][:40]
    assert row.payload["type"] == event["type"]
