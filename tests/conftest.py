"""Shared fixtures: the app on SQLite + fakeredis by default, or on PostgreSQL + Redis.

Set TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test) and TEST_REDIS_URL
(e.g. redis://127.0.0.1:6379/15) to run the same suite against the real services.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import SimpleWorker
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from bot.app import create_app
from bot.core.db import Base, Database
from bot.core.settings import Settings, normalize_database_url
from bot.line.gateway import InMemoryLineGateway, Profile
from bot.line.webhook_events import sign_body
from line_emulator import EmulatorServer

TEST_SECRET = "test-channel-secret"
TEST_TOKEN = "test-channel-access-token"
WEBHOOK_FIXTURES = Path(__file__).parent / "webhooks"
# One PBKDF2 round instead of scrypt for operator passwords: the console tests sign in often.
FAST_PASSWORD_HASH = "pbkdf2:sha256:1"


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


SHOPPER_ID = "U" + "1" * 32


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


def load_webhook(name: str, **overrides: Any) -> dict[str, Any]:
    """One fixture event from tests/webhooks/<name>.json, with fields replaced."""
    event = json.loads((WEBHOOK_FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    event.update(overrides)
    return event


def strings(node: Any) -> list[str]:
    """Every string value in a message (texts, labels, postback data), depth first."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return []


def signed_post(
    client: FlaskClient, events: list[dict[str, Any]], secret: str = TEST_SECRET
) -> Any:
    """POST a webhook body signed for real with the channel secret."""
    body = json.dumps({"destination": "Uxxxxxxxx", "events": events}, ensure_ascii=False).encode()
    return client.post(
        "/callback",
        data=body,
        headers={"X-Line-Signature": sign_body(secret, body), "Content-Type": "application/json"},
    )


class LiveServer:
    """A Flask app served over real HTTP on 127.0.0.1 in a background thread."""

    def __init__(self, app: Flask) -> None:
        from werkzeug.serving import make_server

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


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
