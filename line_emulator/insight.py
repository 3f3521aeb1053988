"""Custom aggregation units and their statistics, as the emulated platform keeps them.

LINE counts the distinct units pushed on a channel per calendar month (Japan time), at most
`UNIT_LIMIT`, and reports per unit how many users saw and tapped the messages. The emulator
has no phones, so its figures are derived from what it really delivered with the unit: a
fixed share of the recipients "saw" the message and a fixed share of those "tapped" a link,
the shares drawn from a hash of the unit name (the same unit always gives the same figures).
Figures under 20 users come back as null, as LINE hides them.

LINE's answer to a push with a unit past the month's limit is not in the OpenAPI spec; the
emulator refuses it with a 400 (the strictest reading), so a bot that passes the limit fails
loudly in tests.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

UNIT_LIMIT = 1000
UNIT_PATTERN = re.compile(r"^[a-zA-Z0-9_]{1,30}$")
DAY_PATTERN = re.compile(r"^[0-9]{8}$")
PRIVACY_THRESHOLD = 20  # LINE shows no figure under 20 users
MAX_PERIOD_DAYS = 30
LIST_PAGE_DEFAULT = 100
LINE_TZ = timezone(timedelta(hours=9))
UNIT_LIMIT_BODY = {"message": "The number of aggregation units used this month exceeds the limit"}


def line_day(epoch: float) -> date:
    """The day in Japan time of an emulator timestamp."""
    return datetime.fromtimestamp(epoch, UTC).astimezone(LINE_TZ).date()


def units_problem(units: Any) -> dict[str, str] | None:
    """The request's `customAggregationUnits` checked as LINE does: at most one name of
    1-30 characters of [a-zA-Z0-9_]."""
    if units is None:
        return None
    if (
        not isinstance(units, list)
        or len(units) > 1
        or not all(isinstance(u, str) and UNIT_PATTERN.match(u) for u in units)
    ):
        return {
            "message": "Size must be at most 1 and each name must match ^[a-zA-Z0-9_]{1,30}$",
            "property": "customAggregationUnits",
        }
    return None


def _share(unit: str, salt: str, low: float, high: float) -> float:
    digest = hashlib.sha256(f"{salt}:{unit}".encode()).digest()
    return low + (high - low) * digest[0] / 255


def _shown(count: int) -> int | None:
    return count if count >= PRIVACY_THRESHOLD else None


@dataclass
class AggregationUnits:
    """The units used per month and, per unit and day, who received how many bubbles."""

    _months: dict[str, list[str]] = field(default_factory=dict)  # yyyymm → units, first use
    # unit → day → user id → the most bubbles one push with the unit carried to that user
    _received: dict[str, dict[date, dict[str, int]]] = field(default_factory=dict)

    def admit(self, units: Iterable[str], now: float, limit: int = UNIT_LIMIT) -> bool:
        """False if a new unit would pass the month's limit; otherwise the units count."""
        month = self._months.setdefault(line_day(now).strftime("%Y%m"), [])
        new = [u for u in units if u not in month]
        if len(month) + len(new) > limit:
            return False
        month.extend(new)
        return True

    def delivered(self, unit: str, user_id: str, bubbles: int, now: float) -> None:
        """A push with the unit reached a user (a friend who has not blocked the account)."""
        users = self._received.setdefault(unit, {}).setdefault(line_day(now), {})
        users[user_id] = max(users.get(user_id, 0), bubbles)

    def usage(self, now: float) -> dict[str, Any]:
        """Body of GET /v2/bot/message/aggregation/info."""
        month = self._months.get(line_day(now).strftime("%Y%m"), [])
        return {"numOfCustomAggregationUnits": len(month)}

    def names(self, now: float, limit: int, start: int) -> dict[str, Any]:
        """Body of GET /v2/bot/message/aggregation/list (a page from `start`)."""
        month = self._months.get(line_day(now).strftime("%Y%m"), [])
        body: dict[str, Any] = {"customAggregationUnits": month[start : start + limit]}
        if start + limit < len(month):
            body["next"] = encode_token(start + limit)
        return body

    def statistics(self, unit: str, first: date, last: date) -> dict[str, Any]:
        """Body of GET /v2/bot/insight/message/event/aggregation over [first, last]."""
        days = self._received.get(unit, {})
        users: dict[str, int] = {}
        for day, received in days.items():
            if first <= day <= last:
                for user_id, bubbles in received.items():
                    users[user_id] = max(users.get(user_id, 0), bubbles)
        seen_share = _share(unit, "impression", 0.45, 0.75)
        tap_share = _share(unit, "click", 0.10, 0.30)
        seen = int(len(users) * seen_share)
        tapped = int(seen * tap_share)
        messages = []
        for seq in range(1, max(users.values(), default=0) + 1):
            reached = sum(1 for bubbles in users.values() if bubbles >= seq)
            unique = int(reached * seen_share)
            messages.append(
                {
                    "seq": seq,
                    "impression": _shown(unique),
                    "uniqueImpression": _shown(unique),
                    "mediaPlayed": None,
                    "mediaPlayed25Percent": None,
                    "mediaPlayed50Percent": None,
                    "mediaPlayed75Percent": None,
                    "mediaPlayed100Percent": None,
                    "uniqueMediaPlayed": None,
                    "uniqueMediaPlayed25Percent": None,
                    "uniqueMediaPlayed50Percent": None,
                    "uniqueMediaPlayed75Percent": None,
                    "uniqueMediaPlayed100Percent": None,
                }
            )
        return {
            "overview": {
                "uniqueImpression": _shown(seen),
                "uniqueClick": _shown(tapped),
                "uniqueMediaPlayed": None,
                "uniqueMediaPlayed100Percent": None,
            },
            "messages": messages,
            "clicks": [],
        }


def encode_token(offset: int) -> str:
    """An opaque continuation token for the unit name list."""
    return base64.urlsafe_b64encode(f"units:{offset}".encode()).decode().rstrip("=")


def decode_token(token: str) -> int | None:
    """The offset a continuation token stands for; None if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    kind, _, offset = raw.partition(":")
    return int(offset) if kind == "units" and offset.isdigit() else None


def parse_day(value: str | None) -> date | None:
    """A yyyyMMdd query parameter as a date; None if missing or not a real day."""
    if value is None or not DAY_PATTERN.match(value):
        return None
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        return None
