"""The emulated SMS provider: Twilio's Programmable Messaging as the bot uses it.

One account (Account SID and auth token, HTTP basic auth), sender numbers and Messaging
Service SIDs of its own, the Messages resource with Twilio's validation and error codes,
delivery progress reported to each message's StatusCallback, and inbound messages posted to
the inbound webhook, both signed as Twilio signs them (X-Twilio-Signature).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode, urlsplit

__all__ = [
    "ApiError",
    "EmulatedMessage",
    "SmsEmulator",
    "WebhookResult",
    "segments",
    "signature",
]

API_VERSION = "2010-04-01"
E164 = re.compile(r"\A\+[1-9][0-9]{7,14}\Z")
# Japanese numbers that are not mobile (fixed lines start +81 1-9 but 70/80/90 are mobile,
# 50 is IP telephony, 120/800 are toll-free): SMS cannot reach them.
_JP_MOBILE = re.compile(r"\A\+81[789]0[0-9]{8}\Z")
MAX_BODY = 1600
# Where each status sits; a status callback is posted for each step a message takes.
PROGRESS = ("accepted", "queued", "sending", "sent", "delivered")
FINAL = ("delivered", "undelivered", "failed")


def signature(
    auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]
) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed by every parameter's name
    and value, sorted by name (a repeated name: its values in sorted order)."""
    pairs = sorted(params.items() if isinstance(params, Mapping) else params)
    data = url + "".join(name + value for name, value in pairs)
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def segments(body: str) -> int:
    """SMS segments: GSM-7 text 160 characters (153 when split), anything else (Japanese)
    UCS-2 with 70 (67 when split)."""
    gsm = all(ord(c) < 128 for c in body)
    single, part = (160, 153) if gsm else (70, 67)
    length = len(body.encode("utf-16-le")) // 2 if not gsm else len(body)
    return 1 if length <= single else -(-length // part)


class ApiError(Exception):
    """A refusal as Twilio writes it: HTTP status, error code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


@dataclass
class EmulatedMessage:
    """One message the account sent (or received)."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status: str
    direction: str
    created_at: datetime
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    error_code: int | None = None
    callbacks: list[tuple[str, int | None]] = field(default_factory=list)  # (status, HTTP code)

    def resource(self) -> dict[str, object]:
        """The Message resource's JSON."""
        stamp = format_datetime(self.created_at, usegmt=True)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": stamp,
            "date_sent": stamp if self.status in ("sent", *FINAL) else None,
            "date_updated": stamp,
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(segments(self.body)),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": self.to,
            "uri": uri,
        }


@dataclass(frozen=True)
class WebhookResult:
    """What the bot answered to a webhook the emulator posted."""

    status: int | None  # None: no answer (connection refused, timeout)
    body: str
    content_type: str


class SmsEmulator:
    """The provider's state and rules; `EmulatorServer` serves it over HTTP.

    `undeliverable` numbers accept messages that end `undelivered` (30003, unreachable
    handset); `unknown_handsets` end `failed` (30005). `rate_limit` requests per second are
    accepted before 429 (20429). `fail_next` and `stall_next` inject provider faults.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        numbers: Iterable[str] = ("+815011112222",),
        messaging_service_sids: Iterable[str] = (),
        inbound_url: str | None = None,
        rate_limit: int = 100,
        auto_deliver: bool = False,
        callback_timeout: float = 5.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers = set(numbers)
        self.messaging_service_sids = set(messaging_service_sids)
        self.inbound_url = inbound_url
        self.rate_limit = rate_limit
        self.auto_deliver = auto_deliver
        self.callback_timeout = callback_timeout
        self.undeliverable: set[str] = set()
        self.unknown_handsets: set[str] = set()
        self.messages: list[EmulatedMessage] = []
        self.requests: list[dict[str, object]] = []
        self._faults: deque[tuple[int, float]] = deque()  # (HTTP status or 0, stall seconds)
        self._recent: deque[float] = deque()
        self._lock = threading.RLock()

    # -- the Messages resource ---------------------------------------------------------------

    def check_auth(self, authorization: str | None, account_sid: str) -> None:
        """Basic auth with the Account SID and auth token; 401 (20003) otherwise."""
        user, password = _basic(authorization)
        if not (
            hmac.compare_digest(user, self.account_sid)
            and hmac.compare_digest(password, self.auth_token)
        ):
            raise ApiError(401, 20003, "Authenticate")
        if account_sid != self.account_sid:
            raise ApiError(404, 20404, "The requested resource was not found")

    def take_fault(self) -> tuple[int, float] | None:
        """The next injected fault, if any: (status, seconds to stall first)."""
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def fail_next(self, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` requests with `status` (500, 503, 429...)."""
        with self._lock:
            self._faults.extend([(status, 0.0)] * times)

    def stall_next(self, seconds: float, times: int = 1) -> None:
        """Hold the next `times` requests for `seconds` before answering them normally."""
        with self._lock:
            self._faults.extend([(0, seconds)] * times)

    def limit_rate(self, now: float | None = None) -> None:
        """429 (20429) past `rate_limit` requests in the last second."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            if len(self._recent) >= self.rate_limit:
                raise ApiError(429, 20429, "Too Many Requests")
            self._recent.append(now)

    def create_message(self, params: Mapping[str, str]) -> EmulatedMessage:
        """POST Messages.json: check the form as Twilio does and queue the message."""
        to = params.get("To", "").strip()
        body = params.get("Body", "")
        sender = params.get("From", "").strip()
        service = params.get("MessagingServiceSid", "").strip()
        callback = params.get("StatusCallback", "").strip() or None
        if not to:
            raise ApiError(400, 21604, "A 'To' phone number is required.")
        if not E164.match(to):
            raise ApiError(400, 21211, f"Invalid 'To' Phone Number: {to[:32]}")
        if to.startswith("+81") and not _JP_MOBILE.match(to):
            raise ApiError(400, 21614, f"'To' number {to} is not a valid mobile number")
        if not sender and not service:
            raise ApiError(400, 21603, "A 'From' phone number is required.")
        if service and service not in self.messaging_service_sids:
            raise ApiError(400, 21701, "The Messaging Service Sid is invalid.")
        if sender and sender not in self.numbers:
            raise ApiError(
                400,
                21606,
                f"The From phone number {sender[:32]} is not a valid, SMS-capable inbound "
                "phone number or short code for your account.",
            )
        if not body.strip():
            raise ApiError(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            raise ApiError(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if callback is not None and not _valid_callback(callback):
            raise ApiError(400, 21609, "Invalid StatusCallback url")
        message = EmulatedMessage(
            sid=self._sid(),
            account_sid=self.account_sid,
            to=to,
            from_=sender or "",
            body=body,
            status="accepted" if service else "queued",
            direction="outbound-api",
            created_at=datetime.now(UTC),
            messaging_service_sid=service or None,
            status_callback=callback,
        )
        with self._lock:
            self.messages.append(message)
        if self.auto_deliver:
            threading.Thread(target=self.deliver, args=(message.sid,), daemon=True).start()
        return message

    def message(self, sid: str) -> EmulatedMessage:
        with self._lock:
            for message in self.messages:
                if message.sid == sid:
                    return message
        raise ApiError(404, 20404, f"The requested resource /Messages/{sid}.json was not found")

    def sent(self, to: str | None = None) -> list[EmulatedMessage]:
        """Outbound messages, oldest first (to one number if given)."""
        with self._lock:
            return [
                m
                for m in self.messages
                if m.direction.startswith("outbound") and (to is None or m.to == to)
            ]

    # -- delivery and status callbacks -------------------------------------------------------

    def deliver(self, sid: str) -> list[WebhookResult]:
        """Move the message to its end (delivered, or undelivered/failed for the numbers set
        up so), posting a signed status callback for each step; returns the answers."""
        message = self.message(sid)
        if message.to in self.undeliverable:
            steps, code = ["sending", "sent", "undelivered"], 30003
        elif message.to in self.unknown_handsets:
            steps, code = ["sending", "failed"], 30005
        else:
            steps, code = ["sending", "sent", "delivered"], None
        if message.status == "accepted":
            steps.insert(0, "queued")
        return [
            self.set_status(sid, s, code if s in ("undelivered", "failed") else None) for s in steps
        ]

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> WebhookResult:
        """Set the message's status and post its status callback (tests also replay old
        statuses this way, as the real provider's callbacks may arrive out of order)."""
        message = self.message(sid)
        with self._lock:
            message.status = status
            message.error_code = error_code
        if message.status_callback is None:
            return WebhookResult(None, "", "")
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "MessageSid": message.sid,
            "MessageStatus": status,
            "SmsSid": message.sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        result = self.post_webhook(message.status_callback, params)
        with self._lock:
            message.callbacks.append((status, result.status))
        return result

    # -- inbound messages --------------------------------------------------------------------

    def receive(
        self, from_: str, body: str, to: str | None = None, sid: str | None = None
    ) -> WebhookResult:
        """A shopper's phone sends `body` to the account's number: post the signed inbound
        webhook, and send a TwiML <Message> reply back to the shopper as the provider does.
        `sid` repeats an earlier message (the provider's retry of the same webhook)."""
        if self.inbound_url is None:
            raise RuntimeError("no inbound webhook URL is set")
        to = to or sorted(self.numbers)[0]
        message = EmulatedMessage(
            sid=sid or self._sid(),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            status="received",
            direction="inbound",
            created_at=datetime.now(UTC),
        )
        if sid is None:
            with self._lock:
                self.messages.append(message)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_,
            "FromCountry": "JP" if from_.startswith("+81") else "",
            "MessageSid": message.sid,
            "NumMedia": "0",
            "NumSegments": str(segments(body)),
            "SmsMessageSid": message.sid,
            "SmsSid": message.sid,
            "SmsStatus": "received",
            "To": to,
            "ToCountry": "JP" if to.startswith("+81") else "",
        }
        result = self.post_webhook(self.inbound_url, params)
        if result.status == 200:
            for reply in _twiml_messages(result.body):
                self.create_message({"To": from_, "From": to, "Body": reply})
        return result

    def post_webhook(self, url: str, params: Mapping[str, str]) -> WebhookResult:
        """POST form parameters to `url`, signed with the auth token."""
        data = urlencode(params).encode()
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature(self.auth_token, url, params),
                "User-Agent": "TwilioProxy/1.1",
            },
        )
        with self._lock:
            self.requests.append({"url": url, "params": dict(params)})
        try:
            with urllib.request.urlopen(request, timeout=self.callback_timeout) as response:
                return WebhookResult(
                    response.status,
                    response.read().decode("utf-8", "replace"),
                    response.headers.get("Content-Type", ""),
                )
        except urllib.error.HTTPError as exc:
            return WebhookResult(
                exc.code, exc.read().decode("utf-8", "replace"), exc.headers.get("Content-Type", "")
            )
        except OSError:
            return WebhookResult(None, "", "")

    def reset(self) -> None:
        """Forget every message, request and fault."""
        with self._lock:
            self.messages.clear()
            self.requests.clear()
            self._faults.clear()
            self._recent.clear()

    def _sid(self) -> str:
        return "SM" + secrets.token_hex(16)


def _basic(authorization: str | None) -> tuple[str, str]:
    if not authorization or not authorization.lower().startswith("basic "):
        return "", ""
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password


def _valid_callback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "_" not in parts.hostname


def _twiml_messages(body: str) -> list[str]:
    """The texts of the <Message> verbs of a TwiML answer."""
    import xml.etree.ElementTree as ElementTree

    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return []
    if root.tag != "Response":
        return []
    texts = []
    for verb in root.iter("Message"):
        text = verb.findtext("Body") if verb.find("Body") is not None else verb.text
        if text and text.strip():
            texts.append(text.strip())
    return texts
