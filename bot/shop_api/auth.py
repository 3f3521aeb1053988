"""Who may call the shop API: request signatures, replay refusal and throttling of failures.

The signed message is the canonical form

    "<timestamp>.<METHOD>.<target>." + raw body

where `<timestamp>` is the `X-Shop-Timestamp` value (unix seconds, as sent), `<METHOD>` the
upper-case HTTP method, and `<target>` the request target exactly as sent on the request line:
the path with its percent-encoding untouched and, when there is one, `?` and the raw query
string; no scheme and no host. Binding the method and target means the headers of one request
are worth nothing for another, and each signature is accepted once within the timestamp
window, so a captured request cannot be sent again either.

Refusals are logged (reason, method, route, source address; never a header value) and counted
per source address: an address with `FAILURE_LIMIT` refusals within `FAILURE_WINDOW_SECONDS`
gets 429 for `BLOCK_SECONDS`. Replay refusal and the counters live in Redis; when Redis cannot
be reached the API answers 503 (fails closed) rather than accept a request it cannot check.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Request, Response
from redis import Redis
from redis.exceptions import RedisError

from bot.shop_api.errors import ApiError

TIMESTAMP_HEADER = "X-Shop-Timestamp"
SIGNATURE_HEADER = "X-Shop-Signature"
MAX_SKEW_SECONDS = 300
FAILURE_LIMIT = 20
FAILURE_WINDOW_SECONDS = 60
BLOCK_SECONDS = 300

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
_ABSOLUTE_FORM = re.compile(rb"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
_SEEN_KEY = "shop_api:seen:"
_FAILURES_KEY = "shop_api:failures:"
_BLOCKED_KEY = "shop_api:blocked:"

log = logging.getLogger(__name__)


def canonical_message(timestamp: int | str, method: str, target: str | bytes, body: bytes) -> bytes:
    """The bytes a signature covers: `"<timestamp>.<METHOD>.<target>." + body`.

    A `str` target is taken as UTF-8; clients normally send (and sign) it percent-encoded.
    """
    raw_target = target.encode("utf-8") if isinstance(target, str) else target
    head = f"{timestamp}.{method.upper()}.".encode("ascii")
    return head + raw_target + b"." + body


def sign(secret: str, timestamp: int | str, method: str, target: str | bytes, body: bytes) -> str:
    """The `X-Shop-Signature` value of one request sent at `timestamp` (unix seconds)."""
    message = canonical_message(timestamp, method, target, body)
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(
    secret: str, timestamp: int, method: str, target: str | bytes, body: bytes
) -> dict[str, str]:
    """Both authentication headers of one request (for clients, tests and benchmarks)."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, method, target, body),
    }


def request_target(environ: Mapping[str, Any]) -> bytes:
    """The request target as the client sent it: path and raw query, without scheme or host.

    gunicorn passes it as RAW_URI, werkzeug and uWSGI as REQUEST_URI (both are bytes decoded
    as latin-1, as WSGI does). Servers that give neither get the target rebuilt from the
    decoded parts, which matches whenever the client did not percent-encode needlessly.
    """
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        target = raw.encode("latin-1")
        # An absolute-form target ("GET http://host/path") still signs only the path.
        return _ABSOLUTE_FORM.sub(b"", target, count=1) or b"/"
    path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1")
    query = environ.get("QUERY_STRING", "")
    target = quote(path, safe="/!$&'()*+,;=:@~-._").encode("ascii")
    return target + (b"?" + query.encode("latin-1") if query else b"")


class Refused(ApiError):
    """A refused request (401, 429 or 503): a reason for the log, and response headers."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        code = {429: "too_many_failures", 503: "unavailable"}.get(status, "unauthorized")
        super().__init__(status, code, message, field)
        self.reason = reason
        self.headers = headers or {}

    def response(self) -> Response:
        response = super().response()
        response.headers.update(self.headers)
        return response


def verify_signature(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    method: str,
    target: bytes,
    body: bytes,
    now: datetime,
) -> tuple[int, str]:
    """Check freshness and the signature; return (timestamp, hex digest) or raise Refused."""
    if not timestamp or not _TIMESTAMP.match(timestamp.strip()):
        raise Refused(
            401, "bad_timestamp", f"{TIMESTAMP_HEADER} must be unix seconds", TIMESTAMP_HEADER
        )
    sent_at = int(timestamp.strip())
    if abs(now.timestamp() - sent_at) > MAX_SKEW_SECONDS:
        raise Refused(
            401,
            "stale_timestamp",
            f"{TIMESTAMP_HEADER} is more than {MAX_SKEW_SECONDS} seconds from the server time",
            TIMESTAMP_HEADER,
        )
    match = _SIGNATURE.match((signature or "").strip())
    if match is None:
        raise Refused(
            401, "bad_signature", f"{SIGNATURE_HEADER} must be sha256=<hex>", SIGNATURE_HEADER
        )
    digest = match[1].lower()
    expected = sign(secret, timestamp.strip(), method, target, body)
    if not hmac.compare_digest(expected.encode(), f"sha256={digest}".encode()):
        raise Refused(
            401,
            "wrong_signature",
            f"{SIGNATURE_HEADER} does not match this method, path, query and body",
            SIGNATURE_HEADER,
        )
    return sent_at, digest


class Guard:
    """The Redis side of authentication: seen signatures and failure counts per address."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def check_not_blocked(self, source: str) -> None:
        """Raise 429 (with Retry-After) while `source` is blocked for repeated failures."""
        ttl_ms = self.redis.pttl(_BLOCKED_KEY + source)
        if ttl_ms is None or int(ttl_ms) <= 0:
            return
        seconds = max(1, math.ceil(int(ttl_ms) / 1000))
        raise Refused(
            429,
            "throttled",
            f"too many refused requests from this address; retry in {seconds} seconds",
            headers={"Retry-After": str(seconds)},
        )

    def accept_once(self, digest: str, sent_at: int, now: datetime) -> None:
        """Remember a verified signature until its timestamp leaves the window; 401 if seen."""
        # Valid until sent_at + MAX_SKEW_SECONDS by the server clock; keep it one second longer.
        ttl = max(1, math.ceil(sent_at + MAX_SKEW_SECONDS - now.timestamp()) + 1)
        if not self.redis.set(_SEEN_KEY + digest, b"1", nx=True, ex=ttl):
            raise Refused(
                401,
                "replayed",
                f"this {SIGNATURE_HEADER} was already used (replayed request); sign every "
                "request anew, with the current time",
                SIGNATURE_HEADER,
            )

    def count_failure(self, source: str) -> None:
        """Count one refusal of `source`; the FAILURE_LIMIT-th in the window blocks it."""
        key = _FAILURES_KEY + source
        pipe = self.redis.pipeline(transaction=True)
        # The window starts at the first failure and the key always carries its expiry.
        pipe.set(key, 0, ex=FAILURE_WINDOW_SECONDS, nx=True)
        pipe.incr(key)
        _, count = pipe.execute()
        if int(count) == FAILURE_LIMIT:
            self.redis.set(_BLOCKED_KEY + source, b"1", ex=BLOCK_SECONDS)
            log.warning(
                "shop API source blocked",
                extra={"source": source, "failures": count, "block_seconds": BLOCK_SECONDS},
            )


def authenticate(
    request: Request, secret: str, redis: Redis, now: datetime, source: str | None
) -> None:
    """Admit a signed, fresh, first-seen request from a source that is not blocked.

    Raises Refused (401, 429 or 503); every refusal is logged without header values.
    """
    source = source or "unknown"
    guard = Guard(redis)
    try:
        guard.check_not_blocked(source)
        try:
            sent_at, digest = verify_signature(
                secret,
                request.headers.get(TIMESTAMP_HEADER),
                request.headers.get(SIGNATURE_HEADER),
                request.method,
                request_target(request.environ),
                request.get_data(cache=True),
                now,
            )
            guard.accept_once(digest, sent_at, now)
        except Refused:
            guard.count_failure(source)
            raise
    except Refused as exc:
        _log_refusal(request, source, exc.status, exc.reason)
        raise
    except RedisError as exc:
        _log_refusal(request, source, 503, f"redis_unavailable: {type(exc).__name__}")
        raise Refused(
            503,
            "redis_unavailable",
            "request checks are unavailable for a moment; retry later",
            headers={"Retry-After": "5"},
        ) from None


def _log_refusal(request: Request, source: str, status: int, reason: str) -> None:
    """One log line per refusal: the route (no member ids) and query names (no values)."""
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    names = sorted(set(request.args.keys()))
    path = rule + ("?" + "&".join(names) if names else "")
    log.warning(
        "shop API request refused",
        extra={
            "status": status,
            "reason": reason,
            "method": request.method,
            "path": path[:300],
            "source": source,
        },
    )
