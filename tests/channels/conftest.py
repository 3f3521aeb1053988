"""The channel tests' app: SMTP on loopback, the SMS emulator, the shipped scenarios."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from redis import Redis

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.line.gateway import InMemoryLineGateway
from sms_emulator import EmulatorServer as SmsEmulatorServer
from tests.helpers.channels import WEBHOOK_SECRET, Smtp, loopback_smtp
from tests.helpers.console import FAST_PASSWORD_HASH

SMS_ACCOUNT = "AC" + "1" * 32
SMS_TOKEN = "test-sms-auth-token"
SMS_SENDER = "+815011112222"


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    with loopback_smtp() as server:
        yield server


@pytest.fixture
def sms_emulator() -> Iterator[SmsEmulatorServer]:
    server = SmsEmulatorServer(SMS_ACCOUNT, SMS_TOKEN, numbers=[SMS_SENDER], rate_limit=50)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, smtp: Smtp, sms_emulator: SmsEmulatorServer) -> Settings:
    return settings.with_changes(
        smtp_url=smtp.url,
        shop_name="暮らしの器 やまと",
        shop_address="東京都台東区蔵前1-2-3",
        email_webhook_secret=WEBHOOK_SECRET,
        sms_account_sid=SMS_ACCOUNT,
        sms_auth_token=SMS_TOKEN,
        sms_from=SMS_SENDER,
        sms_api_base_url=sms_emulator.base_url,
        sms_read_timeout=2.0,
    )


@pytest.fixture
def app(settings: Settings, db: Database, redis: Redis, line: InMemoryLineGateway) -> Flask:
    fast = settings.with_changes(password_hash_method=FAST_PASSWORD_HASH)
    return create_app(fast, line=line, redis=redis, database=db)
