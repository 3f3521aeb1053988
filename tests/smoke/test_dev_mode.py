"""`make run`'s processes, for real: web, worker, scheduler, emulator, embedded Redis."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SHOPPER = "U" + "0" * 31 + "7"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, read from /proc (children of each thread)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except requests.RequestException:
            result = None
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_dev_mode_greets_a_new_friend_and_stops_cleanly(tmp_path):
    port, emu_port = _free_port(), _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEST_", "DATABASE_URL", "REDIS_URL"))
    }
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    log = (tmp_path / "devserver.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.devserver",
            "--port",
            str(port),
            "--emulator-port",
            str(emu_port),
            "--instance",
            str(tmp_path / "instance"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    web, emu = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{emu_port}"
    try:
        health = _wait_for(lambda: requests.get(f"{web}/healthz", timeout=2), 90, "/healthz")
        assert set(health.json()["checks"].values()) == {"ok"}
        assert {"database", "redis", "dispatcher", "deliveries"} <= set(health.json()["checks"])
        # The Procfile's scheduler and dispatcher run: the dispatcher's first run is recorded.
        _wait_for(
            lambda: (
                requests.get(f"{web}/healthz", timeout=2).json()["dispatcher_age_seconds"]
                is not None
            ),
            60,
            "the dispatcher's first run",
        )
        _wait_for(lambda: requests.get(f"{emu}/_emulator/health", timeout=2).ok, 30, "emulator")
        processes = _descendants(proc.pid)
        # emulator, web (+ its workers), worker, sender, dispatcher, scheduler, redis
        assert len(processes) >= 7

        sent = requests.post(
            f"{emu}/_emulator/events/follow",
            json={"userId": SHOPPER, "displayName": "鈴木 美咲"},
            timeout=10,
        )
        assert sent.status_code == 200, sent.text

        def greeting():
            inbox = requests.get(f"{emu}/_emulator/inbox/{SHOPPER}", timeout=2).json()
            return [m for m in inbox if "友だち追加" in m["message"].get("text", "")]

        arrived = _wait_for(greeting, 60, "the greeting in the emulator's inbox")
        assert "鈴木 美咲さん" in arrived[0]["message"]["text"]
        assert arrived[0]["via"] == "reply"

        # The sample FAQ was imported at start: a shipping question gets an FAQ answer.
        asked = requests.post(
            f"{emu}/_emulator/events/text",
            json={"userId": SHOPPER, "text": "送料はいくらかかりますか?"},
            timeout=10,
        )
        assert asked.status_code == 200, asked.text

        def answer():
            inbox = requests.get(f"{emu}/_emulator/inbox/{SHOPPER}", timeout=2).json()
            return [m for m in inbox if m["message"]["type"] == "flex"]

        flex = _wait_for(answer, 60, "the FAQ answer")[0]["message"]
        assert "解決しましたか" in json.dumps(flex, ensure_ascii=False)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    leftover = {pid for pid in processes if _alive(pid)}
    assert leftover == set(), (
        f"processes left running: {leftover}\n{(tmp_path / 'devserver.log').read_text()[-3000:]}"
    )
