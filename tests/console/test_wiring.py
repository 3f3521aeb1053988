"""How the console is put together: its exact routes, one blueprint per app, the periodic
housekeeping, and password hashing that is cheap in tests and never in production."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from redis import Redis
from werkzeug.security import check_password_hash

from bot.app import create_app
from bot.console.jobs import LOGIN_ATTEMPTS_KEPT, prune_login_attempts
from bot.console.operators import PASSWORD_HASH_METHOD, hash_password
from bot.core.db import Database
from bot.core.settings import ConfigError, Settings
from bot.line.gateway import InMemoryLineGateway
from bot.models import LoginAttempt, SupportTicket, TicketState
from bot.support.actions import claim_ticket
from bot.support.jobs import return_idle_tickets
from tests.helpers.console import FAST_PASSWORD_HASH, make_operator, open_ticket

# (rule, endpoint, methods): templates and redirects build URLs from these endpoint names.
ROUTES = {
    ("/console/", "console.index", "GET"),
    ("/console/admin/canned", "console.admin_canned", "GET"),
    ("/console/admin/canned", "console.admin_canned_save", "POST"),
    ("/console/admin/canned/<int:reply_id>", "console.admin_canned_save", "POST"),
    ("/console/admin/canned/<int:reply_id>/delete", "console.admin_canned_delete", "POST"),
    ("/console/admin/hours", "console.admin_hours", "GET"),
    ("/console/admin/hours", "console.admin_hours_save", "POST"),
    ("/console/admin/operators", "console.admin_operator_create", "POST"),
    ("/console/admin/operators", "console.admin_operators", "GET"),
    ("/console/admin/operators/<int:operator_id>", "console.admin_operator_update", "POST"),
    (
        "/console/admin/operators/<int:operator_id>/password",
        "console.admin_operator_password",
        "POST",
    ),
    ("/console/admin/test-delivery", "console.admin_test_delivery", "GET"),
    ("/console/admin/test-delivery", "console.admin_test_delivery_send", "POST"),
    (
        "/console/admin/test-delivery/recipients/<int:operator_id>/remove",
        "console.admin_test_recipient_remove",
        "POST",
    ),
    ("/console/admin/webhooks", "console.admin_webhooks", "GET"),
    ("/console/admin/webhooks/retry", "console.admin_webhooks_retry", "POST"),
    ("/console/api/queue", "console.queue_api", "GET"),
    ("/console/broadcasts", "console.broadcast_create", "POST"),
    ("/console/broadcasts", "console.broadcasts", "GET"),
    ("/console/broadcasts/<int:broadcast_id>", "console.broadcast_detail", "GET"),
    ("/console/broadcasts/<int:broadcast_id>/cancel", "console.broadcast_cancel", "POST"),
    ("/console/broadcasts/new", "console.broadcast_new", "GET"),
    ("/console/broadcasts/preview", "console.broadcast_preview", "POST"),
    ("/console/faq", "console.faq_entries", "GET"),
    ("/console/faq/entries/<faq_id>", "console.faq_entry", "GET"),
    ("/console/faq/entries/<faq_id>", "console.faq_entry_save", "POST"),
    ("/console/faq/entries/<faq_id>/delete", "console.faq_entry_delete", "POST"),
    ("/console/faq/export", "console.faq_export", "GET"),
    ("/console/faq/new", "console.faq_entry_create", "POST"),
    ("/console/faq/new", "console.faq_entry_new", "GET"),
    ("/console/faq/try", "console.faq_try", "GET"),
    ("/console/faq/try", "console.faq_try", "POST"),
    ("/console/faq/unresolved", "console.faq_unresolved", "GET"),
    ("/console/faq/unresolved/dismiss", "console.faq_unresolved_dismiss", "POST"),
    ("/console/faq/unresolved/suggest", "console.faq_unresolved_suggest", "POST"),
    ("/console/faq/unresolved/variant", "console.faq_unresolved_variant", "POST"),
    ("/console/api/tickets/<int:ticket_id>/messages", "console.messages_api", "GET"),
    ("/console/flex-values.css", "console.flex_values", "GET"),
    ("/console/flex.css", "console.flex_css", "GET"),
    ("/console/login", "console.login", "GET"),
    ("/console/login", "console.login_submit", "POST"),
    ("/console/logout", "console.logout", "POST"),
    ("/console/password", "console.change_password", "GET"),
    ("/console/password", "console.change_password_submit", "POST"),
    ("/console/queue", "console.queue_page", "GET"),
    ("/console/static/<path:filename>", "console.static", "GET"),
    ("/console/test-recipient", "console.test_recipient", "GET"),
    ("/console/test-recipient/code", "console.test_recipient_code", "POST"),
    ("/console/test-recipient/remove", "console.test_recipient_remove", "POST"),
    ("/console/tickets/<int:ticket_id>", "console.chat", "GET"),
    ("/console/tickets/<int:ticket_id>/claim", "console.claim", "POST"),
    ("/console/tickets/<int:ticket_id>/notes", "console.add_note", "POST"),
    ("/console/tickets/<int:ticket_id>/reply", "console.reply", "POST"),
    ("/console/tickets/<int:ticket_id>/resolve", "console.resolve", "POST"),
    ("/console/tickets/<int:ticket_id>/transfer", "console.transfer", "POST"),
}


def console_routes(app: Flask) -> set[tuple[str, str, str]]:
    return {
        (rule.rule, rule.endpoint, ",".join(sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("console.")
    }


def test_console_routes_and_endpoint_names(app: Flask) -> None:
    assert console_routes(app) == ROUTES
    with app.test_request_context():
        from flask import url_for

        assert url_for("console.admin_canned_save") == "/console/admin/canned"
        assert url_for("console.admin_canned_save", reply_id=7) == "/console/admin/canned/7"


def test_each_app_gets_the_whole_console(
    app: Flask, settings: Settings, db: Database, redis: Redis, line: InMemoryLineGateway
) -> None:
    second = create_app(settings, line=line, redis=redis, database=db)
    assert console_routes(second) == ROUTES
    assert second.blueprints["console"] is not app.blueprints["console"]
    assert second.test_client().get("/console/login").status_code == 200


def test_periodic_runs_return_idle_tickets_and_prune_old_sign_ins(app: Flask) -> None:
    ident = open_ticket(app)
    staff = make_operator(app, "sato@example.jp", "佐藤")
    with app.app_context():
        services = app.extensions["bot"]
        session = services.db.session()
        now = services.clock.now()
        # A claimed chat times out at any hour (a waiting one only counts staffed time).
        assert claim_ticket(session, ident, staff, now - timedelta(days=2))
        for age in (LOGIN_ATTEMPTS_KEPT + timedelta(hours=1), timedelta(days=1)):
            session.add(
                LoginAttempt(email="a@example.jp", ip="-", succeeded=False, created_at=now - age)
            )
        session.commit()

        assert return_idle_tickets() == 1
        assert prune_login_attempts() == 1

        session = services.db.session()
        assert session.get(SupportTicket, ident).state is TicketState.RESOLVED
        kept = session.query(LoginAttempt).all()
        assert [now - row.created_at for row in kept] == [timedelta(days=1)]


def test_passwords_are_scrypt_unless_the_settings_say_otherwise() -> None:
    assert PASSWORD_HASH_METHOD == "scrypt"
    assert Settings().password_hash_method == "scrypt"
    assert hash_password("とても長いパスワード123").startswith("scrypt:")
    cheap = hash_password("とても長いパスワード123", FAST_PASSWORD_HASH)
    assert cheap.startswith("pbkdf2:sha256:1$")
    assert check_password_hash(cheap, "とても長いパスワード123")


def test_the_test_suite_hashes_cheaply(app: Flask) -> None:
    ident = make_operator(app, "sato@example.jp", "佐藤")
    with app.app_context():
        from bot.models import Operator

        stored = app.extensions["bot"].db.session().get(Operator, ident).password_hash
    assert stored.startswith("pbkdf2:sha256:1$")


def test_production_refuses_cheap_password_hashing(
    settings: Settings, db: Database, redis: Redis, line: InMemoryLineGateway
) -> None:
    cheap = settings.with_changes(env="production", password_hash_method=FAST_PASSWORD_HASH)
    with pytest.raises(ConfigError, match="password_hash_method"):
        create_app(cheap, line=line, redis=redis, database=db)
