"""Chats outside the one-to-one rules: groups and rooms the bot leaves, and chat control."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.models import LineChat


def _ensure_chat(session: Session, chat_id: str, kind: str, now: datetime) -> None:
    # INSERT … ON CONFLICT DO NOTHING: two workers seeing the chat first both go on to the
    # conditional UPDATE below, and only one of them wins it.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(LineChat)
        .values(chat_id=chat_id, kind=kind, standby=False, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["chat_id"])
    )


def claim_group_notice(
    session: Session, chat_id: str, kind: str, at: datetime, now: datetime, *, invited: bool
) -> bool:
    """Whether this group or room event is the one to say "one-to-one only" (once per stay).

    A `join` (`invited`) newer than the last notice starts a new stay: the bot was added
    again after it left. Any other event gets the notice only if none was given yet. The
    caller commits at once, so a retry or a concurrent event does not say it twice.
    """
    _ensure_chat(session, chat_id, kind, now)
    condition = LineChat.told_at.is_(None)
    if invited:
        condition = or_(condition, LineChat.told_at < at)
    claimed = session.execute(
        update(LineChat)
        .where(LineChat.chat_id == chat_id, condition)
        .values(told_at=at, left_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(claimed)


def record_left(session: Session, chat_id: str, kind: str, now: datetime) -> None:
    """Note that the bot is out of a group or room (it left, or was removed)."""
    _ensure_chat(session, chat_id, kind, now)
    session.execute(
        update(LineChat)
        .where(LineChat.chat_id == chat_id)
        .values(left_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def set_chat_control(
    session: Session,
    chat_id: str,
    *,
    active: bool,
    at: datetime,
    expires_at: datetime | None,
    now: datetime,
) -> bool:
    """Record that this channel got (`active`) or lost chat control of a chat at `at`.

    A switch older than the one applied last (LINE redelivered it late) changes nothing;
    returns whether this one was applied.
    """
    _ensure_chat(session, chat_id, "user", now)
    changed = session.execute(
        update(LineChat)
        .where(
            LineChat.chat_id == chat_id,
            or_(LineChat.control_changed_at.is_(None), LineChat.control_changed_at <= at),
        )
        .values(
            standby=not active,
            control_expires_at=expires_at if active else None,
            control_changed_at=at,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(changed)


def chat_control_summary(session: Session) -> dict[str, int]:
    """How many chats another channel controls, and how many groups/rooms the bot is in."""
    standby = session.scalar(
        select(func.count()).select_from(LineChat).where(LineChat.standby.is_(True))
    )
    in_groups = session.scalar(
        select(func.count())
        .select_from(LineChat)
        .where(LineChat.kind != "user", LineChat.told_at.is_not(None), LineChat.left_at.is_(None))
    )
    return {"standby_chats": int(standby or 0), "groups_not_left": int(in_groups or 0)}
