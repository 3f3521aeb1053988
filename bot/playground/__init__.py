"""The playground (/dev/playground): try every flow of the bot in a browser.

A simulated shopper chats with the bot through the LINE emulator (real signed webhooks), a
simulated shop posts real signed shop-API events, a dev clock travels in time and the
emulator's faults can be switched on. Served in development, or where PLAYGROUND_ENABLED is
set; `create_app` registers it, nothing imports it on its own.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the playground's blueprint."""
    from bot.playground.views import bp

    app.register_blueprint(bp)
