"""line-bot-sdk v3's own client works against the emulator (as the bot's gateway uses it)."""

from __future__ import annotations

import uuid

import pytest
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    PushMessageRequest,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
)

from line_emulator.server import EmulatorServer
from tests.helpers.emulator import TEST_CHANNEL_ACCESS_TOKEN


@pytest.fixture
def messaging(emu: EmulatorServer):
    configuration = Configuration(host=emu.base_url, access_token=TEST_CHANNEL_ACCESS_TOKEN)
    with ApiClient(configuration) as client:
        yield MessagingApi(client)


def test_sdk_push_reply_profile_link_loading_quota(
    emu: EmulatorServer, messaging: MessagingApi
) -> None:
    user = emu.add_user(display_name="中村 悠真")
    pushed = messaging.push_message(
        PushMessageRequest(to=user["userId"], messages=[TextMessage(text="在庫が戻りました")]),
        x_line_retry_key=str(uuid.uuid4()),
    )
    assert pushed.sent_messages[0].id
    token = emu.send_text(user["userId"], "ありがとう").reply_token
    messaging.reply_message(
        ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="どういたしまして")])
    )
    assert [e["message"]["text"] for e in emu.inbox(user["userId"])] == [
        "在庫が戻りました",
        "どういたしまして",
    ]
    assert messaging.get_profile(user["userId"]).display_name == "中村 悠真"
    assert len(messaging.issue_link_token(user["userId"]).link_token) == 32
    messaging.show_loading_animation(
        ShowLoadingAnimationRequest(chat_id=user["userId"], loading_seconds=5)
    )
    assert messaging.get_message_quota().type == "none"
    assert messaging.get_message_quota_consumption().total_usage == 1


def test_sdk_sees_line_style_errors(emu: EmulatorServer, messaging: MessagingApi) -> None:
    user = emu.add_user()
    key = str(uuid.uuid4())
    request = PushMessageRequest(to=user["userId"], messages=[TextMessage(text="a")])
    messaging.push_message(request, x_line_retry_key=key)
    with pytest.raises(ApiException) as conflict:
        messaging.push_message(request, x_line_retry_key=key)
    assert conflict.value.status == 409
    assert conflict.value.headers["x-line-accepted-request-id"]
    emu.fail_next(429, retry_after=2)
    with pytest.raises(ApiException) as limited:
        messaging.push_message(
            PushMessageRequest(to=user["userId"], messages=[TextMessage(text="b")])
        )
    assert limited.value.status == 429 and limited.value.headers["Retry-After"] == "2"
    with pytest.raises(ApiException) as missing:
        messaging.get_profile("U" + "0" * 32)
    assert missing.value.status == 404
