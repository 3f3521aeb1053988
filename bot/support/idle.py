"""The idle timeout: open tickets nobody wrote in for SUPPORT_IDLE_TIMEOUT_MINUTES go back
to the bot, and their shoppers are told."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.settings import BusinessHours, Settings
from bot.line.messaging import Messenger
from bot.models import SupportTicket, TicketState
from bot.support.actions import resolve_ticket, tell_shopper_returned
from bot.support.errors import TicketConflict
from bot.support.hours import current_business_hours, is_open


def _opened_at(now: datetime, hours: BusinessHours, settings: Settings) -> datetime | None:
    """When today's staffed hours began, if the shop is staffed right now; else None."""
    if not is_open(hours, settings.tz, now):
        return None
    local = now.astimezone(settings.tz)
    return local.replace(hour=hours.start.hour, minute=hours.start.minute, second=0, microsecond=0)


def idle_tickets(session: Session, settings: Settings, now: datetime) -> list[SupportTicket]:
    """Open tickets with no message either way for SUPPORT_IDLE_TIMEOUT_MINUTES.

    A waiting ticket only counts staffed time: one left overnight is not returned to the bot
    the moment the shop opens, staff get the full timeout to pick it up first.
    """
    timeout = timedelta(minutes=settings.support_idle_timeout_minutes)
    cutoff = now - timeout
    candidates = session.scalars(
        select(SupportTicket).where(
            SupportTicket.state != TicketState.RESOLVED, SupportTicket.last_activity_at < cutoff
        )
    ).all()
    opened = _opened_at(now, current_business_hours(session, settings), settings)
    idle = []
    for ticket in candidates:
        if ticket.state is TicketState.WAITING and (opened is None or opened > cutoff):
            continue
        idle.append(ticket)
    return idle


def return_idle_tickets(
    session: Session, messenger: Messenger, templates: Any, settings: Settings, now: datetime
) -> int:
    """Hand idle chats back to the bot and tell the shoppers; how many were returned."""
    returned = 0
    for ticket in idle_tickets(session, settings, now):
        try:
            resolve_ticket(session, ticket, None, now, resolution="timeout")
        except TicketConflict:
            continue
        tell_shopper_returned(messenger, templates, settings, ticket, survey=False)
        returned += 1
    return returned
