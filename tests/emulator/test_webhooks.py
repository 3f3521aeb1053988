"""The emulator acting as shoppers: signed webhooks in LINE's exact shape."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

import pytest
import requests
from linebot.v3.webhook import WebhookParser
from linebot.v3.webhooks import (
    AccountLinkEvent,
    FollowEvent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
)

from line_emulator import EmulatorError, sign
from line_emulator.clock import ManualClock
from line_emulator.server import EmulatorServer
from tests.helpers.emulator import TEST_CHANNEL_SECRET, Api, WebhookReceiver

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
COMMON_KEYS = {"type", "mode", "timestamp", "source", "webhookEventId", "deliveryContext"}


def parse(entry: dict[str, Any]) -> list[Any]:
    """Parse a received webhook with the SDK, which also checks the signature."""
    parser = WebhookParser(TEST_CHANNEL_SECRET)
    return parser.parse(entry["body"].decode("utf-8"), entry["headers"]["x-line-signature"])


def test_signature_is_base64_hmac_sha256_of_the_body(
    emu: EmulatorServer, receiver: WebhookReceiver
) -> None:
    user = emu.add_user()
    result = emu.send_text(user["userId"], "こんにちは")
    entry = receiver.last
    expected = base64.b64encode(
        hmac.new(TEST_CHANNEL_SECRET.encode(), entry["body"], hashlib.sha256).digest()
    ).decode()
    assert entry["headers"]["x-line-signature"] == expected == result.signature
    assert sign(TEST_CHANNEL_SECRET, entry["body"]) == expected
    assert entry["headers"]["content-type"] == "application/json; charset=utf-8"
    assert entry["path"] == "/callback"
    assert result.status == 200 and result.ok


def test_text_message_event_shape(
    emu: EmulatorServer, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    user = emu.add_user()
    emu.send_text(user["userId"], "送料はいくらですか？")
    payload = receiver.last["json"]
    assert set(payload) == {"destination", "events"}
    assert re.match(r"^U[0-9a-f]{32}$", payload["destination"])
    (event,) = payload["events"]
    assert set(event) == COMMON_KEYS | {"replyToken", "message"}
    assert event["type"] == "message" and event["mode"] == "active"
    assert event["timestamp"] == int(clock.now() * 1000)
    assert event["source"] == {"type": "user", "userId": user["userId"]}
    assert ULID.match(event["webhookEventId"])
    assert event["deliveryContext"] == {"isRedelivery": False}
    assert re.match(r"^[0-9a-f]{32}$", event["replyToken"])
    message = event["message"]
    assert set(message) == {"id", "type", "quoteToken", "text"}
    assert message["type"] == "text" and message["text"] == "送料はいくらですか？"
    assert message["id"].isdigit() and message["quoteToken"]
    (parsed,) = parse(receiver.last)
    assert isinstance(parsed, MessageEvent) and isinstance(parsed.message, TextMessageContent)
    assert parsed.message.text == "送料はいくらですか？"


def test_follow_and_unblock(emu: EmulatorServer, receiver: WebhookReceiver) -> None:
    result = emu.send_follow(display_name="高橋 美咲")
    event = receiver.last["json"]["events"][0]
    assert set(event) == COMMON_KEYS | {"replyToken", "follow"}
    assert event["follow"] == {"isUnblocked": False}
    user_id = event["source"]["userId"]
    assert emu.user(user_id)["displayName"] == "高橋 美咲"
    assert result.reply_token == event["replyToken"]
    emu.send_unfollow(user_id)
    unfollow = receiver.last["json"]["events"][0]
    assert set(unfollow) == COMMON_KEYS and unfollow["type"] == "unfollow"
    assert emu.user(user_id)["blocked"] is True
    emu.send_follow(user_id)
    assert receiver.last["json"]["events"][0]["follow"] == {"isUnblocked": True}
    assert emu.user(user_id)["blocked"] is False
    kinds = [type(parse(entry)[0]) for entry in receiver.received]
    assert kinds == [FollowEvent, UnfollowEvent, FollowEvent]


def test_postback_with_and_without_params(emu: EmulatorServer, receiver: WebhookReceiver) -> None:
    user = emu.add_user()
    emu.send_postback(user["userId"], "action=optout")
    event = receiver.last["json"]["events"][0]
    assert set(event) == COMMON_KEYS | {"replyToken", "postback"}
    assert event["postback"] == {"data": "action=optout"}
    emu.send_postback(user["userId"], "action=visit", {"datetime": "2026-12-24T10:00"})
    assert receiver.last["json"]["events"][0]["postback"] == {
        "data": "action=visit",
        "params": {"datetime": "2026-12-24T10:00"},
    }
    parsed = parse(receiver.last)[0]
    assert isinstance(parsed, PostbackEvent) and parsed.postback.data == "action=visit"


def test_account_link_ok_and_failed(emu: EmulatorServer, receiver: WebhookReceiver) -> None:
    user = emu.add_user()
    emu.send_account_link(user["userId"], "nonce-123")
    ok = receiver.last["json"]["events"][0]
    assert set(ok) == COMMON_KEYS | {"replyToken", "link"}
    assert ok["link"] == {"result": "ok", "nonce": "nonce-123"}
    emu.send_account_link(user["userId"], "nonce-456", "failed")
    failed = receiver.last["json"]["events"][0]
    assert set(failed) == COMMON_KEYS - {"source"} | {"link"}  # no source, no reply token
    assert failed["link"] == {"result": "failed", "nonce": "nonce-456"}
    assert isinstance(parse(receiver.last)[0], AccountLinkEvent)


def test_account_link_checks_the_link_token_registry(
    emu: EmulatorServer, api: Api, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    user, other = emu.add_user(), emu.add_user()
    token = api.post(f"/v2/bot/user/{user['userId']}/linkToken").json()["linkToken"]
    with pytest.raises(EmulatorError, match="another user"):
        emu.send_account_link(other["userId"], "n1", link_token=token)
    emu.send_account_link(user["userId"], "n1", link_token=token)
    assert receiver.last["json"]["events"][0]["link"]["nonce"] == "n1"
    (registered,) = emu.link_tokens()
    assert registered["usedAt"] is not None and registered["nonce"] == "n1"
    sent = len(receiver.received)
    with pytest.raises(EmulatorError, match="already been used"):
        emu.send_account_link(user["userId"], "n2", link_token=token)
    expired = api.post(f"/v2/bot/user/{user['userId']}/linkToken").json()["linkToken"]
    clock.advance(601)
    with pytest.raises(EmulatorError, match="expired"):
        emu.send_account_link(user["userId"], "n3", link_token=expired)
    assert len(receiver.received) == sent  # LINE sends no webhook for a bad link token


def test_account_link_url_as_the_shoppers_browser_sees_it(
    emu: EmulatorServer, api: Api, receiver: WebhookReceiver
) -> None:
    user = emu.add_user()
    token = api.post(f"/v2/bot/user/{user['userId']}/linkToken").json()["linkToken"]
    page = requests.get(
        f"{emu.base_url}/dialog/bot/accountLink",
        params={"linkToken": token, "nonce": "abc"},
        timeout=10,
    )
    assert page.status_code == 200 and "アカウント連携が完了しました" in page.text
    event = receiver.last["json"]["events"][0]
    assert event["source"]["userId"] == user["userId"]
    assert event["link"] == {"result": "ok", "nonce": "abc"}
    again = requests.get(
        f"{emu.base_url}/dialog/bot/accountLink",
        params={"linkToken": token, "nonce": "abc"},
        timeout=10,
    )
    assert again.status_code == 400


def test_redelivery_keeps_the_event_id_and_timestamp(
    emu: EmulatorServer, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    user = emu.add_user()
    original = emu.send_postback(user["userId"], "action=optout")
    clock.advance(30)
    redelivered = emu.redeliver(original.webhook_event_id)
    first, second = (entry["json"]["events"][0] for entry in receiver.received)
    assert second["webhookEventId"] == first["webhookEventId"] == original.webhook_event_id
    assert second["deliveryContext"] == {"isRedelivery": True}
    assert first["deliveryContext"] == {"isRedelivery": False}
    assert second["timestamp"] == first["timestamp"]  # when the event occurred
    assert second["postback"] == first["postback"]
    assert redelivered.reply_token and redelivered.reply_token != original.reply_token
    assert parse(receiver.last)[0].delivery_context.is_redelivery is True
    with pytest.raises(EmulatorError):
        emu.redeliver("01ZZZZZZZZZZZZZZZZZZZZZZZZ")


def test_bot_status_code_is_returned(emu: EmulatorServer, receiver: WebhookReceiver) -> None:
    user = emu.add_user()
    receiver.status = 500
    result = emu.send_text(user["userId"], "a")
    assert result.status == 500 and not result.ok
    assert emu.webhooks()[-1]["status"] == 500


def test_unreachable_webhook_is_reported(emu: EmulatorServer, receiver: WebhookReceiver) -> None:
    user = emu.add_user()
    emu.set_webhook_url("http://127.0.0.1:9/callback")
    result = emu.send_text(user["userId"], "a")
    assert result.status is None and result.error


def test_bot_can_reply_while_handling_the_webhook(
    emu: EmulatorServer, receiver: WebhookReceiver
) -> None:
    """A bot that replies synchronously inside its webhook handler must not deadlock."""
    answers: list[int] = []

    def reply_now(payload: dict[str, Any]) -> None:
        token = payload["events"][0]["replyToken"]
        response = requests.post(
            emu.base_url + "/v2/bot/message/reply",
            json={"replyToken": token, "messages": [{"type": "text", "text": "承知しました"}]},
            headers={"Authorization": f"Bearer {emu.channel_access_token}"},
            timeout=10,
        )
        answers.append(response.status_code)

    receiver.on_request = reply_now
    user = emu.add_user()
    assert emu.send_text(user["userId"], "注文をキャンセルしたい").ok
    assert answers == [200]
    assert emu.inbox(user["userId"])[0]["message"]["text"] == "承知しました"


def test_blocked_or_unknown_shopper_cannot_send(emu: EmulatorServer) -> None:
    user = emu.add_user(blocked=True)
    with pytest.raises(EmulatorError, match="blocked"):
        emu.send_text(user["userId"], "a")
    with pytest.raises(EmulatorError, match="unknown user"):
        emu.send_postback("U" + "1" * 32, "x")


def test_no_webhook_url(line_emulator: EmulatorServer) -> None:
    user = line_emulator.add_user()
    with pytest.raises(EmulatorError, match="no webhook URL"):
        line_emulator.send_text(user["userId"], "a")
