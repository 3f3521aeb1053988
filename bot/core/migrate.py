"""Run Alembic migrations from code (release phase, dev mode and tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from bot.core.settings import REPO_ROOT


def alembic_config(database_url: str) -> Config:
    """An Alembic config for this repository pointed at one database."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database to `revision`, creating the SQLite folder if needed."""
    if database_url.startswith("sqlite:///"):
        from pathlib import Path

        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)
