"""Alembic environment: the URL comes from DATABASE_URL (or the caller's config)."""

from __future__ import annotations

import os

from alembic import context

import bot.models  # noqa: F401  (registers every table)
from bot.core.db import Base, make_engine
from bot.core.settings import DEFAULT_SQLITE_PATH, normalize_database_url

config = context.config
url = config.get_main_option("sqlalchemy.url") or normalize_database_url(
    os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
)


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        # Batch mode lets ALTER-style changes work on SQLite as well as PostgreSQL.
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
