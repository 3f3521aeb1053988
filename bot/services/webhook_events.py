"""Storing LINE webhook events exactly once, and claiming them for handling."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

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


def parse_events(payload: Any) -> list[dict[str, Any]]:
    """The events of a webhook body, each checked for the fields we key on."""
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise MalformedWebhook("body must be an object with an 'events' list")
    events = payload["events"]
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise MalformedWebhook(f"events[{index}] must be an object")
        for name, kind in (("webhookEventId", str), ("type", str), ("timestamp", int)):
            if not isinstance(event.get(name), kind) or event.get(name) in ("", None):
                raise MalformedWebhook(f"events[{index}].{name} is missing or has the wrong type")
    return events


def store_new_events(
    connection: Connection, events: Sequence[dict[str, Any]], now: datetime
) -> dict[str, int]:
    """Insert events, skipping ids already stored; {webhookEventId: row id} of the new rows.

    One multi-row INSERT … ON CONFLICT DO NOTHING is atomic on its own, so the webhook path
    runs it in autocommit: a single round-trip instead of BEGIN/INSERT/COMMIT.
    """
    if not events:
        return {}
    rows = [
        {
            "webhook_event_id": e["webhookEventId"],
            "event_type": e["type"][:40],
            "line_user_id": (e.get("source") or {}).get("userId"),
            "payload": e,
            "is_redelivery": bool((e.get("deliveryContext") or {}).get("isRedelivery")),
            "state": WebhookEventState.RECEIVED,
            "occurred_at": datetime.fromtimestamp(e["timestamp"] / 1000, UTC),
            "received_at": now,
        }
        for e in {e["webhookEventId"]: e for e in events}.values()  # same id twice in one body
    ]
    if connection.dialect.name == "postgresql":
        return _insert_postgresql(connection, rows)
    table = WebhookEvent.__table__
    stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["webhook_event_id"])
    # executemany + RETURNING: SQLAlchemy sends one multi-row INSERT but compiles it once.
    returning = stmt.returning(table.c.webhook_event_id, table.c.id, sort_by_parameter_order=True)
    result = connection.execute(returning, rows)
    return {event_id: row_id for event_id, row_id in result if row_id is not None}


_PG_COLUMNS = (
    "webhook_event_id",
    "event_type",
    "line_user_id",
    "payload",
    "is_redelivery",
    "state",
    "occurred_at",
    "received_at",
)


def _insert_postgresql(connection: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """The same INSERT sent straight through psycopg: it is the webhook's hot path, and building
    it through SQLAlchemy cost more CPU than the round-trip (measured with bench/webhook.py)."""
    from psycopg.types.json import Json

    placeholders = "(" + ", ".join(["%s"] * len(_PG_COLUMNS)) + ")"
    sql = (
        f"INSERT INTO webhook_events ({', '.join(_PG_COLUMNS)}) "
        f"VALUES {', '.join([placeholders] * len(rows))} "
        "ON CONFLICT (webhook_event_id) DO NOTHING RETURNING webhook_event_id, id"
    )
    params: list[Any] = []
    for row in rows:
        params.extend(
            Json(row[c]) if c == "payload" else str(row[c]) if c == "state" else row[c]
            for c in _PG_COLUMNS
        )
    with connection.connection.driver_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def claim_event(session: Session, event_id: int) -> WebhookEvent | None:
    """Move one event from received to processing; None if another run has it or it is done."""
    claimed = session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event_id, WebhookEvent.state == WebhookEventState.RECEIVED)
        .values(state=WebhookEventState.PROCESSING)
    ).rowcount
    session.commit()
    return session.get(WebhookEvent, event_id) if claimed else None


def stale_event_ids(session: Session, now: datetime, age: timedelta) -> list[int]:
    """Events stuck before handling (Redis lost the job, a worker died): to enqueue again."""
    cutoff = now - age
    session.execute(
        update(WebhookEvent)
        .where(
            WebhookEvent.state == WebhookEventState.PROCESSING, WebhookEvent.received_at < cutoff
        )
        .values(state=WebhookEventState.RECEIVED)
    )
    return list(
        session.scalars(
            select(WebhookEvent.id)
            .where(
                WebhookEvent.state == WebhookEventState.RECEIVED, WebhookEvent.received_at < cutoff
            )
            .order_by(WebhookEvent.id)
            .limit(1000)
        )
    )
