"""Sending messages to a shopper and logging every message in the conversation log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.core.clock import Clock
from bot.core.metrics import LINE_API_CALLS
from bot.line.gateway import (
    LineError,
    LineGateway,
    LineInvalidReplyToken,
    LineServerError,
    LineTimeout,
    Message,
    SendResult,
)
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


# Outcomes of an outbound log entry that may have reached the shopper.
MAYBE_DELIVERED = ("sent", "unknown")


@dataclass
class Messenger:
    """Reply/push through the gateway, logging each outbound message with its outcome.

    `sent_log`, when given, collects the log entries of messages LINE accepted or may have
    accepted, so that a caller rolling back its work can keep them (`keep_sent_log`).
    """

    session: Session
    line: LineGateway
    clock: Clock
    sent_log: list[ConversationMessage] | None = None
    # An earlier attempt at this event may have replied without a trace (its worker died).
    maybe_answered: bool = False
    # After a reply whose outcome is unknown, wait this long and reply again with the same
    # token, once per wait, before leaving the event to its retries.
    settle_waits: Sequence[float] = ()
    sleep: Callable[[float], None] = time.sleep

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
        """Reply while the token is valid; push only if the reply certainly was not delivered.

        A timeout or 5xx on reply leaves the outcome unknown: LINE may have delivered it. It is
        logged as "unknown" and replied again with the same token after each of
        `settle_waits`; if still unknown, raised, so the event is retried, and the retry
        replies again with the same token. A reply token works once, so a second reply settles
        it: LINE
        accepts it only if the first did not arrive (the earlier "unknown" entries are then
        marked failed), and refuses it ("invalid reply token") if the first was delivered, or
        the token has expired. After a refusal, if this event's log shows an answer that went
        out (or may have), nothing is pushed. The product leans towards never showing an
        answer twice (README, "Replies whose outcome is unknown").
        """
        if reply_token:
            waits = list(self.settle_waits)
            while True:
                try:
                    result = self.line.reply(reply_token, messages)
                except LineInvalidReplyToken:
                    LINE_API_CALLS.labels("reply", "invalid_token").inc()
                    if self.maybe_answered or (
                        webhook_event_id and self._answered_before(shopper, webhook_event_id)
                    ):
                        log.info(
                            "reply token spent by an earlier attempt; not pushing",
                            extra={"retry_key": retry_key, "event_id": webhook_event_id},
                        )
                        return SendResult(None, duplicate=True)
                    log.info(
                        "reply token unusable, pushing instead", extra={"retry_key": retry_key}
                    )
                    break
                except (LineTimeout, LineServerError) as exc:
                    LINE_API_CALLS.labels("reply", _status_label(exc)).inc()
                    self._log(
                        shopper,
                        messages,
                        sender,
                        None,
                        webhook_event_id,
                        None,
                        exc,
                        status="unknown",
                    )
                    if waits:
                        # Settle it now, while the token is fresh: replying again tells.
                        log.warning(
                            "reply outcome unknown; replying again with the same token",
                            extra={"retry_key": retry_key, "event_id": webhook_event_id},
                        )
                        self.sleep(waits.pop(0))
                        continue
                    log.warning(
                        "reply outcome unknown; the retry replies again with the same token",
                        extra={"retry_key": retry_key, "event_id": webhook_event_id},
                    )
                    raise
                except LineError as exc:
                    LINE_API_CALLS.labels("reply", _status_label(exc)).inc()
                    self._log(shopper, messages, sender, None, webhook_event_id, None, exc)
                    raise
                else:
                    LINE_API_CALLS.labels("reply", "ok").inc()
                    if webhook_event_id:
                        self._settle_unknown(shopper, webhook_event_id)
                    self._log(shopper, messages, sender, result, webhook_event_id, None, None)
                    return result
        return self.push(
            shopper, messages, retry_key=retry_key, sender=sender, webhook_event_id=webhook_event_id
        )

    def _settle_unknown(self, shopper: Shopper, webhook_event_id: str) -> None:
        """LINE took this event's reply token now, so earlier replies with it never arrived."""
        self.session.execute(
            update(ConversationMessage)
            .where(
                ConversationMessage.shopper_id == shopper.id,
                ConversationMessage.webhook_event_id == webhook_event_id,
                ConversationMessage.direction == Direction.OUTBOUND,
                ConversationMessage.status == "unknown",
            )
            .values(status="failed")
        )

    def _answered_before(self, shopper: Shopper, webhook_event_id: str) -> bool:
        """Whether an earlier attempt at this event sent the shopper something (or may have)."""
        return (
            self.session.scalars(
                select(ConversationMessage.id)
                .where(
                    ConversationMessage.shopper_id == shopper.id,
                    ConversationMessage.webhook_event_id == webhook_event_id,
                    ConversationMessage.direction == Direction.OUTBOUND,
                    ConversationMessage.status.in_(MAYBE_DELIVERED),
                )
                .limit(1)
            ).first()
            is not None
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
        *,
        status: str | None = None,
    ) -> None:
        now = self.clock.now()
        for message in messages:
            kind, text = message_summary(message)
            entry = ConversationMessage(
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
                status=status or ("failed" if error else "sent"),
                error=str(error) if error else None,
                created_at=now,
            )
            self.session.add(entry)
            if self.sent_log is not None and entry.status in MAYBE_DELIVERED:
                self.sent_log.append(entry)


def keep_sent_log(session: Session, entries: Sequence[ConversationMessage]) -> None:
    """Add again the log entries of sends a rollback undid: the messages went out anyway."""
    columns = [c.key for c in ConversationMessage.__table__.columns if c.key != "id"]
    for entry in entries:
        session.add(ConversationMessage(**{key: getattr(entry, key) for key in columns}))


def _status_label(exc: LineError) -> str:
    return str(exc.status) if exc.status else type(exc).__name__
