"""Signed click-tracking link tokens and UTM tagging (pure functions, no Flask)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

from line_messages.links import is_web_url

TOKEN_VERSION = 1  # the token carries the target URL itself
STORED_VERSION = 2  # the token carries the key of a stored target (see `link_key`)
# A 128-bit truncated HMAC-SHA256 keeps the token short and is still far beyond guessing range.
SIGNATURE_BYTES = 16
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content")


class InvalidLink(Exception):
    """A link token is malformed, forged, altered, expired or points to a disallowed URL."""


@dataclass(frozen=True)
class LinkClaims:
    """What a verified link token says: where to go and what to attribute the click to."""

    url: str | None  # None: look the target up by `link_key`
    delivery_id: int | None
    shopper_id: int | None
    campaign: str
    content: str
    expires_at: datetime
    link_key: str | None = None


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()
    return _b64encode(digest[:SIGNATURE_BYTES])


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def link_key(url: str) -> str:
    """The key a stored link target is kept under: 128 bits of its SHA-256, 22 characters."""
    return _b64encode(hashlib.sha256(url.encode("utf-8")).digest()[:SIGNATURE_BYTES])


def sign_link(
    secret: bytes,
    *,
    url: str,
    delivery_id: int | None,
    shopper_id: int | None,
    campaign: str,
    content: str,
    expires_at: datetime,
    stored: bool = False,
) -> str:
    """Return a compact URL-safe token carrying the target URL and attribution, HMAC-signed.

    With `stored`, the token carries `link_key(url)` instead of the URL, so its length does
    not grow with the URL's (the caller stores the target under that key).
    """
    if not secret:
        raise ValueError("secret must not be empty")
    if not is_web_url(url):
        raise ValueError("only http(s) URLs can be tracked")
    _require_aware(expires_at, "expires_at")
    # A JSON array instead of an object: positional fields keep the token short.
    body = [
        STORED_VERSION if stored else TOKEN_VERSION,
        link_key(url) if stored else url,
        delivery_id,
        shopper_id,
        campaign,
        content,
        int(expires_at.timestamp()),
    ]
    payload = _b64encode(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
    return f"{payload}.{_signature(secret, payload)}"


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidLink("malformed token")
    return value


def verify_link(secret: bytes, token: str, now: datetime) -> LinkClaims:
    """Check a token's signature and expiry and return its claims, or raise InvalidLink."""
    _require_aware(now, "now")
    payload, sep, signature = token.partition(".")
    if not sep or not payload or not signature:
        raise InvalidLink("malformed token")
    try:
        expected = _signature(secret, payload)
    except UnicodeEncodeError as exc:
        raise InvalidLink("malformed token") from exc
    if not hmac.compare_digest(expected, signature):
        raise InvalidLink("bad signature")
    try:
        body = json.loads(_b64decode(payload).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidLink("malformed token") from exc
    if not isinstance(body, list) or len(body) != 7:
        raise InvalidLink("unsupported token")
    version, target, delivery_id, shopper_id, campaign, content, expires = body
    if version not in (TOKEN_VERSION, STORED_VERSION) or isinstance(version, bool):
        raise InvalidLink("unsupported token")
    if not (isinstance(target, str) and isinstance(campaign, str) and isinstance(content, str)):
        raise InvalidLink("malformed token")
    if isinstance(expires, bool) or not isinstance(expires, int):
        raise InvalidLink("malformed token")
    url, key = (target, None) if version == TOKEN_VERSION else (None, target)
    if url is not None and not is_web_url(url):
        raise InvalidLink("target is not an http(s) URL")
    expires_at = datetime.fromtimestamp(expires, tz=UTC)
    if now >= expires_at:
        raise InvalidLink("expired")
    return LinkClaims(
        url=url,
        delivery_id=_optional_int(delivery_id),
        shopper_id=_optional_int(shopper_id),
        campaign=campaign,
        content=content,
        expires_at=expires_at,
        link_key=key,
    )


def add_utm(url: str, campaign: str, content: str, source: str = "line") -> str:
    """Add UTM parameters (source: the channel) to an http(s) URL, keeping its own query
    and fragment."""
    if not is_web_url(url):
        raise ValueError("only http(s) URLs can be tagged")
    parts = urlsplit(url)
    # Keep the target's own parameters byte-for-byte; only drop UTM keys we are about to set.
    kept = [
        pair
        for pair in parts.query.split("&")
        if pair and unquote_plus(pair.partition("=")[0]) not in UTM_KEYS
    ]
    values = (source, "message", campaign, content)
    kept.extend(f"{k}={quote(v, safe='')}" for k, v in zip(UTM_KEYS, values, strict=True))
    return urlunsplit(parts._replace(query="&".join(kept)))


# -- short links (SMS) ---------------------------------------------------------------------------

SHORT_PURPOSE = b"short-link:v1:"
SHORT_SIGNATURE_BYTES = 9  # 72 bits: 12 characters, far beyond guessing over HTTP


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


def sign_short(secret: bytes, delivery_id: int) -> str:
    """A short token naming only a delivery (an SMS has no room for a full one); the link's
    target is the delivery's subject (its cart, order or item), looked up on the tap."""
    if not secret:
        raise ValueError("secret must not be empty")
    ident = _base36(delivery_id)
    digest = hmac.new(secret, SHORT_PURPOSE + ident.encode(), hashlib.sha256).digest()
    return f"{ident}.{_b64encode(digest[:SHORT_SIGNATURE_BYTES])}"


def verify_short(secret: bytes, token: str) -> int:
    """The delivery id a short token names, or InvalidLink."""
    ident, sep, signature = token.partition(".")
    if not sep or not ident or len(ident) > 13 or not ident.isalnum() or not ident.isascii():
        raise InvalidLink("malformed token")
    digest = hmac.new(secret, SHORT_PURPOSE + ident.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(_b64encode(digest[:SHORT_SIGNATURE_BYTES]), signature):
        raise InvalidLink("bad signature")
    return int(ident, 36)
