"""LineEmulator without HTTP: handle() directly, storage bounds and clocks."""

from __future__ import annotations

import json

from line_emulator import AdjustableClock, LineEmulator, ManualClock

HEADERS = {"authorization": "Bearer t", "content-type": "application/json"}


def push(emu: LineEmulator, to: str, text: str = "x") -> int:
    body = json.dumps({"to": to, "messages": [{"type": "text", "text": text}]}).encode()
    return emu.handle("POST", "/v2/bot/message/push", HEADERS, body).status


def test_inbox_and_records_are_bounded() -> None:
    emu = LineEmulator("s", "t", max_records=3, max_inbox=2)
    user = emu.add_user()["userId"]
    assert [push(emu, user, str(i)) for i in range(5)] == [200] * 5
    assert [entry["message"]["text"] for entry in emu.inbox(user)] == ["3", "4"]
    assert [record["body"]["messages"][0]["text"] for record in emu.requests()] == ["2", "3", "4"]
    assert emu.stats()["responses"]["POST /v2/bot/message/push 200"] == 5


def test_records_keep_raw_text_of_unparsable_bodies() -> None:
    emu = LineEmulator("s", "t")
    response = emu.handle("POST", "/v2/bot/message/push", HEADERS, b"{oops")
    assert response.status == 400
    assert emu.requests()[0]["body"] == "{oops"


def test_reset_forgets_state_but_keeps_configuration() -> None:
    emu = LineEmulator("s", "t", monthly_quota=5)
    user = emu.add_user()["userId"]
    push(emu, user)
    emu.fail_next(500)
    emu.reset()
    assert emu.users() == [] and emu.requests() == [] and emu.faults() == []
    assert emu.monthly_quota == 5


def test_clocks() -> None:
    adjustable = AdjustableClock()
    before = adjustable.now()
    adjustable.advance(3600)
    assert adjustable.now() - before >= 3600
    manual = ManualClock(start=100.0)
    manual.advance(5)
    assert manual.now() == 105.0
    manual.set(7.0)
    assert manual.now() == 7.0
