"""The satisfaction survey (CSAT): the one-tap question sent at hand-back, the shopper's
answer, and the scores shown in the console."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.line.gateway import Message
from bot.models import SatisfactionResponse, Shopper, SupportTicket, TicketState

CSAT_ACTION = "csat"
CSAT_LABELS = {
    5: "とても満足",
    4: "満足",
    3: "ふつう",
    2: "不満",
    1: "とても不満",
}


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
