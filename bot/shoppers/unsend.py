"""Unsend: a shopper took a message back, so its text leaves every place we kept it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.models import (
    ConversationMessage,
    Direction,
    FaqInteraction,
    Shopper,
    SupportTicket,
    WebhookEvent,
)

UNSENT_TEXT = "(送信取消されたメッセージ)"
# LINE lets a user unsend a message for 24 hours; a shopper does not send thousands a day.
RECENT_MESSAGES = 500


def withdraw_message(session: Session, shopper: Shopper, message_id: str, now: datetime) -> int:
    """Replace the text of the shopper's message `message_id` wherever it is stored: the
    conversation log (the console shows the placeholder), the FAQ statistics, ticket
    summaries and the stored webhook event. Keeps that a message was sent and unsent;
    returns the number of stored events found."""
    events = session.scalars(
        select(WebhookEvent)
        .where(
            WebhookEvent.line_user_id == shopper.line_user_id,
            WebhookEvent.event_type == "message",
        )
        .order_by(WebhookEvent.occurred_at.desc())
        .limit(RECENT_MESSAGES)
    ).all()
    matched = [event for event in events if _message_id(event) == message_id]
    for event in matched:
        message = dict((event.payload or {}).get("message") or {})
        _scrub_summaries(session, shopper, message.get("text"))
        kept = {key: message[key] for key in ("id", "type") if key in message}
        # A new dict: the JSON column notices a replaced value, not an edit in place.
        event.payload = {**(event.payload or {}), "message": {**kept, "unsent": True}}
        ids = [event.webhook_event_id]
        session.execute(
            update(ConversationMessage)
            .where(
                ConversationMessage.shopper_id == shopper.id,
                ConversationMessage.direction == Direction.INBOUND,
                ConversationMessage.webhook_event_id.in_(ids),
            )
            .values(text=UNSENT_TEXT, payload={"unsent_at": now.isoformat()})
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(FaqInteraction)
            .where(
                FaqInteraction.shopper_id == shopper.id,
                FaqInteraction.webhook_event_id.in_(ids),
            )
            .values(text=None)
            .execution_options(synchronize_session=False)
        )
    return len(matched)


def _scrub_summaries(session: Session, shopper: Shopper, text: object) -> None:
    # A ticket's summary quotes the questions that led to it (cut to 500 characters).
    if not isinstance(text, str) or not text.strip():
        return
    for ticket in session.scalars(
        select(SupportTicket).where(
            SupportTicket.shopper_id == shopper.id, SupportTicket.summary.is_not(None)
        )
    ):
        summary = ticket.summary or ""
        for quoted in (text, text[:500]):
            summary = summary.replace(quoted, UNSENT_TEXT)
        ticket.summary = summary


def _message_id(event: WebhookEvent) -> str | None:
    message = (event.payload or {}).get("message")
    return message.get("id") if isinstance(message, dict) else None
