"""The injectable clock: all domain logic asks it for the current time.

`DevClock` is the playground's time machine: the real time plus an offset kept in Redis, so
the web, worker, dispatcher and scheduler processes of dev mode all move forward together.
`create_app` uses it only when the playground is on and never in production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from redis import Redis


class Clock(Protocol):
    """Anything that tells the current aware UTC time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock (freezegun controls it in tests)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class DevClock:
    """Dev only: another clock (the system's by default) plus an offset shared in Redis."""

    KEY = "dev:clock:offset_seconds"
    MAX_OFFSET_SECONDS = 400 * 24 * 3600  # a little over a year ahead is plenty

    def __init__(self, redis: Redis, base: Clock | None = None) -> None:
        self.redis = redis
        self.base = base or SystemClock()

    def offset(self) -> timedelta:
        """How far ahead of the base clock this clock runs."""
        raw = self.redis.get(self.KEY)
        return timedelta(seconds=float(raw)) if raw else timedelta(0)

    def now(self) -> datetime:
        return self.base.now() + self.offset()

    def advance(self, seconds: float) -> timedelta:
        """Move time forward (never back: the engine's records assume time only grows)."""
        if not 0 < seconds <= self.MAX_OFFSET_SECONDS:
            raise ValueError(f"can only advance by 1 to {self.MAX_OFFSET_SECONDS} seconds")
        total = float(self.redis.incrbyfloat(self.KEY, seconds))
        if total > self.MAX_OFFSET_SECONDS:
            self.redis.incrbyfloat(self.KEY, -seconds)
            raise ValueError("the clock is already as far ahead as it may go")
        return timedelta(seconds=total)


def ensure_utc(value: datetime) -> datetime:
    """Return an aware UTC datetime; naive values are refused, never guessed."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: time zone is required")
    return value.astimezone(UTC)
