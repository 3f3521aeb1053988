"""``EmulatorServer``: the emulator served over real HTTP from background threads."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from line_emulator.app import EmulatorApp
from line_emulator.core import LineEmulator
from line_emulator.httpserver import ThreadedHTTPServer

__all__ = ["EmulatorServer"]


class EmulatorServer(LineEmulator):
    """The LINE emulator on a real socket, for tests and dev mode.

    >>> server = EmulatorServer("secret", "token", webhook_url="http://127.0.0.1:8000/callback")
    >>> server.start()  # doctest: +SKIP
    >>> server.base_url  # doctest: +SKIP
    'http://127.0.0.1:54321'

    Everything a test needs is a method of this object (``requests()``, ``inbox()``,
    ``fail_next()``, ``send_text()``...); other processes use the same operations
    through the ``/_emulator`` control API.
    """

    def __init__(
        self,
        channel_secret: str,
        channel_access_token: str,
        webhook_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> None:
        super().__init__(channel_secret, channel_access_token, webhook_url, **options)
        self.host = host
        self.port = port
        self._server: ThreadedHTTPServer | None = None
        self._start_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """Where the emulated API answers, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Bind the socket and serve from background threads; return self."""
        with self._start_lock:
            if self._server is None:
                server = ThreadedHTTPServer(self.host, self.port, EmulatorApp(self).respond)
                self.port = server.port
                server.start()
                self._server = server
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        with self._start_lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
