"""Helpers for test delivery to staff: codes issued and recipients registered without the UI."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import func, select

from bot.delivery import staff_recipients
from bot.models import Delivery, Flow, Operator, StaffRecipient, StaffSend


def issue_code(app: Flask, operator_id: int) -> str:
    """A fresh registration code for the operator, as the console would show it."""
    with app.app_context():
        services = app.extensions["bot"]
        session = services.db.session()
        operator = session.get(Operator, operator_id)
        code = staff_recipients.issue_code(
            session, operator, services.settings.secret_key, services.clock.now()
        )
        session.commit()
        return code


def register(app: Flask, operator_id: int, line_user_id: str) -> None:
    """Make the LINE user the operator's test recipient directly."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        session.add(
            StaffRecipient(
                operator_id=operator_id, line_user_id=line_user_id, registered_at=datetime.now(UTC)
            )
        )
        session.commit()


def recipient_users(app: Flask) -> dict[int, str]:
    """Operator id → registered LINE user id."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        rows = session.execute(select(StaffRecipient.operator_id, StaffRecipient.line_user_id))
        return {operator_id: user for operator_id, user in rows}


def counts(app: Flask) -> dict[str, int]:
    """Rows of the delivery engine and of the test-send audit."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        return {
            name: session.scalar(select(func.count()).select_from(model)) or 0
            for name, model in (("deliveries", Delivery), ("flows", Flow), ("sends", StaffSend))
        }


def audit(app: Flask) -> list[StaffSend]:
    """Every test-send record, oldest first."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        rows = list(session.scalars(select(StaffSend).order_by(StaffSend.id)).all())
        session.expunge_all()
        return rows
