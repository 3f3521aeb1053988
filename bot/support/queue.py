"""What the console lists: the open-work tabs and their counts, the resolved tickets (searched
and paged by key), and a shopper's earlier tickets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, tuple_
from sqlalchemy.orm import Session, selectinload

from bot.models import Shopper, SupportTicket, TicketState
from bot.support.errors import TicketError

RESOLVED_PAGE_SIZE = 50
MAX_SEARCH_LENGTH = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAGE_TOKEN = re.compile(r"(\d{1,18})\.(\d{1,18})", re.ASCII)


def open_tickets(
    session: Session, tab: str, operator_id: int, limit: int = 100
) -> list[SupportTicket]:
    """Tickets of an open-work tab: waiting, mine or open (waiting and claimed).

    Resolved tickets are paged and searched with `resolved_tickets`.
    """
    query = select(SupportTicket)
    if tab == "waiting":
        query = query.where(SupportTicket.state == TicketState.WAITING).order_by(
            SupportTicket.priority.desc(), SupportTicket.created_at
        )
    elif tab == "mine":
        query = query.where(
            SupportTicket.state == TicketState.CLAIMED, SupportTicket.operator_id == operator_id
        ).order_by(SupportTicket.last_activity_at.desc())
    elif tab == "open":
        query = query.where(SupportTicket.state != TicketState.RESOLVED).order_by(
            SupportTicket.priority.desc(), SupportTicket.created_at
        )
    else:
        raise TicketError("不明なタブです。")
    # Every row shows its shopper: one query for all of them, not one per row (the console
    # polls this every few seconds).
    return list(session.scalars(query.options(selectinload(SupportTicket.shopper)).limit(limit)))


@dataclass(frozen=True)
class PageKey:
    """A resolved ticket's place in the newest-first order: (resolved_at, id)."""

    resolved_at: datetime
    id: int

    @classmethod
    def of(cls, ticket: SupportTicket) -> PageKey:
        """The key of a resolved ticket."""
        assert ticket.resolved_at is not None  # resolve_ticket always sets it
        return cls(ticket.resolved_at, ticket.id)

    def token(self) -> str:
        """The key for a URL: microseconds since 1970 and the id (exact, unlike a float)."""
        return f"{(self.resolved_at - _EPOCH) // timedelta(microseconds=1)}.{self.id}"

    @classmethod
    def from_token(cls, token: str) -> PageKey:
        """Read `token()` back; TicketError if it is not one."""
        match = _PAGE_TOKEN.fullmatch(token)
        if match is None:
            raise TicketError("ページの指定が正しくありません。")
        try:
            resolved_at = _EPOCH + timedelta(microseconds=int(match[1]))
        except OverflowError:
            raise TicketError("ページの指定が正しくありません。") from None
        return cls(resolved_at, int(match[2]))


@dataclass(frozen=True)
class ResolvedPage:
    """One page of resolved tickets, newest first, and the keys of the pages around it.

    `newer` is the first row's key if newer matches exist (the 「前へ」 page lists the rows
    newer than it); `older` the last row's key if older matches exist (「次へ」).
    """

    tickets: list[SupportTicket]
    newer: PageKey | None
    older: PageKey | None


def _shopper_matches(search: str) -> ColumnElement[bool] | None:
    """Display name containing every word, member id by prefix, or the exact LINE user id."""
    words = search.split()  # also splits on the full-width space a Japanese IME types
    if not words:
        return None
    # icontains is ILIKE on PostgreSQL; on SQLite lower() only folds ASCII letters.
    name = and_(*(Shopper.display_name.icontains(word, autoescape=True) for word in words))
    if len(words) > 1:
        return name
    (word,) = words
    return or_(
        name,
        Shopper.member_id.startswith(word, autoescape=True),
        Shopper.line_user_id == word,
    )


def resolved_tickets(
    session: Session,
    search: str = "",
    *,
    older_than: PageKey | None = None,
    newer_than: PageKey | None = None,
    limit: int = RESOLVED_PAGE_SIZE,
) -> ResolvedPage:
    """A page of resolved tickets, newest first, optionally only the matching shoppers'.

    Keyset pagination on (resolved_at, id): no OFFSET to skip, and a ticket resolved while
    someone pages through the list does not shift the older pages by one.
    """
    if older_than is not None and newer_than is not None:
        raise TicketError("ページの指定が正しくありません。")
    if len(search) > MAX_SEARCH_LENGTH:
        raise TicketError(f"検索語は{MAX_SEARCH_LENGTH}文字以内で入力してください。")
    matching: Select[tuple[SupportTicket]] = select(SupportTicket).where(
        SupportTicket.state == TicketState.RESOLVED
    )
    condition = _shopper_matches(search)
    if condition is not None:
        matching = matching.join(Shopper, Shopper.id == SupportTicket.shopper_id).where(condition)
    key = tuple_(SupportTicket.resolved_at, SupportTicket.id)

    def exists(*where: ColumnElement[bool]) -> bool:
        return bool(session.scalar(select(matching.where(*where).exists())))

    if newer_than is None:
        query = matching.order_by(SupportTicket.resolved_at.desc(), SupportTicket.id.desc())
        if older_than is not None:
            query = query.where(key < (older_than.resolved_at, older_than.id))
    else:  # read towards the newer end, then turn the page round
        query = matching.where(key > (newer_than.resolved_at, newer_than.id)).order_by(
            SupportTicket.resolved_at, SupportTicket.id
        )
    rows = list(
        session.scalars(query.options(selectinload(SupportTicket.shopper)).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    if newer_than is not None:
        rows.reverse()
    if not rows:
        return ResolvedPage([], None, None)
    first, last = PageKey.of(rows[0]), PageKey.of(rows[-1])
    if newer_than is None:
        has_newer = older_than is not None and exists(key > (first.resolved_at, first.id))
        has_older = more
    else:
        has_newer = more
        has_older = exists(key < (last.resolved_at, last.id))
    return ResolvedPage(rows, first if has_newer else None, last if has_older else None)


def queue_counts(session: Session, operator_id: int) -> dict[str, int]:
    """Ticket counts for the tabs that show open work."""
    rows = session.execute(
        select(SupportTicket.state, SupportTicket.operator_id, func.count())
        .where(SupportTicket.state != TicketState.RESOLVED)
        .group_by(SupportTicket.state, SupportTicket.operator_id)
    ).all()
    counts = {"waiting": 0, "mine": 0, "open": 0}
    for state, owner, count in rows:
        counts["open"] += count
        if state == TicketState.WAITING:
            counts["waiting"] += count
        elif owner == operator_id:
            counts["mine"] += count
    return counts


def tickets_of_shopper(session: Session, shopper_id: int, limit: int = 10) -> list[SupportTicket]:
    """The shopper's latest tickets, newest first."""
    return list(
        session.scalars(
            select(SupportTicket)
            .where(SupportTicket.shopper_id == shopper_id)
            .order_by(SupportTicket.id.desc())
            .limit(limit)
        )
    )
