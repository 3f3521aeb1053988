"""Identifier formats used by the LINE Platform, generated for the emulator."""

from __future__ import annotations

import itertools
import re
import secrets
import string
import time
import uuid

__all__ = [
    "USER_ID_PATTERN",
    "new_link_token",
    "new_message_id",
    "new_quote_token",
    "new_reply_token",
    "new_request_id",
    "new_user_id",
    "new_webhook_event_id",
]

USER_ID_PATTERN = re.compile(r"^U[0-9a-f]{32}$")
GROUP_OR_ROOM_ID_PATTERN = re.compile(r"^[CR][0-9a-f]{32}$")

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ALNUM = string.ascii_letters + string.digits
# Message IDs are 18-digit decimal strings; a counter keeps them unique and increasing.
_message_ids = itertools.count(400_000_000_000_000_000 + secrets.randbelow(10**16))


def new_request_id() -> str:
    """An ``x-line-request-id`` value (a UUID)."""
    return str(uuid.uuid4())


def new_reply_token() -> str:
    """A reply token: 32 lowercase hex characters."""
    return secrets.token_hex(16)


def new_user_id() -> str:
    """A user ID: ``U`` followed by 32 lowercase hex characters."""
    return "U" + secrets.token_hex(16)


def new_message_id() -> str:
    """A message ID: an 18-digit decimal string."""
    return str(next(_message_ids))


def new_quote_token() -> str:
    """An opaque quote token."""
    return secrets.token_urlsafe(48)


def new_link_token() -> str:
    """A 32-character alphanumeric link token."""
    return "".join(secrets.choice(_ALNUM) for _ in range(32))


def new_webhook_event_id(at: float | None = None) -> str:
    """A ULID (26 Crockford base32 characters: 48-bit ms time + 80 random bits)."""
    millis = int((time.time() if at is None else at) * 1000) & ((1 << 48) - 1)
    value = (millis << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))
