"""The emulated LINE Platform: API behaviour, state, and the shopper side (webhooks).

``LineEmulator`` knows nothing about sockets: ``handle()`` takes a parsed HTTP request
and returns an ``ApiResponse``.  ``line_emulator.app`` wraps it in WSGI and
``line_emulator.server`` serves that on a real port.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import hashlib
import hmac
import json
import logging
import math
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from line_emulator.clock import AdjustableClock, Clock
from line_emulator.events import PUSH_FIELDS, REPLY_FIELDS, ChatEvents, unknown_properties
from line_emulator.ids import (
    GROUP_OR_ROOM_ID_PATTERN,
    USER_ID_PATTERN,
    new_link_token,
    new_message_id,
    new_quote_token,
    new_reply_token,
    new_request_id,
    new_user_id,
    new_webhook_event_id,
)
from line_emulator.insight import (
    LIST_PAGE_DEFAULT,
    MAX_PERIOD_DAYS,
    UNIT_LIMIT,
    UNIT_LIMIT_BODY,
    UNIT_PATTERN,
    AggregationUnits,
    decode_token,
    parse_day,
    units_problem,
)
from line_emulator.names import random_display_name, random_status_message
from line_emulator.richmenus import RichMenus
from line_messages.validation import validate_messages, warm_up

__all__ = [
    "MONTHLY_LIMIT_BODY",
    "RATE_LIMIT_BODY",
    "ApiResponse",
    "EmulatorError",
    "LineEmulator",
    "WebhookResult",
    "parse_fault_rates",
]

log = logging.getLogger("line_emulator")

# Error bodies exactly as LINE words them (Messaging API reference, "Error messages").
RATE_LIMIT_BODY = {"message": "The API rate limit has been exceeded. Try again later."}
MONTHLY_LIMIT_BODY = {"message": "You have reached your monthly limit."}
SERVER_ERROR_BODY = {"message": "Internal server error"}
INVALID_REPLY_TOKEN = {"message": "Invalid reply token"}
FAILED_TO_SEND = {"message": "Failed to send messages"}
NOT_FOUND = {"message": "Not found"}
RETRY_KEY_ACCEPTED = "The retry key is already accepted"
AUTH_HEADER_REQUIRED = {
    "message": "Authorization header required. "
    "Must follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"
}
AUTH_FAILED = {
    "message": "Authentication failed. "
    "Confirm that the access token in the authorization header is valid."
}

MAX_BODY_BYTES = 2 * 1024 * 1024
MULTICAST_MAX_RECIPIENTS = 500
RETRY_KEY_TTL = 24 * 3600.0
LINK_TOKEN_TTL = 600.0
REDELIVERY_WINDOW = 20 * 60.0  # a redelivered event's reply token dies 20 min after the event
RETRY_KEY_PATHS = frozenset({"/v2/bot/message/push", "/v2/bot/message/multicast"})
# Message types that get a quoteToken in sentMessages (they can be quoted later).
QUOTABLE_TYPES = frozenset({"text", "textV2", "sticker", "image", "video"})
HEADERS_OF_INTEREST = ("content-type", "x-line-retry-key", "user-agent", "authorization")


class EmulatorError(Exception):
    """A shopper action or control call the emulator cannot carry out."""


@dataclass
class ApiResponse:
    """An HTTP answer of the emulated platform."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class User:
    """An emulated LINE user (a shopper)."""

    user_id: str
    display_name: str
    picture_url: str | None = None
    language: str | None = "ja"
    status_message: str | None = None
    followed: bool = True
    blocked: bool = False

    def profile(self) -> dict[str, Any]:
        """The body of GET /v2/bot/profile/{userId}: absent values are left out."""
        profile: dict[str, Any] = {"displayName": self.display_name, "userId": self.user_id}
        if self.language:
            profile["language"] = self.language
        if self.picture_url:
            profile["pictureUrl"] = self.picture_url
        if self.status_message:
            profile["statusMessage"] = self.status_message
        return profile

    def to_dict(self) -> dict[str, Any]:
        """Profile plus friendship state, for the control API."""
        return {**self.profile(), "followed": self.followed, "blocked": self.blocked}


@dataclass
class _ReplyGroup:
    """Reply tokens for one event: the original and any redelivered ones share this."""

    user_id: str
    event_time: float
    used: bool = False


@dataclass
class _ReplyToken:
    group: _ReplyGroup
    expires_at: float


@dataclass
class _Fault:
    status: int | None
    remaining: int | None
    path: str | None
    method: str | None
    body: Any
    retry_after: float | None
    latency: float
    deliver: bool
    kind: str = "injected"  # what the request records say was done to it

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "remaining": self.remaining,
            "path": self.path,
            "method": self.method,
            "body": self.body,
            "retryAfter": self.retry_after,
            "latency": self.latency,
            "deliver": self.deliver,
        }


FAULT_KINDS = ("error", "throttle", "stall")


@dataclass
class _FaultRates:
    """Probabilistic faults for the API requests whose path matches ``path`` (a glob).

    Each matching request draws once: with probability ``error`` it gets
    ``error_status`` (nothing delivered), with ``throttle`` a 429 with ``Retry-After``
    (nothing delivered), with ``stall`` it is carried out (messages delivered, retry key
    accepted) but the answer only leaves after ``stall_seconds``, past a client's timeout.
    """

    path: str
    method: str | None
    error: float
    throttle: float
    stall: float
    error_status: int
    retry_after: float | None
    stall_seconds: float
    injected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def pick(self, draw: float) -> _Fault | None:
        """The fault for a request that drew ``draw`` (uniform in [0, 1)), if any."""
        if draw < self.error:
            kind = "error"
            fault = _Fault(
                self.error_status,
                None,
                self.path,
                self.method,
                SERVER_ERROR_BODY,
                None,
                0.0,
                False,
                kind,
            )
        elif draw < self.error + self.throttle:
            kind = "throttle"
            fault = _Fault(
                429,
                None,
                self.path,
                self.method,
                RATE_LIMIT_BODY,
                self.retry_after,
                0.0,
                False,
                kind,
            )
        elif draw < self.error + self.throttle + self.stall:
            kind = "stall"
            fault = _Fault(
                None, None, self.path, self.method, None, None, self.stall_seconds, True, kind
            )
        else:
            return None
        self.injected[kind] += 1
        return fault

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "method": self.method,
            "error": self.error,
            "throttle": self.throttle,
            "stall": self.stall,
            "errorStatus": self.error_status,
            "retryAfter": self.retry_after,
            "stallSeconds": self.stall_seconds,
            "injected": dict(self.injected),
        }


def _rate(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise EmulatorError(f"{name} must be a rate between 0 and 1, not {value}")
    return value


# The keys of a fault-rate spec (``--faults``, ``EMULATOR_FAULTS``) and the keyword
# argument of ``set_fault_rates`` each stands for.
_SPEC_KEYS = {
    "path": "path",
    "method": "method",
    "5xx": "error",
    "error": "error",
    "429": "throttle",
    "throttle": "throttle",
    "stall": "stall",
    "status": "error_status",
    "retry-after": "retry_after",
    "stall-seconds": "stall_seconds",
}
_SPEC_NUMBERS = {"error", "throttle", "stall", "retry_after", "stall_seconds"}


def parse_fault_rates(spec: str) -> list[dict[str, Any]]:
    """Keyword arguments for ``set_fault_rates`` from a spec such as
    ``path=/v2/bot/message/*,5xx=0.1,429=0.05,stall=0.02,stall-seconds=15``.

    Rules are separated by ``;``.  Keys: ``path`` (glob, default every API path),
    ``method``, ``5xx``, ``429``, ``stall`` (rates), ``status`` (the 5xx status, 500),
    ``retry-after`` (seconds, 1) and ``stall-seconds`` (15).
    """
    rules: list[dict[str, Any]] = []
    for part in spec.split(";"):
        if not part.strip():
            continue
        rule: dict[str, Any] = {}
        for item in part.split(","):
            key, separator, value = item.strip().partition("=")
            name = _SPEC_KEYS.get(key.strip().lower())
            if not separator or name is None:
                known = ", ".join(_SPEC_KEYS)
                raise EmulatorError(f"bad fault spec item {item.strip()!r} (keys: {known})")
            value = value.strip()
            try:
                if name in _SPEC_NUMBERS:
                    rule[name] = float(value)
                elif name == "error_status":
                    rule[name] = int(value)
                else:
                    rule[name] = value
            except ValueError:
                raise EmulatorError(f"bad number in fault spec item {item.strip()!r}") from None
        rules.append(rule)
    return rules


@dataclass
class _RetryKey:
    request_id: str
    response_body: dict[str, Any]
    accepted_at: float


@dataclass
class _LinkToken:
    token: str
    user_id: str
    issued_at: float
    expires_at: float
    used_at: float | None = None
    nonce: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "linkToken": self.token,
            "userId": self.user_id,
            "issuedAt": self.issued_at,
            "expiresAt": self.expires_at,
            "usedAt": self.used_at,
            "nonce": self.nonce,
        }


@dataclass
class _SentEvent:
    event: dict[str, Any]
    reply_group: _ReplyGroup | None


@dataclass
class WebhookResult:
    """What happened when the emulator posted a webhook to the bot."""

    status: int | None
    events: list[dict[str, Any]]
    body: str
    signature: str
    response_text: str = ""
    error: str | None = None
    time: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the bot answered 2xx."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def event(self) -> dict[str, Any]:
        """The single (first) event of this webhook."""
        return self.events[0]

    @property
    def reply_token(self) -> str | None:
        """The reply token of the first event, if LINE sends one for it."""
        return self.events[0].get("replyToken") if self.events else None

    @property
    def webhook_event_id(self) -> str:
        """The webhookEventId of the first event."""
        return self.events[0]["webhookEventId"]

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return {
            "status": self.status,
            "ok": self.ok,
            "events": self.events,
            "replyToken": self.reply_token,
            "webhookEventId": self.webhook_event_id if self.events else None,
            "responseText": self.response_text,
            "error": self.error,
            "time": self.time,
        }


def sign(channel_secret: str, body: bytes) -> str:
    """The ``x-line-signature`` of ``body``: base64 of HMAC-SHA256 with the channel secret."""
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _error(status: int, message: str, details: list[dict[str, str]] | None = None) -> ApiResponse:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    return ApiResponse(status, body)


def _details_error(details: list[dict[str, str]]) -> ApiResponse:
    return _error(400, f"The request body has {len(details)} error(s)", details)


def _invalid_property(name: str) -> ApiResponse:
    return _error(400, f"The property, {name}, in the request body is invalid (line: -, column: -)")


def _query(call: _Call) -> dict[str, str]:
    """The request's query parameters (first value of each)."""
    return {key: values[0] for key, values in parse_qs(call.query or "").items()}


def _invalid_parameter(name: str) -> ApiResponse:
    return _error(400, f"The value for the '{name}' parameter is invalid")


class LineEmulator(ChatEvents, RichMenus):
    """The emulated LINE Platform for one Messaging API channel.

    Thread-safe: the HTTP server calls ``handle`` from many threads while tests act
    as shoppers from theirs.
    """

    def __init__(
        self,
        channel_secret: str,
        channel_access_token: str,
        webhook_url: str | None = None,
        *,
        clock: Clock | None = None,
        reply_token_ttl: float = 60.0,
        bot_user_id: str | None = None,
        monthly_quota: int | None = None,
        auto_create_users: bool = False,
        webhook_timeout: float = 10.0,
        max_records: int | None = 100_000,
        max_inbox: int | None = None,
        sdk_check: bool = True,
        fault_seed: int | None = None,
    ) -> None:
        self.channel_secret = channel_secret
        self.fault_seed = fault_seed
        self.channel_access_token = channel_access_token
        self.webhook_url = webhook_url
        self.clock: Clock = clock if clock is not None else AdjustableClock()
        self.reply_token_ttl = reply_token_ttl
        self.bot_user_id = bot_user_id or new_user_id()
        self.monthly_quota = monthly_quota
        self.auto_create_users = auto_create_users
        self.webhook_timeout = webhook_timeout
        self.sdk_check = sdk_check
        self._max_records = max_records
        # LINE's monthly limit of custom aggregation units (a test may lower it).
        self.aggregation_unit_limit = UNIT_LIMIT
        self._max_inbox = max_inbox
        self._auth_header = f"Bearer {channel_access_token}"
        self._lock = threading.RLock()
        self._routes: dict[tuple[str, str], Callable[[_Call], ApiResponse]] = {
            ("POST", "/v2/bot/message/reply"): self._reply,
            ("POST", "/v2/bot/message/push"): self._push,
            ("POST", "/v2/bot/message/multicast"): self._multicast,
            ("POST", "/v2/bot/chat/loading/start"): self._loading,
            ("GET", "/v2/bot/message/quota"): self._quota,
            ("GET", "/v2/bot/message/quota/consumption"): self._consumption,
            ("GET", "/v2/bot/info"): self._bot_info,
            ("GET", "/v2/bot/message/aggregation/info"): self._unit_usage,
            ("GET", "/v2/bot/message/aggregation/list"): self._unit_names,
            ("GET", "/v2/bot/insight/message/event/aggregation"): self._unit_statistics,
        }
        for kind in ("reply", "push", "multicast", "narrowcast", "broadcast"):
            self._routes[("POST", f"/v2/bot/message/validate/{kind}")] = self._validate
        # (method, path prefix, path suffix, handler) for paths with a userId in them
        self._param_routes: tuple[tuple[str, str, str, Callable[[_Call], ApiResponse]], ...] = (
            ("GET", "/v2/bot/profile/", "", self._profile),
            ("POST", "/v2/bot/user/", "/linkToken", self._link_token),
            ("POST", "/v2/bot/group/", "/leave", self._leave_group),
            ("POST", "/v2/bot/room/", "/leave", self._leave_room),
        )
        self._reset_state()
        if sdk_check:
            warm_up()  # so the first push isn't slowed by importing the SDK

    # -- state -------------------------------------------------------------------------

    def _reset_state(self) -> None:
        with self._lock:
            self._users: dict[str, User] = {}
            self._inbox: dict[str, deque[_Delivery]] = {}
            self._undelivered: dict[str, deque[_Delivery]] = {}
            self._reply_tokens: dict[str, _ReplyToken] = {}
            self._retry_keys: dict[str, _RetryKey] = {}
            self._faults: list[_Fault] = []
            self._fault_rates: list[_FaultRates] = []
            self._fault_random = random.Random(self.fault_seed)
            self._records: deque[_Record] = deque(maxlen=self._max_records)
            self._link_tokens: dict[str, _LinkToken] = {}
            self._events: dict[str, _SentEvent] = {}
            self._webhooks: list[WebhookResult] = []
            self._loading: list[dict[str, Any]] = []
            self._usage = 0
            self._units = AggregationUnits()
            self._counts: dict[str, int] = {}
            self._reset_chats()
            self._reset_rich_menus()

    def reset(self) -> None:
        """Forget users, messages, tokens, faults and records (configuration stays).

        The fault-rate generator starts again from ``fault_seed``.
        """
        self._reset_state()

    def set_webhook_url(self, url: str | None) -> None:
        """Point shopper webhooks at ``url`` (the bot's callback endpoint)."""
        self.webhook_url = url

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward (needs an AdjustableClock or ManualClock)."""
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise EmulatorError("this emulator's clock can't be advanced")
        advance(seconds)

    # -- users -------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str | None = None,
        display_name: str | None = None,
        picture_url: str | None = None,
        language: str | None = "ja",
        status_message: str | None = None,
        *,
        followed: bool = True,
        blocked: bool = False,
    ) -> dict[str, Any]:
        """Register a shopper (a friend of the account by default); return its profile."""
        user_id = user_id or new_user_id()
        if not USER_ID_PATTERN.match(user_id):
            raise EmulatorError(f"invalid user ID {user_id!r}: must match U[0-9a-f]{{32}}")
        user = User(
            user_id=user_id,
            display_name=display_name or random_display_name(),
            picture_url=picture_url or f"https://profile.line-scdn.net/emulator/{user_id}",
            language=language,
            status_message=status_message
            if status_message is not None
            else random_status_message(),
            followed=followed,
            blocked=blocked,
        )
        with self._lock:
            self._users[user_id] = user
            self._inbox.setdefault(user_id, deque(maxlen=self._max_inbox))
        return user.to_dict()

    def add_users(self, count: int) -> list[dict[str, Any]]:
        """Register ``count`` random shoppers; return their profiles."""
        return [self.add_user() for _ in range(count)]

    def user(self, user_id: str) -> dict[str, Any]:
        """One shopper's profile and friendship state."""
        with self._lock:
            return self._get_user(user_id).to_dict()

    def users(self) -> list[dict[str, Any]]:
        """All shoppers."""
        with self._lock:
            return [user.to_dict() for user in self._users.values()]

    def update_user(self, user_id: str, **changes: Any) -> dict[str, Any]:
        """Change a shopper's profile or state without sending any webhook."""
        names = {
            "displayName": "display_name",
            "pictureUrl": "picture_url",
            "statusMessage": "status_message",
        }
        with self._lock:
            user = self._get_user(user_id)
            for key, value in changes.items():
                attr = names.get(key, key)
                if attr not in User.__dataclass_fields__ or attr == "user_id":
                    raise EmulatorError(f"unknown user field {key!r}")
                setattr(user, attr, value)
            return user.to_dict()

    def _get_user(self, user_id: str) -> User:
        user = self._users.get(user_id)
        if user is None:
            raise EmulatorError(f"unknown user {user_id!r}; add_user() it first")
        return user

    def inbox(self, user_id: str) -> list[dict[str, Any]]:
        """Messages delivered to a shopper, oldest first."""
        with self._lock:
            entries = list(self._inbox.get(user_id, ()))
        return [entry.to_dict() for entry in entries]

    def undelivered(self, user_id: str) -> list[dict[str, Any]]:
        """Messages accepted by the API but not delivered (blocked or not a friend)."""
        with self._lock:
            entries = list(self._undelivered.get(user_id, ()))
        return [entry.to_dict() for entry in entries]

    def loading_requests(self) -> list[dict[str, Any]]:
        """Accepted loading-animation requests."""
        with self._lock:
            return list(self._loading)

    # -- records and faults ------------------------------------------------------------

    def requests(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """Recorded API requests, oldest first; ``path`` may be a glob (``/v2/bot/message/*``)."""
        with self._lock:
            records = list(self._records)
        return [
            record.to_dict()
            for record in records
            if (path is None or fnmatch.fnmatchcase(record.path, path))
            and (method is None or record.method == method)
        ]

    def clear_requests(self) -> None:
        """Forget recorded requests."""
        with self._lock:
            self._records.clear()

    def stats(self) -> dict[str, Any]:
        """Counts of answered requests by ``METHOD path status``, and quota usage."""
        with self._lock:
            return {"responses": dict(self._counts), "totalUsage": self._usage}

    def fail_next(
        self,
        status: int,
        n: int | None = 1,
        path: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
        *,
        method: str | None = None,
        latency: float = 0.0,
        deliver: bool = False,
    ) -> None:
        """Answer the next ``n`` matching API requests with ``status``.

        ``n=None`` fails until ``clear_faults()``.  ``path`` is an exact path or a glob.
        ``body`` defaults to LINE's rate-limit body for 429 and an internal-error body
        for 5xx.  ``deliver=True`` processes the request normally first (messages are
        delivered and a retry key is accepted) and only the answer is replaced: the
        "timed out / 500 but actually sent" case that retry keys exist for.
        """
        if body is None:
            body = RATE_LIMIT_BODY if status == 429 else SERVER_ERROR_BODY
        self._add_fault(_Fault(status, n, path, method, body, retry_after, latency, deliver))

    def slow_next(
        self, seconds: float, n: int | None = 1, path: str | None = None, method: str | None = None
    ) -> None:
        """Delay the next ``n`` matching API requests by ``seconds`` (then answer normally)."""
        self._add_fault(_Fault(None, n, path, method, None, None, seconds, True))

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def faults(self) -> list[dict[str, Any]]:
        """Pending injected faults."""
        with self._lock:
            return [fault.to_dict() for fault in self._faults]

    def clear_faults(self) -> None:
        """Drop all injected faults: pending one-shot faults and fault rates."""
        with self._lock:
            self._faults.clear()
            self._fault_rates.clear()

    def set_fault_rates(
        self,
        path: str = "*",
        *,
        method: str | None = None,
        error: float = 0.0,
        throttle: float = 0.0,
        stall: float = 0.0,
        error_status: int = 500,
        retry_after: float | None = 1.0,
        stall_seconds: float = 15.0,
    ) -> list[dict[str, Any]]:
        """Fail a share of the API requests matching ``path`` (a glob), until cleared.

        ``error``: rate of ``error_status`` answers with LINE's internal-error body;
        ``throttle``: rate of 429 with LINE's rate-limit body and ``Retry-After:
        retry_after`` (``None`` leaves the header out); ``stall``: rate of requests that
        are carried out (delivered, retry key accepted) but answered only after
        ``stall_seconds``.  Nothing is delivered on a 5xx or 429.  A rule for the same
        path and method is replaced; all rates 0 removes it.  One-shot faults
        (``fail_next``) come first.  Draws come from one generator seeded with
        ``fault_seed`` (``seed_faults``), so a sequence of requests meets the same faults
        on every run.  Returns every rule.
        """
        rule = _FaultRates(
            path=path or "*",
            method=method.upper() if method else None,
            error=_rate("error", error),
            throttle=_rate("throttle", throttle),
            stall=_rate("stall", stall),
            error_status=int(error_status),
            retry_after=None if retry_after is None else float(retry_after),
            stall_seconds=float(stall_seconds),
        )
        if rule.error + rule.throttle + rule.stall > 1.0 + 1e-9:
            raise EmulatorError("the error, throttle and stall rates add up to more than 1")
        if not 500 <= rule.error_status <= 599:
            raise EmulatorError(f"error_status must be a 5xx status, not {rule.error_status}")
        if rule.retry_after is not None and not 0 <= rule.retry_after <= 3600:
            raise EmulatorError("retry_after must be between 0 and 3600 seconds")
        if not 0 < rule.stall_seconds <= 600:
            raise EmulatorError("stall_seconds must be more than 0 and at most 600")
        with self._lock:
            self._fault_rates = [
                kept
                for kept in self._fault_rates
                if (kept.path, kept.method) != (rule.path, rule.method)
            ]
            if rule.error or rule.throttle or rule.stall:
                self._fault_rates.append(rule)
            return [kept.to_dict() for kept in self._fault_rates]

    def clear_fault_rates(self) -> None:
        """Drop every fault-rate rule (one-shot faults stay)."""
        with self._lock:
            self._fault_rates.clear()

    def fault_rates(self) -> list[dict[str, Any]]:
        """The fault-rate rules, each with how many faults of each kind it injected."""
        with self._lock:
            return [rule.to_dict() for rule in self._fault_rates]

    def seed_faults(self, seed: int | None) -> None:
        """Restart the fault-rate generator from ``seed`` (``None``: unpredictable)."""
        with self._lock:
            self.fault_seed = seed
            self._fault_random = random.Random(seed)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
            for rule in self._fault_rates:
                if rule.matches(method, path):
                    return rule.pick(self._fault_random.random())
        return None

    # -- HTTP entry point ----------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        query: str = "",
    ) -> ApiResponse:
        """Answer one Messaging API request as LINE would, and record it.

        ``headers`` must have lower-case names.
        """
        started = time.perf_counter()
        request_id = new_request_id()
        call = _Call(method, path, headers, body, query, request_id)
        response = self._dispatch(call)
        response.headers["x-line-request-id"] = request_id
        if call.fault is not None and call.fault.latency:
            time.sleep(call.fault.latency)
        self._record(call, response, started)
        return response

    def _dispatch(self, call: _Call) -> ApiResponse:
        route = self._route(call)
        if isinstance(route, ApiResponse):
            return route
        auth = call.headers.get("authorization")
        if auth != self._auth_header:
            if auth is None or not auth.startswith("Bearer "):
                return ApiResponse(401, dict(AUTH_HEADER_REQUIRED))
            return ApiResponse(401, dict(AUTH_FAILED))
        if self._faults or self._fault_rates:
            call.fault = self._take_fault(call.method, call.path)
            if call.fault is not None and not call.fault.deliver:
                return self._fault_response(call.fault)
        if len(call.body) > MAX_BODY_BYTES:
            return _error(413, "Request Entity Too Large")
        retry_key = call.headers.get("x-line-retry-key")
        if retry_key is not None:
            if call.path not in RETRY_KEY_PATHS:
                return _error(400, "The retry key is not supported for this endpoint")
            try:
                uuid.UUID(retry_key)
            except ValueError:
                return _error(400, "The value for the 'X-Line-Retry-Key' header is invalid")
            call.retry_key = retry_key.lower()
        response = route(call)
        if call.fault is not None and call.fault.status is not None:
            return self._fault_response(call.fault)
        return response

    def _fault_response(self, fault: _Fault) -> ApiResponse:
        assert fault.status is not None
        response = ApiResponse(fault.status, copy.deepcopy(fault.body))
        if fault.retry_after is not None:
            response.headers["Retry-After"] = f"{fault.retry_after:g}"
        return response

    def _route(self, call: _Call) -> Callable[[_Call], ApiResponse] | ApiResponse:
        route = self._routes.get((call.method, call.path))
        if route is not None:
            return route
        if "/richmenu" in call.path:
            rich_menu_route = self._rich_menu_route(call)
            if rich_menu_route is not None:
                return rich_menu_route
        for method, prefix, suffix, handler in self._param_routes:
            if (
                call.path.startswith(prefix)
                and call.path.endswith(suffix)
                and len(call.path) > len(prefix) + len(suffix)
            ):
                if call.method != method:
                    return _error(405, "Method Not Allowed")
                call.param = call.path[len(prefix) : len(call.path) - len(suffix)]
                return handler
        if any(path == call.path for _, path in self._routes):
            return _error(405, "Method Not Allowed")
        return ApiResponse(404, dict(NOT_FOUND))

    def _record(self, call: _Call, response: ApiResponse, started: float) -> None:
        headers = {name: call.headers[name] for name in HEADERS_OF_INTEREST if name in call.headers}
        if "authorization" in headers:  # never keep the token itself
            headers["authorization"] = (
                "Bearer <valid>" if headers["authorization"] == self._auth_header else "<invalid>"
            )
        duration_ms = (time.perf_counter() - started) * 1000
        record = _Record(
            call.request_id,
            call.method,
            call.path,
            call.query,
            headers,
            call.body,
            response.status,
            # A downloaded image is kept as its length, so records stay JSON.
            {"bytes": len(response.body)} if isinstance(response.body, bytes) else response.body,
            self.clock.now(),
            round(duration_ms, 3),
            call.fault.kind if call.fault is not None else None,
        )
        key = f"{call.method} {call.path} {response.status}"
        with self._lock:
            self._records.append(record)
            self._counts[key] = self._counts.get(key, 0) + 1
        log.info(
            "%s %s %d %.1fms %s",
            call.method,
            call.path,
            response.status,
            duration_ms,
            call.request_id,
        )

    # -- request parsing -------------------------------------------------------------------

    def _json_body(self, call: _Call) -> Any | ApiResponse:
        content_type = call.headers.get("content-type", "")
        if call.body and "application/json" not in content_type.lower():
            return _error(415, f"The content type, '{content_type}', is not supported")
        try:
            call.json = json.loads(call.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            line, column = getattr(exc, "lineno", "-"), getattr(exc, "colno", "-")
            return _error(
                400,
                f"The request body could not be parsed as JSON (line: {line}, column: {column})",
            )
        if not isinstance(call.json, dict):
            return _error(400, "The request body must be a JSON object")
        return call.json

    def _check_messages(
        self, body: dict[str, Any], extra: list[dict[str, str]]
    ) -> ApiResponse | None:
        details = list(extra)
        messages = body.get("messages")
        if messages is None:
            details.append({"message": "must be specified", "property": "messages"})
        else:
            details.extend(validate_messages(messages, sdk_check=self.sdk_check))
        flag = body.get("notificationDisabled")
        if flag is not None and not isinstance(flag, bool):
            details.append({"message": "must be a boolean", "property": "notificationDisabled"})
        problem = units_problem(body.get("customAggregationUnits"))
        if problem is not None:
            details.append(problem)
        return _details_error(details) if details else None

    # -- Messaging API endpoints ---------------------------------------------------------

    def _reply(self, call: _Call) -> ApiResponse:
        body = self._json_body(call)
        if isinstance(body, ApiResponse):
            return body
        extra = unknown_properties(body, REPLY_FIELDS)
        token = body.get("replyToken")
        if not isinstance(token, str) or not token:
            extra.append({"message": "must be specified", "property": "replyToken"})
        problem = self._check_messages(body, extra)
        if problem is not None:
            return problem
        now = self.clock.now()
        with self._lock:
            entry = self._reply_tokens.get(token)
            if (
                entry is None
                or entry.group.used
                or now > entry.expires_at
                or now > entry.group.event_time + REDELIVERY_WINDOW
            ):
                return ApiResponse(400, dict(INVALID_REPLY_TOKEN))
            entry.group.used = True
            to = entry.group.user_id
            if self._chat_present(to):
                sent = self._deliver_to_chat(to, body, "reply", call.request_id, now)
                return ApiResponse(200, {"sentMessages": sent})
            user = self._users.get(to)
            sent = self._deliver(user, to, body, "reply", call.request_id, now)
        return ApiResponse(200, {"sentMessages": sent})

    def _push(self, call: _Call) -> ApiResponse:
        body = self._json_body(call)
        if isinstance(body, ApiResponse):
            return body
        to = body.get("to")
        extra = unknown_properties(body, PUSH_FIELDS)
        if to is None:
            extra.append({"message": "must be specified", "property": "to"})
        problem = self._check_messages(body, extra)
        if problem is not None:
            return problem
        if not isinstance(to, str) or not (
            USER_ID_PATTERN.match(to) or GROUP_OR_ROOM_ID_PATTERN.match(to)
        ):
            return _invalid_property("'to'")
        now = self.clock.now()
        with self._lock:
            conflict = self._retry_conflict(call, now)
            if conflict is not None:
                return conflict
            if self._chat_present(to):
                response = {
                    "sentMessages": self._deliver_to_chat(to, body, "push", call.request_id, now)
                }
                self._accept_retry_key(call, response, now)
                return ApiResponse(200, response)
            user = self._users.get(to)
            if user is None and self.auto_create_users and USER_ID_PATTERN.match(to):
                self.add_user(to)
                user = self._users[to]
            if user is None:
                return ApiResponse(400, dict(FAILED_TO_SEND))
            if self._over_quota(1 if user.followed and not user.blocked else 0):
                return ApiResponse(429, dict(MONTHLY_LIMIT_BODY))
            if not self._units.admit(
                body.get("customAggregationUnits") or [], now, self.aggregation_unit_limit
            ):
                return ApiResponse(400, dict(UNIT_LIMIT_BODY))
            sent = self._deliver(user, to, body, "push", call.request_id, now)
            response = {"sentMessages": sent}
            self._accept_retry_key(call, response, now)
        return ApiResponse(200, response)

    def _multicast(self, call: _Call) -> ApiResponse:
        body = self._json_body(call)
        if isinstance(body, ApiResponse):
            return body
        to = body.get("to")
        extra = []
        if to is None:
            extra.append({"message": "must be specified", "property": "to"})
        elif not isinstance(to, list) or not 1 <= len(to) <= MULTICAST_MAX_RECIPIENTS:
            extra.append(
                {
                    "message": f"Size must be between 1 and {MULTICAST_MAX_RECIPIENTS}",
                    "property": "to",
                }
            )
        problem = self._check_messages(body, extra)
        if problem is not None:
            return problem
        for index, recipient in enumerate(to):
            if not isinstance(recipient, str) or not USER_ID_PATTERN.match(recipient):
                return _invalid_property(f"to[{index}]")
        now = self.clock.now()
        with self._lock:
            conflict = self._retry_conflict(call, now)
            if conflict is not None:
                return conflict
            recipients = []
            for recipient in dict.fromkeys(to):
                user = self._users.get(recipient)
                if user is None and self.auto_create_users:
                    self.add_user(recipient)
                    user = self._users[recipient]
                recipients.append((recipient, user))
            deliverable = sum(
                1 for _, user in recipients if user and user.followed and not user.blocked
            )
            if self._over_quota(deliverable):
                return ApiResponse(429, dict(MONTHLY_LIMIT_BODY))
            if not self._units.admit(
                body.get("customAggregationUnits") or [], now, self.aggregation_unit_limit
            ):
                return ApiResponse(400, dict(UNIT_LIMIT_BODY))
            for recipient, user in recipients:
                # Unknown IDs, blocked users and non-friends: 200, but nothing arrives.
                self._deliver(user, recipient, body, "multicast", call.request_id, now)
            self._accept_retry_key(call, {}, now)
        return ApiResponse(200, {})

    def _retry_conflict(self, call: _Call, now: float) -> ApiResponse | None:
        if call.retry_key is None:
            return None
        accepted = self._retry_keys.get(call.retry_key)
        if accepted is None:
            return None
        if now - accepted.accepted_at > RETRY_KEY_TTL:
            del self._retry_keys[call.retry_key]
            return None
        body: dict[str, Any] = {"message": RETRY_KEY_ACCEPTED}
        if "sentMessages" in accepted.response_body:
            body["sentMessages"] = accepted.response_body["sentMessages"]
        return ApiResponse(409, body, {"x-line-accepted-request-id": accepted.request_id})

    def _accept_retry_key(self, call: _Call, response: dict[str, Any], now: float) -> None:
        if call.retry_key is not None:
            self._retry_keys[call.retry_key] = _RetryKey(call.request_id, response, now)

    def _over_quota(self, recipients: int) -> bool:
        return self.monthly_quota is not None and self._usage + recipients > self.monthly_quota

    def _deliver(
        self,
        user: User | None,
        user_id: str,
        body: dict[str, Any],
        via: str,
        request_id: str,
        now: float,
    ) -> list[dict[str, str]]:
        """Put messages in the user's inbox (or undelivered list); return sentMessages."""
        delivered = user is not None and user.followed and not user.blocked
        if via == "reply":
            delivered = user is not None and not user.blocked
        elif delivered:
            self._usage += 1  # push and multicast count per recipient; replies are free
            for unit in body.get("customAggregationUnits") or []:
                self._units.delivered(unit, user_id, len(body["messages"]), now)
        reason = None
        if not delivered:
            reason = (
                "unknown user" if user is None else "blocked" if user.blocked else "not a friend"
            )
        sent = []
        box = self._inbox if delivered else self._undelivered
        entries = box.get(user_id)
        if entries is None:
            entries = box[user_id] = deque(maxlen=self._max_inbox)
        silent = bool(body.get("notificationDisabled", False))
        for message in body["messages"]:
            message_id = new_message_id()
            quote_token = new_quote_token() if message.get("type") in QUOTABLE_TYPES else None
            entries.append(
                _Delivery(
                    message_id,
                    _compact(message),
                    via,
                    request_id,
                    now,
                    silent,
                    quote_token,
                    reason,
                )
            )
            sent.append({"id": message_id, **({"quoteToken": quote_token} if quote_token else {})})
        return sent

    def _profile(self, call: _Call) -> ApiResponse:
        user_id = call.param
        if not USER_ID_PATTERN.match(user_id):
            return _invalid_parameter("userId")
        with self._lock:
            user = self._users.get(user_id)
            if user is None or user.blocked:
                return ApiResponse(404, dict(NOT_FOUND))
            return ApiResponse(200, user.profile())

    def _link_token(self, call: _Call) -> ApiResponse:
        user_id = call.param
        if not USER_ID_PATTERN.match(user_id):
            return _invalid_parameter("userId")
        now = self.clock.now()
        with self._lock:
            if user_id not in self._users:
                return ApiResponse(404, dict(NOT_FOUND))
            token = new_link_token()
            self._link_tokens[token] = _LinkToken(token, user_id, now, now + LINK_TOKEN_TTL)
        return ApiResponse(200, {"linkToken": token})

    def _loading(self, call: _Call) -> ApiResponse:
        body = self._json_body(call)
        if isinstance(body, ApiResponse):
            return body
        details = []
        chat_id = body.get("chatId")
        if not isinstance(chat_id, str) or not USER_ID_PATTERN.match(chat_id):
            details.append(
                {
                    "message": "Only user id is acceptable, please confirm if there are any "
                    "group/room ids or illegal ids.",
                    "property": "chatId",
                }
            )
        seconds = body.get("loadingSeconds", 20)
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            details.append({"message": "must be a number", "property": "loadingSeconds"})
        else:
            if not 5 <= seconds <= 60:
                details.append(
                    {"message": "Must be between 5 and 60", "property": "loadingSeconds"}
                )
            if seconds % 5:
                details.append(
                    {"message": "must be a multiple of five", "property": "loadingSeconds"}
                )
        if details:
            return _details_error(details)
        with self._lock:
            self._loading.append(
                {"chatId": chat_id, "loadingSeconds": seconds, "time": self.clock.now()}
            )
        return ApiResponse(202, {})

    def _quota(self, call: _Call) -> ApiResponse:
        if self.monthly_quota is None:
            return ApiResponse(200, {"type": "none"})
        return ApiResponse(200, {"type": "limited", "value": self.monthly_quota})

    def _consumption(self, call: _Call) -> ApiResponse:
        with self._lock:
            return ApiResponse(200, {"totalUsage": self._usage})

    def _bot_info(self, call: _Call) -> ApiResponse:
        return ApiResponse(
            200,
            {
                "userId": self.bot_user_id,
                "basicId": "@000emulator",
                "displayName": "LINE Emulator Shop",
                "chatMode": "bot",
                "markAsReadMode": "auto",
            },
        )

    # -- custom aggregation units and their insight (line_emulator.insight) ---------------

    def _unit_usage(self, call: _Call) -> ApiResponse:
        with self._lock:
            return ApiResponse(200, self._units.usage(self.clock.now()))

    def _unit_names(self, call: _Call) -> ApiResponse:
        query = _query(call)
        limit_text = query.get("limit")
        if limit_text is None:
            limit = LIST_PAGE_DEFAULT
        elif limit_text.isdigit() and 1 <= int(limit_text) <= LIST_PAGE_DEFAULT:
            limit = int(limit_text)
        else:
            return _invalid_parameter("limit")
        start = 0
        if "start" in query:
            offset = decode_token(query["start"])
            if offset is None:
                return _invalid_parameter("start")
            start = offset
        with self._lock:
            return ApiResponse(200, self._units.names(self.clock.now(), limit, start))

    def _unit_statistics(self, call: _Call) -> ApiResponse:
        query = _query(call)
        unit = query.get("customAggregationUnit")
        if unit is None or not UNIT_PATTERN.match(unit):
            return _invalid_parameter("customAggregationUnit")
        first, last = parse_day(query.get("from")), parse_day(query.get("to"))
        if first is None:
            return _invalid_parameter("from")
        if last is None:
            return _invalid_parameter("to")
        if last < first or (last - first).days > MAX_PERIOD_DAYS:
            return _error(
                400, f"The period must end on or after 'from' and within {MAX_PERIOD_DAYS} days"
            )
        with self._lock:
            return ApiResponse(200, self._units.statistics(unit, first, last))

    def _validate(self, call: _Call) -> ApiResponse:
        body = self._json_body(call)
        if isinstance(body, ApiResponse):
            return body
        problem = self._check_messages(body, [])
        return problem if problem is not None else ApiResponse(200, {})

    # -- the shopper side: webhooks --------------------------------------------------------

    def _base_event(self, kind: str, user_id: str | None, now: float) -> dict[str, Any]:
        event: dict[str, Any] = {"type": kind, "mode": "active", "timestamp": int(now * 1000)}
        if user_id is not None:
            event["source"] = {"type": "user", "userId": user_id}
        event["webhookEventId"] = new_webhook_event_id(now)
        event["deliveryContext"] = {"isRedelivery": False}
        return event

    def _issue_reply_token(self, event: dict[str, Any], user_id: str, now: float) -> _ReplyGroup:
        group = _ReplyGroup(user_id=user_id, event_time=now)
        token = new_reply_token()
        with self._lock:
            self._prune_reply_tokens(now)
            self._reply_tokens[token] = _ReplyToken(group, now + self.reply_token_ttl)
        event["replyToken"] = token
        return group

    def _prune_reply_tokens(self, now: float) -> None:
        if len(self._reply_tokens) < 10_000:
            return
        for token, entry in list(self._reply_tokens.items()):
            if entry.expires_at < now:
                del self._reply_tokens[token]

    def _active_user(self, user_id: str) -> User:
        with self._lock:
            user = self._get_user(user_id)
            if user.blocked:
                raise EmulatorError(
                    f"user {user_id} has blocked the account; send_follow() to unblock first"
                )
            return user

    def send_follow(
        self,
        user_id: str | None = None,
        is_unblocked: bool | None = None,
        **profile: Any,
    ) -> WebhookResult:
        """The shopper adds the account as a friend (or unblocks it).

        An unknown ``user_id`` (or none) registers a new shopper first; ``profile``
        takes ``add_user`` arguments such as ``display_name``.
        """
        with self._lock:
            user = self._users.get(user_id) if user_id else None
            if user is None:
                created = self.add_user(user_id, **profile)
                user = self._users[created["userId"]]
            if is_unblocked is None:
                is_unblocked = user.blocked
            user.followed, user.blocked = True, False
        now = self.clock.now()
        event = self._base_event("follow", user.user_id, now)
        group = self._issue_reply_token(event, user.user_id, now)
        event["follow"] = {"isUnblocked": is_unblocked}
        return self._send([event], [group])

    def send_unfollow(self, user_id: str) -> WebhookResult:
        """The shopper blocks the account (LINE sends no reply token)."""
        with self._lock:
            user = self._get_user(user_id)
            user.blocked = True
        now = self.clock.now()
        return self._send([self._base_event("unfollow", user_id, now)], [None])

    def send_text(
        self, user_id: str, text: str, *, quoted_message_id: str | None = None
    ) -> WebhookResult:
        """The shopper sends a text message."""
        self._active_user(user_id)
        now = self.clock.now()
        event = self._base_event("message", user_id, now)
        group = self._issue_reply_token(event, user_id, now)
        message: dict[str, Any] = {
            "id": new_message_id(),
            "type": "text",
            "quoteToken": new_quote_token(),
            "text": text,
        }
        if quoted_message_id is not None:
            message["quotedMessageId"] = quoted_message_id
        event["message"] = message
        return self._send([event], [group])

    def send_postback(
        self, user_id: str, data: str, params: dict[str, Any] | None = None
    ) -> WebhookResult:
        """The shopper taps a postback (or datetime picker) action."""
        self._active_user(user_id)
        now = self.clock.now()
        event = self._base_event("postback", user_id, now)
        group = self._issue_reply_token(event, user_id, now)
        postback: dict[str, Any] = {"data": data}
        if params is not None:
            postback["params"] = params
        event["postback"] = postback
        return self._send([event], [group])

    def send_account_link(
        self,
        user_id: str,
        nonce: str,
        result: str = "ok",
        link_token: str | None = None,
    ) -> WebhookResult:
        """LINE reports the outcome of account linking for ``nonce``.

        With ``link_token``, the token must have been issued for this user, be unused
        and unexpired; otherwise LINE shows the shopper an error and sends no webhook,
        so this raises ``EmulatorError``.  A failed link carries neither source nor
        reply token, as on LINE.
        """
        if result not in ("ok", "failed"):
            raise EmulatorError("result must be 'ok' or 'failed'")
        self._get_user_locked(user_id)
        now = self.clock.now()
        if link_token is not None:
            self._use_link_token(link_token, user_id, nonce, now)
        event = self._base_event("accountLink", user_id if result == "ok" else None, now)
        group = None
        if result == "ok":
            group = self._issue_reply_token(event, user_id, now)
        event["link"] = {"result": result, "nonce": nonce}
        return self._send([event], [group])

    def _get_user_locked(self, user_id: str) -> User:
        with self._lock:
            return self._get_user(user_id)

    def _use_link_token(self, link_token: str, user_id: str | None, nonce: str, now: float) -> str:
        with self._lock:
            entry = self._link_tokens.get(link_token)
            if entry is None:
                raise EmulatorError("unknown link token")
            if user_id is not None and entry.user_id != user_id:
                raise EmulatorError("the link token was issued for another user")
            if entry.used_at is not None:
                raise EmulatorError("the link token has already been used")
            if now > entry.expires_at:
                raise EmulatorError("the link token has expired")
            entry.used_at, entry.nonce = now, nonce
            return entry.user_id

    def link_account(self, link_token: str, nonce: str) -> WebhookResult:
        """The shopper's browser reaches LINE's account-link URL with ``linkToken`` and ``nonce``.

        Mirrors ``https://access.line.me/dialog/bot/accountLink``: the token is checked
        and spent, then an ``accountLink`` event with result ``ok`` goes to the bot.
        """
        now = self.clock.now()
        user_id = self._use_link_token(link_token, None, nonce, now)
        event = self._base_event("accountLink", user_id, now)
        group = self._issue_reply_token(event, user_id, now)
        event["link"] = {"result": "ok", "nonce": nonce}
        return self._send([event], [group])

    def link_tokens(self) -> list[dict[str, Any]]:
        """Issued link tokens and whether they were used."""
        with self._lock:
            return [entry.to_dict() for entry in self._link_tokens.values()]

    def send_events(self, events: Iterable[dict[str, Any]]) -> WebhookResult:
        """Post hand-made event objects in one webhook (no reply tokens are issued)."""
        events = list(events)
        return self._send(events, [None] * len(events))

    def redeliver(self, webhook_event_id: str) -> WebhookResult:
        """Send an earlier event again, as LINE's webhook redelivery does.

        Same webhookEventId and timestamp, ``deliveryContext.isRedelivery`` true, and a
        fresh reply token that fails if the original was used or 20 minutes have passed.
        """
        with self._lock:
            sent = self._events.get(webhook_event_id)
        if sent is None:
            raise EmulatorError(f"no webhook event {webhook_event_id!r} was sent")
        event = copy.deepcopy(sent.event)
        event["deliveryContext"] = {"isRedelivery": True}
        if sent.reply_group is not None:
            token = new_reply_token()
            now = self.clock.now()
            with self._lock:
                self._reply_tokens[token] = _ReplyToken(
                    sent.reply_group, now + self.reply_token_ttl
                )
            event["replyToken"] = token
        return self._send([event], [sent.reply_group], remember=False)

    def webhooks(self) -> list[dict[str, Any]]:
        """Webhooks sent to the bot, oldest first."""
        with self._lock:
            return [result.to_dict() for result in self._webhooks]

    def event(self, webhook_event_id: str) -> dict[str, Any]:
        """A sent event by its webhookEventId."""
        with self._lock:
            sent = self._events.get(webhook_event_id)
        if sent is None:
            raise EmulatorError(f"no webhook event {webhook_event_id!r} was sent")
        return copy.deepcopy(sent.event)

    def _send(
        self,
        events: list[dict[str, Any]],
        groups: list[_ReplyGroup | None],
        *,
        remember: bool = True,
    ) -> WebhookResult:
        if not self.webhook_url:
            raise EmulatorError("no webhook URL is set; pass webhook_url or set_webhook_url()")
        payload = {"destination": self.bot_user_id, "events": events}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        signature = sign(self.channel_secret, body)
        if remember:
            with self._lock:
                for event, group in zip(events, groups, strict=True):
                    self._events[event["webhookEventId"]] = _SentEvent(copy.deepcopy(event), group)
        request = urllib.request.Request(
            self.webhook_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "x-line-signature": signature,
                "User-Agent": "LineBotWebhook/2.0",
            },
        )
        status: int | None = None
        text, problem = "", None
        try:
            with _OPENER.open(request, timeout=self.webhook_timeout) as answer:
                status, text = answer.status, answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            problem = str(getattr(exc, "reason", exc))
        result = WebhookResult(
            status=status,
            events=events,
            body=body.decode("utf-8"),
            signature=signature,
            response_text=text,
            error=problem,
            time=self.clock.now(),
        )
        with self._lock:
            self._webhooks.append(result)
        log.info(
            "webhook %s -> %s",
            ",".join(event["type"] for event in events),
            status if status is not None else problem,
        )
        return result


_UNPARSED: Any = object()


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class _Record:
    """One answered API request, kept compact (the body stays raw until asked for)."""

    __slots__ = (
        "request_id",
        "method",
        "path",
        "query",
        "headers",
        "body",
        "status",
        "response",
        "time",
        "duration_ms",
        "fault",
    )

    def __init__(
        self,
        request_id: str,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        status: int,
        response: Any,
        time: float,
        duration_ms: float,
        fault: str | None = None,
    ) -> None:
        self.request_id = request_id
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.status = status
        self.response = response
        self.time = time
        self.duration_ms = duration_ms
        self.fault = fault

    def to_dict(self) -> dict[str, Any]:
        body: Any = None
        if self.body:
            try:
                body = json.loads(self.body)
            except (ValueError, UnicodeDecodeError):
                body = self.body[:2000].decode("utf-8", "replace")
        return {
            "requestId": self.request_id,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": dict(self.headers),
            "body": body,
            "status": self.status,
            "response": copy.deepcopy(self.response),
            "time": self.time,
            "durationMs": self.duration_ms,
            "fault": self.fault,
        }


class _Delivery:
    """One message in a shopper's inbox (or undelivered list), stored as compact JSON."""

    __slots__ = (
        "message_id",
        "message_json",
        "via",
        "request_id",
        "time",
        "notification_disabled",
        "quote_token",
        "reason",
    )

    def __init__(
        self,
        message_id: str,
        message_json: str,
        via: str,
        request_id: str,
        time: float,
        notification_disabled: bool,
        quote_token: str | None,
        reason: str | None,
    ) -> None:
        self.message_id = message_id
        self.message_json = message_json
        self.via = via
        self.request_id = request_id
        self.time = time
        self.notification_disabled = notification_disabled
        self.quote_token = quote_token
        self.reason = reason

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.message_id,
            "message": json.loads(self.message_json),
            "via": self.via,
            "requestId": self.request_id,
            "time": self.time,
            "notificationDisabled": self.notification_disabled,
        }
        if self.quote_token:
            entry["quoteToken"] = self.quote_token
        if self.reason:
            entry["reason"] = self.reason
        return entry


# Webhooks go straight to the bot: never through an HTTP(S)_PROXY from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _Call:
    """One API request while it is being answered."""

    __slots__ = (
        "method",
        "path",
        "headers",
        "body",
        "query",
        "request_id",
        "param",
        "json",
        "retry_key",
        "fault",
    )

    def __init__(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        query: str,
        request_id: str,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.query = query
        self.request_id = request_id
        self.param = ""
        self.json: Any = _UNPARSED
        self.retry_key: str | None = None
        self.fault: _Fault | None = None
