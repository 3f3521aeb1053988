"""Escalation, the bot side of support: opening a ticket for a shopper, and noticing while a
person has the chat (the bot stays silent) and when the shopper writes in it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import signals
from bot.models import Shopper, SupportTicket, TicketReason, TicketState

PRIORITY = {
    TicketReason.ASKED_FOR_PERSON: 1,
    TicketReason.NEGATIVE_FEEDBACK: 2,
    TicketReason.FAQ_MISS: 0,
}


def active_ticket(session: Session, shopper: Shopper) -> SupportTicket | None:
    """The shopper's open (waiting or claimed) ticket, if any."""
    return session.scalars(
        select(SupportTicket)
        .where(SupportTicket.shopper_id == shopper.id, SupportTicket.state != TicketState.RESOLVED)
        .order_by(SupportTicket.id.desc())
    ).first()


def is_with_staff(session: Session, shopper: Shopper) -> bool:
    """True while a person owns (or is about to own) the chat: the bot stays silent."""
    return active_ticket(session, shopper) is not None


def escalate(
    session: Session,
    shopper: Shopper,
    reason: TicketReason,
    now: datetime,
    summary: str | None = None,
) -> tuple[SupportTicket, bool]:
    """Open a ticket for the shopper, or return the open one; (ticket, created)."""
    ticket = active_ticket(session, shopper)
    if ticket is not None:
        ticket.last_activity_at = now
        return ticket, False
    ticket = SupportTicket(
        shopper_id=shopper.id,
        state=TicketState.WAITING,
        reason=reason,
        priority=PRIORITY[reason],
        summary=summary,
        created_at=now,
        last_activity_at=now,
    )
    session.add(ticket)
    session.flush()
    signals.chat_escalated.send(None, session=session, shopper=shopper, now=now, ticket=ticket)
    return ticket, True


def note_shopper_activity(
    session: Session, shopper: Shopper, now: datetime
) -> SupportTicket | None:
    """A shopper message arrived: keep their open ticket from timing out; the ticket or None."""
    ticket = active_ticket(session, shopper)
    if ticket is not None:
        ticket.last_activity_at = max(ticket.last_activity_at, now)
    return ticket
