"""Business hours: the staffed hours in force (BUSINESS_HOURS, or an admin's override from the
console), whether staff are in now, when they are next, and how to say so to shoppers."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import jpholiday
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.clock import ensure_utc
from bot.core.settings import BusinessHours, ClosedDays, Settings
from bot.models import BusinessHoursOverride
from bot.support.errors import TicketError

log = logging.getLogger(__name__)

WEEKDAY_NAMES = ("月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日")
_SHORT_DAYS = "月火水木金土日"


def current_business_hours(session: Session, settings: Settings) -> BusinessHours:
    """Staffed hours: the admin's override from the console, else BUSINESS_HOURS."""
    row = session.scalars(select(BusinessHoursOverride).order_by(BusinessHoursOverride.id)).first()
    if row is None:
        return settings.business_hours
    try:
        return replace(  # the override sets days and times; closed days stay as configured
            settings.business_hours,
            weekdays=frozenset(int(day) for day in row.weekdays.split(",") if day),
            start=time.fromisoformat(row.start),
            end=time.fromisoformat(row.end),
        )
    except ValueError:
        log.error("business hours override unreadable, using the setting", extra={"id": row.id})
        return settings.business_hours


def business_hours_override(session: Session) -> BusinessHoursOverride | None:
    """The stored override, if an admin set one."""
    return session.scalars(select(BusinessHoursOverride).order_by(BusinessHoursOverride.id)).first()


def set_business_hours(
    session: Session, hours: BusinessHours | None, operator_id: int, now: datetime
) -> None:
    """Store an override (None removes it, so BUSINESS_HOURS applies again)."""
    if hours is not None and (not hours.weekdays or hours.start >= hours.end):
        raise TicketError("営業日を1日以上選び、終了時刻は開始時刻より後にしてください。")
    row = business_hours_override(session)
    if hours is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        row = BusinessHoursOverride(weekdays="", start="", end="", updated_at=now)
        session.add(row)
    row.weekdays = ",".join(str(day) for day in sorted(hours.weekdays))
    row.start = hours.start.strftime("%H:%M")
    row.end = hours.end.strftime("%H:%M")
    row.updated_by = operator_id
    row.updated_at = now


def closed_reason(closed: ClosedDays, day: date) -> str | None:
    """Why staff are out all of `day` (a shop-local date): the holiday's name or 「休業日」."""
    if day in closed.dates or closed.yearly_contains(day):
        return "休業日"
    if closed.national_holidays:
        return jpholiday.is_holiday_name(day)
    return None


def is_open(hours: BusinessHours, tz: ZoneInfo, now: datetime) -> bool:
    """True if `now` (aware) falls on a staffed day between start and end, shop time."""
    local = ensure_utc(now).astimezone(tz)
    return (
        local.weekday() in hours.weekdays
        and hours.start <= local.time() < hours.end
        and closed_reason(hours.closed, local.date()) is None
    )


def next_opening(hours: BusinessHours, tz: ZoneInfo, now: datetime) -> datetime:
    """The first moment at or after `now` when staff are in, as aware UTC (`now` if open)."""
    if not hours.weekdays:
        raise ValueError("business hours have no weekdays")
    if is_open(hours, tz, now):
        return ensure_utc(now)
    local = ensure_utc(now).astimezone(tz)
    # Settings refuse closed days covering a whole year, so a staffed day comes within this.
    for days_ahead in range(400):
        day = local.date() + timedelta(days=days_ahead)
        if day.weekday() not in hours.weekdays or closed_reason(hours.closed, day):
            continue
        # Built from the wall-clock date so that a DST change in the shop's zone is respected.
        opening = datetime.combine(day, hours.start, tzinfo=tz)
        if opening > local:
            return opening.astimezone(UTC)
    raise ValueError("no staffed day within 400 days")


def describe_opening(opening: datetime, tz: ZoneInfo, now: datetime) -> str:
    """「本日 10:00」, 「明日 10:00」, 「月曜日 10:00」 within a week, else 「7月7日(月) 10:00」."""
    local = ensure_utc(opening).astimezone(tz)
    today = ensure_utc(now).astimezone(tz).date()
    days = (local.date() - today).days
    clock = f"{local:%H:%M}"
    if days == 0:
        return f"本日 {clock}"
    if days == 1:
        return f"明日 {clock}"
    if 1 < days < 7:
        return f"{WEEKDAY_NAMES[local.weekday()]} {clock}"
    return f"{local.month}月{local.day}日({_SHORT_DAYS[local.weekday()]}) {clock}"


def describe_hours(hours: BusinessHours) -> str:
    """Staffed hours for shoppers, e.g. 「平日 10:00〜18:00(祝日を除く)」."""
    days = sorted(hours.weekdays)
    if days == [0, 1, 2, 3, 4]:
        label = "平日"
    elif days == list(range(7)):
        label = "毎日"
    elif len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        label = f"{_SHORT_DAYS[days[0]]}〜{_SHORT_DAYS[days[-1]]}"
    else:
        label = "・".join(_SHORT_DAYS[d] for d in days)
    closed = hours.closed
    own_days = bool(closed.yearly or closed.dates)
    excluded = "・".join(
        name for name, on in (("祝日", closed.national_holidays), ("休業日", own_days)) if on
    )
    suffix = f"({excluded}を除く)" if excluded else ""
    return f"{label} {hours.start:%H:%M}〜{hours.end:%H:%M}{suffix}"


def describe_wait(minutes: int) -> str:
    """An expected reply time for shoppers: 「30分以内」, 「1時間以内」, 「1時間30分以内」."""
    if minutes < 1:
        raise ValueError("the expected reply time must be at least one minute")
    h, m = divmod(minutes, 60)
    if not h:
        return f"{m}分以内"
    return f"{h}時間以内" if not m else f"{h}時間{m}分以内"
