"""`EmulatorServer`: the SMS emulator served over real HTTP from a background thread."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sms_emulator.app import EmulatorApp
from sms_emulator.core import SmsEmulator

__all__ = ["EmulatorServer"]


class _QuietHandler(WSGIRequestHandler):
    """No line per request on stderr: tests and dev mode send thousands."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class EmulatorServer(SmsEmulator):
    """The SMS emulator on a real socket, for tests and dev mode.

    Tests call its methods (`sent()`, `receive()`, `deliver()`, `fail_next()`); other
    processes reach the same operations through `/_emulator/...`.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> None:
        super().__init__(account_sid, auth_token, **options)
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Where the emulated API answers, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("the SMS emulator is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Bind the socket and serve from a background thread; return self."""
        if self._server is None:
            self._server = make_server(
                self.host,
                self.port,
                EmulatorApp(self),
                threaded=True,
                request_handler=_QuietHandler,
            )
            self.port = self._server.server_port
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
