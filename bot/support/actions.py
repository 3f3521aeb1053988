"""What staff do with a ticket: claim, transfer, reply, resolve, and the hand-back messages
that tell the shopper the bot answers again."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.core import signals
from bot.core.settings import Settings
from bot.line.gateway import LineError, Message, retry_key_for
from bot.line.messaging import Messenger
from bot.models import Operator, Sender, Shopper, SupportTicket, TicketState
from bot.support.errors import TicketConflict, TicketError, TicketForbidden
from bot.support.satisfaction import survey_message

log = logging.getLogger(__name__)

MAX_REPLY_LENGTH = 5000  # LINE's limit for one text message


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
