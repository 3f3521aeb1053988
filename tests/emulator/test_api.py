"""The emulated Messaging API endpoints, over real HTTP."""

from __future__ import annotations

import uuid

import requests

from line_emulator.server import EmulatorServer
from tests.helpers.emulator import Api, text

PUSH = "/v2/bot/message/push"
MISSING_USER = "U" + "0" * 32


def test_missing_authorization_answers_401(emu: EmulatorServer) -> None:
    response = requests.post(emu.base_url + PUSH, json={"to": MISSING_USER}, timeout=10)
    assert response.status_code == 401
    assert response.json() == {
        "message": "Authorization header required. "
        "Must follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"
    }
    assert uuid.UUID(response.headers["x-line-request-id"])


def test_wrong_token_answers_401_and_is_recorded(emu: EmulatorServer) -> None:
    api = Api(emu.base_url, token="not-the-token")
    response = api.push(MISSING_USER, text())
    assert response.status_code == 401
    assert response.json() == {
        "message": "Authentication failed. "
        "Confirm that the access token in the authorization header is valid."
    }
    (record,) = emu.requests(PUSH)
    assert record["status"] == 401
    assert record["headers"]["authorization"] == "<invalid>"  # the token itself is not kept
    assert record["requestId"] == response.headers["x-line-request-id"]


def test_push_delivers_to_inbox_and_answers_sent_messages(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user(display_name="佐藤 花子")
    response = api.push(
        user["userId"],
        text("カートに商品が残っています"),
        {"type": "sticker", "packageId": "446", "stickerId": "1988"},
    )
    assert response.status_code == 200
    sent = response.json()["sentMessages"]
    assert len(sent) == 2 and all(m["id"].isdigit() and m["quoteToken"] for m in sent)
    inbox = emu.inbox(user["userId"])
    assert [entry["message"]["type"] for entry in inbox] == ["text", "sticker"]
    assert inbox[0]["message"]["text"] == "カートに商品が残っています"
    assert inbox[0]["via"] == "push" and inbox[0]["id"] == sent[0]["id"]
    (record,) = emu.requests(PUSH)
    assert record["status"] == 200
    assert record["body"]["to"] == user["userId"]
    assert record["headers"]["authorization"] == "Bearer <valid>"


def test_flex_push_has_no_quote_token(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    flex = {
        "type": "flex",
        "altText": "お知らせ",
        "contents": {
            "type": "bubble",
            "body": {
                "type": "box",
                "layout": "vertical",
                "contents": [{"type": "text", "text": "x"}],
            },
        },
    }
    response = api.push(user["userId"], flex)
    assert response.status_code == 200
    assert "quoteToken" not in response.json()["sentMessages"][0]


def test_push_to_unknown_or_malformed_user(api: Api) -> None:
    unknown = api.push(MISSING_USER, text())
    assert unknown.status_code == 400
    assert unknown.json() == {"message": "Failed to send messages"}
    malformed = api.push("someone", text())
    assert malformed.status_code == 400
    assert malformed.json() == {
        "message": "The property, 'to', in the request body is invalid (line: -, column: -)"
    }


def test_push_to_blocked_user_is_accepted_but_not_delivered(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user(blocked=True)
    response = api.push(user["userId"], text())
    assert response.status_code == 200
    assert emu.inbox(user["userId"]) == []
    (entry,) = emu.undelivered(user["userId"])
    assert entry["reason"] == "blocked"


def test_auto_create_users_accepts_unknown_ids(emu: EmulatorServer, api: Api) -> None:
    emu.auto_create_users = True
    assert api.push(MISSING_USER, text()).status_code == 200
    assert len(emu.inbox(MISSING_USER)) == 1


def test_multicast(emu: EmulatorServer, api: Api) -> None:
    friend, blocked = emu.add_user(), emu.add_user(blocked=True)
    to = [friend["userId"], blocked["userId"], MISSING_USER]
    response = api.post("/v2/bot/message/multicast", {"to": to, "messages": [text()]})
    assert response.status_code == 200
    assert response.json() == {}
    assert len(emu.inbox(friend["userId"])) == 1
    assert emu.inbox(blocked["userId"]) == [] and emu.inbox(MISSING_USER) == []
    bad = api.post(
        "/v2/bot/message/multicast", {"to": [friend["userId"], "C123"], "messages": [text()]}
    )
    assert bad.status_code == 400
    assert (
        bad.json()["message"]
        == "The property, to[1], in the request body is invalid (line: -, column: -)"
    )
    too_many = api.post(
        "/v2/bot/message/multicast", {"to": [MISSING_USER] * 501, "messages": [text()]}
    )
    assert too_many.status_code == 400
    assert too_many.json()["details"] == [
        {"message": "Size must be between 1 and 500", "property": "to"}
    ]


def test_profile(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user(display_name="鈴木 一郎", language="ja", status_message="元気です")
    response = api.get(f"/v2/bot/profile/{user['userId']}")
    assert response.status_code == 200
    assert response.json() == {
        "displayName": "鈴木 一郎",
        "userId": user["userId"],
        "language": "ja",
        "pictureUrl": user["pictureUrl"],
        "statusMessage": "元気です",
    }
    assert response.json()["pictureUrl"].startswith("https://")


def test_profile_of_unknown_or_blocked_user_is_404(emu: EmulatorServer, api: Api) -> None:
    unknown = api.get(f"/v2/bot/profile/{MISSING_USER}")
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "Not found"}
    blocked = emu.add_user(blocked=True)
    assert api.get(f"/v2/bot/profile/{blocked['userId']}").status_code == 404
    malformed = api.get("/v2/bot/profile/nobody")
    assert malformed.status_code == 400
    assert malformed.json() == {"message": "The value for the 'userId' parameter is invalid"}


def test_link_token_is_issued_and_registered(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    response = api.post(f"/v2/bot/user/{user['userId']}/linkToken")
    assert response.status_code == 200
    token = response.json()["linkToken"]
    assert len(token) == 32 and token.isalnum()
    (registered,) = emu.link_tokens()
    assert registered["linkToken"] == token and registered["userId"] == user["userId"]
    assert registered["usedAt"] is None
    assert api.post(f"/v2/bot/user/{MISSING_USER}/linkToken").status_code == 404


def test_loading_animation(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    response = api.post(
        "/v2/bot/chat/loading/start", {"chatId": user["userId"], "loadingSeconds": 10}
    )
    assert response.status_code == 202
    assert response.json() == {}
    assert emu.loading_requests()[0]["loadingSeconds"] == 10
    bad = api.post("/v2/bot/chat/loading/start", {"chatId": user["userId"], "loadingSeconds": 7})
    assert bad.status_code == 400
    assert bad.json() == {
        "message": "The request body has 1 error(s)",
        "details": [{"message": "must be a multiple of five", "property": "loadingSeconds"}],
    }
    group = api.post("/v2/bot/chat/loading/start", {"chatId": "C" + "0" * 32})
    assert group.json()["details"][0]["property"] == "chatId"


def test_quota_and_consumption(emu: EmulatorServer, api: Api) -> None:
    assert api.get("/v2/bot/message/quota").json() == {"type": "none"}
    emu.monthly_quota = 2
    assert api.get("/v2/bot/message/quota").json() == {"type": "limited", "value": 2}
    users = emu.add_users(3)
    for user in users[:2]:
        assert api.push(user["userId"], text()).status_code == 200
    assert api.get("/v2/bot/message/quota/consumption").json() == {"totalUsage": 2}
    over = api.push(users[2]["userId"], text())
    assert over.status_code == 429
    assert over.json() == {"message": "You have reached your monthly limit."}
    assert emu.inbox(users[2]["userId"]) == []


def test_bad_json_content_type_path_and_method(api: Api) -> None:
    broken = api.session.post(
        api.base_url + PUSH,
        data=b'{"to": ',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert broken.status_code == 400
    assert broken.json()["message"].startswith(
        "The request body could not be parsed as JSON (line: 1"
    )
    form = api.session.post(api.base_url + PUSH, data={"to": "x"}, timeout=10)
    assert form.status_code == 415
    assert api.get("/v2/bot/nothing-here").status_code == 404
    assert api.get(PUSH).status_code == 405


def test_validate_endpoint(api: Api) -> None:
    assert api.post("/v2/bot/message/validate/push", {"messages": [text()]}).json() == {}
    bad = api.post("/v2/bot/message/validate/push", {"messages": [text("")]})
    assert bad.status_code == 400
    assert bad.json()["details"] == [
        {"message": "May not be empty", "property": "messages[0].text"}
    ]


def test_keep_alive_connection_is_reused(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    for _ in range(20):
        assert api.push(user["userId"], text()).status_code == 200
    assert len(emu.inbox(user["userId"])) == 20
    stats = emu.stats()
    assert stats["responses"][f"POST {PUSH} 200"] == 20
