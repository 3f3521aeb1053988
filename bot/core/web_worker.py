"""The web process's gunicorn worker: gthread, but a request reaches a thread only when it is
all there.

gunicorn's gthread worker gives a connection to a thread as soon as its first bytes arrive,
and the thread then reads the headers and the body from a blocking socket. A client that sends
headers and then nothing holds that thread for good: 70 such sockets held every thread of the
web process and /healthz went unanswered. Here the worker's main loop, which already waits for
sockets without threads, reads each request into memory (non-blocking) until its headers and
its whole body (by Content-Length, or to the last chunk) have arrived, and only then hands it
to a thread, whose parser reads it from that buffer. A request not complete within
READ_TIMEOUT_SECONDS is answered 408 and closed; a body larger than the application accepts
is answered 413 without being read.

It relies on gunicorn's gthread internals (TConn, enqueue_req, murder_pending, the parser's
unreader), so pyproject pins the gunicorn versions it was written for.
"""

from __future__ import annotations

import contextlib
import re
import selectors
import socket
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn.http2 import negotiation
from gunicorn.workers import gthread

if not hasattr(gthread.ThreadWorker, "murder_pending"):
    raise ImportError("bot.core.web_worker needs gunicorn 27 (its gthread worker's pending queue)")

READ_TIMEOUT_SECONDS = 10.0
MAX_BODY = 1024 * 1024  # the application's own limit (Flask MAX_CONTENT_LENGTH, /callback)
MAX_HEAD = 64 * 1024  # request line and headers; gunicorn refuses long ones with its own limits
RECV_SIZE = 8192  # as gunicorn reads a socket

_CONTENT_LENGTH = re.compile(rb"\ncontent-length[ \t]*:[ \t]*([0-9]+)[ \t]*\r")
_CHUNKED = re.compile(rb"\ntransfer-encoding[ \t]*:[^\r]*chunked")
_EXPECT_CONTINUE = re.compile(
    rb"\r\nexpect[ \t]*:[ \t]*100-continue[ \t]*(?=\r\n|\Z)", re.IGNORECASE
)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_TOO_LARGE = b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


class Incomplete(Exception):
    """More bytes are needed before the request can be handed to a thread."""


class TooLarge(Exception):
    """The body is larger than the application accepts."""


def request_end(buffer: bytes | bytearray) -> int:
    """Where the first request in `buffer` ends; Incomplete or TooLarge otherwise.

    Only framing is checked; whatever else is wrong with the request (a malformed header,
    an invalid length) is left for gunicorn's parser to refuse, so such requests are handed
    over as soon as their headers are in.
    """
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        if len(buffer) > MAX_HEAD:
            return len(buffer)  # gunicorn refuses the oversized head
        raise Incomplete
    body_start = head_end + 4
    head = bytes(buffer[:head_end]).lower() + b"\r"
    if _CHUNKED.search(head):
        return _chunked_end(buffer, body_start)
    match = _CONTENT_LENGTH.search(head)
    if match is None:
        return body_start
    length = int(match[1])
    if length > MAX_BODY:
        raise TooLarge
    if len(buffer) - body_start < length:
        raise Incomplete
    return body_start + length


def _chunked_end(buffer: bytes | bytearray, position: int) -> int:
    size = 0
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            raise Incomplete
        try:
            chunk = int(bytes(buffer[position:line_end]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            return line_end  # malformed: gunicorn's parser answers it
        size += chunk
        if size > MAX_BODY:
            raise TooLarge
        if chunk == 0:
            if buffer.startswith(b"\r\n", line_end + 2):
                return line_end + 4  # no trailers
            trailers_end = buffer.find(b"\r\n\r\n", line_end + 2)
            if trailers_end < 0:
                raise Incomplete
            return trailers_end + 4
        position = line_end + 2 + chunk + 2
        if len(buffer) < position:
            raise Incomplete


class BufferingThreadWorker(gthread.ThreadWorker):
    """gthread whose threads are given only requests that have fully arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arriving: deque[gthread.TConn] = deque()  # ordered by deadline

    def enqueue_req(self, conn: gthread.TConn) -> None:
        """Read what has arrived of the connection's next request; hand it over when whole."""
        pipelined = conn.parser is not None and conn.parser.unreader.buf.getvalue()
        if (
            pipelined
            or self.cfg.is_ssl
            or negotiation.prior_knowledge_allowed(self.cfg, conn.client)
        ):
            super().enqueue_req(conn)  # not plain HTTP/1 read from the socket: as gthread does
            return
        conn.arrived = bytearray()
        conn.deadline = time.monotonic() + READ_TIMEOUT_SECONDS
        conn.continued = False
        conn.waiting = False
        self._receive(conn)

    def _receive(self, conn: gthread.TConn, _sock: Any = None) -> None:
        """Read what is there without blocking; hand the request over once it is whole."""
        try:
            data = conn.sock.recv(RECV_SIZE, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            self._wait(conn)
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._close(conn)
            return
        conn.arrived += data
        try:
            request_end(conn.arrived)
        except Incomplete:
            self._continue_if_expected(conn)
            self._wait(conn)
        except TooLarge:
            self._close(conn, _TOO_LARGE)
        else:
            self._hand_over(conn)

    def _wait(self, conn: gthread.TConn) -> None:
        """Wait in the main loop, without a thread, for more of the request."""
        if not conn.waiting:
            conn.waiting = True
            self.arriving.append(conn)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._receive, conn))

    def _stop_waiting(self, conn: gthread.TConn) -> None:
        if conn.waiting:
            conn.waiting = False
            self.arriving.remove(conn)
            self.poller.unregister(conn.sock)

    def _continue_if_expected(self, conn: gthread.TConn) -> None:
        # A client that sent "Expect: 100-continue" waits for the 100 before sending the body
        # we are waiting for. Answer it here, and take the header out so that gunicorn does
        # not send a second one.
        if conn.continued or b"\r\n\r\n" not in conn.arrived:
            return
        head_end = conn.arrived.find(b"\r\n\r\n")
        head, count = _EXPECT_CONTINUE.subn(b"", bytes(conn.arrived[:head_end]))
        if count:
            conn.continued = True
            conn.arrived[:head_end] = head
            self._send(conn, _CONTINUE)

    def _hand_over(self, conn: gthread.TConn) -> None:
        self._stop_waiting(conn)
        arrived, conn.arrived = bytes(conn.arrived), None
        if conn.parser is None:
            conn.arrived_first = arrived  # the parser is created in the thread (TConn.init)
        else:
            conn.parser.unreader.unread(arrived)
        conn.data_ready = True  # gthread's handle() must not wait for data again
        super().enqueue_req(conn)

    def handle(self, conn: gthread.TConn) -> Any:
        """Serve the request, reading first what the main loop buffered."""
        arrived = getattr(conn, "arrived_first", None)
        if arrived is not None:
            conn.arrived_first = None
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(arrived)
        return super().handle(conn)

    def murder_pending(self) -> None:
        """Also answer 408 to requests that did not arrive in time, and close them."""
        super().murder_pending()
        now = time.monotonic()
        while self.arriving and self.arriving[0].deadline <= now:
            conn = self.arriving[0]
            self._close(conn, _TIMEOUT if conn.arrived else None)

    def _close(self, conn: gthread.TConn, answer: bytes | None = None) -> None:
        self._stop_waiting(conn)
        if answer is not None:
            self._send(conn, answer)
        self.nr_conns -= 1
        conn.close()

    @staticmethod
    def _send(conn: gthread.TConn, data: bytes) -> None:
        # A few bytes into an empty send buffer; never wait for a client here.
        with contextlib.suppress(OSError):
            conn.sock.send(data, socket.MSG_DONTWAIT)
