"""Reply tokens: issued with webhooks, single use, expiring."""

from __future__ import annotations

from line_emulator.clock import ManualClock
from line_emulator.server import EmulatorServer
from tests.helpers.emulator import Api, WebhookReceiver, text

REPLY = "/v2/bot/message/reply"
INVALID = {"message": "Invalid reply token"}


def reply(api: Api, token: str | None, *messages: dict) -> object:
    return api.post(REPLY, {"replyToken": token, "messages": list(messages or [text("はい")])})


def test_reply_token_works_once(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    token = emu.send_text(user["userId"], "在庫はありますか？").reply_token
    first = reply(api, token)
    assert first.status_code == 200
    assert len(first.json()["sentMessages"]) == 1
    (entry,) = emu.inbox(user["userId"])
    assert entry["via"] == "reply" and entry["message"]["text"] == "はい"
    again = reply(api, token)
    assert again.status_code == 400 and again.json() == INVALID
    assert len(emu.inbox(user["userId"])) == 1


def test_unknown_reply_token(api: Api) -> None:
    response = reply(api, "0" * 32)
    assert response.status_code == 400 and response.json() == INVALID


def test_reply_token_expires(emu: EmulatorServer, api: Api, clock: ManualClock) -> None:
    user = emu.add_user()
    fresh = emu.send_text(user["userId"], "a").reply_token
    stale = emu.send_text(user["userId"], "b").reply_token
    clock.advance(59)
    assert reply(api, fresh).status_code == 200
    clock.advance(2)  # 61 s after the webhook
    expired = reply(api, stale)
    assert expired.status_code == 400 and expired.json() == INVALID


def test_reply_token_lifetime_is_configurable(
    emu: EmulatorServer, api: Api, clock: ManualClock
) -> None:
    emu.reply_token_ttl = 5
    user = emu.add_user()
    token = emu.send_postback(user["userId"], "action=optout").reply_token
    clock.advance(6)
    assert reply(api, token).status_code == 400


def test_invalid_messages_do_not_use_up_the_token(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    token = emu.send_text(user["userId"], "a").reply_token
    bad = reply(api, token, text(""))
    assert bad.status_code == 400 and bad.json()["message"] == "The request body has 1 error(s)"
    assert reply(api, token).status_code == 200


def test_redelivered_event_gets_a_usable_token_unless_the_original_was_used(
    emu: EmulatorServer, api: Api, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    user = emu.add_user()
    original = emu.send_text(user["userId"], "a")
    clock.advance(120)  # the original token has expired by now
    redelivered = emu.redeliver(original.webhook_event_id)
    assert redelivered.reply_token != original.reply_token
    assert reply(api, redelivered.reply_token).status_code == 200
    used = emu.send_text(user["userId"], "b")
    assert reply(api, used.reply_token).status_code == 200
    again = emu.redeliver(used.webhook_event_id)
    assert reply(api, again.reply_token).json() == INVALID


def test_redelivery_token_dies_20_minutes_after_the_event(
    emu: EmulatorServer, api: Api, clock: ManualClock
) -> None:
    user = emu.add_user()
    original = emu.send_text(user["userId"], "a")
    clock.advance(20 * 60 + 1)
    late = emu.redeliver(original.webhook_event_id)
    assert reply(api, late.reply_token).json() == INVALID


def test_follow_unfollow_and_account_link_tokens(emu: EmulatorServer, api: Api) -> None:
    follow = emu.send_follow()
    assert reply(api, follow.reply_token).status_code == 200
    assert emu.send_unfollow(follow.event["source"]["userId"]).reply_token is None


def test_reply_missing_token_is_a_body_error(api: Api) -> None:
    response = api.post(REPLY, {"messages": [text()]})
    assert response.status_code == 400
    assert response.json()["details"] == [
        {"message": "must be specified", "property": "replyToken"}
    ]
