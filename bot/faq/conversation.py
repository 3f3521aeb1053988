"""The FAQ conversation: answer, suggest, admit a miss, or hand the chat to a person.

Decisions (see docs/faq-bot.md):
* a confident match is answered, an unsure one gets 「もしかして」 choices, nothing relevant is
  said honestly with a 「担当者と話す」 offer;
* asking for a person escalates at once (reason asked_for_person);
* two misses in a row make the offer stronger but do not open a ticket by themselves: the
  shopper may just rephrase, and staff time is for shoppers who want it (reason faq_miss when
  they accept);
* 「いいえ(担当者と話す)」 under an answer escalates at once (reason negative_feedback): the
  button says it will;
* while a ticket is open the bot does not answer texts at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.settings import Settings
from bot.faq.file_format import FaqEntry
from bot.faq.matcher import FaqMatcher, MatchResult
from bot.faq.normalize import normalize_text
from bot.models import FaqInteraction, Shopper, SupportTicket, TicketReason
from bot.support import escalation as support
from bot.support.hours import (
    current_business_hours,
    describe_hours,
    describe_wait,
    is_open,
    next_opening,
)

TurnKind = Literal["answer", "suggest", "none", "human", "silent"]

# Misses in a row after which the 「担当者と話す」 offer is made more strongly.
MISSES_BEFORE_OFFER = 2
# Misses further apart than this are separate conversations, not a streak.
STREAK_WINDOW = timedelta(hours=1)
TEXT_KEPT = 200


@dataclass(frozen=True)
class Escalation:
    """A chat handed to staff and what to tell the shopper about the wait."""

    ticket_id: int
    created: bool
    open_now: bool
    reply_at: datetime  # aware UTC; equals the escalation time while staff are in
    expected: str  # e.g. 「30分以内」
    hours_text: str  # e.g. 「平日 10:00〜18:00」


@dataclass(frozen=True)
class TextTurn:
    """The bot's decision for one text from a shopper."""

    kind: TurnKind
    entry: FaqEntry | None = None
    candidates: tuple[FaqEntry, ...] = ()
    misses_in_a_row: int = 0
    escalation: Escalation | None = None
    result: MatchResult | None = None

    @property
    def offer_person(self) -> bool:
        """True when the miss is the second (or later) in a row."""
        return self.kind == "none" and self.misses_in_a_row >= MISSES_BEFORE_OFFER


def text_hash(text: str) -> str:
    """A short stable hash of the normalised text, to group identical questions."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()[:16]


def record_interaction(
    session: Session,
    shopper: Shopper,
    outcome: str,
    now: datetime,
    *,
    text: str | None = None,
    faq_id: str | None = None,
    score: float | None = None,
    webhook_event_id: str | None = None,
) -> FaqInteraction:
    """Keep one line per automatic answer, so the shop can see which questions fail."""
    row = FaqInteraction(
        shopper_id=shopper.id,
        text=text[:TEXT_KEPT] if text is not None else None,
        text_hash=text_hash(text) if text is not None else None,
        outcome=outcome,
        faq_id=faq_id,
        score=round(score, 4) if score is not None else None,
        webhook_event_id=webhook_event_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def misses_in_a_row(session: Session, shopper: Shopper, now: datetime) -> int:
    """How many of the shopper's latest interactions (within the window) were misses."""
    outcomes = session.scalars(
        select(FaqInteraction.outcome)
        .where(
            FaqInteraction.shopper_id == shopper.id,
            FaqInteraction.created_at >= now - STREAK_WINDOW,
        )
        .order_by(FaqInteraction.created_at.desc(), FaqInteraction.id.desc())
        .limit(10)
    )
    count = 0
    for outcome in outcomes:
        if outcome != "none":
            break
        count += 1
    return count


def recent_misses(session: Session, shopper: Shopper, now: datetime) -> list[str]:
    """The texts of the current miss streak, oldest first (for the ticket's summary)."""
    count = misses_in_a_row(session, shopper, now)
    if not count:
        return []
    texts = session.scalars(
        select(FaqInteraction.text)
        .where(FaqInteraction.shopper_id == shopper.id)
        .order_by(FaqInteraction.created_at.desc(), FaqInteraction.id.desc())
        .limit(count)
    )
    return [t for t in reversed(list(texts)) if t]


def escalate(
    session: Session,
    shopper: Shopper,
    reason: TicketReason,
    now: datetime,
    settings: Settings,
    summary: str | None = None,
) -> Escalation:
    """Open (or reuse) the shopper's ticket and work out when staff will reply."""
    ticket, created = support.escalate(session, shopper, reason, now, summary)
    return _escalation(session, ticket, created, now, settings)


def _escalation(
    session: Session, ticket: SupportTicket, created: bool, now: datetime, settings: Settings
) -> Escalation:
    hours = current_business_hours(session, settings)
    open_now = is_open(hours, settings.tz, now)
    return Escalation(
        ticket_id=ticket.id,
        created=created,
        open_now=open_now,
        reply_at=next_opening(hours, settings.tz, now),
        expected=describe_wait(settings.support_response_minutes),
        hours_text=describe_hours(hours),
    )


def answer_text(
    session: Session,
    shopper: Shopper,
    text: str,
    matcher: FaqMatcher,
    now: datetime,
    settings: Settings,
    *,
    webhook_event_id: str | None = None,
) -> TextTurn:
    """Decide the bot's answer to one text and record it; `silent` while staff own the chat."""
    if support.is_with_staff(session, shopper):
        return TextTurn("silent")
    result = matcher.ask(text)
    by_id = {entry.id: entry for entry in matcher.entries}
    record_interaction(
        session,
        shopper,
        result.outcome,
        now,
        text=text,
        faq_id=result.faq_id,
        score=result.score,
        webhook_event_id=webhook_event_id,
    )
    if result.outcome == "human":
        escalation = escalate(
            session, shopper, TicketReason.ASKED_FOR_PERSON, now, settings, summary=text[:500]
        )
        return TextTurn("human", escalation=escalation, result=result)
    if result.outcome == "answer" and result.faq_id in by_id:
        return TextTurn("answer", entry=by_id[result.faq_id], result=result)
    candidates = tuple(by_id[c.faq_id] for c in result.candidates if c.faq_id in by_id)
    if result.outcome == "suggest" and candidates:
        return TextTurn("suggest", candidates=candidates, result=result)
    return TextTurn("none", misses_in_a_row=misses_in_a_row(session, shopper, now), result=result)


def pick(
    session: Session,
    shopper: Shopper,
    entry: FaqEntry,
    now: datetime,
    *,
    webhook_event_id: str | None = None,
) -> None:
    """Record that the shopper chose a 「もしかして」 candidate (its answer is sent).

    The pick points at the 「もしかして」 it answers, so the console can tell choices nobody
    picked from picked ones, and find the question behind a later 「いいえ」.
    """
    row = record_interaction(
        session, shopper, "picked", now, faq_id=entry.id, webhook_event_id=webhook_event_id
    )
    row.asked_id = _open_suggestion(session, shopper, now)


def _open_suggestion(session: Session, shopper: Shopper, now: datetime) -> int | None:
    """The shopper's latest 「もしかして」 (within the streak window) not picked from yet."""
    picked = select(FaqInteraction.asked_id).where(
        FaqInteraction.shopper_id == shopper.id, FaqInteraction.asked_id.is_not(None)
    )
    return session.scalar(
        select(FaqInteraction.id)
        .where(
            FaqInteraction.shopper_id == shopper.id,
            FaqInteraction.outcome == "suggest",
            FaqInteraction.created_at >= now - STREAK_WINDOW,
            FaqInteraction.id.not_in(picked),
        )
        .order_by(FaqInteraction.created_at.desc(), FaqInteraction.id.desc())
        .limit(1)
    )


def feedback(
    session: Session,
    shopper: Shopper,
    faq_id: str,
    resolved: bool,
    now: datetime,
    settings: Settings,
    question: str | None = None,
) -> Escalation | None:
    """Store 「解決しましたか?」 on the latest answer of that entry; 「いいえ」 escalates."""
    row = session.scalars(
        select(FaqInteraction)
        .where(
            FaqInteraction.shopper_id == shopper.id,
            FaqInteraction.faq_id == faq_id,
            FaqInteraction.outcome.in_(("answer", "picked")),
        )
        .order_by(FaqInteraction.created_at.desc(), FaqInteraction.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        row.resolved = resolved
    if resolved:
        return None
    about = f"「{question}」" if question else f"FAQ {faq_id}"
    summary = f"{about}の自動回答では解決しませんでした"
    return escalate(session, shopper, TicketReason.NEGATIVE_FEEDBACK, now, settings, summary)


def request_person(
    session: Session,
    shopper: Shopper,
    reason: TicketReason,
    now: datetime,
    settings: Settings,
) -> Escalation:
    """The shopper tapped 「担当者と話す」; a miss streak goes into the ticket's summary."""
    misses = recent_misses(session, shopper, now) if reason is TicketReason.FAQ_MISS else []
    summary = "自動応答で答えられなかった質問: " + " / ".join(misses) if misses else None
    record_interaction(session, shopper, "human", now)
    return escalate(session, shopper, reason, now, settings, summary)
