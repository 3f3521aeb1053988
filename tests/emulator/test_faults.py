"""Injected faults: rate limits, monthly limit, server errors and latency."""

from __future__ import annotations

import time

import pytest
import requests

from line_emulator import MONTHLY_LIMIT_BODY, RATE_LIMIT_BODY
from line_emulator.server import EmulatorServer
from tests.helpers.emulator import Api, text

PUSH = "/v2/bot/message/push"


def test_next_request_answers_429_with_retry_after(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    emu.fail_next(429, retry_after=3)
    limited = api.push(user["userId"], text())
    assert limited.status_code == 429
    assert limited.json() == {"message": "The API rate limit has been exceeded. Try again later."}
    assert limited.json() == RATE_LIMIT_BODY
    assert limited.headers["Retry-After"] == "3"
    assert limited.headers["x-line-request-id"]
    assert api.push(user["userId"], text()).status_code == 200
    assert len(emu.inbox(user["userId"])) == 1
    assert [r["status"] for r in emu.requests(PUSH)] == [429, 200]


def test_monthly_limit_body(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    emu.fail_next(429, body=MONTHLY_LIMIT_BODY)
    response = api.push(user["userId"], text())
    assert response.status_code == 429
    assert response.json() == {"message": "You have reached your monthly limit."}
    assert "Retry-After" not in response.headers


def test_n_server_errors_on_one_path_only(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    emu.fail_next(503, n=2, path=PUSH)
    assert api.get(f"/v2/bot/profile/{user['userId']}").status_code == 200
    assert [api.push(user["userId"], text()).status_code for _ in range(3)] == [503, 503, 200]
    assert emu.faults() == []


def test_glob_path_and_fail_until_cleared(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    emu.fail_next(500, n=None, path="/v2/bot/message/*")
    for _ in range(3):
        assert api.push(user["userId"], text()).status_code == 500
    emu.clear_faults()
    assert api.push(user["userId"], text()).status_code == 200


def test_auth_is_checked_before_faults(emu: EmulatorServer) -> None:
    emu.fail_next(500)
    stranger = Api(emu.base_url, token="wrong")
    assert stranger.push("U" + "0" * 32, text()).status_code == 401
    assert len(emu.faults()) == 1


def test_latency_makes_client_time_out(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    emu.slow_next(0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.push(user["userId"], text(), timeout=0.1)
    started = time.monotonic()
    assert api.push(user["userId"], text()).status_code == 200
    assert time.monotonic() - started < 0.4


def test_latency_with_error(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    emu.fail_next(502, latency=0.2)
    started = time.monotonic()
    assert api.push(user["userId"], text()).status_code == 502
    assert time.monotonic() - started >= 0.2
