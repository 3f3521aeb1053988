"""Release phase: migrate the database to head (`python -m bot.release`)."""

from __future__ import annotations

from bot.migrate import upgrade
from bot.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    upgrade(settings.database_url)
    print("migrations applied")


if __name__ == "__main__":
    main()
