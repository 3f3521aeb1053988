"""The operator console: staff take over escalated chats, reply and hand them back.

`init_app` builds a fresh blueprint for each app and registers the routes of auth (sign-in),
tickets (queue and chats), admin (accounts, canned replies, hours, failed webhooks) and faq
(entries, unresolved questions, trying a text) on it,
so nothing is registered by importing a module.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from bot.console import admin, auth, broadcast, faq, tickets, web
from bot.console.operators import PASSWORD_HASH_METHOD
from bot.core.settings import ConfigError

__all__ = ["init_app", "make_blueprint"]


def make_blueprint() -> Blueprint:
    """The console blueprint (`console.*` endpoints under /console) with all its routes."""
    bp = Blueprint(
        "console",
        __name__,
        url_prefix="/console",
        template_folder="templates",
        static_folder="static",
    )
    web.install_hooks(bp)
    auth.register(bp)
    tickets.register(bp)
    admin.register(bp)
    faq.register(bp)
    broadcast.register(bp)  # 一斉配信
    return bp


def init_app(app: Flask) -> None:
    """Register the console on the app; refuse cheap password hashing in production."""
    settings = app.extensions["bot"].settings
    if settings.is_production and settings.password_hash_method != PASSWORD_HASH_METHOD:
        raise ConfigError(
            f"password_hash_method must be {PASSWORD_HASH_METHOD!r} in production, "
            f"got {settings.password_hash_method!r} (a cheaper one is for tests only)"
        )
    app.register_blueprint(make_blueprint())
