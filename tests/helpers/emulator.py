"""Helpers of the LINE emulator's own tests: an API client, a webhook receiver, the channel."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from line_emulator.pytest_plugin import TEST_CHANNEL_ACCESS_TOKEN, TEST_CHANNEL_SECRET

__all__ = ["TEST_CHANNEL_ACCESS_TOKEN", "TEST_CHANNEL_SECRET", "Api", "WebhookReceiver", "text"]


class WebhookReceiver:
    """A tiny bot stand-in: records each webhook POST and answers ``status``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.on_request: Any = None  # optional callable(payload) run before answering
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                entry = {
                    "path": self.path,
                    "headers": {name.lower(): value for name, value in self.headers.items()},
                    "body": body,
                    "json": json.loads(body),
                }
                receiver.received.append(entry)
                if receiver.on_request is not None:
                    receiver.on_request(entry["json"])
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/callback"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def last(self) -> dict[str, Any]:
        return self.received[-1]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Api:
    """``requests`` against the emulated Messaging API with the channel access token."""

    def __init__(self, base_url: str, token: str = TEST_CHANNEL_ACCESS_TOKEN) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.post(self.base_url + path, json=body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.get(self.base_url + path, **kwargs)

    def push(self, to: str, *messages: dict[str, Any], **kwargs: Any) -> requests.Response:
        return self.post("/v2/bot/message/push", {"to": to, "messages": list(messages)}, **kwargs)

    def close(self) -> None:
        self.session.close()


def text(value: str = "こんにちは") -> dict[str, Any]:
    """A text message object."""
    return {"type": "text", "text": value}
