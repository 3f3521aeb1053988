"""The emulator's HTTP/1.1 server: keep-alive, chunked bodies, 100-continue, bad requests."""

from __future__ import annotations

import json
import socket

from line_emulator.server import EmulatorServer
from tests.helpers.emulator import TEST_CHANNEL_ACCESS_TOKEN


def exchange(emu: EmulatorServer, raw: bytes, reads: int = 1) -> bytes:
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as connection:
        connection.sendall(raw)
        data = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                return data
            data += chunk
            if data.count(b"HTTP/1.") >= reads and _complete(data, reads):
                return data


def _complete(data: bytes, reads: int) -> bool:
    responses = data.split(b"HTTP/1.1 ")[1:]
    if len(responses) < reads:
        return False
    head, _, body = responses[-1].partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def request(path: str, body: bytes = b"", extra: str = "", version: str = "HTTP/1.1") -> bytes:
    head = (
        f"POST {path} {version}\r\nHost: x\r\nAuthorization: Bearer {TEST_CHANNEL_ACCESS_TOKEN}\r\n"
        f"Content-Type: application/json\r\n{extra}"
    )
    if "Transfer-Encoding" not in extra:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def push_body(user_id: str) -> bytes:
    return json.dumps({"to": user_id, "messages": [{"type": "text", "text": "hi"}]}).encode()


def test_two_requests_on_one_connection(emu: EmulatorServer) -> None:
    user = emu.add_user()["userId"]
    raw = request("/v2/bot/message/push", push_body(user)) * 2
    data = exchange(emu, raw, reads=2)
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert len(emu.inbox(user)) == 2


def test_chunked_body_and_100_continue(emu: EmulatorServer) -> None:
    user = emu.add_user()["userId"]
    body = push_body(user)
    chunked = f"{len(body[:10]):x}\r\n".encode() + body[:10] + b"\r\n"
    chunked += f"{len(body[10:]):x}\r\n".encode() + body[10:] + b"\r\n0\r\n\r\n"
    raw = request(
        "/v2/bot/message/push",
        chunked,
        extra="Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n",
    )
    data = exchange(emu, raw, reads=2)
    assert data.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")
    assert len(emu.inbox(user)) == 1


def test_connection_close_and_http10(emu: EmulatorServer) -> None:
    user = emu.add_user()["userId"]
    closed = exchange(
        emu, request("/v2/bot/message/push", push_body(user), "Connection: close\r\n")
    )
    assert b"Connection: close" in closed
    old = exchange(emu, request("/v2/bot/message/push", push_body(user), version="HTTP/1.0"))
    assert old.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in old


def test_malformed_request_line(emu: EmulatorServer) -> None:
    data = exchange(emu, b"GARBAGE\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 Bad Request")


def test_stop_closes_idle_keep_alive_connections(receiver) -> None:
    server = EmulatorServer("s", "t").start()
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    connection.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert connection.recv(65536).startswith(b"HTTP/1.1 200 OK")
    server.stop()
    assert connection.recv(65536) == b""  # the server hung up
    connection.close()
