"""Signed one-click unsubscribe tokens: bound to a member and a channel, not guessable.

`<payload>.<signature>`: the payload is the URL-safe base64 of a JSON array (version, member
id, channel, expiry); the signature a 128-bit truncated HMAC-SHA256 with SECRET_KEY under a
purpose label of its own, so no other token of the project can stand in for one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

VERSION = 1
PURPOSE = b"unsubscribe:v1:"
SIGNATURE_BYTES = 16
# Long enough for a mail read weeks later; an expired link leads to the shop's help page.
LIFETIME = timedelta(days=180)


class InvalidToken(Exception):
    """Malformed, forged, altered or expired."""


@dataclass(frozen=True)
class Unsubscribe:
    """What a verified token allows: withdrawing this member's consent on this channel."""

    member_id: str
    channel: str
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, PURPOSE + payload.encode("ascii"), hashlib.sha256).digest()
    return _b64(digest[:SIGNATURE_BYTES])


def make_token(secret: bytes, member_id: str, channel: str, now: datetime) -> str:
    """A token that lets its bearer withdraw `member_id`'s marketing consent on `channel`."""
    if not secret:
        raise ValueError("secret must not be empty")
    expires = int((now + LIFETIME).timestamp())
    body = [VERSION, member_id, channel, expires]
    payload = _b64(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
    return f"{payload}.{_sign(secret, payload)}"


def read_token(secret: bytes, token: str, now: datetime) -> Unsubscribe:
    """Check the signature and expiry; InvalidToken says which failed."""
    payload, sep, signature = token.partition(".")
    if not sep or not payload or not signature or len(token) > 512:
        raise InvalidToken("malformed")
    try:
        expected = _sign(secret, payload)
    except UnicodeEncodeError as exc:
        raise InvalidToken("malformed") from exc
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken("bad signature")
    try:
        body = json.loads(_unb64(payload).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidToken("malformed") from exc
    if not (isinstance(body, list) and len(body) == 4 and body[0] == VERSION):
        raise InvalidToken("unsupported")
    _, member_id, channel, expires = body
    if not (isinstance(member_id, str) and member_id and channel in ("email", "sms")):
        raise InvalidToken("malformed")
    if isinstance(expires, bool) or not isinstance(expires, int):
        raise InvalidToken("malformed")
    expires_at = datetime.fromtimestamp(expires, tz=UTC)
    if now >= expires_at:
        raise InvalidToken("expired")
    return Unsubscribe(member_id, channel, expires_at)
