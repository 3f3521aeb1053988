"""Conformance with LINE's OpenAPI specification (vendored in tests/line_spec/).

Every request body the bot sends — each Flex template, and the replies and pushes of the
flows a shopper, a group and the staff go through — must validate against
`ReplyMessageRequest` / `PushMessageRequest` of `messaging-api.yml`; every event type of
`webhook.yml` is sent through the LINE emulator and ends as the table below says.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from bot.line.gateway import Profile
from bot.models import WebhookEvent
from bot.support.actions import staff_sender
from bot.support.satisfaction import survey_message
from flex_templates import load_templates
from flex_templates.registry import SPECS
from tests.helpers.faq import FAQ_FILE
from tests.helpers.line import SHOPPER_ID, WEBHOOK_FIXTURES, load_webhook, signed_post
from tests.line_spec.schemas import event_types, violations

API = "messaging-api"
GROUP = "C22222222222222222222222222222222"

# What the bot does with each event type LINE documents (user source unless said).
EXPECTED = {
    "message": "handled",
    "unsend": "handled",
    "follow": "handled",
    "unfollow": "handled",
    "join": "handled",  # group: the one-to-one notice, then leave
    "leave": "handled",  # group: recorded
    "memberJoined": "handled",  # group: the notice, then leave
    "memberLeft": "handled",  # group: leave without a word
    "postback": "handled",
    "videoPlayComplete": "ignored",
    "beacon": "ignored",
    "accountLink": "handled",
    "membership": "ignored",
    "module": "ignored",
    "activated": "handled",
    "deactivated": "handled",
    "botSuspended": "ignored",
    "botResumed": "ignored",
    "delivery": "ignored",
}
# Fixtures that are wrong, incomplete or from the future on purpose: the bot must survive
# what LINE may send one day, or leaves out (a standby follow comes without a reply token).
NOT_LINE_SHAPED = {
    "follow__standby",
    "follow__without_detail",
    "message__future_type",
    "message__not_an_object",
    "message__text__future_source",
    "message__text__without_quote_token",
}
# Event types whose schema requires a reply token.
WITH_REPLY_TOKEN = {"follow", "join", "memberJoined", "videoPlayComplete", "beacon", "membership"}


def _problems(body: dict[str, Any], schema: str) -> list[str]:
    return list(dict.fromkeys(violations(API, schema, body)))


def test_the_table_covers_every_event_type_of_the_specification():
    assert sorted(EXPECTED) == event_types()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_template_renders_a_conforming_push(name):
    registry = load_templates(None, placeholder_image_url="https://cdn.example.jp/noimage.png")
    message = registry.render(name, registry.sample(name))
    assert _problems({"to": SHOPPER_ID, "messages": [message]}, "PushMessageRequest") == []


@pytest.mark.parametrize(
    "fixture",
    sorted(p.stem for p in WEBHOOK_FIXTURES.glob("*.json") if p.stem not in NOT_LINE_SHAPED),
)
def test_every_webhook_fixture_is_a_line_event(fixture):
    assert list(dict.fromkeys(violations("webhook", "Event", load_webhook(fixture)))) == []


def _text(n: int, body: str, **extra: Any) -> dict[str, Any]:
    return load_webhook(
        "message__text",
        webhookEventId=f"01JCONFORM{n:016d}",
        replyToken=f"rt-conform-{n}",
        timestamp=1795000100000 + n,
        message={"id": f"70000{n}", "type": "text", "text": body, "quoteToken": f"q-{n}"},
        **extra,
    )


def _postback(n: int, data: str) -> dict[str, Any]:
    event = load_webhook(
        "postback__optout",
        webhookEventId=f"01JCONFORMPB{n:014d}",
        replyToken=f"rt-conform-pb-{n}",
        timestamp=1795000100000 + n,
    )
    event["postback"] = {"data": data}
    return event


def test_every_flow_sends_conforming_bodies(app, client, run_jobs, line):
    line.profiles[SHOPPER_ID] = Profile(SHOPPER_ID, "山田 花子")
    assert app.test_cli_runner().invoke(args=["faq", "import", str(FAQ_FILE)]).exit_code == 0
    flows = [
        [load_webhook("follow")],
        [_text(1, "会員連携")],
        [_text(2, "送料はいくらですか?")],
        [_text(3, "ペットの写真を送ってもいいですか")],
        [_text(4, "宇宙旅行の予約はできますか")],
        [_postback(5, "action=human&reason=faq_miss")],
        [_postback(6, "action=optout")],
        [_postback(7, "action=optin")],
        [_postback(8, "action=unlink")],
        [load_webhook("account_link__failed")],
        [load_webhook("join__group")],
        [load_webhook("message__text__room_without_user")],
    ]
    for events in flows:
        assert signed_post(client, events).status_code == 200
        run_jobs()
    with app.app_context():
        states = app.extensions["db"].session().scalars(select(WebhookEvent.state)).all()
    assert {state.value for state in states} == {"handled"}
    bodies = [
        ("ReplyMessageRequest", {"replyToken": d["reply_token"], "messages": d["messages"]})
        if op == "reply"
        else ("PushMessageRequest", {"to": d["to"], "messages": d["messages"]})
        for op, d in line.calls
        if op in ("reply", "push")
    ]
    kinds = {m["type"] for _, body in bodies for m in body["messages"]}
    assert len(bodies) >= len(flows) - 2 and {"text", "flex"} <= kinds
    assert any("quoteToken" in m for _, body in bodies for m in body["messages"])
    problems = {
        json.dumps(body, ensure_ascii=False)[:120]: _problems(body, schema)
        for schema, body in bodies
    }
    assert {key: found for key, found in problems.items() if found} == {}


def test_staff_reply_and_survey_bodies_conform():
    sender = staff_sender("田中 一郎", "https://shop.example.jp/staff/icon.png")
    staff = {"type": "text", "text": "確認いたします。", "sender": sender}
    body = {"to": SHOPPER_ID, "messages": [staff, survey_message(42)]}
    assert _problems(body, "PushMessageRequest") == []


def test_a_sender_name_over_lines_limit_would_not_conform():
    # The check is able to fail: the spec's 20-character limit on sender.name.
    message = {"type": "text", "text": "確認いたします。", "sender": {"name": "あ" * 21}}
    assert _problems({"to": SHOPPER_ID, "messages": [message]}, "PushMessageRequest") != []


def _spec_event(kind: str, n: int) -> dict[str, Any]:
    """A minimal event of each type as webhook.yml describes it."""
    user = {"type": "user", "userId": SHOPPER_ID}
    group = {"type": "group", "groupId": GROUP}
    event: dict[str, Any] = {
        "type": kind,
        "mode": "active",
        "timestamp": 1795000700000 + n,
        "source": user,
        "webhookEventId": f"01JSPEC{n:019d}",
        "deliveryContext": {"isRedelivery": False},
    }
    extra: dict[str, dict[str, Any]] = {
        "message": {
            "message": {"id": "800001", "type": "text", "text": "こんにちは", "quoteToken": "q"}
        },
        "unsend": {"unsend": {"messageId": "800001"}},
        "follow": {"follow": {"isUnblocked": False}},
        "join": {"source": group},
        "leave": {"source": group},
        "memberJoined": {"source": group, "joined": {"members": [user]}},
        "memberLeft": {"source": group, "left": {"members": [user]}},
        "postback": {"postback": {"data": "action=optout"}},
        "videoPlayComplete": {"videoPlayComplete": {"trackingId": "t-1"}},
        "beacon": {"beacon": {"hwid": "d41d8cd98f", "type": "enter"}},
        "accountLink": {"link": {"result": "failed", "nonce": "n-1"}},
        "membership": {"membership": {"type": "joined", "membershipId": 1}},
        "module": {"module": {"type": "attached", "botId": SHOPPER_ID, "scopes": ["message:send"]}},
        "activated": {"chatControl": {"expireAt": 1795004300000}},
        "delivery": {"delivery": {"data": "a" * 64}},
    }
    event.update(extra.get(kind, {}))
    if kind in WITH_REPLY_TOKEN:
        event["replyToken"] = f"rt-spec-{n}"  # unknown to the emulator: answers are pushed
    if kind in ("module", "delivery", "botSuspended", "botResumed"):
        event.pop("source")  # sent to module channels / for PNP: no chat behind them
    return event


def test_every_event_type_sent_through_the_emulator_ends_as_expected(
    live_bot, emulator, e2e_jobs, e2e_app
):
    emulator.add_user(SHOPPER_ID, display_name="山田 花子")
    emulator.add_chat("group", GROUP)
    events = [_spec_event(kind, n) for n, kind in enumerate(event_types())]
    for event in events:
        assert list(dict.fromkeys(violations("webhook", "Event", event))) == [], event["type"]
    assert emulator.send_events(events).status == 200
    e2e_jobs()
    with e2e_app.app_context():
        rows = e2e_app.extensions["db"].session().scalars(select(WebhookEvent)).all()
    assert {row.event_type: row.state.value for row in rows} == EXPECTED
    sent = emulator.requests(path="/v2/bot/message/*")
    assert {record["path"] for record in sent} >= {"/v2/bot/message/push"}
    for record in sent:
        schema = "ReplyMessageRequest" if record["path"].endswith("reply") else "PushMessageRequest"
        assert _problems(record["body"], schema) == []


def test_a_malformed_event_is_refused(client):
    event = load_webhook("message__text", timestamp="yesterday")
    assert signed_post(client, [event]).status_code == 400
