"""SQLAlchemy engine, sessions and the shared declarative base."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import JSON, DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC; returns aware UTC on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware UTC")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every model; datetimes are aware UTC."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Database:
    """One engine and a scoped session per thread (or per app context in Flask)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.session = scoped_session(self.session_factory)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A pooled connection where each statement commits on its own."""
        with self.engine.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")

    def create_all(self) -> None:
        """Create every table (tests and dev); production uses Alembic migrations."""
        import bot.models  # noqa: F401  (registers every table on Base.metadata)

        Base.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.session.remove()
        self.engine.dispose()


def make_engine(url: str) -> Engine:
    """Engine with sane pooling; SQLite gets WAL and a busy timeout for multi-process dev.

    SQL errors name the statement but never its parameters (`hide_parameters`): they carry
    what operators search for and what shoppers wrote, and errors end up in the logs.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # Pre-ping: after PostgreSQL restarts or fails over, every pooled connection is dead and
    # without a check each would fail one request with a 500 (a webhook LINE may not
    # redeliver, a shop event). It costs a round-trip per checkout; the webhook's hot path
    # keeps its connection across batches and checks out rarely (see bot/line/ingest.py).
    return create_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_recycle=1800,
        pool_pre_ping=True,
        hide_parameters=True,  # logs must not carry search terms or message text
    )


def is_connection_lost(exc: BaseException) -> bool:
    """Whether a database error means the connection is gone (restart, failover, network):
    the same statement on a fresh connection may well succeed."""
    import psycopg

    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def init_app(app: Flask, database: Database) -> None:
    """Attach the database to the app and drop the session after each app context."""
    app.extensions["db"] = database

    @app.teardown_appcontext
    def _remove_session(_exc: BaseException | None) -> None:
        database.session.remove()


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Commit on success, roll back on any error."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
