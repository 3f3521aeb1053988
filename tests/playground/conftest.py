"""Playground fixtures: the app with the playground on, talking to a real LINE emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from redis import Redis
from rq import SimpleWorker

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from line_emulator import EmulatorServer
from tests.helpers.live_server import LiveServer
from tests.helpers.playground import Playground


@pytest.fixture
def pg_settings(settings: Settings, emulator: EmulatorServer) -> Settings:
    # No quiet hours: the reminder must go out whatever the time of the test run.
    return settings.with_changes(
        line_api_base_url=emulator.base_url, playground_enabled=True, quiet_hours=None
    )


@pytest.fixture
def pg_app(pg_settings: Settings, db: Database, redis: Redis) -> Flask:
    return create_app(pg_settings, redis=redis, database=db)


@pytest.fixture
def pg(pg_app: Flask) -> Playground:
    return Playground(pg_app.test_client())


@pytest.fixture
def pg_jobs(pg_app: Flask, redis: Redis) -> Callable[[], None]:
    """Run the app's queued jobs (webhooks, dispatch, sends) until the queues are empty."""

    def run() -> None:
        pg_app.extensions["bot"].event_writer.drain()
        worker = SimpleWorker(pg_app.extensions["bot"].queues.all(), connection=redis)
        with pg_app.app_context():
            worker.work(burst=True, logging_level="WARNING")

    return run


@pytest.fixture
def pg_live(pg_app: Flask, emulator: EmulatorServer) -> Iterator[LiveServer]:
    """The bot served over HTTP; the emulator's webhooks go to it."""
    server = LiveServer(pg_app)
    emulator.webhook_url = f"{server.url}/callback"
    yield server
    server.stop()
