"""LINE bot server for Japanese e-commerce shops: the application factory."""

from __future__ import annotations

import logging

from flask import Flask
from redis import Redis

from bot.clock import Clock, SystemClock
from bot.db import Database
from bot.db import init_app as init_db
from bot.extensions import Services, sdk_gateway_factory
from bot.line import LineGateway
from bot.logs import configure_logging
from bot.queues import Queues, connect_redis
from bot.settings import Settings
from flex_templates import load_templates

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None,
    *,
    line: LineGateway | None = None,
    clock: Clock | None = None,
    redis: Redis | None = None,
    database: Database | None = None,
) -> Flask:
    """Build the web/worker application; every dependency can be passed in by tests."""
    settings = settings or Settings.from_env()
    configure_logging(settings)
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SETTINGS=settings,
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_AS_ASCII=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if settings.proxy_fix_hops:
        # Behind a platform router the client address is in X-Forwarded-For; the console's
        # per-IP login limit and secure cookies need the real one.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.proxy_fix_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    database = database or Database(settings.database_url)
    init_db(app, database)
    redis = redis if redis is not None else connect_redis(settings)
    app.extensions["bot"] = Services(
        settings=settings,
        db=database,
        clock=clock or SystemClock(),
        redis=redis,
        queues=Queues(redis),
        line_factory=(lambda: line) if line is not None else sdk_gateway_factory(settings),
        # Loaded and validated now, so a broken shop template stops start-up with its file name.
        templates=load_templates(
            settings.templates_path,
            placeholder_image_url=settings.placeholder_image_url,
            timezone=settings.shop_timezone,
        ),
    )

    # Imported here: blueprints and handlers import `bot` themselves.
    from bot import console, shop_api
    from bot.blueprints import health, tracking, webhook
    from bot.cli import register_cli
    from handlers.deliveries import init_app as init_deliveries

    for blueprint in (health.bp, shop_api.bp, tracking.bp, console.bp):
        app.register_blueprint(blueprint)
    if settings.env == "development":
        from bot.blueprints import dev_shop

        app.register_blueprint(dev_shop.bp)
    init_deliveries(app)  # loads and checks the scenario file: a bad one stops start-up
    app.wsgi_app = webhook.WebhookEndpoint(app.wsgi_app, app.extensions["bot"])  # type: ignore[method-assign]
    register_cli(app)
    logging.getLogger(__name__).info("app ready", extra={"env": settings.env})
    return app
