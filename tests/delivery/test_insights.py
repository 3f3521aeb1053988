"""The daily insight job, end to end: the engine pushes with units to the emulator over real
HTTP, the job asks the emulator for each unit and day, and stores the figures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from freezegun import freeze_time
from sqlalchemy import select

from bot.delivery import jobs as delivery_jobs
from bot.delivery.aggregation import broadcast_unit
from bot.delivery.insights import days_to_fetch, fetch_insights, fetch_message_insights
from bot.line.gateway import InMemoryLineGateway, LineRateLimited, UnitStatistics
from bot.models import MessageInsight, PeriodInsight
from line_emulator import EmulatorServer
from tests.helpers.broadcast import add_shoppers, make_broadcast, run_sender
from tests.helpers.broadcast import user_id as broadcast_user
from tests.helpers.delivery import MUG, add_shopper, cart_body
from tests.helpers.line import TEST_TOKEN
from tests.helpers.shop_api import ShopApi

STATS = "/v2/bot/insight/message/event/aggregation"
REMINDER = "cart_abandonment_reminder"
JULY_1 = datetime(2025, 7, 1, 1, 0, tzinfo=UTC)  # 10:00 in Japan
JULY_2 = datetime(2025, 7, 2, 0, 30, tzinfo=UTC)  # 09:30 in Japan, after the daily run


def users(n: int, offset: int = 0) -> list[int]:
    return list(range(offset, offset + n))


def remind(app: Flask, emulator: EmulatorServer, jobs: Callable[[], None], ids: list[int]) -> None:
    """Carts abandoned 20 minutes ago by these shoppers; their first reminder goes out now."""
    shop = ShopApi(app.test_client())
    now = datetime.now(UTC)
    for n in ids:
        user_id, member = f"U{n:032x}", f"M{n:05d}"
        emulator.add_user(user_id)
        add_shopper(app, line_user_id=user_id, member_id=member, now=now)
        event = {
            "type": "cart.updated",
            "event_id": f"cart-{n}",
            "occurred_at": (now - timedelta(minutes=20)).isoformat(),
            "member_id": member,
            **cart_body(cart_id=f"C{n}"),
        }
        assert shop.post("/events", event).status_code == 202
    with app.app_context():
        delivery_jobs.dispatch_due_deliveries()
    jobs()


def lines_answer(
    emulator: EmulatorServer, unit: str, day: date, last: date | None = None
) -> dict[str, Any]:
    """The emulator's figures for the day (or up to `last`), asked directly (not through the
    bot's gateway)."""
    query = f"customAggregationUnit={unit}&from={day:%Y%m%d}&to={last or day:%Y%m%d}"
    headers = {"authorization": f"Bearer {TEST_TOKEN}"}
    return emulator.handle("GET", STATS, headers, b"", query).body["overview"]


def assert_stored_as_line_answered(
    rows: dict, emulator: EmulatorServer, unit: str, day: date
) -> tuple[Any, dict[str, Any]]:
    """The stored row of (unit, day) holds LINE's figures, shown (20 users or more); returns
    the row and LINE's answer."""
    row = rows[(unit, day)]
    answer = lines_answer(emulator, unit, day)
    assert (row.unique_impressions, row.unique_clicks) == (
        answer["uniqueImpression"],
        answer["uniqueClick"],
    )
    assert row.unique_impressions is not None and row.unique_impressions >= 20
    return row, answer


def stored(app: Flask) -> dict[tuple[str, date], MessageInsight]:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        rows = session.scalars(select(MessageInsight)).all()
        session.expunge_all()
        return {(r.unit, r.day): r for r in rows}


def stored_periods(app: Flask) -> dict[str, PeriodInsight]:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        rows = session.scalars(select(PeriodInsight)).all()
        session.expunge_all()
        return {r.unit: r for r in rows}


def test_days_are_lines_complete_days_in_japan_time():
    # 08:59 on July 2nd in Japan: July 2nd has begun there, so July 1st is the last full day.
    days = days_to_fetch(datetime(2025, 7, 1, 23, 59, tzinfo=UTC), days=3)
    assert days == [date(2025, 6, 29), date(2025, 6, 30), date(2025, 7, 1)]


def test_the_job_stores_each_units_days_with_hidden_figures_as_none(
    e2e_app: Flask, emulator: EmulatorServer, e2e_jobs: Callable[[], None]
):
    with freeze_time(JULY_1) as frozen:
        remind(e2e_app, emulator, e2e_jobs, users(60))
        assert len(emulator.requests("/v2/bot/message/push")) == 60
        frozen.move_to(JULY_2)
        with e2e_app.app_context():
            result = fetch_message_insights()
    rows = stored(e2e_app)
    assert result == {"rows": 7, "periods": 1, "refused": []}
    assert set(rows) == {(REMINDER, date(2025, 6, 25) + timedelta(days=n)) for n in range(7)}
    july_1, answer = assert_stored_as_line_answered(rows, emulator, REMINDER, date(2025, 7, 1))
    # Days without a push, and tap counts under 20 users: None, never 0.
    quiet = [r for key, r in rows.items() if key[1] != date(2025, 7, 1)]
    assert all(r.unique_impressions is None and r.unique_clicks is None for r in quiet)
    if answer["uniqueClick"] is None:
        assert july_1.unique_clicks is None
    assert july_1.fetched_at == JULY_2
    # The step's rolling period, the report's default 30 days up to yesterday, asked at once.
    period = stored_periods(e2e_app)[REMINDER]
    assert (period.first_day, period.last_day) == (date(2025, 6, 3), date(2025, 7, 1))
    over_period = lines_answer(emulator, REMINDER, date(2025, 6, 3), date(2025, 7, 1))
    assert period.unique_impressions == over_period["uniqueImpression"] is not None


def test_fetching_again_overwrites_the_same_rows_with_lines_newer_figures(
    e2e_app: Flask, emulator: EmulatorServer, e2e_jobs: Callable[[], None]
):
    with freeze_time(JULY_1) as frozen:
        remind(e2e_app, emulator, e2e_jobs, users(30))
        frozen.move_to(JULY_2)
        with e2e_app.app_context():
            fetch_message_insights()
        first = stored(e2e_app)[(REMINDER, date(2025, 7, 1))]
        with e2e_app.app_context():
            fetch_message_insights()  # the same run twice: nothing doubles
        assert len(stored(e2e_app)) == 7

        # LINE's figures for July 1st grow late (here: more shoppers reached that day).
        frozen.move_to(JULY_1 + timedelta(hours=3))
        remind(e2e_app, emulator, e2e_jobs, users(60, offset=1000))
        frozen.move_to(JULY_2 + timedelta(days=1))
        with e2e_app.app_context():
            fetch_message_insights()
    rows = stored(e2e_app)
    again = rows[(REMINDER, date(2025, 7, 1))]
    assert len(rows) == 8  # June 25th to July 2nd: one row per unit and day
    assert again.id == first.id
    assert (
        again.unique_impressions
        == lines_answer(emulator, REMINDER, date(2025, 7, 1))["uniqueImpression"]
    )
    assert again.unique_impressions > (first.unique_impressions or 0)
    assert again.fetched_at == JULY_2 + timedelta(days=1)


def test_a_429_part_way_keeps_what_was_fetched_and_the_next_run_completes(
    e2e_app: Flask, emulator: EmulatorServer, e2e_jobs: Callable[[], None]
):
    services = e2e_app.extensions["bot"]
    with freeze_time(JULY_1) as frozen:
        remind(e2e_app, emulator, e2e_jobs, users(25))
        # One of them buys: the thank-you is a second unit pushed that day.
        order = {"order": {"id": "O1", "cart_id": "C0", "total": 5500, "items": [MUG]}}
        event = {"type": "order.placed", "event_id": "o1", "member_id": "M00000"}
        event |= {"occurred_at": JULY_1.isoformat(), **order}
        assert ShopApi(e2e_app.test_client()).post("/events", event).status_code == 202
        with e2e_app.app_context():
            delivery_jobs.dispatch_due_deliveries()
        e2e_jobs()
        frozen.move_to(JULY_2)
        # LINE starts throttling once the first unit's period and seven days are fetched.
        services._line = ThrottledAfter(services.line, emulator, calls=8)
        with e2e_app.app_context(), pytest.raises(LineRateLimited):
            fetch_message_insights()
        assert {unit for unit, _ in stored(e2e_app)} == {REMINDER}
        assert len(stored(e2e_app)) == 7
        emulator.clear_faults()
        with e2e_app.app_context():
            assert fetch_message_insights()["rows"] == 14
    assert {unit for unit, _ in stored(e2e_app)} == {REMINDER, "order_thanks_thanks"}
    assert len(stored(e2e_app)) == 14


class ThrottledAfter:
    """The real gateway, with the emulator set to answer 429 after `calls` insight calls."""

    def __init__(self, line: Any, emulator: EmulatorServer, calls: int) -> None:
        self.line, self.emulator, self.left = line, emulator, calls

    def unit_statistics(self, unit: str, day_from: date, day_to: date) -> UnitStatistics:
        if self.left == 0:
            self.emulator.fail_next(429, path=STATS, n=None)
        self.left -= 1
        return self.line.unit_statistics(unit, day_from, day_to)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.line, name)


def test_a_unit_line_refuses_is_skipped_and_the_others_are_fetched(app: Flask, line):
    line.statistics[("good_unit", date(2025, 7, 1))] = UnitStatistics(120, None)
    refusing = RefusingLine(refuse="bad_unit")
    refusing.statistics = line.statistics
    with app.app_context():
        session = app.extensions["bot"].db.session()
        result = fetch_insights(
            session,
            refusing,
            JULY_2,
            units=["bad_unit", "good_unit"],
            days=[date(2025, 7, 1)],
        )
        session.commit()
    assert result.refused == ("bad_unit",)
    rows = stored(app)
    assert list(rows) == [("good_unit", date(2025, 7, 1))]
    row = rows[("good_unit", date(2025, 7, 1))]
    assert (row.unique_impressions, row.unique_clicks) == (120, None)


class RefusingLine(InMemoryLineGateway):
    """LINE answering 400 for one unit."""

    def __init__(self, refuse: str) -> None:
        super().__init__()
        self.refuse = refuse

    def unit_statistics(self, unit: str, day_from: date, day_to: date) -> UnitStatistics:
        from bot.line.gateway import LineClientError

        if unit == self.refuse:
            raise LineClientError(
                "The value for the 'customAggregationUnit' parameter is invalid", status=400
            )
        return super().unit_statistics(unit, day_from, day_to)


# -- broadcasts ------------------------------------------------------------------------------


def test_the_job_stores_a_broadcasts_figures_from_line(e2e_app: Flask, emulator: EmulatorServer):
    for n in range(1, 61):
        emulator.add_user(broadcast_user(n))
    with freeze_time(JULY_1) as frozen:
        add_shoppers(e2e_app, 60, now=JULY_1)
        broadcast_id = make_broadcast(e2e_app, send_at=JULY_1)
        run_sender(e2e_app, broadcast_id)
        assert len(emulator.requests("/v2/bot/message/multicast")) == 1
        frozen.move_to(JULY_2)
        with e2e_app.app_context():
            result = fetch_message_insights()
    unit = broadcast_unit(broadcast_id)
    rows = stored(e2e_app)
    assert result == {"rows": 7, "periods": 1, "refused": []}
    assert {key for key in rows if key[0] == unit} == {
        (unit, date(2025, 6, 25) + timedelta(days=n)) for n in range(7)
    }
    assert_stored_as_line_answered(rows, emulator, unit, date(2025, 7, 1))
    # Its period, asked over real HTTP from its first day to yesterday, is kept as LINE
    # answered it.
    period = stored_periods(e2e_app)[unit]
    assert (period.first_day, period.last_day) == (date(2025, 7, 1), date(2025, 7, 1))
    answer = lines_answer(emulator, unit, date(2025, 7, 1))
    assert (period.unique_impressions, period.unique_clicks) == (
        answer["uniqueImpression"],
        answer["uniqueClick"],
    )


def test_the_job_fetches_recent_broadcasts_and_not_old_ones(app: Flask, line):
    add_shoppers(app, 2, now=JULY_1 - timedelta(days=20))
    old_day = JULY_1 - timedelta(days=10)  # before the last seven days
    with freeze_time(old_day):
        old = make_broadcast(app, send_at=old_day, key="old-broadcast-0001")
        run_sender(app, old)
    with freeze_time(JULY_1):
        recent = make_broadcast(app, send_at=JULY_1, key="new-broadcast-0001")
        run_sender(app, recent)
        never_sent = make_broadcast(app, send_at=JULY_2 + timedelta(days=3), key="later-0000001")
    line.statistics[(broadcast_unit(recent), date(2025, 7, 1))] = UnitStatistics(1250, 87)
    with freeze_time(JULY_2), app.app_context():
        result = fetch_message_insights()
    calls = line.sent("unit_statistics")
    daily = {c["unit"] for c in calls if c["day_from"] == c["day_to"]}
    assert daily == {broadcast_unit(recent)}
    # The older one's days are past the window; only its period is asked again.
    periods = {c["unit"]: (c["day_from"], c["day_to"]) for c in calls if c["unit"] not in daily}
    assert periods == {broadcast_unit(old): (date(2025, 6, 21), date(2025, 7, 1))}
    assert broadcast_unit(never_sent) not in {c["unit"] for c in calls}
    assert result["rows"] == 7
    row = stored(app)[(broadcast_unit(recent), date(2025, 7, 1))]
    assert (row.unique_impressions, row.unique_clicks) == (1250, 87)
    # Run again: the same rows, overwritten, nothing doubles.
    with freeze_time(JULY_2), app.app_context():
        fetch_message_insights()
    assert len(stored(app)) == 7


def test_a_broadcasts_period_runs_from_its_first_day_for_up_to_31_days(app: Flask, line):
    """Broadcasts 20, 35 and 45 days ago: the first is asked from its first day to yesterday
    (its period only: its days are past the daily window), the second for the 31 days LINE
    allows, which settled less than a week ago; the third's period settled long ago."""
    add_shoppers(app, 2, now=JULY_1 - timedelta(days=60))
    ids = {}
    for days_ago in (20, 35, 45):
        at = JULY_1 - timedelta(days=days_ago)
        with freeze_time(at):
            ids[days_ago] = make_broadcast(app, send_at=at, key=f"broadcast-{days_ago:012d}")
            run_sender(app, ids[days_ago])
    yesterday = date(2025, 7, 1)
    first_20, first_35 = date(2025, 6, 11), date(2025, 5, 27)
    line.period_statistics[(broadcast_unit(ids[20]), first_20, yesterday)] = UnitStatistics(
        1300, 91
    )
    line.period_statistics[(broadcast_unit(ids[35]), first_35, first_35 + timedelta(days=30))] = (
        UnitStatistics(880, None)
    )
    with freeze_time(JULY_2), app.app_context():
        result = fetch_message_insights()
    asked = {(c["unit"], c["day_from"], c["day_to"]) for c in line.sent("unit_statistics")}
    assert asked == {
        (broadcast_unit(ids[20]), first_20, yesterday),
        (broadcast_unit(ids[35]), first_35, date(2025, 6, 26)),
    }
    assert result == {"rows": 0, "periods": 2, "refused": []}
    periods = stored_periods(app)
    assert set(periods) == {broadcast_unit(ids[20]), broadcast_unit(ids[35])}
    recent = periods[broadcast_unit(ids[20])]
    assert (recent.unique_impressions, recent.unique_clicks) == (1300, 91)
    older = periods[broadcast_unit(ids[35])]
    assert (older.last_day, older.unique_impressions, older.unique_clicks) == (
        date(2025, 6, 26),
        880,
        None,  # hidden by LINE: None, never 0
    )
    # The next day the recent period grows by a day and its row is overwritten.
    line.period_statistics[(broadcast_unit(ids[20]), first_20, yesterday + timedelta(days=1))] = (
        UnitStatistics(1320, 95)
    )
    with freeze_time(JULY_2 + timedelta(days=1)), app.app_context():
        fetch_message_insights()
    again = stored_periods(app)[broadcast_unit(ids[20])]
    assert (again.last_day, again.unique_impressions) == (yesterday + timedelta(days=1), 1320)
    assert len(stored_periods(app)) == 2
