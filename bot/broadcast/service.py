"""Broadcast records: create one from a checked composition, cancel it, read its progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.broadcast.compose import Content
from bot.models import (
    Broadcast,
    BroadcastBatch,
    BroadcastBatchState,
    BroadcastRecipient,
    BroadcastState,
    RecipientState,
)

# The dispatcher hands a due broadcast to a sender and looks again after this long: if
# Redis lost the job, or its worker died, the broadcast is picked up again then.
DISPATCH_GRACE = timedelta(minutes=5)
OPEN_STATES = (BroadcastState.SCHEDULED, BroadcastState.SENDING)


class BroadcastError(ValueError):
    """The operation is not possible in the broadcast's state; the text says why (Japanese)."""


def create(
    session: Session,
    *,
    title: str,
    content: Content,
    segment: str | None,
    send_at: datetime,
    created_by: str,
    create_key: str,
    now: datetime,
) -> tuple[Broadcast, bool]:
    """Store a scheduled broadcast; the same `create_key` again returns the first one
    (False: nothing new)."""
    existing = session.scalar(select(Broadcast).where(Broadcast.create_key == create_key))
    if existing is not None:
        return existing, False
    broadcast = Broadcast(
        title=title,
        create_key=create_key,
        state=BroadcastState.SCHEDULED,
        message=content.message,
        template=content.template,
        template_variant=content.template_variant,
        template_data=content.template_data,
        personalised=content.personalised,
        segment=segment or None,
        scheduled_at=send_at,
        next_due_at=send_at,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(broadcast)
    except IntegrityError:  # the same form submitted twice at once: the other one won
        existing = session.scalar(select(Broadcast).where(Broadcast.create_key == create_key))
        if existing is None:
            raise
        return existing, False
    return broadcast, True


def locked(session: Session, broadcast_id: int) -> Broadcast | None:
    """The broadcast, its row locked until the commit on PostgreSQL."""
    query = select(Broadcast).where(Broadcast.id == broadcast_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def cancel(session: Session, broadcast_id: int, now: datetime) -> Broadcast:
    """Cancel a broadcast that has not started; BroadcastError once it has."""
    broadcast = locked(session, broadcast_id)
    if broadcast is None:
        raise BroadcastError("配信が見つかりません。")
    if broadcast.state is BroadcastState.CANCELLED:
        return broadcast
    starting = broadcast.lease_until is not None and broadcast.lease_until > now
    if broadcast.state is not BroadcastState.SCHEDULED or starting:
        raise BroadcastError("この配信はすでに始まっているか終わっているため、取り消せません。")
    broadcast.state = BroadcastState.CANCELLED
    broadcast.cancelled_at = now
    broadcast.next_due_at = None
    broadcast.updated_at = now
    return broadcast


def due_for_dispatch(session: Session, now: datetime) -> list[int]:
    """Open broadcasts whose time has come and that no sender holds, marked as handed out."""
    query = select(Broadcast).where(
        Broadcast.state.in_(OPEN_STATES),
        Broadcast.next_due_at <= now,
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = []
    for broadcast in session.scalars(query):
        if broadcast.lease_until is not None and broadcast.lease_until > now:
            continue
        broadcast.next_due_at = now + DISPATCH_GRACE
        ids.append(broadcast.id)
    return ids


@dataclass
class Progress:
    """A broadcast's recipients by outcome, and the outcomes' reasons."""

    by_state: dict[str, int] = field(default_factory=dict)
    reasons: dict[tuple[str, str], int] = field(default_factory=dict)  # (state, reason) → n
    batches: dict[str, int] = field(default_factory=dict)

    def count(self, state: RecipientState) -> int:
        return self.by_state.get(state.value, 0)

    @property
    def total(self) -> int:
        return sum(self.by_state.values())


def progress(session: Session, broadcast_id: int) -> Progress:
    """Counts for the console: sent, skipped by reason, deferred, failed, not sent."""
    result = Progress()
    rows = session.execute(
        select(BroadcastRecipient.state, BroadcastRecipient.reason, func.count())
        .where(BroadcastRecipient.broadcast_id == broadcast_id)
        .group_by(BroadcastRecipient.state, BroadcastRecipient.reason)
    )
    for state, reason, n in rows:
        key = RecipientState(state).value
        result.by_state[key] = result.by_state.get(key, 0) + n
        if reason:
            result.reasons[(key, reason)] = result.reasons.get((key, reason), 0) + n
    for state, n in session.execute(
        select(BroadcastBatch.state, func.count())
        .where(BroadcastBatch.broadcast_id == broadcast_id)
        .group_by(BroadcastBatch.state)
    ):
        result.batches[BroadcastBatchState(state).value] = n
    return result


def recent(session: Session, limit: int = 50) -> list[Broadcast]:
    """The newest broadcasts first."""
    return list(session.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)))
