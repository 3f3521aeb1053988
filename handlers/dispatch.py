"""Run the handler of one stored webhook event: event → service → template → gateway."""

from __future__ import annotations

import logging
from typing import Any

from linebot.v3.webhooks import Event

from bot.extensions import Services
from bot.line import LineError
from bot.metrics import WEBHOOK_EVENTS
from bot.models import WebhookEvent, WebhookEventState
from bot.services.shoppers import get_or_create_shopper
from bot.services.support import note_shopper_activity
from bot.services.webhook_events import claim_event, next_waiting_event
from handlers.registry import HandlerContext, find_handler, route_key

log = logging.getLogger(__name__)

SHOPPER_ACTIVITY = frozenset({"message", "postback"})


def process_webhook_event(services: Services, event_id: int) -> None:
    """Handle one event once, then the events of its user that waited for it.

    Retriable LINE failures are re-raised for the job to retry.
    """
    session = services.db.session()
    next_id: int | None = event_id
    while next_id is not None:
        user_id = _process_one(services, session, next_id)
        next_id = next_waiting_event(session, user_id) if user_id else None


def _process_one(services: Services, session, event_id: int) -> str | None:
    """Handle one event; the LINE user whose next event may go now, if this one finished."""
    row = claim_event(session, event_id)
    if row is None:
        return None  # done or taken elsewhere, or waiting for an earlier event of its user
    user_id = row.line_user_id
    raw = row.payload or {}
    key = route_key(raw)
    handler = find_handler(key)
    extra = {"event_id": row.webhook_event_id, "route": f"{key[0]}:{key[1] or ''}"}
    if handler is None:
        _finish(session, row, services, WebhookEventState.IGNORED, None)
        WEBHOOK_EVENTS.labels(row.event_type, "ignored").inc()
        log.info("event type not handled", extra=extra)
        return user_id
    try:
        event = Event.from_dict(_storable(raw))
        shopper = get_or_create_shopper(session, user_id, services.clock.now()) if user_id else None
        ctx = HandlerContext(
            session=session,
            clock=services.clock,
            settings=services.settings,
            line=services.line,
            queues=services.queues,
            templates=services.templates,
            faq_cache=services.faq_cache,
            webhook_event_id=row.webhook_event_id,
            reply_token=raw.get("replyToken"),
            shopper=shopper,
        )
        handler(event, ctx)
        if shopper is not None and row.event_type in SHOPPER_ACTIVITY:
            # Keeps an open support chat from timing out while the shopper is still writing.
            note_shopper_activity(session, shopper, services.clock.now())
    except LineError as exc:
        session.rollback()
        if exc.retriable:
            _reset(session, event_id)
            WEBHOOK_EVENTS.labels(row.event_type, "retry").inc()
            log.warning("LINE unavailable, will retry", extra={**extra, "status": exc.status})
            raise
        _fail(session, services, event_id, f"LINE {exc.status}: {exc}")
        WEBHOOK_EVENTS.labels(row.event_type, "failed").inc()
        log.error("LINE refused the answer", extra={**extra, "status": exc.status})
        return user_id
    except Exception as exc:
        session.rollback()
        _fail(session, services, event_id, f"{type(exc).__name__}: {exc}")
        WEBHOOK_EVENTS.labels(row.event_type, "failed").inc()
        log.exception("handler failed", extra=extra)
        return user_id
    _finish(session, row, services, WebhookEventState.HANDLED, None)
    WEBHOOK_EVENTS.labels(row.event_type, "handled").inc()
    return user_id


def _storable(value: Any) -> Any:
    """The event with NUL characters replaced: PostgreSQL text cannot hold them."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {key: _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def _finish(
    session, row: WebhookEvent, services: Services, state: WebhookEventState, error
) -> None:
    row.state = state
    row.error = error
    row.handled_at = services.clock.now()
    session.commit()


def _reset(session, event_id: int) -> None:
    row = session.get(WebhookEvent, event_id)
    if row is not None:
        row.state = WebhookEventState.RECEIVED
        session.commit()


def _fail(session, services: Services, event_id: int, error: str) -> None:
    row = session.get(WebhookEvent, event_id)
    if row is not None:
        _finish(session, row, services, WebhookEventState.FAILED, error[:2000])
