"""Groups, rooms, leave, standby, unsend and chat control in the emulator; `sender`,
`quoteToken` and unknown top-level properties in send requests."""

from __future__ import annotations

import pytest

from line_emulator.client import EmulatorClient
from line_emulator.server import EmulatorServer
from tests.helpers.emulator import Api, WebhookReceiver, text


@pytest.fixture
def control(emu: EmulatorServer) -> EmulatorClient:
    return EmulatorClient(emu.base_url)


def test_group_text_with_and_without_user_id(control, receiver: WebhookReceiver) -> None:
    user = control.add_user()["userId"]
    group = control.add_chat("group", members=[user])["chatId"]
    control.send_chat_text(group, "こんにちは", user_id=user)
    control.send_chat_text(group, "よろしく")
    with_user, without = (entry["json"]["events"][0] for entry in receiver.received)
    assert with_user["source"] == {"type": "group", "groupId": group, "userId": user}
    assert without["source"] == {"type": "group", "groupId": group}
    assert without["message"]["text"] == "よろしく" and without["replyToken"]
    assert without["mode"] == "active"


def test_join_reply_and_leave(control, api: Api, receiver: WebhookReceiver) -> None:
    room = control.add_chat("room")["chatId"]
    control.send_join(room)
    event = receiver.last["json"]["events"][0]
    assert (event["type"], event["source"]) == ("join", {"type": "room", "roomId": room})
    reply = api.post(
        "/v2/bot/message/reply",
        {"replyToken": event["replyToken"], "messages": [text("1対1でどうぞ")]},
    )
    assert reply.status_code == 200
    assert api.post(f"/v2/bot/room/{room}/leave").status_code == 200
    chat = control.chat(room)
    assert [m["message"]["text"] for m in chat["messages"]] == ["1対1でどうぞ"]
    assert (chat["botPresent"], chat["leftByApi"]) == (False, True)
    again = api.post(f"/v2/bot/room/{room}/leave")
    assert (again.status_code, again.json()) == (404, {"message": "Not found"})


def test_leave_checks_the_id(api: Api) -> None:
    bad = api.post("/v2/bot/group/U0123/leave")
    assert (bad.status_code, bad.json()["message"]) == (
        400,
        "The value for the 'groupId' parameter is invalid",
    )
    unknown = api.post("/v2/bot/group/C" + "0" * 32 + "/leave")
    assert unknown.status_code == 404


def test_member_events_leave_and_unsend(control, receiver: WebhookReceiver) -> None:
    user = control.add_user()["userId"]
    group = control.add_chat("group")["chatId"]
    control.send_member_joined(group, [user])
    assert control.chat(group)["members"] == [user]
    control.send_member_left(group, [user])
    control.send_unsend(user, "400000000000000001", chat_id=group)
    control.send_leave(group)
    joined, left, unsend, leave = (entry["json"]["events"][0] for entry in receiver.received)
    assert joined["joined"] == {"members": [{"type": "user", "userId": user}]}
    assert "replyToken" in joined and "replyToken" not in left
    assert left["left"] == {"members": [{"type": "user", "userId": user}]}
    assert unsend["unsend"] == {"messageId": "400000000000000001"}
    assert unsend["source"] == {"type": "group", "groupId": group, "userId": user}
    assert (leave["type"], "replyToken" in leave) == ("leave", False)
    assert control.chat(group)["botPresent"] is False


def test_standby_and_chat_control(control, emu: EmulatorServer, receiver) -> None:
    user = control.add_user()["userId"]
    control.send_standby_text(user, "まだ届きません")
    control.send_deactivated(user)
    control.send_activated(user, expire_at=1795004100000)
    standby, off, on = (entry["json"]["events"][0] for entry in receiver.received)
    assert standby["mode"] == "standby" and "replyToken" not in standby
    assert (off["type"], on["type"]) == ("deactivated", "activated")
    assert on["chatControl"] == {"expireAt": 1795004100000}


def test_sender_and_quote_token_are_accepted(control, api: Api) -> None:
    user = control.add_user()["userId"]
    message = {
        "type": "text",
        "text": "担当の佐藤です。",
        "quoteToken": "q3Plxr4AgKd",
        "sender": {"name": "佐藤", "iconUrl": "https://shop.example.jp/icon.png"},
    }
    assert api.push(user, message).status_code == 200


@pytest.mark.parametrize(
    ("sender", "prop"),
    [
        ({"name": "あ" * 21}, "messages[0].sender.name"),
        ({"iconUrl": "http://shop.example.jp/icon.png"}, "messages[0].sender.iconUrl"),
        ({"name": "佐藤", "nickname": "さとう"}, "messages[0].sender.nickname"),
    ],
)
def test_a_bad_sender_is_refused(control, api: Api, sender, prop) -> None:
    user = control.add_user()["userId"]
    answer = api.push(user, {"type": "text", "text": "こんにちは", "sender": sender})
    assert answer.status_code == 400
    assert [d["property"] for d in answer.json()["details"]] == [prop]


def test_unknown_top_level_properties_are_refused(control, api: Api, receiver) -> None:
    user = control.add_user()["userId"]
    push = api.post("/v2/bot/message/push", {"to": user, "messages": [text()], "sender": {}})
    assert push.status_code == 400
    assert push.json()["details"] == [{"message": "unknown field", "property": "sender"}]
    control.send_text(user, "こんにちは")
    token = receiver.last["json"]["events"][0]["replyToken"]
    reply = api.post(
        "/v2/bot/message/reply", {"replyToken": token, "messages": [text()], "quoteToken": "x"}
    )
    assert reply.status_code == 400
    assert reply.json()["details"] == [{"message": "unknown field", "property": "quoteToken"}]
