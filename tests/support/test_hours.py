"""Business hours: open or not, the next opening, and how both are said to shoppers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from bot.core.settings import BusinessHours, ClosedDays, parse_business_hours, parse_closed_days
from bot.support.hours import (
    closed_reason,
    describe_hours,
    describe_opening,
    describe_wait,
    is_open,
    next_opening,
)

TOKYO = ZoneInfo("Asia/Tokyo")
WEEKDAYS = BusinessHours(frozenset(range(5)), time(10, 0), time(18, 0))


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (jst(2025, 7, 7, 10, 0), True),  # Monday, opening minute
        (jst(2025, 7, 7, 17, 59), True),
        (jst(2025, 7, 7, 18, 0), False),  # closing time is closed
        (jst(2025, 7, 7, 9, 59), False),
        (jst(2025, 7, 5, 12, 0), False),  # Saturday
    ],
)
def test_is_open(now, expected):
    assert is_open(WEEKDAYS, TOKYO, now.astimezone(UTC)) is expected


@pytest.mark.parametrize(
    ("now", "opening"),
    [
        (jst(2025, 7, 5, 19, 30), jst(2025, 7, 7, 10, 0)),  # Saturday evening → Monday
        (jst(2025, 7, 4, 18, 0), jst(2025, 7, 7, 10, 0)),  # Friday closing → Monday
        (jst(2025, 7, 8, 7, 0), jst(2025, 7, 8, 10, 0)),  # Tuesday early → same day
        (jst(2025, 7, 8, 20, 0), jst(2025, 7, 9, 10, 0)),  # Tuesday night → Wednesday
        (jst(2025, 7, 8, 12, 0), jst(2025, 7, 8, 12, 0)),  # open now → now
    ],
)
def test_next_opening_is_aware_utc(now, opening):
    found = next_opening(WEEKDAYS, TOKYO, now)
    assert found.tzinfo is UTC and found == opening


def test_next_opening_follows_the_shop_zone_across_dst():
    new_york = ZoneInfo("America/New_York")
    hours = parse_business_hours("sun 09:00-17:00")
    # Saturday 2025-03-08 evening; the clocks go forward that night.
    found = next_opening(hours, new_york, datetime(2025, 3, 8, 20, 0, tzinfo=new_york))
    assert found == datetime(2025, 3, 9, 13, 0, tzinfo=UTC)  # 09:00 EDT


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="naive"):
        is_open(WEEKDAYS, TOKYO, datetime(2025, 7, 7, 12, 0))


@freeze_time("2025-07-05T10:30:00Z")  # Saturday 19:30 in Tokyo
def test_describe_opening_names_the_day():
    now = datetime.now(UTC)
    monday = next_opening(WEEKDAYS, TOKYO, now)
    assert describe_opening(monday, TOKYO, now) == "月曜日 10:00"
    assert describe_opening(jst(2025, 7, 5, 21, 0), TOKYO, now) == "本日 21:00"
    assert describe_opening(jst(2025, 7, 6, 10, 0), TOKYO, now) == "明日 10:00"
    assert describe_opening(jst(2025, 7, 14, 10, 0), TOKYO, now) == "7月14日(月) 10:00"


@pytest.mark.parametrize(
    ("text", "described"),
    [
        ("mon-fri 10:00-18:00", "平日 10:00〜18:00(祝日を除く)"),
        ("mon-sun 09:00-21:00", "毎日 09:00〜21:00(祝日を除く)"),
        ("tue-sat 11:00-19:00", "火〜土 11:00〜19:00(祝日を除く)"),
        ("mon,wed 10:00-16:00", "月・水 10:00〜16:00(祝日を除く)"),
    ],
)
def test_describe_hours(text, described):
    assert describe_hours(parse_business_hours(text)) == described


def test_describe_wait():
    assert [describe_wait(m) for m in (30, 60, 90, 120)] == [
        "30分以内",
        "1時間以内",
        "1時間30分以内",
        "2時間以内",
    ]
    with pytest.raises(ValueError):
        describe_wait(0)


def test_national_holidays_are_closed_days():
    labour_thanksgiving = jst(2026, 11, 23, 12, 0)  # a Monday
    assert closed_reason(WEEKDAYS.closed, labour_thanksgiving.date()) == "勤労感謝の日"
    assert not is_open(WEEKDAYS, TOKYO, labour_thanksgiving)
    assert next_opening(WEEKDAYS, TOKYO, labour_thanksgiving) == jst(2026, 11, 24, 10, 0)
    # A substitute holiday: Constitution Day fell on a Sunday in 2026.
    assert closed_reason(WEEKDAYS.closed, jst(2026, 5, 6, 12, 0).date()) == "憲法記念日 振替休日"
    always_staffed = replace(WEEKDAYS, closed=ClosedDays(national_holidays=False))
    assert is_open(always_staffed, TOKYO, labour_thanksgiving)
    assert describe_hours(always_staffed) == "平日 10:00〜18:00"


def test_the_shops_own_closed_days():
    closed = ClosedDays(**parse_closed_days("12-29..01-03, 2026-08-14"))
    hours = replace(WEEKDAYS, closed=closed)
    # Year-end break, then New Year's Day and a weekend: staff are back on Monday 4 January.
    assert next_opening(hours, TOKYO, jst(2026, 12, 28, 18, 30)) == jst(2027, 1, 4, 10, 0)
    assert closed_reason(closed, jst(2027, 1, 2, 0, 0).date()) == "休業日"
    assert not is_open(hours, TOKYO, jst(2026, 8, 14, 11, 0))  # a Friday, closed this year only
    assert is_open(hours, TOKYO, jst(2027, 8, 13, 11, 0))  # the same day a year later is open
    assert describe_hours(hours) == "平日 10:00〜18:00(祝日・休業日を除く)"
