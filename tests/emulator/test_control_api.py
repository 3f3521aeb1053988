"""The /_emulator control API, driven through EmulatorClient as another process would."""

from __future__ import annotations

import pytest

from line_emulator.client import EmulatorClient, EmulatorClientError
from line_emulator.server import EmulatorServer
from tests.helpers.emulator import Api, WebhookReceiver, text


@pytest.fixture
def control(emu: EmulatorServer) -> EmulatorClient:
    return EmulatorClient(emu.base_url)


def test_users_inbox_and_requests(control: EmulatorClient, api: Api) -> None:
    assert control.health()["ok"] is True
    user = control.add_user(displayName="伊藤 陽菜", language="ja")
    assert user["displayName"] == "伊藤 陽菜" and user["followed"] is True
    assert len(control.add_users(3)) == 3 and len(control.users()) == 4
    assert api.push(user["userId"], text("お届け予定のお知らせ")).status_code == 200
    (entry,) = control.inbox(user["userId"])
    assert entry["message"]["text"] == "お届け予定のお知らせ"
    (record,) = control.requests(path="/v2/bot/message/push")
    assert record["status"] == 200 and record["method"] == "POST"
    assert control.requests(path="/v2/bot/profile/*") == []
    control.clear_requests()
    assert control.requests() == []
    assert control.update_user(user["userId"], blocked=True)["blocked"] is True


def test_faults_through_control_api(control: EmulatorClient, emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    control.fail_next(429, n=2, path="/v2/bot/message/push", retry_after=1)
    (fault,) = control.faults()
    assert fault["status"] == 429 and fault["remaining"] == 2 and fault["retryAfter"] == 1
    assert [api.push(user["userId"], text()).status_code for _ in range(3)] == [429, 429, 200]
    control.slow_next(0.01)
    assert api.push(user["userId"], text()).status_code == 200
    control.fail_next(500, n=None)
    control.clear_faults()
    assert emu.faults() == []


def test_shopper_events_return_the_bots_status(
    control: EmulatorClient, emu: EmulatorServer, receiver: WebhookReceiver
) -> None:
    follow = control.send_follow(displayName="山本 結衣")
    assert follow["status"] == 200 and follow["replyToken"]
    user_id = follow["events"][0]["source"]["userId"]
    text_result = control.send_text(user_id, "返品したいです")
    assert text_result["ok"] is True
    assert receiver.last["json"]["events"][0]["message"]["text"] == "返品したいです"
    postback = control.send_postback(user_id, "action=faq&id=3", {"date": "2026-12-01"})
    assert postback["events"][0]["postback"]["params"] == {"date": "2026-12-01"}
    link = control.send_account_link(user_id, "nonce-1")
    assert link["events"][0]["link"]["result"] == "ok"
    again = control.redeliver(text_result["webhookEventId"])
    assert again["webhookEventId"] == text_result["webhookEventId"]
    assert again["events"][0]["deliveryContext"]["isRedelivery"] is True
    receiver.status = 503
    assert control.send_unfollow(user_id)["status"] == 503
    assert len(control.webhooks()) == 6


def test_config_clock_and_reset(control: EmulatorClient, emu: EmulatorServer, api: Api) -> None:
    config = control.configure(replyTokenTtl=5, monthlyQuota=10)
    assert config["replyTokenTtl"] == 5 and config["monthlyQuota"] == 10
    user = emu.add_user()
    token = emu.send_text(user["userId"], "a").reply_token
    control.advance_clock(6)
    reply = api.post("/v2/bot/message/reply", {"replyToken": token, "messages": [text()]})
    assert reply.json() == {"message": "Invalid reply token"}
    control.set_webhook_url(None)
    assert emu.webhook_url is None
    control.reset()
    assert emu.users() == [] and control.requests() == []


def test_control_errors(control: EmulatorClient) -> None:
    with pytest.raises(EmulatorClientError) as missing:
        control.send_text("U" + "0" * 32, "a")
    assert missing.value.status == 400 and "unknown user" in str(missing.value)
    with pytest.raises(EmulatorClientError) as unknown:
        control._call("GET", "nope")
    assert unknown.value.status == 404
