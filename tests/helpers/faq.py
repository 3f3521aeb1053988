"""Fixtures of the FAQ bot tests: a test FAQ, a settable clock, the CLI runner."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from redis import Redis

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from line_emulator import EmulatorServer
from tests.conftest import SHOPPER_ID

FAQ_FILE = Path(__file__).parent / "faq.yaml"
# Monday 2025-07-07 11:00 in Tokyo: inside the default business hours.
MONDAY_MORNING = datetime(2025, 7, 7, 2, 0, tzinfo=UTC)


class SettableClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(MONDAY_MORNING)


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def faq_imported(runner: FlaskCliRunner) -> None:
    """The test FAQ imported into the database."""
    result = runner.invoke(args=["faq", "import", str(FAQ_FILE)])
    assert result.exit_code == 0, result.output


@pytest.fixture
def e2e_app(
    settings: Settings, db: Database, redis: Redis, emulator: EmulatorServer, clock: SettableClock
) -> Flask:
    """The e2e app (real SDK gateway → emulator) with the settable clock and the test FAQ."""
    app = create_app(
        settings.with_changes(line_api_base_url=emulator.base_url),
        redis=redis,
        database=db,
        clock=clock,
    )
    result = app.test_cli_runner().invoke(args=["faq", "import", str(FAQ_FILE)])
    assert result.exit_code == 0, result.output
    return app


@pytest.fixture
def shopper(emulator: EmulatorServer) -> str:
    """A shopper known to the emulator; returns the LINE user id."""
    emulator.add_user(SHOPPER_ID, display_name="山田 花子")
    return SHOPPER_ID
