"""The channel and e-mail tests' app: SMTP on loopback, the SMS emulator, the shipped scenarios."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis

from bot.core.db import Database
from bot.core.settings import Settings
from bot.line.gateway import InMemoryLineGateway
from sms_emulator import EmulatorServer as SmsEmulatorServer
from tests.helpers.channels import (
    Smtp,
    channel_app,
    channel_settings,
    loopback_smtp,
    sms_emulator_server,
)


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    with loopback_smtp() as server:
        yield server


@pytest.fixture
def sms_emulator() -> Iterator[SmsEmulatorServer]:
    server = sms_emulator_server()
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, smtp: Smtp, sms_emulator: SmsEmulatorServer) -> Settings:
    return channel_settings(settings, smtp, sms_emulator)


@pytest.fixture
def app(
    request: pytest.FixtureRequest,
    settings: Settings,
    db: Database,
    redis: Redis,
    line: InMemoryLineGateway,
    tmp_path: Path,
) -> Flask:
    """The app on the shipped scenarios, or on the test module's own `SCENARIOS` (YAML)."""
    scenarios = getattr(request.module, "SCENARIOS", None)
    if scenarios is not None:
        path = tmp_path / "scenarios.yaml"
        path.write_text(scenarios, encoding="utf-8")
        settings = settings.with_changes(scenarios_path=path)
    return channel_app(settings, db, redis, line)
