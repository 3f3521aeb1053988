"""WSGI application: the Messages resource as Twilio serves it, and a `/_emulator` control API
for tests and dev tools in other processes (sent messages, inbound SMS, delivery, faults)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from sms_emulator.core import ApiError, SmsEmulator

__all__ = ["EmulatorApp"]

_MESSAGES = re.compile(r"\A/2010-04-01/Accounts/([^/]+)/Messages\.json\Z")
_MESSAGE = re.compile(r"\A/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)\.json\Z")


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status, mimetype="application/json")


class EmulatorApp:
    """Serves one `SmsEmulator`."""

    def __init__(self, emulator: SmsEmulator) -> None:
        self.emulator = emulator

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except ApiError as exc:
            response = _json(exc.body(), exc.status)
        except HTTPException as exc:
            response = _json(
                {"code": 20001, "message": exc.description, "status": exc.code}, exc.code or 400
            )
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/_emulator/"):
            return self.control(request, path[len("/_emulator/") :])
        fault = self.emulator.take_fault()
        if fault is not None:
            status, stall = fault
            if stall:
                time.sleep(stall)
            if status == 429:
                raise ApiError(429, 20429, "Too Many Requests")
            if status:
                raise ApiError(status, 20500, "An internal server error has occurred")
        if (match := _MESSAGES.match(path)) and request.method == "POST":
            self.emulator.check_auth(request.headers.get("Authorization"), match[1])
            self.emulator.limit_rate()
            form: MultiDict[str, str] = request.form
            message = self.emulator.create_message(form.to_dict(flat=True))
            return _json(message.resource(), 201)
        if (match := _MESSAGE.match(path)) and request.method == "GET":
            self.emulator.check_auth(request.headers.get("Authorization"), match[1])
            return _json(self.emulator.message(match[2]).resource())
        raise ApiError(404, 20404, f"The requested resource {path[:200]} was not found")

    def control(self, request: Request, what: str) -> Response:
        """The control API (no auth: it listens on loopback for tests and dev mode)."""
        emulator = self.emulator
        data = request.get_json(silent=True) or {} if request.method == "POST" else {}
        if what == "health":
            return _json({"ok": True})
        if what == "messages" and request.method == "GET":
            to = request.args.get("to")
            return _json([m.resource() for m in emulator.sent(to)])
        if what == "inbound" and request.method == "POST":
            result = emulator.receive(str(data.get("from", "")), str(data.get("body", "")))
            return _json({"status": result.status, "body": result.body})
        if what == "deliver" and request.method == "POST":
            results = emulator.deliver(str(data.get("sid", "")))
            return _json({"callbacks": [r.status for r in results]})
        if what == "faults" and request.method == "POST":
            emulator.fail_next(int(data.get("status", 500)), int(data.get("times", 1)))
            return _json({"ok": True})
        if what == "reset" and request.method == "POST":
            emulator.reset()
            return _json({"ok": True})
        return _json({"code": 20404, "message": "unknown control path", "status": 404}, 404)
