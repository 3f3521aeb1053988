"""The report's figures against the hand-made history of tests/helpers/report.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.delivery.aggregation import aggregation_unit
from bot.line.gateway import MessageQuota
from bot.models import PeriodInsight
from bot.report.build import QuotaReading, build_report
from bot.report.queries import Period
from tests.helpers.report import NOW, PERIOD, TOKYO, book, write_history


@pytest.fixture
def report(db) -> dict[str, Any]:
    session = db.session()
    write_history(session)
    return build_report(
        session, book(), PERIOD, NOW, QuotaReading(MessageQuota(limit=1000, used=290))
    )


def row(report: dict[str, Any], step: str, variant: str | None = None) -> dict[str, Any]:
    (found,) = [r for r in report["rows"] if r["step"] == step and r["variant"] == variant]
    return found


def test_first_step_counts(report):
    s1 = row(report, "s1")
    assert (s1["planned"], s1["sent"], s1["skipped"], s1["cancelled"]) == (8, 4, 3, 1)
    assert s1["skipped_by_reason"] == {"holdout": 2, "quiet_hours": 1}
    assert s1["cancelled_by_reason"] == {"ordered": 1}
    assert s1["clicked"] == 2  # shopper 1 clicked twice: one shopper
    assert s1["ctr"] == 0.5
    assert (s1["converted"], s1["orders"], s1["revenue"]) == (2, 3, 9000)
    assert s1["cvr"] == 0.5
    assert s1["revenue_per_message"] == 2250
    assert (s1["opt_outs_24h"], s1["blocks_24h"]) == (1, 0)


def test_variants_and_zero_traffic(report):
    a, b, c = row(report, "s2", "A"), row(report, "s2", "B"), row(report, "s2", "C")
    assert (a["sent"], a["clicked"], a["converted"], a["revenue"]) == (2, 1, 1, 5000)
    assert (b["sent"], b["clicked"], b["converted"], b["revenue"]) == (2, 0, 1, 1000)
    assert b["blocks_24h"] == 1  # exactly 24 h after the push: inside the window
    assert b["opt_outs_24h"] == 0  # shopper 2 opted out before the second step
    assert c["planned"] == c["sent"] == 0
    assert c["ctr"] is None and c["cvr"] is None and c["revenue_per_message"] is None


def test_opens_keep_linE_nulls_apart_from_zero(report):
    s1, a, b = row(report, "s1"), row(report, "s2", "A"), row(report, "s2", "B")
    assert (s1["opened"], s1["opened_status"], s1["opened_hidden_days"]) == (30, "partial", 1)
    assert (a["opened"], a["opened_status"]) == (None, "hidden")
    assert (b["opened"], b["opened_status"]) == (None, "not_fetched")


def test_scenario_totals_count_each_order_once(report):
    (cart,) = report["scenarios"]
    assert (cart["sent"], cart["orders"], cart["revenue"]) == (8, 3, 9000)
    assert cart["revenue_per_message"] == 1125
    days = {d["day"]: d for d in cart["daily"]}
    assert len(days) == 30 and "2025-06-30" not in days
    assert days["2025-07-10"] == {"day": "2025-07-10", "sent": 4, "clicked": 2, "revenue": 3000}
    assert days["2025-07-11"] == {"day": "2025-07-11", "sent": 4, "clicked": 1, "revenue": 6000}


def test_account_lines(report):
    account = report["account"]
    assert (account["carts_abandoned"], account["carts_recovered"]) == (8, 4)
    assert account["recovery_rate"] == 0.5
    assert (account["attributed_orders"], account["recovered_revenue"]) == (3, 9000)
    messages = account["messages"]
    assert (messages["used"], messages["limit"], messages["month"]) == (290, 1000, "2025-07")
    # 290 in 29.5 days of a 31-day month: 290 × 31 / 29.5 = 304.7
    assert messages["forecast_month_end"] == 305
    assert messages["forecast_over_limit"] is False


def test_holdout_compares_flows(report):
    holdout = report["scenarios"][0]["holdout"]
    assert (holdout["treated_flows"], holdout["treated_ordered"]) == (6, 3)
    assert (holdout["holdout_flows"], holdout["holdout_ordered"]) == (2, 1)
    assert holdout["incremental_rate"]["estimate"] == 0
    assert holdout["significant"] is False


def test_ab_without_a_winner(report):
    (test,) = report["ab_tests"]
    assert test["variants"] == ["A", "B", "C"]
    vs_b, vs_c = test["comparisons"]
    assert vs_b["cvr_difference"]["estimate"] == 0
    assert vs_b["winner"] is None and vs_b["needed_per_arm"] is None
    assert vs_c["cvr_difference"] is None  # no traffic on C
    assert test["winner"] is None


def test_abandonment_reasons_by_week_and_value(report):
    why = report["abandonment_reasons"]
    assert (why["asked"], why["answered"]) == (5, 4)
    assert why["by_reason"] == {
        "shipping_fee": 2,
        "comparing": 1,
        "unanswered": 1,
        "payment": 1,
    }
    # Weeks start on Monday in Tokyo: 23:30 on Sunday 13 July is still the week of the 7th.
    assert why["by_week"] == [
        {"week": "2025-07-07", "counts": {"shipping_fee": 2, "comparing": 1}},
        {"week": "2025-07-14", "counts": {"unanswered": 1, "payment": 1}},
    ]
    assert why["by_value_band"] == [
        {"band": "under_3000", "counts": {"shipping_fee": 1}},
        {"band": "3000_4999", "counts": {"shipping_fee": 1}},
        {"band": "5000_9999", "counts": {"unanswered": 1}},
        {"band": "10000_plus", "counts": {"comparing": 1}},
        {"band": "unknown", "counts": {"payment": 1}},
    ]


def test_lines_figure_for_the_period_counts_each_shopper_once(db):
    """The insight job keeps a step's figure for the days up to yesterday; the period that
    starts on its first day and ends today reads it instead of the days summed."""
    session = db.session()
    write_history(session)
    unit = aggregation_unit("cart", "s1", None)
    yesterday = PERIOD.last_day - timedelta(days=1)
    session.add(
        PeriodInsight(
            unit=unit,
            first_day=PERIOD.first_day,
            last_day=yesterday,
            unique_impressions=26,  # fewer than the 30 + hidden of the days summed
            unique_clicks=None,
            fetched_at=NOW,
        )
    )
    session.commit()
    s1 = row(build_report(session, book(), PERIOD, NOW), "s1")
    assert (s1["opened"], s1["opened_status"], s1["opened_counted"]) == (26, "ok", "people")
    # Other days, or the same days counted in another time zone: the days summed.
    for other in (
        Period(PERIOD.first_day + timedelta(days=1), PERIOD.last_day, TOKYO),
        Period(PERIOD.first_day, PERIOD.last_day, ZoneInfo("Europe/London")),
    ):
        s1 = row(build_report(session, book(), other, NOW), "s1")
        assert (s1["opened"], s1["opened_status"], s1["opened_counted"]) == (
            30,
            "partial",
            "person_days",
        )
    a = row(build_report(session, book(), PERIOD, NOW), "s2", "A")
    assert a["opened_counted"] == "person_days" and a["opened"] is None  # hidden, no period
