"""What staff write beside the chat: internal notes on a shopper's tickets, and the shop's
canned replies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import CannedReply, InternalNote, Operator, SupportTicket
from bot.support.actions import MAX_REPLY_LENGTH
from bot.support.errors import TicketError

MAX_NOTE_LENGTH = 2000


def add_note(
    session: Session, ticket: SupportTicket, operator: Operator, body: str, now: datetime
) -> InternalNote:
    """An internal note on the ticket (any signed-in staff may add one)."""
    body = body.strip()
    if not body:
        raise TicketError("メモを入力してください。")
    if len(body) > MAX_NOTE_LENGTH:
        raise TicketError(f"メモは{MAX_NOTE_LENGTH}文字以内にしてください。")
    note = InternalNote(
        ticket_id=ticket.id,
        shopper_id=ticket.shopper_id,
        operator_id=operator.id,
        body=body,
        created_at=now,
    )
    session.add(note)
    return note


def shopper_notes(session: Session, shopper_id: int) -> list[InternalNote]:
    """Notes on every ticket of the shopper, oldest first (context from earlier chats)."""
    return list(
        session.scalars(
            select(InternalNote)
            .where(InternalNote.shopper_id == shopper_id)
            .order_by(InternalNote.created_at, InternalNote.id)
        )
    )


def canned_replies(session: Session) -> list[CannedReply]:
    """All canned replies by title."""
    return list(session.scalars(select(CannedReply).order_by(CannedReply.title)))


def save_canned_reply(
    session: Session, reply: CannedReply | None, title: str, body: str, now: datetime
) -> CannedReply:
    """Create (reply None) or update a canned reply."""
    title, body = title.strip(), body.strip()
    if not title or len(title) > 100:
        raise TicketError("タイトルは1〜100文字で入力してください。")
    if not body or len(body) > MAX_REPLY_LENGTH:
        raise TicketError(f"本文は1〜{MAX_REPLY_LENGTH}文字で入力してください。")
    if reply is None:
        reply = CannedReply(title=title, body=body, created_at=now, updated_at=now)
        session.add(reply)
    else:
        reply.title, reply.body, reply.updated_at = title, body, now
    session.flush()
    return reply
