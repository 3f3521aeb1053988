"""LINE's custom aggregation units: one per scenario step (and variant), one per broadcast.

A unit name is at most 30 characters of ``[A-Za-z0-9_]``. Readable names are kept where
they fit; anything else is shortened to a readable prefix and a hash of the whole, so two
different steps never share a unit and the same step always gets the same one.

A step's unit never starts with a capital letter (scenario ids start with a-z; any other
name is hashed behind a lowercase prefix) and a broadcast's always does (`Broadcast_42`),
so the figures of a broadcast and of a step can never be counted under one unit.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

from prometheus_client import Counter

from bot.line.gateway import LineError

log = logging.getLogger(__name__)

UNIT_MAX = 30
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_]")


def aggregation_unit(scenario_id: str, step_id: str, variant: str | None) -> str:
    """The unit of a scenario step (and its A/B variant, if any)."""
    parts = [scenario_id, step_id] + ([variant] if variant else [])
    plain = "_".join(parts)
    if len(plain) <= UNIT_MAX and not _NOT_ALLOWED.search(plain) and not _is_capital(plain):
        return plain
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:8]
    prefix = _NOT_ALLOWED.sub("", plain)[: UNIT_MAX - len(digest) - 1]
    if _is_capital(prefix):  # capitals start broadcast units only (see the module's text)
        prefix = prefix[0].lower() + prefix[1:]
    return f"{prefix}_{digest}" if prefix else f"u_{digest}"


BROADCAST_PREFIX = "Broadcast_"


def broadcast_unit(broadcast_id: int) -> str:
    """The unit of a broadcast: every request it sends carries it (within the budget)."""
    unit = f"{BROADCAST_PREFIX}{int(broadcast_id)}"
    if broadcast_id < 0 or len(unit) > UNIT_MAX:
        raise ValueError(f"no aggregation unit for broadcast {broadcast_id}")
    return unit


def _is_capital(name: str) -> bool:
    return name[:1].isupper()


# -- the month's unit budget -------------------------------------------------------------------

# LINE counts at most 1,000 distinct units per channel and calendar month (Japan time), and
# the units of every tool that pushes on the channel count. New units stop being handed out
# `UNIT_RESERVE` short of the limit: several sender processes may each add a unit between
# two refreshes, and none of them must be the one that passes the limit.
UNIT_LIMIT = 1000
UNIT_RESERVE = 10
REFRESH_EVERY = timedelta(hours=1)
RETRY_FAILED_REFRESH = timedelta(minutes=5)
LINE_TZ = timezone(timedelta(hours=9), "JST")  # LINE's month and insight days

UNITS_WITHHELD = Counter(
    "bot_aggregation_units_withheld_total",
    "Pushes sent without their aggregation unit (month's unit limit, or LINE's count unknown)",
    ["why"],
)


def line_month(now: datetime) -> str:
    """LINE's month (Japan time) that `now` falls in, as yyyymm."""
    return now.astimezone(LINE_TZ).strftime("%Y%m")


class UnitSource(Protocol):
    """The part of the LINE gateway the budget reads."""

    def aggregation_unit_usage(self) -> int: ...

    def aggregation_unit_names(self) -> list[str]: ...


@dataclass
class UnitBudget:
    """Which pushes may carry their unit this month, from LINE's own count of the month.

    A unit LINE already counts this month is always used. A new one is used while LINE's
    count (refreshed every hour, and at the start of each month) stays `reserve` short of
    `limit`; past it, or while LINE's count is unknown, the push goes out without a unit
    (its opens are then missing from the insight figures, never its message).
    """

    limit: int = UNIT_LIMIT
    reserve: int = UNIT_RESERVE
    refresh_every: timedelta = REFRESH_EVERY
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _month: str | None = None
    _known: set[str] = field(default_factory=set)
    _count: int = 0
    _checked_at: datetime | None = None
    _failed_at: datetime | None = None
    _source: weakref.ref[UnitSource] | None = None  # the gateway the figures came from

    def allowed(self, units: Iterable[str], line: UnitSource, now: datetime) -> set[str]:
        """The units among `units` that this batch's pushes may carry."""
        wanted = sorted(set(units))
        if not wanted:
            return set()
        with self._lock:
            self._refresh(line, now)
            if self._month != line_month(now):
                UNITS_WITHHELD.labels("unknown").inc(len(wanted))
                return set()
            allowed = set()
            for unit in wanted:
                if unit in self._known:
                    allowed.add(unit)
                elif self._count < self.limit - self.reserve:
                    self._known.add(unit)
                    self._count += 1
                    allowed.add(unit)
                else:
                    UNITS_WITHHELD.labels("limit").inc()
                    log.warning(
                        "aggregation unit limit reached: pushed without a unit",
                        extra={"unit": unit, "units_this_month": self._count},
                    )
            return allowed

    def _refresh(self, line: UnitSource, now: datetime) -> None:
        same_source = self._source is not None and self._source() is line
        fresh = (
            same_source
            and self._month == line_month(now)
            and self._checked_at is not None
            and now - self._checked_at < self.refresh_every
        )
        if fresh:
            return
        if self._failed_at is not None and now - self._failed_at < RETRY_FAILED_REFRESH:
            return
        try:
            count = line.aggregation_unit_usage()
            names = set(line.aggregation_unit_names())
        except LineError as exc:
            self._failed_at = now
            log.warning("cannot read LINE's aggregation unit count", extra={"error": str(exc)})
            if self._month != line_month(now) or not same_source:
                self._month = None  # figures of another month or gateway are no use
            return
        self._month, self._known = line_month(now), names
        self._count = max(count, len(names))
        self._checked_at, self._failed_at, self._source = now, None, weakref.ref(line)


_PROCESS_BUDGET = UnitBudget()


def process_budget() -> UnitBudget:
    """The budget shared by the sender threads and batches of this process."""
    return _PROCESS_BUDGET
