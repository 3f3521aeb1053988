"""Shared fixtures: the app on SQLite + fakeredis by default, or on PostgreSQL + Redis.

Set TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test) and TEST_REDIS_URL
(e.g. redis://127.0.0.1:6379/15) to run the same suite against the real services.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import fakeredis
import freezegun
import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from redis import Redis
from rq import SimpleWorker
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from bot.app import create_app
from bot.core.db import Base, Database
from bot.core.settings import Settings, normalize_database_url
from bot.line.gateway import InMemoryLineGateway, Profile
from line_emulator import EmulatorServer
from tests.helpers.console import FAST_PASSWORD_HASH
from tests.helpers.delivery import START, Shop, add_shopper
from tests.helpers.line import SHOPPER_ID, TEST_SECRET, TEST_TOKEN
from tests.helpers.live_server import LiveServer
from tests.helpers.shop_api import ShopApi

# freezegun swaps the time functions of every loaded module, pytest's timer included: a fixture
# that keeps the clock frozen across `yield` made `--durations` report the frozen date (about
# 1.7e9 s) as a test's setup time. pytest's own clock must stay real.
freezegun.configure(extend_ignore_list=["_pytest.timing"])


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return normalize_database_url(url)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One schema per test session; tables are emptied between tests."""
    db = Database(_database_url(tmp_path_factory))
    import bot.models  # noqa: F401

    Base.metadata.drop_all(db.engine)
    db.create_all()
    yield db
    db.dispose()


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    yield database
    database.session.remove()
    with database.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def redis() -> Iterator[Redis]:
    url = os.environ.get("TEST_REDIS_URL")
    client: Redis = (
        Redis.from_url(url) if url else fakeredis.FakeRedis(server=fakeredis.FakeServer())
    )
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def line() -> InMemoryLineGateway:
    """An in-memory LINE gateway that knows one Japanese shopper's profile."""
    gateway = InMemoryLineGateway()
    gateway.profiles[SHOPPER_ID] = Profile(
        SHOPPER_ID, "山田 花子", "https://example.com/p.png", "ja"
    )
    return gateway


@pytest.fixture
def settings(database: Database) -> Settings:
    return Settings(
        env="test",
        line_channel_secret=TEST_SECRET,
        line_channel_access_token=TEST_TOKEN,
        database_url=database.url,
        shop_api_secret="test-shop-api-secret",
        secret_key="test-secret-key",
        public_base_url="https://bot.example.com",
        shop_link_url="https://shop.example.jp/line/login",
    )


@pytest.fixture
def app(settings: Settings, db: Database, redis: Redis, line: InMemoryLineGateway) -> Flask:
    fast = settings.with_changes(password_hash_method=FAST_PASSWORD_HASH)
    return create_app(fast, line=line, redis=redis, database=db)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def run_jobs(app: Flask, redis: Redis) -> Callable[[], int]:
    """Run every queued RQ job with a real worker (in-process) until the queues are empty."""

    def finished() -> int:
        return sum(
            registry(queue.name, connection=redis).count
            for queue in app.extensions["bot"].queues.all()
            for registry in (FinishedJobRegistry, FailedJobRegistry)
        )

    def run() -> int:
        app.extensions["bot"].event_writer.drain()  # webhooks stored but not yet handed to RQ
        before = finished()
        worker = SimpleWorker(app.extensions["bot"].queues.all(), connection=redis)
        with app.app_context():
            worker.work(burst=True, logging_level="WARNING")
        return finished() - before

    return run


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """The LINE emulator on a real socket, with the test channel's secret and token."""
    server = EmulatorServer(channel_secret=TEST_SECRET, channel_access_token=TEST_TOKEN)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def e2e_app(settings: Settings, db: Database, redis: Redis, emulator: EmulatorServer) -> Flask:
    """The app with the real SDK gateway talking HTTP to the emulator."""
    return create_app(
        settings.with_changes(line_api_base_url=emulator.base_url), redis=redis, database=db
    )


@pytest.fixture
def live_bot(e2e_app: Flask, emulator: EmulatorServer) -> Iterator[LiveServer]:
    """The bot served over HTTP; the emulator's shopper webhooks are sent to it."""
    server = LiveServer(e2e_app)
    emulator.webhook_url = f"{server.url}/callback"
    yield server
    server.stop()


@pytest.fixture
def e2e_jobs(e2e_app: Flask, redis: Redis) -> Callable[[], None]:
    """Run queued jobs of the e2e app with a real RQ worker until the queues are empty."""

    def run() -> None:
        e2e_app.extensions["bot"].event_writer.drain()
        worker = SimpleWorker(e2e_app.extensions["bot"].queues.all(), connection=redis)
        with e2e_app.app_context():
            worker.work(burst=True, logging_level="WARNING")

    return run


@pytest.fixture
def api(client: FlaskClient) -> ShopApi:
    """The shop calling /api/v1 with real signatures."""
    return ShopApi(client)


@pytest.fixture
def shop(app: Flask, client: FlaskClient, run_jobs: Callable[[], int]) -> Iterator[Shop]:
    """The shop and the clock, frozen at START, with one linked, opted-in shopper."""
    with freeze_time(START) as frozen:
        add_shopper(app)
        yield Shop(app, client, run_jobs, frozen)
