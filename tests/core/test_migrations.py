"""Alembic: empty → head on SQLite and PostgreSQL, and the result matches the models."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import bot.models  # noqa: F401
from bot.core.db import Base, make_engine
from bot.core.migrate import upgrade
from bot.core.settings import normalize_database_url


def _sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'migrated.sqlite3'}"


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A brand-new PostgreSQL database next to the test one, dropped afterwards."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql")):
        pytest.skip("TEST_DATABASE_URL is not PostgreSQL (CI's second suite runs this)")
    url = make_url(normalize_database_url(base))
    name = f"migrations_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _assert_matches_models(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"migrations and models differ: {diff}"


def test_sqlite_empty_to_head_matches_models(tmp_path):
    url = _sqlite_url(tmp_path)
    upgrade(url)
    _assert_matches_models(url)
    upgrade(url)  # running it again is a no-op


def test_postgres_empty_to_head_matches_models(fresh_postgres):
    upgrade(fresh_postgres)
    _assert_matches_models(fresh_postgres)


def test_postgres_sweep_and_failed_count_read_the_open_events_index(fresh_postgres):
    """The sweep's and the gauge's queries are answered from the partial index, so they
    stay cheap however many handled events the table holds."""
    upgrade(fresh_postgres)
    engine = make_engine(fresh_postgres)
    queries = (
        "SELECT id FROM webhook_events WHERE state = 'received'"
        " AND received_at < now() - interval '15 seconds' ORDER BY id LIMIT 1000",
        "SELECT count(*) FROM webhook_events WHERE state = 'failed'",
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))
            for query in queries:
                plan = "\n".join(conn.execute(text(f"EXPLAIN {query}")).scalars())
                assert "ix_webhook_events_open_state_received" in plan, plan
    finally:
        engine.dispose()
