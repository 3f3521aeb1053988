"""LINE's monthly quota through the real SDK gateway against the emulator, and the report's
month line when LINE cannot be asked."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.line.gateway import LineServerError, MessageQuota, SdkLineGateway
from bot.report import service
from bot.report.build import QuotaReading, build_report
from tests.helpers.line import TEST_TOKEN
from tests.helpers.report import PERIOD, book


def test_quota_and_consumption_from_the_emulator(emulator):
    gateway = SdkLineGateway(TEST_TOKEN, emulator.base_url)
    try:
        assert gateway.message_quota() == MessageQuota(limit=None, used=0)
        emulator.monthly_quota = 500
        users = emulator.add_users(2)
        for user in users:
            gateway.push(user["userId"], [{"type": "text", "text": "こんにちは"}])
        assert gateway.message_quota() == MessageQuota(limit=500, used=2)
    finally:
        gateway.close()


def test_forecast_to_the_month_end(db):
    # 10 days and 12 hours into a 30-day month: 420 × 30 / 10.5 = 1,200, over a 1,000 limit.
    now = datetime(2025, 6, 11, 3, 0, tzinfo=UTC)  # 11 June 12:00 in Tokyo
    reading = QuotaReading(MessageQuota(limit=1000, used=420))
    messages = build_report(db.session(), book(), PERIOD, now, reading)["account"]["messages"]
    assert (messages["month"], messages["forecast_month_end"]) == ("2025-06", 1200)
    assert messages["forecast_over_limit"] is True
    assert messages["sent_by_engine_this_month"] is None  # LINE's figure is the one shown


def test_line_unreachable(app, line):
    for _ in range(2):  # once for read_quota, once for the report
        line.fail_next(LineServerError("boom", status=500))
    with app.app_context():
        reading = service.read_quota(app.extensions["bot"])
        assert reading.quota is None and reading.error == "LINEから取得できませんでした"
        data = service.report(app.extensions["bot"])
    messages = data["account"]["messages"]
    assert messages["used"] is None and messages["sent_by_engine_this_month"] == 0
