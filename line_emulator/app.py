"""WSGI application: the Messaging API paths plus the ``/_emulator`` control API.

Plain WSGI on purpose: the push path runs at benchmark rates, so no framework
request/response objects are built for it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from line_emulator.core import ApiResponse, EmulatorError, LineEmulator
from line_emulator.events import control_chats, control_event
from line_emulator.richmenus import control_rich_menus

__all__ = ["EmulatorApp"]

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

_REASONS = {status.value: status.phrase for status in HTTPStatus}
_USER_FIELDS = {
    "userId": "user_id",
    "displayName": "display_name",
    "pictureUrl": "picture_url",
    "language": "language",
    "statusMessage": "status_message",
    "followed": "followed",
    "blocked": "blocked",
}


class _ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _read_body(environ: Environ) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))
    if environ.get("wsgi.input_terminated"):  # chunked request body
        return stream.read()
    return b""


def _headers(environ: Environ) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    return headers


class EmulatorApp:
    """Routes requests to a ``LineEmulator``.

    ``respond`` is the fast entry point used by ``ThreadedHTTPServer``; calling the
    object makes it a plain WSGI application (for any other WSGI server).
    """

    def __init__(self, emulator: LineEmulator) -> None:
        self.emulator = emulator

    def respond(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Answer one request; ``headers`` have lower-case names."""
        if path.startswith("/_emulator/"):
            return self._control(method, path, query, body)
        if path == "/dialog/bot/accountLink":
            return self._account_link_page(query)
        return self._encode(self.emulator.handle(method, path, headers, body, query))

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        status, headers, payload = self.respond(
            environ["REQUEST_METHOD"],
            environ.get("PATH_INFO", "") or "/",
            environ.get("QUERY_STRING", ""),
            _headers(environ),
            _read_body(environ),
        )
        start_response(f"{status} {_REASONS.get(status, 'Unknown')}", headers)
        return [payload]

    @staticmethod
    def _encode(response: ApiResponse) -> tuple[int, list[tuple[str, str]], bytes]:
        if isinstance(response.body, bytes):  # a rich menu image download
            headers = [("Content-Length", str(len(response.body))), *response.headers.items()]
            return response.status, headers, response.body
        payload = json.dumps(response.body, ensure_ascii=False).encode("utf-8")
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(payload))),
            *response.headers.items(),
        ]
        return response.status, headers, payload

    # -- shopper's browser: the account-link URL ---------------------------------------------

    def _account_link_page(self, query_string: str) -> tuple[int, list[tuple[str, str]], bytes]:
        query = parse_qs(query_string)
        token = query.get("linkToken", [""])[0]
        nonce = query.get("nonce", [""])[0]
        try:
            if not token or not nonce:
                raise EmulatorError("linkToken and nonce are required")
            result = self.emulator.link_account(token, nonce)
            status, title = 200, "アカウント連携が完了しました"
            detail = f"webhook: {result.status if result.status is not None else result.error}"
        except EmulatorError as exc:
            status, title, detail = 400, "アカウント連携に失敗しました", str(exc)
        page = (
            "<!doctype html><html lang='ja'><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(detail)}</p></html>"
        ).encode()
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page)))]
        return status, headers, page

    # -- control API ---------------------------------------------------------------------

    def _control(
        self, method: str, path: str, query_string: str, raw: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        parts = [part for part in path[len("/_emulator/") :].split("/") if part]
        query = {key: values[0] for key, values in parse_qs(query_string).items()}
        try:
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise _ControlError(400, "the request body must be a JSON object")
            status, result = self._control_route(method, parts, query, body)
        except _ControlError as exc:
            status, result = exc.status, {"error": str(exc)}
        except EmulatorError as exc:
            status, result = 400, {"error": str(exc)}
        except (ValueError, TypeError) as exc:
            status, result = 400, {"error": f"bad request: {exc}"}
        return self._encode(ApiResponse(status, result))

    def _control_route(
        self, method: str, parts: list[str], query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any]:
        emu = self.emulator
        head = parts[0] if parts else ""
        rest = parts[1:]
        if head == "health" and method == "GET":
            return 200, {"ok": True, "botUserId": emu.bot_user_id}
        if head == "requests" and not rest:
            if method == "GET":
                return 200, emu.requests(query.get("path"), query.get("method"))
            if method == "DELETE":
                emu.clear_requests()
                return 200, {}
        if head == "stats" and method == "GET":
            return 200, emu.stats()
        if head == "users":
            return self._users(method, rest, body)
        if head == "chats" and (answer := control_chats(emu, method, rest, body)) is not None:
            return answer
        if head == "richmenus" and (answer := control_rich_menus(emu, method, rest)) is not None:
            return answer
        if head == "inbox" and len(rest) == 1 and method == "GET":
            return 200, emu.inbox(rest[0])
        if head == "faults" and not rest:
            if method == "GET":
                return 200, emu.faults()
            if method == "DELETE":
                emu.clear_faults()
                return 200, {}
            if method == "POST":
                return 200, self._add_fault(body)
        if head == "fault-rates":
            return self._fault_rates(method, rest, body)
        if head == "events" and len(rest) == 1 and method == "POST":
            return 200, self._event(rest[0], body).to_dict()
        if head == "redeliver" and method == "POST":
            return 200, emu.redeliver(_need(body, "webhookEventId")).to_dict()
        if head == "webhooks" and method == "GET":
            return 200, emu.webhooks()
        if head == "link-tokens" and method == "GET":
            return 200, emu.link_tokens()
        if head == "loading" and method == "GET":
            return 200, emu.loading_requests()
        if head == "reset" and method == "POST":
            emu.reset()
            return 200, {}
        if parts == ["clock", "advance"] and method == "POST":
            emu.advance_clock(float(_need(body, "seconds")))
            return 200, {"now": emu.clock.now()}
        if head == "config":
            if method in ("PUT", "PATCH", "POST"):
                self._configure(body)
            if method in ("GET", "PUT", "PATCH", "POST"):
                return 200, {
                    "webhookUrl": emu.webhook_url,
                    "replyTokenTtl": emu.reply_token_ttl,
                    "monthlyQuota": emu.monthly_quota,
                    "autoCreateUsers": emu.auto_create_users,
                    "botUserId": emu.bot_user_id,
                }
        raise _ControlError(404, f"no control endpoint {method} /_emulator/{'/'.join(parts)}")

    def _users(self, method: str, rest: list[str], body: dict[str, Any]) -> tuple[int, Any]:
        emu = self.emulator
        if not rest:
            if method == "GET":
                return 200, emu.users()
            if method == "POST":
                if "count" in body:
                    return 201, emu.add_users(int(body["count"]))
                return 201, emu.add_user(**_user_kwargs(body))
        elif len(rest) == 1:
            if method == "GET":
                return 200, emu.user(rest[0])
            if method == "PATCH":
                return 200, emu.update_user(rest[0], **_user_kwargs(body))
        elif len(rest) == 2 and method == "GET":
            if rest[1] == "inbox":
                return 200, emu.inbox(rest[0])
            if rest[1] == "undelivered":
                return 200, emu.undelivered(rest[0])
        raise _ControlError(404, "no such users endpoint")

    def _add_fault(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        emu = self.emulator
        n = body.get("n", 1)
        if body.get("status") is None:
            emu.slow_next(float(_need(body, "latency")), n, body.get("path"), body.get("method"))
        else:
            emu.fail_next(
                int(body["status"]),
                n,
                body.get("path"),
                body.get("body"),
                body.get("retryAfter"),
                method=body.get("method"),
                latency=float(body.get("latency", 0.0)),
                deliver=bool(body.get("deliver", False)),
            )
        return emu.faults()

    def _fault_rates(self, method: str, rest: list[str], body: dict[str, Any]) -> tuple[int, Any]:
        emu = self.emulator
        if rest == ["seed"] and method in ("PUT", "POST"):
            seed = body.get("seed")
            emu.seed_faults(None if seed is None else int(seed))
            return 200, {"seed": emu.fault_seed}
        if not rest:
            if method == "GET":
                return 200, emu.fault_rates()
            if method == "DELETE":
                emu.clear_fault_rates()
                return 200, {}
            if method == "POST":
                unknown = set(body) - set(_FAULT_RATE_FIELDS)
                if unknown:
                    raise _ControlError(
                        400, f"unknown fault-rate fields: {', '.join(sorted(unknown))}"
                    )
                kwargs = {_FAULT_RATE_FIELDS[key]: value for key, value in body.items()}
                return 200, emu.set_fault_rates(**kwargs)
        raise _ControlError(404, "no such fault-rates endpoint")

    def _event(self, kind: str, body: dict[str, Any]) -> Any:
        emu = self.emulator
        if kind == "follow":
            profile = _user_kwargs({k: v for k, v in body.items() if k != "isUnblocked"})
            user_id = profile.pop("user_id", None)
            return emu.send_follow(user_id, body.get("isUnblocked"), **profile)
        if kind == "unfollow":
            return emu.send_unfollow(_need(body, "userId"))
        if kind in ("text", "message"):
            return emu.send_text(
                _need(body, "userId"),
                _need(body, "text"),
                quoted_message_id=body.get("quotedMessageId"),
            )
        if kind == "postback":
            return emu.send_postback(_need(body, "userId"), _need(body, "data"), body.get("params"))
        if kind == "accountLink":
            return emu.send_account_link(
                _need(body, "userId"),
                _need(body, "nonce"),
                body.get("result", "ok"),
                body.get("linkToken"),
            )
        if kind == "raw":
            return emu.send_events(_need(body, "events"))
        result = control_event(emu, kind, body)
        if result is None:
            raise _ControlError(404, f"unknown event kind {kind!r}")
        return result

    def _configure(self, body: dict[str, Any]) -> None:
        emu = self.emulator
        if "webhookUrl" in body:
            emu.set_webhook_url(body["webhookUrl"])
        if "replyTokenTtl" in body:
            emu.reply_token_ttl = float(body["replyTokenTtl"])
        if "monthlyQuota" in body:
            quota = body["monthlyQuota"]
            emu.monthly_quota = None if quota is None else int(quota)
        if "autoCreateUsers" in body:
            emu.auto_create_users = bool(body["autoCreateUsers"])


_FAULT_RATE_FIELDS = {
    "path": "path",
    "method": "method",
    "error": "error",
    "throttle": "throttle",
    "stall": "stall",
    "errorStatus": "error_status",
    "retryAfter": "retry_after",
    "stallSeconds": "stall_seconds",
}


def _need(body: dict[str, Any], key: str) -> Any:
    if body.get(key) is None:
        raise _ControlError(400, f"{key} is required")
    return body[key]


def _user_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    unknown = set(body) - set(_USER_FIELDS)
    if unknown:
        raise _ControlError(400, f"unknown user fields: {', '.join(sorted(unknown))}")
    return {_USER_FIELDS[key]: value for key, value in body.items()}
