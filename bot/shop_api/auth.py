"""Request signing for the shop API: HMAC-SHA256 over "<timestamp>." + raw body."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime

from bot.shop_api.errors import ApiError

TIMESTAMP_HEADER = "X-Shop-Timestamp"
SIGNATURE_HEADER = "X-Shop-Signature"
MAX_SKEW_SECONDS = 300

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The `X-Shop-Signature` value for a body sent at `timestamp` (unix seconds)."""
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Both authentication headers (for clients and tests)."""
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify_request(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: datetime
) -> None:
    """Raise a 401 ApiError unless the timestamp is fresh and the signature matches."""
    if not timestamp or not _TIMESTAMP.match(timestamp.strip()):
        raise ApiError(
            401, "unauthorized", f"{TIMESTAMP_HEADER} must be unix seconds", TIMESTAMP_HEADER
        )
    if abs(now.timestamp() - int(timestamp)) > MAX_SKEW_SECONDS:
        raise ApiError(
            401,
            "unauthorized",
            f"{TIMESTAMP_HEADER} is more than {MAX_SKEW_SECONDS} seconds from the server time",
            TIMESTAMP_HEADER,
        )
    match = _SIGNATURE.match((signature or "").strip())
    if match is None:
        raise ApiError(
            401, "unauthorized", f"{SIGNATURE_HEADER} must be sha256=<hex>", SIGNATURE_HEADER
        )
    expected = sign(secret, timestamp.strip(), body)
    if not hmac.compare_digest(expected.encode(), f"sha256={match[1].lower()}".encode()):
        raise ApiError(401, "unauthorized", f"{SIGNATURE_HEADER} does not match", SIGNATURE_HEADER)
