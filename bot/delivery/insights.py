"""Opens and taps from LINE's insight API, per custom aggregation unit and day.

Every scenario push carries its step's unit and every broadcast request its broadcast's
(`aggregation`), and LINE counts per unit how many users saw a bubble of the message (a
bubble counts only once it was shown whole, so opens are a lower bound) and how many opened
one of its links. LINE answers for a period, not per day, so the daily job asks for one day
at a time: for each unit pushed (or broadcast) in the last `REFETCH_DAYS` days, each of those
days up to yesterday (Japan time, LINE's days). LINE's figures come in late and still change
for a few days, so the same days are fetched again on the next runs and their rows
overwritten: a run is idempotent, and a missed run is caught up.

Summing days counts a user who opened on two days twice. For a broadcast, the job therefore
also asks for its whole period at once, from its first day to yesterday (LINE answers for up
to `PERIOD_MAX_DAYS` days after the first), and keeps that as one row: its unique opens and
taps. The period is asked again on each run until it stops growing and its last day has
settled (`REFETCH_DAYS` after it). For scenario steps the job asks likewise for the last
`ROLLING_DAYS` days up to yesterday, the report's default period, so that the report can show
each step's opens with every shopper counted once.

A figure LINE hides (fewer than 20 users) is stored as None, never as 0, and shown as
`HIDDEN_TEXT`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.core.jobs import job_context
from bot.core.metrics import LINE_API_CALLS
from bot.delivery.aggregation import LINE_TZ, aggregation_unit, broadcast_unit
from bot.line.gateway import LineClientError, LineError, LineGateway, UnitStatistics
from bot.models import (
    Broadcast,
    BroadcastRecipient,
    Delivery,
    DeliveryState,
    MessageInsight,
    PeriodInsight,
    RecipientState,
)

log = logging.getLogger(__name__)

REFETCH_DAYS = 7  # LINE's figures for a day keep changing for a few days after it
PERIOD_MAX_DAYS = 30  # LINE's period ends at most this many days after its first day
ROLLING_DAYS = 30  # a step's period: today and the 29 days before (today not yet counted)
HIDDEN_TEXT = "20人未満のため非表示"  # a figure LINE hid, as the shop reads it


@dataclass(frozen=True)
class FetchResult:
    """What one run stored (daily rows and periods), and the units LINE refused (a 4xx other
    than 429)."""

    stored: int
    refused: tuple[str, ...] = ()
    periods: int = 0


def line_today(now: datetime) -> date:
    """Today in LINE's time zone (UTC+9)."""
    return now.astimezone(LINE_TZ).date()


def days_to_fetch(now: datetime, days: int = REFETCH_DAYS) -> list[date]:
    """The last `days` complete days in LINE's time zone, oldest first (today is not over)."""
    today = line_today(now)
    return [today - timedelta(days=n) for n in range(days, 0, -1)]


def recent_units(session: Session, since: datetime) -> list[str]:
    """The units of the scenario steps (and variants) pushed since `since`, sorted."""
    steps = session.execute(
        select(Delivery.scenario_id, Delivery.step_id, Delivery.variant)
        .where(Delivery.state == DeliveryState.SENT, Delivery.sent_at >= since)
        .distinct()
    ).all()
    return sorted({aggregation_unit(s, t, v) for s, t, v in steps})


def recent_broadcast_units(session: Session, since: datetime) -> list[str]:
    """The units of the broadcasts that sent anything since `since`, sorted."""
    sent_since = exists().where(
        BroadcastRecipient.broadcast_id == Broadcast.id,
        BroadcastRecipient.state == RecipientState.SENT,
        BroadcastRecipient.sent_at >= since,
    )
    ids = session.scalars(
        select(Broadcast.id).where(
            # Cheap on the broadcasts first: one that finished before `since` sent nothing since.
            Broadcast.started_at.is_not(None),
            or_(Broadcast.finished_at.is_(None), Broadcast.finished_at >= since),
            sent_since,
        )
    )
    return sorted(broadcast_unit(i) for i in ids)


@dataclass(frozen=True)
class Period:
    """Days of LINE's time zone, both inclusive."""

    first: date
    last: date


def broadcast_periods(session: Session, now: datetime) -> dict[str, Period]:
    """Per broadcast unit, the period to ask LINE for: from the broadcast's first day to
    yesterday, at most `PERIOD_MAX_DAYS` on; only broadcasts that sent something and whose
    period may still change (its last day less than `REFETCH_DAYS` ago)."""
    yesterday = line_today(now) - timedelta(days=1)
    oldest_first = yesterday - timedelta(days=PERIOD_MAX_DAYS + REFETCH_DAYS - 1)
    today_starts = datetime.combine(line_today(now), datetime.min.time(), tzinfo=LINE_TZ)
    sent = exists().where(
        BroadcastRecipient.broadcast_id == Broadcast.id,
        BroadcastRecipient.state == RecipientState.SENT,
    )
    started = session.execute(
        select(Broadcast.id, Broadcast.started_at).where(
            Broadcast.started_at >= datetime.combine(oldest_first, datetime.min.time(), LINE_TZ),
            Broadcast.started_at < today_starts,
            sent,
        )
    ).all()
    periods = {}
    for broadcast_id, started_at in started:
        first = line_today(started_at)
        periods[broadcast_unit(broadcast_id)] = Period(
            first, min(yesterday, first + timedelta(days=PERIOD_MAX_DAYS))
        )
    return periods


def step_periods(session: Session, now: datetime) -> dict[str, Period]:
    """Per unit of the scenario steps pushed in the last `ROLLING_DAYS` days, those days up
    to yesterday (today is not over)."""
    today = line_today(now)
    first = today - timedelta(days=ROLLING_DAYS - 1)
    if first >= today:
        return {}
    since = datetime.combine(first, datetime.min.time(), tzinfo=LINE_TZ)
    period = Period(first, today - timedelta(days=1))
    return {unit: period for unit in recent_units(session, since)}


def period_insights(session: Session, units: Iterable[str]) -> dict[str, PeriodInsight]:
    """The stored period figures of the units that have one."""
    wanted = sorted(set(units))
    if not wanted:
        return {}
    rows = session.scalars(select(PeriodInsight).where(PeriodInsight.unit.in_(wanted)))
    return {row.unit: row for row in rows}


def period_insight(session: Session, unit: str) -> PeriodInsight | None:
    """The stored figures of a unit's period, if LINE has been asked for one."""
    return session.get(PeriodInsight, unit)


@dataclass(frozen=True)
class UnitTotal:
    """One figure of a unit summed over the stored days."""

    known: int | None  # None: no day had a figure
    days: int  # days LINE answered for
    hidden_days: int  # days LINE hid (fewer than 20 users)


@dataclass(frozen=True)
class UnitTotals:
    """Opens (unique impressions) and taps (unique clicks) of a unit, summed per day.

    LINE counts unique users per day: a user who opens on two days counts on both."""

    opens: UnitTotal
    taps: UnitTotal


def unit_totals(
    session: Session,
    units: Iterable[str],
    first_day: date | None = None,
    last_day: date | None = None,
) -> dict[str, UnitTotals]:
    """The stored figures per unit, summed over its days (within the days given, if any);
    a unit with no stored day is missing."""
    wanted = sorted(set(units))
    if not wanted:
        return {}
    query = (
        select(
            MessageInsight.unit,
            func.count(),
            func.count(MessageInsight.unique_impressions),
            func.sum(MessageInsight.unique_impressions),
            func.count(MessageInsight.unique_clicks),
            func.sum(MessageInsight.unique_clicks),
        )
        .where(MessageInsight.unit.in_(wanted))
        .group_by(MessageInsight.unit)
    )
    if first_day is not None:
        query = query.where(MessageInsight.day >= first_day)
    if last_day is not None:
        query = query.where(MessageInsight.day <= last_day)

    def total(days: int, known: int, value: int | None) -> UnitTotal:
        return UnitTotal(int(value) if known else None, days, days - known)

    return {
        unit: UnitTotals(total(days, opened, opens), total(days, tapped, taps))
        for unit, days, opened, opens, tapped, taps in session.execute(query).all()
    }


def fetch_insights(
    session: Session,
    line: LineGateway,
    now: datetime,
    *,
    units: Sequence[str] | None = None,
    days: Iterable[date] | None = None,
) -> FetchResult:
    """Fetch and store LINE's figures for the units and days (default: the recent ones).

    Each unit's days are written as soon as they are fetched (the caller's session is
    flushed, the job commits): a 429 or 5xx part way keeps what came before and is raised,
    so the run is logged as failed; the next run fetches the same days again anyway.
    """
    days = list(days) if days is not None else days_to_fetch(now)
    if not days:
        return FetchResult(0)
    periods = step_periods(session, now) | broadcast_periods(session, now)
    if units is None:
        start = datetime.combine(days[0], datetime.min.time(), tzinfo=LINE_TZ)
        units = recent_units(session, start) + recent_broadcast_units(session, start)
    else:  # only the units asked for
        periods = {unit: period for unit, period in periods.items() if unit in units}
    daily = set(units)
    stored = periods_stored = 0
    refused: list[str] = []
    # Older broadcasts and steps whose period still changes: their period only, not their days.
    for unit in [*units, *sorted(set(periods) - daily)]:
        rows = []
        period = periods.get(unit)
        try:
            if period is not None:
                figures = line.unit_statistics(unit, period.first, period.last)
                LINE_API_CALLS.labels("insight_unit", "ok").inc()
                row = _period_row(unit, period, figures, now)
                periods_stored += _upsert(session, PeriodInsight, ["unit"], [row])
            for day in days if unit in daily else []:
                figures = line.unit_statistics(unit, day, day)
                LINE_API_CALLS.labels("insight_unit", "ok").inc()
                rows.append(
                    {
                        "unit": unit,
                        "day": day,
                        "unique_impressions": figures.unique_impression,
                        "unique_clicks": figures.unique_click,
                        "fetched_at": now,
                    }
                )
        except LineClientError as exc:
            # Our request is wrong for this unit (LINE will not change its mind): the other
            # units are still worth fetching.
            LINE_API_CALLS.labels("insight_unit", str(exc.status)).inc()
            log.warning("LINE refused a unit's insight", extra={"unit": unit, "error": str(exc)})
            refused.append(unit)
        except LineError as exc:
            LINE_API_CALLS.labels("insight_unit", str(exc.status or type(exc).__name__)).inc()
            _upsert(session, MessageInsight, ["unit", "day"], rows)
            session.flush()
            raise
        stored += _upsert(session, MessageInsight, ["unit", "day"], rows)
        session.flush()
    return FetchResult(stored, tuple(refused), periods_stored)


def _period_row(
    unit: str, period: Period, figures: UnitStatistics, now: datetime
) -> dict[str, object]:
    return {
        "unit": unit,
        "first_day": period.first,
        "last_day": period.last,
        "unique_impressions": figures.unique_impression,
        "unique_clicks": figures.unique_click,
        "fetched_at": now,
    }


def _upsert(
    session: Session,
    model: type[MessageInsight | PeriodInsight],
    key: list[str],
    rows: list[dict[str, object]],
) -> int:
    """Insert the rows, or overwrite the stored row of the same key with them."""
    if not rows:
        return 0
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = (postgresql if postgres else sqlite).insert(model)
    statement = insert.on_conflict_do_update(
        index_elements=key,
        set_={column: insert.excluded[column] for column in rows[0] if column not in key},
    )
    session.execute(statement, rows)
    return len(rows)


def fetch_message_insights() -> dict[str, object]:
    """The daily job: LINE's opens and taps of the recent units (scenario steps and
    broadcasts), for the last few days."""
    with job_context("fetch_message_insights") as services:
        session = services.db.session()
        try:
            result = fetch_insights(session, services.line, services.clock.now())
        except LineError:
            session.commit()  # what was fetched before LINE failed is kept
            raise
        log.info(
            "message insights fetched",
            extra={
                "rows": result.stored,
                "periods": result.periods,
                "refused": list(result.refused),
            },
        )
        return {"rows": result.stored, "periods": result.periods, "refused": list(result.refused)}
