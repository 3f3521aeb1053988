"""The SDK-backed LINE gateway over real HTTP against the emulator."""

from __future__ import annotations

import pytest
from flask import Flask

from bot.line.gateway import (
    LineClientError,
    LineInvalidReplyToken,
    LineMonthlyLimit,
    LineRateLimited,
    LineServerError,
    LineTimeout,
    SdkLineGateway,
    retry_key_for,
)
from line_emulator import MONTHLY_LIMIT_BODY
from tests.helpers.line import TEST_TOKEN
from tests.helpers.live_server import LiveServer

HELLO = [{"type": "text", "text": "ご注文ありがとうございます!"}]


@pytest.fixture
def gateway(emulator):
    gw = SdkLineGateway(TEST_TOKEN, emulator.base_url, connect_timeout=1, read_timeout=1)
    yield gw
    gw.close()


@pytest.fixture
def shopper(emulator) -> str:
    return emulator.add_user(display_name="佐藤 一郎")["userId"]


def test_push_delivers_and_retry_key_answers_once(emulator, gateway, shopper):
    key = retry_key_for("delivery", 42)
    first = gateway.push(shopper, HELLO, retry_key=key)
    again = gateway.push(shopper, HELLO, retry_key=key)
    assert first.request_id and not first.duplicate
    assert again.duplicate and again.request_id == first.request_id  # LINE's 409 = already sent
    assert [m["message"]["text"] for m in emulator.inbox(shopper)] == [
        "ご注文ありがとうございます!"
    ]


def test_profile_and_link_token(emulator, gateway, shopper):
    profile = gateway.get_profile(shopper)
    assert profile.display_name == "佐藤 一郎"
    assert gateway.issue_link_token(shopper)
    with pytest.raises(LineClientError) as missing:
        gateway.get_profile("U" + "f" * 32)
    assert missing.value.status == 404


@pytest.fixture
def webhook_sink(emulator):
    """A receiver that acknowledges webhooks without handling them."""
    sink = Flask("sink")
    sink.post("/callback")(lambda: "ok")
    server = LiveServer(sink)
    emulator.webhook_url = f"{server.url}/callback"
    yield server
    server.stop()


def test_reply_token_is_single_use(emulator, gateway, shopper, webhook_sink):
    result = emulator.send_text(shopper, "こんにちは")
    token = result.reply_token
    gateway.reply(token, HELLO)
    with pytest.raises(LineInvalidReplyToken):
        gateway.reply(token, HELLO)


def test_rate_limit_and_monthly_limit_are_told_apart(emulator, gateway, shopper):
    emulator.fail_next(429, retry_after=3)
    with pytest.raises(LineRateLimited) as limited:
        gateway.push(shopper, HELLO)
    assert limited.value.retriable and limited.value.retry_after == 3
    emulator.fail_next(429, body=MONTHLY_LIMIT_BODY)
    with pytest.raises(LineMonthlyLimit) as monthly:
        gateway.push(shopper, HELLO)
    assert not monthly.value.retriable


def test_server_error_is_retriable(emulator, gateway, shopper):
    emulator.fail_next(500)
    with pytest.raises(LineServerError) as error:
        gateway.push(shopper, HELLO)
    assert error.value.retriable
    assert emulator.inbox(shopper) == []


def test_invalid_message_is_a_client_error_with_details(emulator, gateway, shopper):
    too_many = HELLO * 6  # LINE allows at most 5 messages per request
    with pytest.raises(LineClientError) as error:
        gateway.push(shopper, too_many)
    assert not error.value.retriable
    long_alt = {"type": "flex", "altText": "あ" * 1501, "contents": {"type": "bubble"}}
    with pytest.raises(LineClientError) as error:
        gateway.push(shopper, [long_alt])
    assert error.value.status == 400
    assert any("altText" in d.get("property", "") for d in error.value.details)
    assert emulator.inbox(shopper) == []


def test_timeout_is_ambiguous_and_the_retry_key_makes_the_retry_safe(emulator, gateway, shopper):
    emulator.slow_next(2.5)  # longer than the 1 s read timeout; LINE still delivers it
    key = retry_key_for("delivery", 7)
    with pytest.raises(LineTimeout):
        gateway.push(shopper, HELLO, retry_key=key)
    retried = gateway.push(shopper, HELLO, retry_key=key)
    assert retried.duplicate
    assert len(emulator.inbox(shopper)) == 1
