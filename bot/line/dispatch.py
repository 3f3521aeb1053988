"""Run the handler of one stored webhook event: event → service → template → gateway."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from bot.core.metrics import WEBHOOK_EVENTS
from bot.core.services import Services
from bot.line.event import LineEvent, parse_event
from bot.line.gateway import LineError
from bot.line.messaging import keep_sent_log
from bot.line.routing import (
    CHAT_SOURCES,
    IGNORED_ON_PURPOSE,
    STANDBY_EVENTS,
    Handler,
    HandlerContext,
    RouteKey,
    Router,
    route_key,
)
from bot.line.webhook_events import INTERRUPTED, claim_event, next_waiting_event
from bot.models import ConversationMessage, WebhookEvent, WebhookEventState

log = logging.getLogger(__name__)

SHOPPER_ACTIVITY = frozenset({"message", "postback"})
# Event types whose handlers act for one shopper: from anything but a user source with a
# user id they are not run.
USER_EVENTS = frozenset(
    {"message", "postback", "follow", "unfollow", "unsend", "activated", "deactivated"}
)


def process_webhook_event(
    services: Services, event_id: int, *, final_attempt: bool = False
) -> None:
    """Handle one event once, then the events of its user that waited for it.

    A transient failure (see `is_transient`) puts the event back to received and is
    re-raised for the job to retry, unless this is the job's last attempt: then the event is
    marked failed with the reason, like any other failure, so it never blocks its user's
    later events and can be replayed (`flask webhooks retry`).
    """
    session = services.db.session()
    next_id: int | None = event_id
    while next_id is not None:
        # Only this job's own event is on its last attempt; a later event of the same user
        # that waited for it had no retries of its own yet: if it fails transiently it stays
        # received and the sweep enqueues it with a full set.
        final = final_attempt and next_id == event_id
        user_id = _process_one(services, session, next_id, final)
        next_id = next_waiting_event(session, user_id) if user_id else None


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same event again later may succeed."""
    if isinstance(exc, LineError):
        return exc.retriable
    if isinstance(exc, OperationalError | InterfaceError):
        return True  # dropped connection, serialization failure, deadlock, locked database
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, IntegrityError):
        return _unique_violation(exc)  # a concurrent writer got there first
    return isinstance(exc, RedisConnectionError | RedisTimeoutError)


def _unique_violation(exc: IntegrityError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    return code == "23505" or "UNIQUE constraint failed" in str(exc.orig)


def _process_one(
    services: Services, session: Session, event_id: int, final_attempt: bool
) -> str | None:
    """Handle one event; the LINE user whose next event may go now, if this one finished."""
    router, beacon = services.router, services.event_beacon
    if router is None or beacon is None:
        raise RuntimeError("create_app builds the router (from handlers.ROUTES) and the beacon")
    # Alive before the claim commits, and for as long as the event is in hand: the sweep
    # takes a processing event without a live worker for interrupted within seconds.
    with beacon.holding(event_id):
        return _claim_and_handle(services, session, router, event_id, final_attempt)


def _claim_and_handle(
    services: Services, session: Session, router: Router, event_id: int, final_attempt: bool
) -> str | None:
    row = claim_event(session, event_id)
    if row is None:
        return None  # done or taken elsewhere, or waiting for an earlier event of its user
    user_id, event_type = row.line_user_id, row.event_type
    extra: dict[str, Any] = {"event_id": row.webhook_event_id, "route": event_type}
    ctx: HandlerContext | None = None
    # Everything up to the final commit is in here: an event that cannot be routed or parsed
    # (a signed body can still hold a string where LINE sends an object) must end failed,
    # not leave the job crashing and its user's later events waiting behind it for ever.
    try:
        raw = row.payload if isinstance(row.payload, dict) else {}
        key = route_key(raw)
        extra["route"] = f"{key[0]}:{key[1] or ''}"
        event = parse_event(_storable(raw))
        handler, why_not = _choose_handler(router, key, event)
        if handler is None:
            _finish(session, row, services, WebhookEventState.IGNORED, None)
            WEBHOOK_EVENTS.labels(event_type, "ignored").inc()
            log.info(why_not, extra=extra)
            return user_id
        shopper = None
        if event.source_type == "user" and event.user_id:
            shopper = router.shopper_for(session, event.user_id, services.clock.now())
            # Committed on its own (it is idempotent) so that the log of what was sent can
            # outlive a rollback of the handler's work below.
            session.commit()
        ctx = HandlerContext(
            session=session,
            clock=services.clock,
            settings=services.settings,
            line=services.line,
            queues=services.queues,
            templates=services.templates,
            router=router,
            services=services,
            webhook_event_id=row.webhook_event_id,
            reply_token=raw.get("replyToken") if isinstance(raw.get("replyToken"), str) else None,
            shopper=shopper,
            standby=event.is_standby,
            interrupted=row.error == INTERRUPTED,
        )
        handler(event, ctx)
        if shopper is not None and event_type in SHOPPER_ACTIVITY:
            # Keeps an open support chat from timing out while the shopper is still writing.
            router.on_activity(session, shopper, services.clock.now())
        _finish(session, row, services, WebhookEventState.HANDLED, None)
    except Exception as exc:
        session.rollback()
        sent = ctx.sent_log if ctx is not None else []
        reason = _reason(exc)
        if is_transient(exc) and not final_attempt:
            _reset(session, event_id, sent)
            WEBHOOK_EVENTS.labels(event_type, "retry").inc()
            log.warning("transient failure, will retry", extra={**extra, "error": reason})
            raise
        if is_transient(exc):
            reason = f"gave up after the last retry: {reason}"
        _fail(session, services, event_id, reason, sent)
        WEBHOOK_EVENTS.labels(event_type, "failed").inc()
        # A refusal from LINE is expected and says it all; anything else needs its traceback.
        trace = None if isinstance(exc, LineError) else exc
        log.error("event failed", extra={**extra, "error": reason}, exc_info=trace)
        return user_id
    WEBHOOK_EVENTS.labels(event_type, "handled").inc()
    return user_id


def _choose_handler(router: Router, key: RouteKey, event: LineEvent) -> tuple[Handler | None, str]:
    """The handler to run, or None and why the event is ignored (for the log)."""
    if event.is_standby and (key[0] in CHAT_SOURCES or key[0] not in STANDBY_EVENTS):
        return None, "standby event recorded, not answered"
    if key[0] in IGNORED_ON_PURPOSE:
        return None, "event type ignored on purpose"
    handler = router.find(key)
    if handler is None:
        return None, "event type not handled"
    if key[0] in USER_EVENTS and not (event.source_type == "user" and event.user_id):
        # A source LINE may add later, or a user source without its id: nobody to answer.
        return None, "event has no user to answer"
    return handler, ""


def _reason(exc: BaseException) -> str:
    """What an operator reads in `flask webhooks failed`: LINE's status, else the error."""
    if isinstance(exc, LineError):
        return f"LINE {exc.status}: {exc}"
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first_line}"


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
    session: Session, row: WebhookEvent, services: Services, state: WebhookEventState, error
) -> None:
    row.state = state
    row.error = error
    row.handled_at = services.clock.now()
    session.commit()


def _reset(session: Session, event_id: int, sent: Sequence[ConversationMessage]) -> None:
    row = session.get(WebhookEvent, event_id)
    if row is not None:
        row.state = WebhookEventState.RECEIVED
        keep_sent_log(session, sent)
        session.commit()


def _fail(
    session: Session,
    services: Services,
    event_id: int,
    error: str,
    sent: Sequence[ConversationMessage],
) -> None:
    row = session.get(WebhookEvent, event_id)
    if row is not None:
        keep_sent_log(session, sent)
        _finish(session, row, services, WebhookEventState.FAILED, error[:2000])
