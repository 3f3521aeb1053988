"""FAQ fixtures: the shared and sample FAQs with their matchers, and for the conversation tests
the test FAQ imported, a settable clock and an end-to-end app.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from redis import Redis

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.faq.file_format import FaqEntry, load_faq_file
from bot.faq.matcher import FaqMatcher
from line_emulator import EmulatorServer
from tests.helpers.faq import FAQ_FILE, MONDAY_MORNING, SettableClock
from tests.helpers.line import SHOPPER_ID

REPO = Path(__file__).resolve().parents[2]
# The shared FAQ folder sits beside the repository; FAQ_SHARED_DIR points elsewhere.
SHARED_FAQ = Path(os.environ.get("FAQ_SHARED_DIR") or REPO / ".." / "shared" / "faq")
HELDOUT = Path(__file__).resolve().parent / "heldout.tsv"


@pytest.fixture(scope="session")
def shared_faq_dir() -> Path:
    """The shared FAQ folder beside the repository (CI has it)."""
    if not (SHARED_FAQ / "faq.yaml").exists():
        pytest.skip(f"shared FAQ data not found at {SHARED_FAQ}")
    return SHARED_FAQ


@pytest.fixture(scope="session")
def shared_entries(shared_faq_dir: Path) -> list[FaqEntry]:
    """Entries of the shared FAQ."""
    return load_faq_file(shared_faq_dir / "faq.yaml")


@pytest.fixture(scope="session")
def shared_matcher(shared_entries: list[FaqEntry]) -> FaqMatcher:
    """A matcher over the shared FAQ."""
    return FaqMatcher.build(shared_entries)


@pytest.fixture(scope="session")
def sample_entries() -> list[FaqEntry]:
    """Entries of the project's own sample FAQ."""
    return load_faq_file(REPO / "data" / "faq_sample.yaml")


@pytest.fixture(scope="session")
def sample_matcher(sample_entries: list[FaqEntry]) -> FaqMatcher:
    """A matcher over the sample FAQ."""
    return FaqMatcher.build(sample_entries)


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
