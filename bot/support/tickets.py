"""Support tickets: handing a chat from the bot to a person and back."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, tuple_, update
from sqlalchemy.orm import Session, selectinload

from bot.core import signals
from bot.core.settings import BusinessHours, Settings
from bot.line.gateway import LineError, Message, retry_key_for
from bot.line.messaging import Messenger
from bot.models import (
    BusinessHoursOverride,
    CannedReply,
    InternalNote,
    Operator,
    SatisfactionResponse,
    Sender,
    Shopper,
    SupportTicket,
    TicketReason,
    TicketState,
)
from bot.support.hours import is_open

log = logging.getLogger(__name__)

PRIORITY = {
    TicketReason.ASKED_FOR_PERSON: 1,
    TicketReason.NEGATIVE_FEEDBACK: 2,
    TicketReason.FAQ_MISS: 0,
}
MAX_REPLY_LENGTH = 5000  # LINE's limit for one text message
MAX_NOTE_LENGTH = 2000
CSAT_ACTION = "csat"
CSAT_LABELS = {
    5: "とても満足",
    4: "満足",
    3: "ふつう",
    2: "不満",
    1: "とても不満",
}


class TicketError(Exception):
    """A ticket action that cannot be done; the message is Japanese, for the console."""


class TicketForbidden(TicketError):
    """The operator may not act on this ticket (not the owner and not an admin)."""


class TicketConflict(TicketError):
    """The ticket changed meanwhile (already claimed, resolved or transferred)."""


# -- the bot side: escalation and activity ---------------------------------------------------


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


# -- business hours ---------------------------------------------------------------------------


def current_business_hours(session: Session, settings: Settings) -> BusinessHours:
    """Staffed hours: the admin's override from the console, else BUSINESS_HOURS."""
    row = session.scalars(select(BusinessHoursOverride).order_by(BusinessHoursOverride.id)).first()
    if row is None:
        return settings.business_hours
    try:
        return replace(  # the override sets days and times; closed days stay as configured
            settings.business_hours,
            weekdays=frozenset(int(day) for day in row.weekdays.split(",") if day),
            start=time.fromisoformat(row.start),
            end=time.fromisoformat(row.end),
        )
    except ValueError:
        log.error("business hours override unreadable, using the setting", extra={"id": row.id})
        return settings.business_hours


def business_hours_override(session: Session) -> BusinessHoursOverride | None:
    """The stored override, if an admin set one."""
    return session.scalars(select(BusinessHoursOverride).order_by(BusinessHoursOverride.id)).first()


def set_business_hours(
    session: Session, hours: BusinessHours | None, operator_id: int, now: datetime
) -> None:
    """Store an override (None removes it, so BUSINESS_HOURS applies again)."""
    if hours is not None and (not hours.weekdays or hours.start >= hours.end):
        raise TicketError("営業日を1日以上選び、終了時刻は開始時刻より後にしてください。")
    row = business_hours_override(session)
    if hours is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        row = BusinessHoursOverride(weekdays="", start="", end="", updated_at=now)
        session.add(row)
    row.weekdays = ",".join(str(day) for day in sorted(hours.weekdays))
    row.start = hours.start.strftime("%H:%M")
    row.end = hours.end.strftime("%H:%M")
    row.updated_by = operator_id
    row.updated_at = now


def _opened_at(now: datetime, hours: BusinessHours, settings: Settings) -> datetime | None:
    """When today's staffed hours began, if the shop is staffed right now; else None."""
    if not is_open(hours, settings.tz, now):
        return None
    local = now.astimezone(settings.tz)
    return local.replace(hour=hours.start.hour, minute=hours.start.minute, second=0, microsecond=0)


# -- the console side: queue, claim, transfer, resolve -----------------------------------------


def queue(session: Session, tab: str, operator_id: int, limit: int = 100) -> list[SupportTicket]:
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


RESOLVED_PAGE_SIZE = 50
MAX_SEARCH_LENGTH = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAGE_TOKEN = re.compile(r"(\d{1,18})\.(\d{1,18})", re.ASCII)


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


def can_act(ticket: SupportTicket, operator: Operator) -> bool:
    """Reply, transfer and resolve belong to the owning operator, or to an admin."""
    return operator.is_admin or (
        ticket.state is TicketState.CLAIMED and ticket.operator_id == operator.id
    )


def _require_open_and_allowed(ticket: SupportTicket, operator: Operator) -> None:
    if ticket.state is TicketState.RESOLVED:
        raise TicketConflict("このチャットは既に終了しています。")
    if not can_act(ticket, operator):
        raise TicketForbidden("このチャットの担当者ではありません。")


def claim_ticket(session: Session, ticket_id: int, operator_id: int, now: datetime) -> bool:
    """Take a waiting ticket; False if someone else got it first (one atomic UPDATE)."""
    result = session.execute(
        update(SupportTicket)
        .where(SupportTicket.id == ticket_id, SupportTicket.state == TicketState.WAITING)
        .values(
            state=TicketState.CLAIMED,
            operator_id=operator_id,
            claimed_at=now,
            last_activity_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    won = result.rowcount == 1
    if won:
        ticket = session.get(SupportTicket, ticket_id)
        if ticket is not None:
            session.refresh(ticket)
    return won


def transfer_ticket(
    session: Session,
    ticket: SupportTicket,
    acting: Operator,
    target: Operator | None,
    now: datetime,
) -> None:
    """Hand the ticket to another active operator, or back to the queue when target is None."""
    _require_open_and_allowed(ticket, acting)
    if target is not None and not target.active:
        raise TicketError("無効なアカウントには引き継げません。")
    values: dict[str, Any] = (
        {"state": TicketState.CLAIMED, "operator_id": target.id, "claimed_at": now}
        if target is not None
        else {"state": TicketState.WAITING, "operator_id": None, "claimed_at": None}
    )
    # Only if nobody changed it since we looked: two transfers at once cannot both win.
    result = session.execute(
        update(SupportTicket)
        .where(
            SupportTicket.id == ticket.id,
            SupportTicket.state == ticket.state,
            SupportTicket.operator_id.is_(None)
            if ticket.operator_id is None
            else SupportTicket.operator_id == ticket.operator_id,
        )
        .values(last_activity_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise TicketConflict("チャットの状態が変わりました。画面を更新してください。")
    session.refresh(ticket)


def resolve_ticket(
    session: Session,
    ticket: SupportTicket,
    acting: Operator | None,
    now: datetime,
    resolution: str = "resolved",
) -> None:
    """Close the ticket (acting None: the idle timeout); the chat goes back to the bot."""
    if acting is not None:
        _require_open_and_allowed(ticket, acting)
    result = session.execute(
        update(SupportTicket)
        .where(SupportTicket.id == ticket.id, SupportTicket.state != TicketState.RESOLVED)
        .values(state=TicketState.RESOLVED, resolved_at=now, resolution=resolution)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise TicketConflict("このチャットは既に終了しています。")
    session.refresh(ticket)
    signals.chat_returned.send(
        None, session=session, shopper=ticket.shopper, now=now, ticket=ticket
    )


def survey_message(ticket_id: int) -> Message:
    """The one-tap satisfaction question, answered by quick-reply postbacks."""
    return {
        "type": "text",
        "text": "今回の担当者の対応はいかがでしたか？よろしければ下のボタンからお選びください。",
        "quickReply": {
            "items": [
                {
                    "type": "action",
                    "action": {
                        "type": "postback",
                        "label": f"{score} {label}",
                        "data": f"action={CSAT_ACTION}&ticket={ticket_id}&score={score}",
                        "displayText": f"{score} {label}",
                    },
                }
                for score, label in sorted(CSAT_LABELS.items(), reverse=True)
            ]
        },
    }


TIMEOUT_TEXT = (
    "しばらくやりとりがなかったため、担当者とのチャットを終了しました。"
    "ご用の際は、いつでも「担当者と話したい」とお送りください。"
)
RETURNED_FALLBACK_TEXT = (
    "担当者とのやりとりを終了しました。ありがとうございました。"
    "引き続き、よくあるご質問には自動でお答えします。"
)


def hand_back_messages(
    templates: Any, settings: Settings, shopper: Shopper, ticket: SupportTicket, *, survey: bool
) -> list[Message]:
    """The messages telling the shopper the bot answers again (plus the survey if wanted)."""
    messages: list[Message] = []
    if ticket.resolution == "timeout":
        messages.append({"type": "text", "text": TIMEOUT_TEXT})
    else:
        data: dict[str, Any] = {"shop_name": settings.shop_name}
        if shopper.display_name:
            data["shopper_name"] = shopper.display_name
        try:
            messages.append(templates.render("escalation_returned", data))
        except Exception:  # a broken shop template must not block the hand-back
            log.exception("escalation_returned failed, sending text", extra={"ticket": ticket.id})
            messages.append({"type": "text", "text": RETURNED_FALLBACK_TEXT})
    if survey:
        messages.append(survey_message(ticket.id))
    return messages


def tell_shopper_returned(
    messenger: Messenger,
    templates: Any,
    settings: Settings,
    ticket: SupportTicket,
    *,
    survey: bool,
    staff_id: int | None = None,
) -> LineError | None:
    """Push the hand-back messages; the LINE error if it failed (the ticket stays resolved)."""
    shopper = ticket.shopper
    messages = hand_back_messages(templates, settings, shopper, ticket, survey=survey)
    try:
        messenger.push(
            shopper,
            messages,
            retry_key=retry_key_for("ticket-returned", ticket.id),
            sender=Sender.BOT,
            staff_id=staff_id,
        )
    except LineError as exc:
        log.warning("hand-back message failed", extra={"ticket": ticket.id, "status": exc.status})
        return exc
    return None


def send_staff_reply(
    messenger: Messenger,
    ticket: SupportTicket,
    operator: Operator,
    text: str,
    reply_token: str,
    now: datetime,
    icon_url: str | None = None,
) -> None:
    """Push a staff message to the shopper; raises LineError (logged as failed) on failure.

    `reply_token` is a random id the reply form carries: sending the same form twice reuses
    the retry key, so LINE delivers the message once. The message carries LINE's `sender`
    (the operator's name, and `icon_url`), so the shopper sees a person is answering.
    """
    _require_open_and_allowed(ticket, operator)
    if ticket.state is not TicketState.CLAIMED:
        raise TicketConflict("先にチャットを担当してください。")
    text = text.strip()
    if not text:
        raise TicketError("メッセージを入力してください。")
    if len(text) > MAX_REPLY_LENGTH:
        raise TicketError(f"メッセージは{MAX_REPLY_LENGTH}文字以内にしてください。")
    message: Message = {"type": "text", "text": text}
    sender = staff_sender(operator.name, icon_url)
    if sender:
        message["sender"] = sender
    messenger.push(
        ticket.shopper,
        [message],
        retry_key=retry_key_for("staff-reply", reply_token),
        sender=Sender.STAFF,
        staff_id=operator.id,
    )
    ticket.last_activity_at = now


SENDER_NAME_LIMIT = 20  # LINE's limit for sender.name


def staff_sender(name: str, icon_url: str | None) -> dict[str, str]:
    """LINE's `sender` for a staff message: the operator's name (whitespace collapsed, cut to
    20 characters) and the staff icon, if set. A name with the word LINE is left out: LINE
    refuses the whole message for it."""
    sender: dict[str, str] = {}
    display = " ".join(name.split())[:SENDER_NAME_LIMIT].strip()
    if display and "line" not in display.casefold():
        sender["name"] = display
    if icon_url:
        sender["iconUrl"] = icon_url
    return sender


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


# -- notes, canned replies, satisfaction ------------------------------------------------------


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


def record_satisfaction(
    session: Session, shopper: Shopper, ticket_id: int, score: int, now: datetime
) -> bool:
    """Store the shopper's rating of their own resolved ticket, once; False if refused."""
    if score not in CSAT_LABELS:
        return False
    ticket = session.get(SupportTicket, ticket_id)
    if ticket is None or ticket.shopper_id != shopper.id or ticket.state != TicketState.RESOLVED:
        return False
    exists = session.scalar(
        select(SatisfactionResponse.id).where(SatisfactionResponse.ticket_id == ticket_id)
    )
    if exists is not None:
        return False
    session.add(
        SatisfactionResponse(
            ticket_id=ticket_id,
            shopper_id=shopper.id,
            operator_id=ticket.operator_id,
            score=score,
            created_at=now,
        )
    )
    return True


@dataclass(frozen=True)
class SatisfactionStats:
    """Average score (None without answers) and number of answers."""

    average: float | None
    count: int


def satisfaction_stats(
    session: Session, operator_id: int | None = None, since: datetime | None = None
) -> SatisfactionStats:
    """Survey results, for everyone or one operator."""
    query = select(func.avg(SatisfactionResponse.score), func.count(SatisfactionResponse.id))
    if operator_id is not None:
        query = query.where(SatisfactionResponse.operator_id == operator_id)
    if since is not None:
        query = query.where(SatisfactionResponse.created_at >= since)
    average, count = session.execute(query).one()
    return SatisfactionStats(float(average) if average is not None else None, int(count))


def ticket_scores(session: Session, ticket_ids: Sequence[int]) -> dict[int, int]:
    """Survey score per ticket, for the resolved list."""
    if not ticket_ids:
        return {}
    rows = session.execute(
        select(SatisfactionResponse.ticket_id, SatisfactionResponse.score).where(
            SatisfactionResponse.ticket_id.in_(list(ticket_ids))
        )
    ).all()
    return {ticket_id: score for ticket_id, score in rows}


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
