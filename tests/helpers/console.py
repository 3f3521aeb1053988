"""Console test helpers: staff accounts, a shopper with an escalated chat, form posts with CSRF."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient

from bot.console.operators import create_operator
from bot.line.messaging import log_inbound
from bot.models import Operator, OperatorRole, Shopper, SupportTicket, TicketReason
from bot.shoppers.service import get_or_create_shopper
from bot.support.escalation import escalate
from tests.helpers.line import SHOPPER_ID

PASSWORD = "とても長いパスワード123"
NOW = datetime(2024, 5, 8, 2, 0, tzinfo=UTC)  # 11:00 on a Wednesday in Tokyo
# One PBKDF2 round instead of scrypt for operator passwords: the console tests sign in often.
FAST_PASSWORD_HASH = "pbkdf2:sha256:1"


def make_operator(
    app: Flask, email: str, name: str, role: OperatorRole = OperatorRole.OPERATOR
) -> int:
    """Create an account and return its id."""
    with app.app_context():
        services = app.extensions["bot"]
        session = services.db.session()
        operator = create_operator(
            session,
            email,
            name,
            PASSWORD,
            role,
            NOW,
            hash_method=services.settings.password_hash_method,
        )
        session.commit()
        return operator.id


def open_ticket(
    app: Flask,
    text: str = "注文した商品がまだ届きません",
    line_user_id: str = SHOPPER_ID,
    reason: TicketReason = TicketReason.ASKED_FOR_PERSON,
    now: datetime | None = None,
) -> int:
    """A shopper message followed by an escalation, as the FAQ engine would do it."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        now = now or app.extensions["bot"].clock.now()
        shopper = get_or_create_shopper(session, line_user_id, now)
        shopper.display_name = shopper.display_name or "山田 花子"
        log_inbound(session, shopper, message_type="text", text=text, now=now)
        ticket, _ = escalate(session, shopper, reason, now, summary=text)
        session.commit()
        return ticket.id


def csrf(client: FlaskClient) -> str:
    """The CSRF token of the client's session (a page must have been loaded)."""
    with client.session_transaction() as session:
        token = session.get("csrf")
    if token is None:
        client.get("/console/login")
        with client.session_transaction() as session:
            token = session["csrf"]
    return token


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> object:
    """Sign in through the form."""
    client.get("/console/login")
    return client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": csrf(client)},
    )


def post(client: FlaskClient, url: str, **data: str) -> object:
    """A form POST with the session's CSRF token."""
    return client.post(url, data={"csrf_token": csrf(client), **data})


def load(app: Flask, model: type, ident: int) -> object:
    """A fresh copy of a row (outside any request)."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        row = session.get(model, ident)
        session.expunge_all()
        return row


def ticket(app: Flask, ident: int) -> SupportTicket:
    return load(app, SupportTicket, ident)  # type: ignore[return-value]


def operator(app: Flask, ident: int) -> Operator:
    return load(app, Operator, ident)  # type: ignore[return-value]


def shopper(app: Flask, line_user_id: str = SHOPPER_ID) -> Shopper:
    from sqlalchemy import select

    with app.app_context():
        session = app.extensions["bot"].db.session()
        row = session.scalars(select(Shopper).where(Shopper.line_user_id == line_user_id)).one()
        session.expunge_all()
        return row
