from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, time

import pytest

from bot.core.settings import (
    DEV_SECRETS,
    PUBLISHED_SECRETS,
    REPO_ROOT,
    ConfigError,
    Settings,
    normalize_database_url,
    parse_business_hours,
)

PROD = {
    "APP_ENV": "production",
    "LINE_CHANNEL_SECRET": "0f3c9a6b1d2e4f5a6b7c8d9e0f1a2b3c",
    "LINE_CHANNEL_ACCESS_TOKEN": "p9Xr2KqW7vLm4TnB8sYd1Fh6Jc3Ga5Ze0Uo/Ri=",
    "SHOP_API_SECRET": "c2hvcC1hcGktc2VjcmV0LW9mLXRoaXMtc2hvcA-7Q2",
    "SECRET_KEY": "6e1f0d4b9a8c7e2f5d3a1b0c9e8f7a6d5c4b3a2f",
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


SECRET_VARIABLES = [
    "LINE_CHANNEL_SECRET",
    "LINE_CHANNEL_ACCESS_TOKEN",
    "SHOP_API_SECRET",
    "SECRET_KEY",
    "METRICS_TOKEN",
]


@pytest.mark.parametrize("value", sorted(PUBLISHED_SECRETS))
@pytest.mark.parametrize("name", SECRET_VARIABLES)
def test_production_refuses_every_published_secret(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name} is a development or test value"):
        Settings.from_env({**PROD, name: value})


def test_the_dev_defaults_are_among_the_refused_values() -> None:
    assert set(DEV_SECRETS.values()) <= PUBLISHED_SECRETS
    assert "dev-channel-secret" in PUBLISHED_SECRETS  # the values issue 12 started from
    assert "dev-shop-api-secret" in PUBLISHED_SECRETS
    assert "dev-secret-key-change-me" in PUBLISHED_SECRETS


@pytest.mark.parametrize("name", ["SHOP_API_SECRET", "SECRET_KEY", "METRICS_TOKEN"])
@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("k", False),
        ("x" * 31, False),
        ("x" * 32, True),
        ("秘密鍵" * 3 + "x" * 4, False),  # 13 characters, 31 bytes
        ("秘密鍵" * 3 + "x" * 5, True),  # 14 characters, 32 bytes
    ],
)
def test_production_signing_keys_need_32_bytes(name: str, value: str, accepted: bool) -> None:
    if accepted:
        assert getattr(Settings.from_env({**PROD, name: value}), name.lower()) == value
    else:
        with pytest.raises(ConfigError, match=f"^{name} is {len(value.encode())} bytes long"):
            Settings.from_env({**PROD, name: value})


def test_metrics_token_is_optional() -> None:
    assert Settings.from_env(PROD).metrics_token is None


def test_development_keeps_its_dev_secrets() -> None:
    settings = Settings.from_env({"APP_ENV": "development", "SECRET_KEY": "k"})
    assert settings.shop_api_secret == DEV_SECRETS["SHOP_API_SECRET"]
    assert settings.secret_key == "k"


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"], **env}
    return subprocess.run(
        command, cwd=REPO_ROOT, env=clean, capture_output=True, text=True, timeout=90
    )


ENTRY_POINTS = {
    "worker": [sys.executable, "worker.py", "--burst"],
    "scheduler": [sys.executable, "scheduler.py"],
    "release": [sys.executable, "-m", "bot.release"],
    "flask": [sys.executable, "-m", "flask", "deliveries", "list", "--member", "M123"],
}


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=list(ENTRY_POINTS))
def test_entry_points_print_one_line_for_a_settings_error(entry: str) -> None:
    result = _run(ENTRY_POINTS[entry], {**PROD, "SHOP_API_SECRET": "dev-shop-api-secret"})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "configuration error: SHOP_API_SECRET is a development or test value published in "
        "the repository; set a secret of your own"
    ]


@pytest.mark.slow
def test_gunicorn_stops_on_a_settings_error() -> None:
    """The web process exits (gunicorn's master too) instead of respawning failing workers."""
    command = [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "wsgi:app"]
    command += ["--bind", "127.0.0.1:0", "--workers", "1", "--no-control-socket"]
    result = _run(command, {**PROD, "SECRET_KEY": "short"})
    assert result.returncode == 4  # gunicorn's "App failed to load."
    assert "Traceback" not in result.stderr
    assert "configuration error: SECRET_KEY is 5 bytes long" in result.stderr
