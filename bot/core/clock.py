"""The injectable clock: all domain logic asks it for the current time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current aware UTC time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock (freezegun controls it in tests)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Return an aware UTC datetime; naive values are refused, never guessed."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: time zone is required")
    return value.astimezone(UTC)
