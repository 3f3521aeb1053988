"""SMS settings: off in production unless configured, the emulator's in dev, checked at start."""

from __future__ import annotations

import pytest

from bot.core.settings import DEV_SMS, ConfigError, Settings

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

ACCOUNT = "AC" + "4" * 32
TOKEN = "5a1f" * 8


def test_production_without_an_account_has_sms_off():
    settings = Settings.from_env(PROD)
    assert settings.sms_enabled is False


def test_production_with_an_account_sends_through_the_real_api():
    settings = Settings.from_env(
        {**PROD, "SMS_ACCOUNT_SID": ACCOUNT, "SMS_AUTH_TOKEN": TOKEN, "SMS_FROM": "+815011112222"}
    )
    assert settings.sms_enabled is True
    assert settings.sms_api_base_url == "https://api.twilio.com"
    assert (settings.sms_account_sid, settings.sms_from) == (ACCOUNT, "+815011112222")


def test_development_uses_the_emulator_without_credentials():
    settings = Settings.from_env({"APP_ENV": "development"})
    assert settings.sms_enabled is True
    assert settings.sms_api_base_url == "http://127.0.0.1:8083"
    assert settings.sms_auth_token == DEV_SMS["SMS_AUTH_TOKEN"]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"SMS_AUTH_TOKEN": TOKEN, "SMS_FROM": "+815011112222"}, None),
        ({"SMS_FROM": "+815011112222"}, "SMS_AUTH_TOKEN is not set"),
        ({"SMS_AUTH_TOKEN": TOKEN}, "SMS_FROM or SMS_MESSAGING_SERVICE_SID"),
        ({"SMS_AUTH_TOKEN": TOKEN, "SMS_FROM": "090-1234"}, "SMS_FROM must be"),
        (
            {"SMS_AUTH_TOKEN": DEV_SMS["SMS_AUTH_TOKEN"], "SMS_FROM": "+815011112222"},
            "SMS_AUTH_TOKEN is a development or test value",
        ),
        (
            {"SMS_AUTH_TOKEN": TOKEN, "SMS_MESSAGING_SERVICE_SID": "MGxyz"},
            "SMS_MESSAGING_SERVICE_SID must be",
        ),
        (
            {"SMS_AUTH_TOKEN": TOKEN, "SMS_FROM": "+815011112222", "SMS_API_BASE_URL": "ftp://x"},
            "SMS_API_BASE_URL",
        ),
    ],
)
def test_an_incomplete_or_published_sms_account_stops_start_up(extra, named):
    env = {**PROD, "SMS_ACCOUNT_SID": ACCOUNT, **extra}
    if named is None:
        assert Settings.from_env(env).sms_enabled
        return
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_a_malformed_account_sid_is_named():
    with pytest.raises(ConfigError, match="SMS_ACCOUNT_SID"):
        Settings.from_env({**PROD, "SMS_ACCOUNT_SID": "AC123", "SMS_AUTH_TOKEN": TOKEN})


def test_an_alphanumeric_sender_id_and_a_messaging_service_are_accepted():
    service = "MG" + "6" * 32
    settings = Settings.from_env(
        {
            **PROD,
            "SMS_ACCOUNT_SID": ACCOUNT,
            "SMS_AUTH_TOKEN": TOKEN,
            "SMS_MESSAGING_SERVICE_SID": service,
        }
    )
    assert (settings.sms_from, settings.sms_messaging_service_sid) == (None, service)
    named = Settings.from_env(
        {**PROD, "SMS_ACCOUNT_SID": ACCOUNT, "SMS_AUTH_TOKEN": TOKEN, "SMS_FROM": "SampleShop"}
    )
    assert named.sms_from == "SampleShop"


def test_the_erased_consent_period_has_a_floor():
    assert (
        Settings.from_env({**PROD, "ERASED_CONSENT_KEPT_DAYS": "31"}).erased_consent_kept_days == 31
    )
    with pytest.raises(ConfigError, match="ERASED_CONSENT_KEPT_DAYS"):
        Settings.from_env({**PROD, "ERASED_CONSENT_KEPT_DAYS": "7"})
