"""The operator console: staff take over escalated chats, reply and hand them back."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
)

from bot.console import admin_webhooks, views  # noqa: E402,F401  (register the routes on bp)

__all__ = ["bp"]
