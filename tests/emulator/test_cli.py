"""``python -m line_emulator`` runs in the foreground and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests

from line_emulator.client import EmulatorClient

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_cli_serves_logs_and_stops_on_sigterm(receiver) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "line_emulator",
            "--port",
            str(port),
            "--channel-secret",
            "cli-secret",
            "--access-token",
            "cli-token",
            "--webhook-url",
            receiver.url,
            "--seed-users",
            "2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        control = EmulatorClient(f"http://127.0.0.1:{port}")
        control.wait_until_ready(timeout=20)
        users = control.users()
        assert len(users) == 2
        response = requests.post(
            f"http://127.0.0.1:{port}/v2/bot/message/push",
            json={"to": users[0]["userId"], "messages": [{"type": "text", "text": "テスト"}]},
            headers={"Authorization": "Bearer cli-token"},
            timeout=10,
        )
        assert response.status_code == 200
        assert control.send_text(users[0]["userId"], "こんにちは")["status"] == 200
        request_id = response.headers["x-line-request-id"]
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "POST /v2/bot/message/push 200" in output and request_id in output
    assert "cli-token" not in output and "cli-secret" not in output
    assert "LINE emulator stopped" in output


def test_cli_requires_secrets() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "line_emulator", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=30,
    )
    assert result.returncode == 2 and "--channel-secret" in result.stderr
