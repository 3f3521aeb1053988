"""Fault rates: a share of requests per path answers 5xx, 429 or only after a stall."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from line_emulator import RATE_LIMIT_BODY
from line_emulator.__main__ import fault_rules
from line_emulator.client import EmulatorClient, EmulatorClientError
from line_emulator.core import EmulatorError, parse_fault_rates
from line_emulator.pytest_plugin import TEST_CHANNEL_ACCESS_TOKEN, TEST_CHANNEL_SECRET
from line_emulator.server import EmulatorServer
from tests.helpers.emulator import Api, text

PUSH = "/v2/bot/message/push"
ROOT = Path(__file__).resolve().parents[2]


def _statuses(emu: EmulatorServer, api: Api, user_id: str, count: int) -> list[int]:
    return [api.push(user_id, text(f"お知らせ{n}")).status_code for n in range(count)]


def test_rates_are_met_and_the_same_seed_gives_the_same_faults(emu: EmulatorServer) -> None:
    runs = []
    for _ in range(2):
        emu.reset()
        emu.seed_faults(20261127)
        emu.set_fault_rates("/v2/bot/message/*", error=0.3, throttle=0.2)
        user = emu.add_user()
        api = Api(emu.base_url)
        runs.append(_statuses(emu, api, user["userId"], 400))
        api.close()
    assert runs[0] == runs[1]
    counts = Counter(runs[0])
    assert set(counts) == {200, 429, 500}
    # 400 draws: each share is within five standard deviations of its rate.
    assert 85 <= counts[500] <= 155
    assert 50 <= counts[429] <= 110
    injected = emu.fault_rates()[0]["injected"]
    assert injected == {"error": counts[500], "throttle": counts[429], "stall": 0}
    # Only accepted pushes reached the shopper.
    assert len(emu.inbox(user["userId"])) == counts[200]


def test_a_5xx_has_lines_body_and_request_id_and_delivers_nothing(
    emu: EmulatorServer, api: Api
) -> None:
    user = emu.add_user()
    emu.set_fault_rates(PUSH, error=1.0, error_status=503)
    response = api.push(user["userId"], text(), headers={"X-Line-Retry-Key": str(uuid.uuid4())})
    assert response.status_code == 503
    assert response.json() == {"message": "Internal server error"}
    assert response.headers["x-line-request-id"]
    assert "Retry-After" not in response.headers
    assert emu.inbox(user["userId"]) == []
    assert emu.requests(PUSH)[0]["fault"] == "error"


def test_a_429_has_retry_after_and_delivers_nothing(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    emu.set_fault_rates(PUSH, throttle=1.0, retry_after=7)
    key = str(uuid.uuid4())
    response = api.push(user["userId"], text(), headers={"X-Line-Retry-Key": key})
    assert response.status_code == 429
    assert response.json() == RATE_LIMIT_BODY
    assert response.headers["Retry-After"] == "7"
    assert emu.inbox(user["userId"]) == []
    # The key was not spent: once LINE answers again the same key delivers.
    emu.clear_faults()
    again = api.push(user["userId"], text(), headers={"X-Line-Retry-Key": key})
    assert again.status_code == 200
    assert len(emu.inbox(user["userId"])) == 1


def test_a_stall_delivers_at_once_and_answers_past_the_clients_timeout(
    emu: EmulatorServer, api: Api
) -> None:
    user = emu.add_user()
    emu.set_fault_rates(PUSH, stall=1.0, stall_seconds=1.5)
    key = str(uuid.uuid4())
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        api.push(
            user["userId"], text("在庫が戻りました"), headers={"X-Line-Retry-Key": key}, timeout=0.3
        )
    assert time.monotonic() - started < 1.0
    # Delivered although the client saw no answer: the case retry keys are for.
    assert [m["message"]["text"] for m in emu.inbox(user["userId"])] == ["在庫が戻りました"]
    emu.clear_fault_rates()
    retried = api.push(user["userId"], text("在庫が戻りました"), headers={"X-Line-Retry-Key": key})
    assert retried.status_code == 409
    assert len(emu.inbox(user["userId"])) == 1
    time.sleep(1.4)  # the stalled answer is recorded once it has gone out
    stalled = [r for r in emu.requests(PUSH) if r["fault"] == "stall"]
    assert len(stalled) == 1 and stalled[0]["status"] == 200


def test_other_paths_and_methods_are_left_alone(emu: EmulatorServer, api: Api) -> None:
    user = emu.add_user()
    emu.set_fault_rates("/v2/bot/message/*", method="POST", error=1.0)
    assert api.get(f"/v2/bot/profile/{user['userId']}").status_code == 200
    assert api.push(user["userId"], text()).status_code == 500
    assert api.get("/v2/bot/message/quota").status_code == 200


def test_a_rule_for_the_same_path_is_replaced_and_zero_rates_remove_it(
    emu: EmulatorServer,
) -> None:
    emu.set_fault_rates(PUSH, error=0.1)
    emu.set_fault_rates("/v2/bot/message/reply", throttle=0.1)
    rules = emu.set_fault_rates(PUSH, stall=0.2, stall_seconds=20)
    assert [(r["path"], r["error"], r["stall"]) for r in rules] == [
        ("/v2/bot/message/reply", 0.0, 0.0),
        (PUSH, 0.0, 0.2),
    ]
    assert [r["path"] for r in emu.set_fault_rates(PUSH)] == ["/v2/bot/message/reply"]
    emu.clear_faults()  # one-shot faults and rates alike
    assert emu.fault_rates() == []


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"error": 1.5}, "between 0 and 1"),
        ({"error": -0.1}, "between 0 and 1"),
        ({"error": 0.6, "throttle": 0.3, "stall": 0.2}, "more than 1"),
        ({"error": 0.1, "error_status": 404}, "5xx"),
        ({"stall": 0.1, "stall_seconds": 0}, "stall_seconds"),
    ],
)
def test_impossible_rates_are_refused(emu: EmulatorServer, kwargs: dict, reason: str) -> None:
    with pytest.raises(EmulatorError, match=reason):
        emu.set_fault_rates(PUSH, **kwargs)
    assert emu.fault_rates() == []


def test_control_api_and_client(emu: EmulatorServer, api: Api) -> None:
    control = EmulatorClient(emu.base_url)
    user = emu.add_user()
    rules = control.set_fault_rates(PUSH, throttle=1.0, retry_after=2)
    assert rules[0]["throttle"] == 1.0 and rules[0]["retryAfter"] == 2
    assert api.push(user["userId"], text()).headers["Retry-After"] == "2"
    assert control.fault_rates()[0]["injected"]["throttle"] == 1
    control.seed_faults(7)
    assert emu.fault_seed == 7
    with pytest.raises(EmulatorClientError) as refused:
        control.set_fault_rates(PUSH, error=2)
    assert refused.value.status == 400 and "between 0 and 1" in str(refused.value)
    unknown = requests.post(
        f"{emu.base_url}/_emulator/fault-rates", json={"path": PUSH, "errors": 0.1}, timeout=5
    )
    assert unknown.status_code == 400
    assert "errors" in unknown.json()["error"]
    control.clear_fault_rates()
    assert control.fault_rates() == []
    assert api.push(user["userId"], text()).status_code == 200


def test_spec_of_the_command_line_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = "path=/v2/bot/message/*,5xx=0.1,429=0.05,stall=0.02,stall-seconds=20,retry-after=3"
    assert parse_fault_rates(spec + "; path=/v2/bot/profile/*,status=503,5xx=0.5") == [
        {
            "path": "/v2/bot/message/*",
            "error": 0.1,
            "throttle": 0.05,
            "stall": 0.02,
            "stall_seconds": 20.0,
            "retry_after": 3.0,
        },
        {"path": "/v2/bot/profile/*", "error_status": 503, "error": 0.5},
    ]
    monkeypatch.setenv("EMULATOR_FAULTS", "5xx=0.2")
    assert fault_rules(None) == [{"error": 0.2}]
    assert fault_rules(["429=0.1"]) == [{"throttle": 0.1}]  # flags win over the environment
    monkeypatch.delenv("EMULATOR_FAULTS")
    assert fault_rules(None) == []
    with pytest.raises(EmulatorError, match="bad fault spec item 'oops=1'"):
        parse_fault_rates("5xx=0.1,oops=1")
    with pytest.raises(EmulatorError, match="bad number"):
        parse_fault_rates("5xx=lots")


def test_cli_takes_fault_rates_and_seed_from_the_environment() -> None:
    with EmulatorServer(TEST_CHANNEL_SECRET, TEST_CHANNEL_ACCESS_TOKEN) as probe:
        port = probe.port
    env = {
        **os.environ,
        "EMULATOR_FAULTS": "path=/v2/bot/message/push,5xx=0.1,429=0.05,stall=0.02",
        "EMULATOR_FAULT_SEED": "42",
    }
    argv = [sys.executable, "-m", "line_emulator", "--port", str(port), "--quiet"]
    argv += ["--channel-secret", "s", "--access-token", "t", "--no-sdk-check"]
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        control = EmulatorClient(f"http://127.0.0.1:{port}")
        control.wait_until_ready(timeout=20)
        [rule] = control.fault_rates()
        assert (rule["path"], rule["error"], rule["throttle"], rule["stall"]) == (
            "/v2/bot/message/push",
            0.1,
            0.05,
            0.02,
        )
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "injecting faults on /v2/bot/message/push: 5xx 10%, 429 5%, stall 2%" in stderr


def test_cli_refuses_a_bad_spec() -> None:
    argv = [sys.executable, "-m", "line_emulator", "--channel-secret", "s", "--access-token", "t"]
    done = subprocess.run(
        [*argv, "--faults", "5xx=2"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "between 0 and 1" in done.stderr


def test_stalled_requests_do_not_hold_up_thousands_of_others(emu: EmulatorServer) -> None:
    """Each connection has its own thread: stalls only hold their own connection."""
    emu.sdk_check = False
    users = [emu.add_user()["userId"] for _ in range(20)]
    emu.set_fault_rates(PUSH, stall=1.0, stall_seconds=3)
    stalled = [
        threading.Thread(
            target=lambda u=u: Api(emu.base_url).push(u, text("遅延"), timeout=10), daemon=True
        )
        for u in users[:10]
    ]
    for thread in stalled:
        thread.start()
    deadline = time.monotonic() + 2
    while emu.fault_rates()[0]["injected"]["stall"] < 10:
        assert time.monotonic() < deadline, "the stalled pushes did not arrive"
        time.sleep(0.01)
    emu.clear_fault_rates()
    client = Api(emu.base_url)
    started = time.monotonic()
    assert client.push(users[10], text("セール")).status_code == 200
    assert time.monotonic() - started < 1, "a push waited behind the stalled ones"
    client.close()

    def push_many(user_id: str) -> list[int]:
        client = Api(emu.base_url)
        try:
            return [client.push(user_id, text("セール")).status_code for _ in range(200)]
        finally:
            client.close()

    with ThreadPoolExecutor(10) as pool:
        statuses = [s for batch in pool.map(push_many, users[10:]) for s in batch]
    assert statuses == [200] * 2000
    for thread in stalled:
        thread.join(timeout=10)
    assert all(len(emu.inbox(u)) == 1 for u in users[:10])
