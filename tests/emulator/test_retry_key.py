"""X-Line-Retry-Key: accepted once, then 409 with the accepted request's ID."""

from __future__ import annotations

import uuid

from line_emulator.server import EmulatorServer
from tests.helpers.emulator import Api, text


def test_retried_push_answers_409_and_delivers_once(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    key = str(uuid.uuid4())
    first = api.push(user["userId"], text(), headers={"X-Line-Retry-Key": key})
    assert first.status_code == 200
    retry = api.push(user["userId"], text(), headers={"X-Line-Retry-Key": key})
    assert retry.status_code == 409
    assert retry.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert retry.headers["x-line-request-id"] != first.headers["x-line-request-id"]
    assert retry.json() == {
        "message": "The retry key is already accepted",
        "sentMessages": first.json()["sentMessages"],
    }
    assert len(emu.inbox(user["userId"])) == 1
    assert [r["status"] for r in emu.requests("/v2/bot/message/push")] == [200, 409]


def test_retry_after_a_500_that_was_delivered(emu: EmulatorServer, api: Api) -> None:
    """The case retry keys exist for: LINE delivered but the answer was an error."""
    user = emu.add_user()
    key = str(uuid.uuid4())
    emu.fail_next(500, deliver=True)
    first = api.push(user["userId"], text(), headers={"X-Line-Retry-Key": key})
    assert first.status_code == 500
    retry = api.push(user["userId"], text(), headers={"X-Line-Retry-Key": key})
    assert retry.status_code == 409
    assert retry.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert len(emu.inbox(user["userId"])) == 1


def test_retry_after_a_rejected_request_is_processed(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    key = str(uuid.uuid4())
    emu.fail_next(500)  # not delivered, so the key was never accepted
    assert api.push(user["userId"], text(), headers={"X-Line-Retry-Key": key}).status_code == 500
    assert api.push(user["userId"], text(), headers={"X-Line-Retry-Key": key}).status_code == 200
    assert len(emu.inbox(user["userId"])) == 1


def test_multicast_retry(emu: EmulatorServer, api: Api) -> None:
    users = [u["userId"] for u in emu.add_users(2)]
    key = str(uuid.uuid4())
    body = {"to": users, "messages": [text()]}
    assert (
        api.post("/v2/bot/message/multicast", body, headers={"X-Line-Retry-Key": key}).status_code
        == 200
    )
    retry = api.post("/v2/bot/message/multicast", body, headers={"X-Line-Retry-Key": key})
    assert retry.status_code == 409
    assert retry.json() == {"message": "The retry key is already accepted"}
    assert all(len(emu.inbox(u)) == 1 for u in users)


def test_retry_key_must_be_a_uuid(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    response = api.push(user["userId"], text(), headers={"X-Line-Retry-Key": "retry-1"})
    assert response.status_code == 400
    assert response.json() == {"message": "The value for the 'X-Line-Retry-Key' header is invalid"}
    assert emu.inbox(user["userId"]) == []


def test_retry_key_is_refused_where_unsupported(emu: EmulatorServer, api: Api) -> None:
    response = api.post(
        "/v2/bot/message/reply",
        {"replyToken": "x", "messages": [text()]},
        headers={"X-Line-Retry-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 400


def test_retry_key_expires_after_24_hours(emu: EmulatorServer, api: Api, clock) -> None:
    user = emu.add_user()
    key = str(uuid.uuid4())
    assert api.push(user["userId"], text(), headers={"X-Line-Retry-Key": key}).status_code == 200
    clock.advance(24 * 3600 + 1)
    assert api.push(user["userId"], text(), headers={"X-Line-Retry-Key": key}).status_code == 200
    assert len(emu.inbox(user["userId"])) == 2
