"""POST /callback: verify, de-duplicate, persist, enqueue, answer 200. No LINE calls here.

This endpoint is the hottest path of the service (LINE may deliver thousands of events a
second), so it is a plain WSGI handler placed in front of Flask rather than a Flask view: it
needs none of Flask's request machinery, which cost about a third of its CPU. Every other
path goes to Flask unchanged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from bot.core.metrics import ACK_SECONDS, WEBHOOK_REQUESTS
from bot.core.services import Services
from bot.line.webhook_events import MalformedWebhook, parse_events, valid_signature

log = logging.getLogger(__name__)

PATH = "/callback"
MAX_BODY = 1024 * 1024
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_JSON = ("Content-Type", "application/json")
_OK = json.dumps({"status": "ok"}).encode()
_ACKED = WEBHOOK_REQUESTS.labels("200")  # bound once: label lookups cost on every request
_REFUSED = WEBHOOK_REQUESTS.labels("400")


class WebhookEndpoint:
    """WSGI middleware answering POST /callback itself and passing everything else on."""

    def __init__(self, app: WSGIApp, services: Services) -> None:
        self._app = app
        self._services = services

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != PATH:
            return self._app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(
                start_response,
                "405 Method Not Allowed",
                "method_not_allowed",
                "use POST",
                [("Allow", "POST")],
            )
        try:
            return self._callback(environ, start_response)
        except Exception:  # stored nothing we know of: LINE retries a non-2xx delivery
            log.exception("webhook failed")
            WEBHOOK_REQUESTS.labels("500").inc()
            return _answer(
                start_response,
                "500 Internal Server Error",
                "internal_error",
                "the webhook could not be stored; LINE will redeliver it",
            )

    def _callback(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return _bad(
                start_response,
                "body must have a Content-Length of at most 1 MiB",
                "413 Request Entity Too Large" if length > MAX_BODY else None,
            )
        body = environ["wsgi.input"].read(length) if length else b""
        settings = self._services.settings
        if not valid_signature(
            settings.line_channel_secret, body, environ.get("HTTP_X_LINE_SIGNATURE")
        ):
            log.warning("webhook signature missing or invalid")
            return _bad(start_response, "X-Line-Signature is missing or invalid")
        try:
            events = parse_events(body)
        except MalformedWebhook as exc:
            return _bad(start_response, f"malformed webhook body: {exc}")
        if events:  # an empty list is LINE's verification request
            self._services.event_writer.store(events)
        _ACKED.inc()
        ACK_SECONDS.observe(time.perf_counter() - started)
        start_response("200 OK", [_JSON, ("Content-Length", str(len(_OK)))])
        return [_OK]


def _bad(start_response: Callable[..., Any], reason: str, status: str | None = None) -> list[bytes]:
    _REFUSED.inc()
    return _answer(start_response, status or "400 Bad Request", "bad_request", reason)


def _answer(
    start_response: Callable[..., Any],
    status: str,
    code: str,
    message: str,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False).encode()
    start_response(status, [_JSON, ("Content-Length", str(len(body))), *(headers or [])])
    return [body]
