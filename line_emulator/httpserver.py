"""A small threaded HTTP/1.1 server with keep-alive, built for the emulator's push rates.

werkzeug's development server tops out near 1,400 trivial requests/s on the 2-core
CI machine, below what the delivery benchmark needs; parsing the few headers the
emulator reads straight off the socket is several times faster.  One thread serves
each connection; responses are written with one ``sendall``.

It speaks enough HTTP/1.1 for HTTP clients and SDKs: keep-alive (and ``Connection:
close``/HTTP/1.0), ``Content-Length`` and chunked request bodies, and ``Expect:
100-continue``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import unquote

__all__ = ["Responder", "ThreadedHTTPServer"]

log = logging.getLogger("line_emulator.http")

# (method, path, query, lower-case headers, body) -> (status, headers, body)
Responder = Callable[
    [str, str, str, dict[str, str], bytes], tuple[int, list[tuple[str, str]], bytes]
]

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
IDLE_TIMEOUT = 300.0
_REASONS = {status.value: status.phrase for status in HTTPStatus}


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Date:
    """The ``Date`` header value, formatted at most once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def value(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._value = formatdate(second, usegmt=True)
            self._second = second
        return self._value


class ThreadedHTTPServer:
    """Serve ``responder`` on ``host:port`` from background threads."""

    def __init__(self, host: str, port: int, responder: Responder) -> None:
        self.responder = responder
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
            self._socket.listen(512)
        except OSError:
            self._socket.close()
            raise
        self.port: int = self._socket.getsockname()[1]
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closing = False
        self._date = _Date()
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"line-emulator-accept:{self.port}", daemon=True
        )

    def start(self) -> None:
        """Start accepting connections."""
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close every open connection and wait for the acceptor."""
        self._closing = True
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                if self._closing:
                    return
                continue
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection.settimeout(IDLE_TIMEOUT)
            with self._lock:
                self._connections.add(connection)
            threading.Thread(target=self._serve_connection, args=(connection,), daemon=True).start()

    def _serve_connection(self, connection: socket.socket) -> None:
        buffer = b""
        try:
            while not self._closing:
                try:
                    request = self._read_request(connection, buffer)
                except _BadRequest as exc:
                    self._send_error(connection, exc.status, str(exc))
                    return
                if request is None:
                    return
                method, target, headers, body, buffer, keep_alive = request
                path, _, query = target.partition("?")
                if "%" in path:
                    path = unquote(path)
                try:
                    status, response_headers, payload = self.responder(
                        method, path, query, headers, body
                    )
                except Exception:
                    log.exception("error answering %s %s", method, path)
                    status, response_headers = 500, [("Content-Type", "application/json")]
                    payload = b'{"message":"Internal server error"}'
                self._send(
                    connection, status, response_headers, payload, keep_alive, method == "HEAD"
                )
                if not keep_alive:
                    return
        except (OSError, TimeoutError):
            return  # the client went away, or the server is stopping
        finally:
            with self._lock:
                self._connections.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()

    def _read_request(
        self, connection: socket.socket, buffer: bytes
    ) -> tuple[str, str, dict[str, str], bytes, bytes, bool] | None:
        while b"\r\n\r\n" not in buffer:
            if len(buffer) > MAX_HEADER_BYTES:
                raise _BadRequest(431, "request header fields too large")
            data = connection.recv(65536)
            if not data:
                return None
            buffer += data
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ")
        except ValueError:
            raise _BadRequest(400, "malformed request line") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, separator, value = line.partition(":")
            if not separator:
                raise _BadRequest(400, "malformed header line")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        connection_header = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            keep_alive = "close" not in connection_header
        else:
            keep_alive = "keep-alive" in connection_header
        if headers.get("expect", "").lower() == "100-continue":
            connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, buffer = self._read_chunked(connection, buffer)
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise _BadRequest(400, "invalid Content-Length") from None
            if length < 0 or length > MAX_BODY_BYTES:
                raise _BadRequest(413, "request body too large")
            while len(buffer) < length:
                data = connection.recv(max(65536, length - len(buffer)))
                if not data:
                    return None
                buffer += data
            body, buffer = buffer[:length], buffer[length:]
        return method, target, headers, body, buffer, keep_alive

    def _read_chunked(self, connection: socket.socket, buffer: bytes) -> tuple[bytes, bytes]:
        body = bytearray()
        while True:
            while b"\r\n" not in buffer:
                buffer += self._recv(connection)
            size_line, _, buffer = buffer.partition(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0], 16)
            except ValueError:
                raise _BadRequest(400, "malformed chunk size") from None
            if size == 0:
                while b"\r\n\r\n" not in b"\r\n" + buffer:  # skip trailers up to a blank line
                    buffer += self._recv(connection)
                _, _, buffer = (b"\r\n" + buffer).partition(b"\r\n\r\n")
                return bytes(body), buffer
            while len(buffer) < size + 2:
                buffer += self._recv(connection)
            body += buffer[:size]
            buffer = buffer[size + 2 :]
            if len(body) > MAX_BODY_BYTES:
                raise _BadRequest(413, "request body too large")

    @staticmethod
    def _recv(connection: socket.socket) -> bytes:
        data = connection.recv(65536)
        if not data:
            raise OSError("connection closed inside a chunked body")
        return data

    def _send(
        self,
        connection: socket.socket,
        status: int,
        headers: list[tuple[str, str]],
        payload: bytes,
        keep_alive: bool,
        head_only: bool = False,
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
            "Server: line-emulator",
            f"Date: {self._date.value()}",
        ]
        lines.extend(
            f"{name}: {value}" for name, value in headers if name.lower() != "content-length"
        )
        lines.append(f"Content-Length: {len(payload)}")
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        connection.sendall(head if head_only else head + payload)

    def _send_error(self, connection: socket.socket, status: int, message: str) -> None:
        payload = json.dumps({"message": message}, ensure_ascii=False).encode("utf-8")
        with contextlib.suppress(OSError):
            self._send(connection, status, [("Content-Type", "application/json")], payload, False)
