"""Idempotency-Key: the first response to a key is stored and replayed for 24 hours."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Response
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.models.linking import IdempotencyRecord
from bot.shop_api.errors import ApiError

KEY_HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def request_hash(method: str, path: str, body: bytes) -> str:
    """A digest of what the key was first used for: method, path and raw body."""
    digest = hashlib.sha256()
    digest.update(f"{method} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def run_once(
    session: Session,
    key: str,
    method: str,
    path: str,
    body: bytes,
    now: datetime,
    effect: Callable[[], Response],
) -> Response:
    """Run `effect` once per key; replay its response, or 409 if the key meets another body.

    The record is inserted before the effect runs, in the same transaction: a concurrent request
    with the same key blocks on the unique index until this one commits (or rolls back), then
    replays the stored response instead of running the effect a second time.
    """
    if not _KEY.match(key):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"{KEY_HEADER} must be 1-255 visible ASCII characters",
            KEY_HEADER,
        )
    fingerprint = request_hash(method, path, body)
    existing = _find(session, key)
    if existing is not None and existing.created_at <= now - TTL:
        session.delete(existing)
        session.flush()
        existing = None
    if existing is not None:
        return _replay(existing, fingerprint)

    record = IdempotencyRecord(
        key=key,
        method=method,
        path=path,
        request_hash=fingerprint,
        status_code=0,
        response_body="",
        created_at=now,
    )
    session.add(record)
    try:
        session.flush()
    except IntegrityError:
        # Another request with this key committed first (we waited for its row lock). Nothing
        # else has happened in this transaction yet, so a full rollback loses nothing.
        session.rollback()
        existing = _find(session, key)
        if existing is None:
            raise ApiError(
                409,
                "idempotency_in_progress",
                "a request with this Idempotency-Key is being processed; retry shortly",
                KEY_HEADER,
            ) from None
        return _replay(existing, fingerprint)

    response = effect()
    record.status_code = response.status_code
    record.response_body = response.get_data(as_text=True)
    record.content_type = response.content_type
    return response


def purge_expired(session: Session, now: datetime) -> int:
    """Delete records older than the 24-hour replay window; returns how many."""
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at <= now - TTL)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _find(session: Session, key: str) -> IdempotencyRecord | None:
    return session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == key)).first()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.request_hash != fingerprint:
        raise ApiError(
            409,
            "idempotency_key_reused",
            f"this {KEY_HEADER} was already used for a different request",
            KEY_HEADER,
        )
    if record.status_code == 0:
        raise ApiError(
            409,
            "idempotency_in_progress",
            "a request with this Idempotency-Key is being processed; retry shortly",
            KEY_HEADER,
        )
    response = Response(record.response_body or None, status=record.status_code)
    if record.content_type:
        response.content_type = record.content_type
    response.headers["Idempotent-Replayed"] = "true"
    return response
