"""Storing LINE webhook events exactly once, and claiming them for handling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from bot.core.json_input import JsonInputError, parse_json_body
from bot.models import WebhookEvent, WebhookEventState


class MalformedWebhook(ValueError):
    """The body is signed correctly but is not a LINE webhook payload."""


def valid_signature(channel_secret: str, body: bytes, signature: str | None) -> bool:
    """Check `X-Line-Signature` (base64 HMAC-SHA256 of the raw body) in constant time."""
    if not signature:
        return False
    digest = hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest), signature.encode("ascii", "replace"))


def sign_body(channel_secret: str, body: bytes) -> str:
    """The signature LINE would send for this body (tests, emulator, benchmarks)."""
    return base64.b64encode(
        hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    ).decode()


# What a stored row keys on must fit its column.
_MAX_ID = 64
_MAX_TYPE = 40
_MAX_TIMESTAMP_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """The events of a webhook body, each checked for the fields we key on.

    Everything that passes can be stored: one event that could not would fail the INSERT of
    every request batched with it.
    """
    try:
        payload = parse_json_body(body)
    except JsonInputError as exc:
        raise MalformedWebhook(str(exc)) from None
    if (b"\\ud" in body or b"\\uD" in body) and _has_lone_surrogate(payload):
        raise MalformedWebhook("body has a \\u escape of half a surrogate pair")
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise MalformedWebhook("body must be an object with an 'events' list")
    events = payload["events"]
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise MalformedWebhook(f"events[{index}] must be an object")
        if not _key_string(event.get("webhookEventId")):
            raise MalformedWebhook(
                f"events[{index}].webhookEventId must be a string of 1 to {_MAX_ID} characters"
            )
        kind = event.get("type")
        if not isinstance(kind, str) or not kind or "\x00" in kind:
            raise MalformedWebhook(f"events[{index}].type must be a non-empty string")
        timestamp = event.get("timestamp")
        if type(timestamp) is not int or not 0 <= timestamp <= _MAX_TIMESTAMP_MS:
            raise MalformedWebhook(f"events[{index}].timestamp must be epoch milliseconds")
        source = event.get("source")
        if source is not None and not isinstance(source, dict):
            raise MalformedWebhook(f"events[{index}].source must be an object")
        if source and "userId" in source and not _key_string(source["userId"]):
            raise MalformedWebhook(
                f"events[{index}].source.userId must be a string of 1 to {_MAX_ID} characters"
            )
    return events


def _has_lone_surrogate(payload: Any) -> bool:
    # Only a \uD800-\uDFFF escape can produce one (the body was decoded as strict UTF-8,
    # which refuses surrogates written as bytes); neither database can store it.
    try:
        json.dumps(payload, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def _key_string(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID and "\x00" not in value


def store_new_events(
    connection: Connection, events: Sequence[dict[str, Any]], now: datetime
) -> dict[str, int]:
    """Insert events, skipping ids already stored; {webhookEventId: row id} of the new rows.

    One multi-row INSERT … ON CONFLICT DO NOTHING is atomic on its own, so the webhook path
    runs it in autocommit: a single round-trip instead of BEGIN/INSERT/COMMIT. Events must
    have passed `parse_events`.
    """
    unique = list({e["webhookEventId"]: e for e in events}.values())  # same id twice in a body
    if not unique:
        return {}
    if connection.dialect.name == "postgresql":
        return _insert_postgresql(connection, unique, now)
    rows = []
    for e in unique:
        event_id, kind, user_id, redelivery = _row_keys(e)
        rows.append(
            {
                "webhook_event_id": event_id,
                "event_type": kind,
                "line_user_id": user_id,
                "payload": e,
                "is_redelivery": redelivery,
                "state": WebhookEventState.RECEIVED,
                "occurred_at": datetime.fromtimestamp(e["timestamp"] / 1000, UTC),
                "received_at": now,
            }
        )
    table = WebhookEvent.__table__
    stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["webhook_event_id"])
    # executemany + RETURNING: SQLAlchemy sends one multi-row INSERT but compiles it once.
    returning = stmt.returning(table.c.webhook_event_id, table.c.id, sort_by_parameter_order=True)
    result = connection.execute(returning, rows)
    return {event_id: row_id for event_id, row_id in result if row_id is not None}


def _row_keys(event: dict[str, Any]) -> tuple[str, str, str | None, bool]:
    """The columns a stored row keys on: event id, type (an unknown long type is still stored,
    cut to its column), LINE user id, redelivery flag."""
    context = event.get("deliveryContext")
    return (
        event["webhookEventId"],
        event["type"][:_MAX_TYPE],
        (event.get("source") or {}).get("userId"),
        isinstance(context, dict) and context.get("isRedelivery") is True,
    )


# One constant statement whatever the batch size, so psycopg converts it once and the server
# prepares it after a few runs; the batch travels as two JSON documents that Python's C encoder
# writes, one of the fields each row keys on and one of the payloads. Measured with
# bench/webhook.py, a VALUES list with a placeholder per field (a new statement per batch size,
# past psycopg's query cache) took a fifth of the web process's CPU, and arrays in psycopg's
# text format another fifth for quoting.
_PG_INSERT = """
INSERT INTO webhook_events
    (webhook_event_id, event_type, line_user_id, payload, is_redelivery, state,
     occurred_at, received_at)
SELECT k->>0, k->>1, k->>2, p, (k->>3)::boolean, %s, to_timestamp((k->>4)::bigint / 1000.0), %s
FROM ROWS FROM (json_array_elements(%s::json), json_array_elements(%s::json)) AS e (k, p)
ON CONFLICT (webhook_event_id) DO NOTHING
RETURNING webhook_event_id, id
"""


def _insert_postgresql(
    connection: Connection, events: list[dict[str, Any]], now: datetime
) -> dict[str, int]:
    """The INSERT sent straight through psycopg: this is the webhook's hot path, and building
    it through SQLAlchemy cost more CPU than the round-trip."""
    keys = [(*_row_keys(e), e["timestamp"]) for e in events]
    params = (
        WebhookEventState.RECEIVED.value,
        now,
        json.dumps(keys, ensure_ascii=False),
        json.dumps(events, ensure_ascii=False),
    )
    with connection.connection.driver_connection.cursor() as cursor:
        cursor.execute(_PG_INSERT, params)
        return dict(cursor.fetchall())


_PENDING = (WebhookEventState.RECEIVED, WebhookEventState.PROCESSING)


def claim_event(session: Session, event_id: int) -> WebhookEvent | None:
    """Move one event from received to processing; None if it is done, taken, or waiting.

    A LINE user's events are handled one at a time in the order they happened: an event is
    not claimed while an earlier one of the same user is received or processing (another
    worker may have it), so a reply never overtakes the answer to an earlier message and two
    workers never create the same shopper. The worker that finishes the earlier event goes on
    with the user's next one (`next_waiting_event`).
    """
    earlier = aliased(WebhookEvent)
    waiting_for_earlier = (
        select(earlier.id)
        .where(
            earlier.line_user_id == WebhookEvent.line_user_id,
            earlier.state.in_(_PENDING),
            or_(
                earlier.occurred_at < WebhookEvent.occurred_at,
                and_(earlier.occurred_at == WebhookEvent.occurred_at, earlier.id < WebhookEvent.id),
            ),
        )
        .exists()
    )
    claimed = session.execute(
        update(WebhookEvent)
        .where(
            WebhookEvent.id == event_id,
            WebhookEvent.state == WebhookEventState.RECEIVED,
            ~waiting_for_earlier,
        )
        .values(state=WebhookEventState.PROCESSING)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return session.get(WebhookEvent, event_id) if claimed else None


def next_waiting_event(session: Session, line_user_id: str) -> int | None:
    """The user's earliest event still waiting to be handled, if any."""
    return session.scalars(
        select(WebhookEvent.id)
        .where(
            WebhookEvent.line_user_id == line_user_id,
            WebhookEvent.state == WebhookEventState.RECEIVED,
        )
        .order_by(WebhookEvent.occurred_at, WebhookEvent.id)
        .limit(1)
    ).first()


# Put on an event a worker died handling: it may have answered before it died.
INTERRUPTED = "interrupted: its worker stopped while handling it"


def stale_event_ids(
    session: Session,
    now: datetime,
    waiting: timedelta,
    processing: timedelta,
    alive: Callable[[Sequence[int]], set[int]],
) -> list[int]:
    """Events stuck before handling, to enqueue again: received longer than `waiting` (Redis
    lost the job or its scheduled retry), or processing for more than `processing` without
    a live worker (`alive` names the events a worker still has in hand).

    Enqueueing a received event that still has a job is harmless: the claim is atomic. An
    event whose worker died is marked INTERRUPTED: its answer may already have gone out.
    """
    busy = _ids_in(session, WebhookEventState.PROCESSING, now - processing)
    dead = sorted(set(busy) - alive(busy))
    if dead:
        session.execute(
            update(WebhookEvent)
            .where(
                WebhookEvent.id.in_(dead),
                WebhookEvent.state == WebhookEventState.PROCESSING,
            )
            .values(state=WebhookEventState.RECEIVED, error=INTERRUPTED)
            .execution_options(synchronize_session=False)
        )
    return _ids_in(session, WebhookEventState.RECEIVED, now - waiting)


def _ids_in(session: Session, state: WebhookEventState, before: datetime) -> list[int]:
    """The first 1,000 events in `state` received before `before`, oldest first."""
    return list(
        session.scalars(
            select(WebhookEvent.id)
            .where(WebhookEvent.state == state, WebhookEvent.received_at < before)
            .order_by(WebhookEvent.id)
            .limit(1000)
        )
    )


def failed_events(session: Session, limit: int = 50) -> list[WebhookEvent]:
    """Events whose handling failed, newest first."""
    return list(
        session.scalars(
            select(WebhookEvent)
            .where(WebhookEvent.state == WebhookEventState.FAILED)
            .order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc())
            .limit(limit)
        )
    )


def reset_failed_events(session: Session, event_ids: Sequence[int] | None = None) -> list[int]:
    """Put failed events (these ids, or all) back to received for handling again; the ids
    that were reset. Events in any other state are left alone, so retrying twice is
    harmless. The caller commits and enqueues."""
    query = select(WebhookEvent.id).where(WebhookEvent.state == WebhookEventState.FAILED)
    if event_ids is not None:
        query = query.where(WebhookEvent.id.in_(list(event_ids)))
    ids = list(session.scalars(query.order_by(WebhookEvent.id).with_for_update()))
    if ids:
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id.in_(ids), WebhookEvent.state == WebhookEventState.FAILED)
            .values(state=WebhookEventState.RECEIVED, handled_at=None)
            .execution_options(synchronize_session=False)
        )
    return ids


def prune_done_events(
    session: Session, before: datetime, batch: int = 1000, max_batches: int = 100
) -> int:
    """Delete handled and ignored events received before `before`; how many.

    Walks the table in id order (ids grow with arrival), a batch per commit, and stops at the
    first batch that reaches events received since `before`. Failed and unfinished events
    are kept, whatever their age: they wait for an operator or a retry.
    """
    deleted, after = 0, 0
    for _ in range(max_batches):
        rows = session.execute(
            select(WebhookEvent.id, WebhookEvent.received_at, WebhookEvent.state)
            .where(WebhookEvent.id > after)
            .order_by(WebhookEvent.id)
            .limit(batch)
        ).all()
        if not rows:
            break
        done = (WebhookEventState.HANDLED, WebhookEventState.IGNORED)
        ids = [id_ for id_, received, state in rows if received < before and state in done]
        if ids:
            deleted += session.execute(
                delete(WebhookEvent)
                .where(WebhookEvent.id.in_(ids))
                .execution_options(synchronize_session=False)
            ).rowcount
        session.commit()
        after = rows[-1][0]
        if rows[-1][1] >= before:
            break
    return deleted
