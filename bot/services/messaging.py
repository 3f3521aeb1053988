"""Sending messages to a shopper and logging every message in the conversation log."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.line import LineError, LineGateway, LineInvalidReplyToken, Message, SendResult
from bot.metrics import LINE_API_CALLS
from bot.models import ConversationMessage, Direction, Sender, Shopper

log = logging.getLogger(__name__)


def message_summary(message: Message) -> tuple[str, str]:
    """(type, readable text) of a LINE message: text as is, Flex by its altText."""
    kind = str(message.get("type", "unknown"))
    if kind == "text":
        return kind, str(message.get("text", ""))
    if "altText" in message:
        return kind, str(message["altText"])
    return kind, f"[{kind}]"


def log_inbound(
    session: Session,
    shopper: Shopper,
    *,
    message_type: str,
    text: str,
    now: datetime,
    payload: dict[str, Any] | None = None,
    webhook_event_id: str | None = None,
) -> ConversationMessage:
    """Record something the shopper sent (text, sticker, postback tap …)."""
    entry = ConversationMessage(
        shopper_id=shopper.id,
        direction=Direction.INBOUND,
        sender=Sender.SHOPPER,
        message_type=message_type,
        text=text,
        payload=payload,
        webhook_event_id=webhook_event_id,
        created_at=now,
    )
    session.add(entry)
    return entry


@dataclass
class Messenger:
    """Reply/push through the gateway, logging each outbound message with its outcome."""

    session: Session
    line: LineGateway
    clock: Clock

    def reply_or_push(
        self,
        shopper: Shopper,
        reply_token: str | None,
        messages: Sequence[Message],
        *,
        retry_key: str,
        sender: Sender = Sender.BOT,
        webhook_event_id: str | None = None,
    ) -> SendResult:
        """Reply while the token is valid; push only if the reply definitely failed.

        A timeout or 5xx on reply is ambiguous (LINE may have delivered it), so it is raised
        rather than followed by a push that could show the shopper the same message twice.
        """
        if reply_token:
            try:
                result = self.line.reply(reply_token, messages)
            except LineInvalidReplyToken:
                LINE_API_CALLS.labels("reply", "invalid_token").inc()
                log.info("reply token unusable, pushing instead", extra={"retry_key": retry_key})
            except LineError as exc:
                LINE_API_CALLS.labels("reply", _status_label(exc)).inc()
                self._log(shopper, messages, sender, None, webhook_event_id, None, exc)
                raise
            else:
                LINE_API_CALLS.labels("reply", "ok").inc()
                self._log(shopper, messages, sender, result, webhook_event_id, None, None)
                return result
        return self.push(
            shopper, messages, retry_key=retry_key, sender=sender, webhook_event_id=webhook_event_id
        )

    def push(
        self,
        shopper: Shopper,
        messages: Sequence[Message],
        *,
        retry_key: str,
        sender: Sender = Sender.BOT,
        webhook_event_id: str | None = None,
        delivery_id: int | None = None,
        staff_id: int | None = None,
    ) -> SendResult:
        """Push with a retry key; a key LINE already accepted counts as sent."""
        try:
            result = self.line.push(shopper.line_user_id, messages, retry_key=retry_key)
        except LineError as exc:
            LINE_API_CALLS.labels("push", _status_label(exc)).inc()
            self._log(shopper, messages, sender, None, webhook_event_id, delivery_id, exc, staff_id)
            raise
        LINE_API_CALLS.labels("push", "duplicate" if result.duplicate else "ok").inc()
        if not result.duplicate:
            self._log(
                shopper, messages, sender, result, webhook_event_id, delivery_id, None, staff_id
            )
        return result

    def _log(
        self,
        shopper: Shopper,
        messages: Sequence[Message],
        sender: Sender,
        result: SendResult | None,
        webhook_event_id: str | None,
        delivery_id: int | None,
        error: LineError | None,
        staff_id: int | None = None,
    ) -> None:
        now = self.clock.now()
        for message in messages:
            kind, text = message_summary(message)
            self.session.add(
                ConversationMessage(
                    shopper_id=shopper.id,
                    direction=Direction.OUTBOUND,
                    sender=sender,
                    message_type=kind,
                    text=text,
                    payload=dict(message),
                    webhook_event_id=webhook_event_id,
                    delivery_id=delivery_id,
                    staff_id=staff_id,
                    line_request_id=result.request_id if result else None,
                    status="failed" if error else "sent",
                    error=str(error) if error else None,
                    created_at=now,
                )
            )


def _status_label(exc: LineError) -> str:
    return str(exc.status) if exc.status else type(exc).__name__
