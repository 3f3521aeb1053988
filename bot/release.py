"""Release phase: migrate the database to head (`python -m bot.release`)."""

from __future__ import annotations

from pathlib import Path

from bot.core.migrate import upgrade
from bot.core.settings import Settings, exit_on_config_error


def main() -> None:
    settings = exit_on_config_error(Settings.from_env)
    upgrade(settings.database_url)
    print("migrations applied")
    if settings.faq_path:
        _seed_faq(settings, settings.faq_path)


def _seed_faq(settings: Settings, path: Path) -> None:
    """Import FAQ_PATH when no FAQ was ever imported (later imports use `flask faq import`)."""
    from bot.app import create_app
    from bot.faq import store as faq_store

    app = create_app(settings)
    with app.app_context():
        services = app.extensions["bot"]
        session = services.db.session()
        result = faq_store.seed_if_empty(session, path, services.clock.now())
        session.commit()
        print("FAQ imported" if result else "FAQ already present")


if __name__ == "__main__":
    main()
