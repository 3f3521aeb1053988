from __future__ import annotations

from datetime import date, time

import pytest

from bot.settings import ConfigError, Settings, normalize_database_url, parse_business_hours

PROD = {
    "APP_ENV": "production",
    "LINE_CHANNEL_SECRET": "s",
    "LINE_CHANNEL_ACCESS_TOKEN": "t",
    "SHOP_API_SECRET": "shop",
    "SECRET_KEY": "k",
    "DATABASE_URL": "postgres://u:p@db.example.com:5432/shop",
    "REDIS_URL": "redis://cache.example.com:6379/0",
    "PUBLIC_BASE_URL": "https://bot.example.com/",
    "SHOP_LINK_URL": "https://shop.example.com/line-login",
}


def test_production_reads_every_setting():
    settings = Settings.from_env(PROD)
    assert settings.database_url == "postgresql+psycopg://u:p@db.example.com:5432/shop"
    assert settings.public_base_url == "https://bot.example.com"
    assert settings.shop_timezone == "Asia/Tokyo"
    assert settings.quiet_hours is not None and settings.quiet_hours.contains(time(23, 30))
    assert not settings.quiet_hours.contains(time(12, 0))


@pytest.mark.parametrize(
    "missing", ["LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "SHOP_API_SECRET", "REDIS_URL"]
)
def test_production_refuses_to_start_without_a_secret(missing):
    env = {k: v for k, v in PROD.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SHOP_TIMEZONE", "Mars/Olympus"),
        ("LINE_API_BASE_URL", "ftp://x"),
        ("DATABASE_URL", "mysql://x"),
        ("QUIET_HOURS", "25:00-09:00"),
        ("DAILY_MARKETING_CAP", "two"),
        ("APP_ENV", "staging"),
        ("CLOSED_ON_HOLIDAYS", "たぶん"),
        ("CLOSED_DAYS", "13-01"),
        ("CLOSED_DAYS", "2026-02-30"),
        ("CLOSED_DAYS", "2026-05-10..2026-05-01"),
        ("CLOSED_DAYS", "01-01..12-31"),
    ],
)
def test_malformed_settings_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**PROD, name: value})


def test_development_needs_no_credentials():
    settings = Settings.from_env({"APP_ENV": "development"})
    assert settings.redis_url is None  # embedded stand-in
    assert settings.database_url.startswith("sqlite:///")
    assert settings.line_channel_secret


def test_database_url_forms():
    assert normalize_database_url("postgresql://a@b/c") == "postgresql+psycopg://a@b/c"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_quiet_hours_can_be_disabled():
    assert Settings.from_env({**PROD, "QUIET_HOURS": ""}).quiet_hours is None


def test_business_hours_wrap_the_week():
    hours = parse_business_hours("sat-mon 09:00-17:00")
    assert hours.weekdays == frozenset({5, 6, 0})


def test_closed_days_are_read_from_the_environment():
    hours = Settings.from_env(
        {**PROD, "CLOSED_DAYS": "12-29..01-03, 08-13..08-15, 2026-05-07..2026-05-08"}
    ).business_hours
    assert hours.closed.national_holidays  # on unless turned off
    assert hours.closed.yearly == (((12, 29), (1, 3)), ((8, 13), (8, 15)))
    assert hours.closed.dates == {date(2026, 5, 7), date(2026, 5, 8)}
    assert hours.closed.yearly_contains(date(2027, 1, 2))  # the range wraps the year end
    assert not hours.closed.yearly_contains(date(2026, 12, 28))
    off = Settings.from_env({**PROD, "CLOSED_ON_HOLIDAYS": "false"}).business_hours
    assert not off.closed.national_holidays
