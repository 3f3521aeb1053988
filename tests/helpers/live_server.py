"""A Flask app served over real HTTP, for tests that talk to the bot through sockets."""

from __future__ import annotations

import threading

from flask import Flask


class LiveServer:
    """A Flask app served over real HTTP on 127.0.0.1 in a background thread."""

    def __init__(self, app: Flask) -> None:
        from werkzeug.serving import make_server

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
