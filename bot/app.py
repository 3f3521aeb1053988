"""The application factory: builds the service from its parts and registers them.

This is the one place that knows every part; each part registers here, never on import.
"""

from __future__ import annotations

import logging

from flask import Flask
from redis import Redis

import handlers
from bot import console, playground
from bot.cli import register_cli
from bot.consents import api as consents_api
from bot.consents import line as consents_line
from bot.core.clock import Clock, DevClock, SystemClock
from bot.core.db import Database
from bot.core.db import init_app as init_db
from bot.core.logs import configure_logging
from bot.core.queues import Queues, connect_redis
from bot.core.services import Services
from bot.core.settings import Settings
from bot.delivery import api as events_api
from bot.delivery import receivers as delivery
from bot.delivery import tracking_view
from bot.email import dev_views as dev_mail
from bot.email import views as email_views
from bot.faq.store import FaqCache
from bot.health import views as health
from bot.line import jobs as line_jobs
from bot.line import webhook_endpoint
from bot.line.beacon import DeliveryBeacon, EventBeacon
from bot.line.gateway import LineGateway, sdk_gateway_factory
from bot.linking import api as links_api
from bot.linking import attributes as attributes_api
from bot.linking import dev_shop, members_api
from bot.linking.members import MemberHooks
from bot.report import views as report_views
from bot.richmenu import init_app as init_rich_menus
from bot.shop_api import openapi
from bot.shop_api.api import ShopApi
from bot.sms import webhooks as sms_webhooks
from bot.sms.provider import SmsProvider
from flex_templates import load_templates

__all__ = ["build_shop_api", "create_app"]


def build_shop_api() -> ShopApi:
    """The shop API (/api/v1) with every feature's endpoints and their OpenAPI description.

    A fresh one for each app: Flask adds no routes to a blueprint once registered, and the
    member hooks the features add belong to one app.
    """
    api = ShopApi()
    members = MemberHooks()  # what other features show and erase with a member
    links_api.init_api(api)
    members_api.init_api(api, members)
    attributes_api.init_api(api, members)  # member attributes for segments, erased with them
    events_api.init_api(api, members)  # deliveries: in member views, erased with the member
    consents_api.init_api(api, members)  # contacts and consent history, erased as the law allows
    openapi.init_api(api)
    return api


def create_app(
    settings: Settings | None = None,
    *,
    line: LineGateway | None = None,
    clock: Clock | None = None,
    redis: Redis | None = None,
    database: Database | None = None,
    sms: SmsProvider | None = None,
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
        clock=clock or _default_clock(settings, redis),
        redis=redis,
        queues=Queues(redis),
        line_factory=(lambda: line) if line is not None else sdk_gateway_factory(settings),
        # Loaded and validated now, so a broken shop template stops start-up with its file name.
        templates=load_templates(
            settings.templates_path,
            placeholder_image_url=settings.placeholder_image_url,
            timezone=settings.shop_timezone,
        ),
        faq_cache=FaqCache(),  # this process's FAQ matcher
        router=handlers.build_router(),
        sms_factory=(lambda: sms) if sms is not None else None,
    )
    services = app.extensions["bot"]
    services.event_writer = line_jobs.event_writer(services)
    services.event_beacon = EventBeacon(services.redis)
    services.delivery_beacon = DeliveryBeacon(services.redis)

    for blueprint in (health.bp, build_shop_api().bp, tracking_view.bp, email_views.bp):
        app.register_blueprint(blueprint)
    console.init_app(app)
    report_views.init_app(app)  # 配信レポート, beside the console
    if settings.env == "development":
        app.register_blueprint(dev_shop.bp)
    if settings.playground_on:
        playground.init_app(app)
        dev_mail.init_app(app)  # the mail dev mode's SMTP server received
    delivery.init_app(app)  # loads and checks the scenario file: a bad one stops start-up
    init_rich_menus(app)  # linking and unlinking switch the shopper's rich menu
    sms_webhooks.init_app(app)  # the SMS provider, its inbound and receipt webhooks
    consents_line.connect_signals()  # 「配信停止」/「配信再開」 join the consent history
    app.wsgi_app = webhook_endpoint.WebhookEndpoint(app.wsgi_app, services)  # type: ignore[method-assign]
    register_cli(app)
    logging.getLogger(__name__).info("app ready", extra={"env": settings.env})
    return app


def _default_clock(settings: Settings, redis: Redis) -> Clock:
    """The system clock; with the playground on (never in production) its shared dev clock,
    so that time travel moves every process of dev mode at once."""
    if settings.playground_on and not settings.is_production:
        return DevClock(redis)
    return SystemClock()
