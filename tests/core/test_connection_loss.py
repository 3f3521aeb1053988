"""PostgreSQL dropping its connections is invisible to LINE and to the shop (PostgreSQL).

After a restart or failover every pooled connection is dead; without a check on checkout the
next request on each answered 500: the first webhook (lost when LINE's redelivery is off) and
the first shop event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from flask import Flask
from sqlalchemy import func, select

from bot.core.db import Database
from bot.models import ShopEvent, WebhookEvent
from tests.helpers.delivery import MEMBER, add_shopper, cart_body
from tests.helpers.line import load_webhook, signed_post
from tests.helpers.shop_api import ShopApi

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(app: Flask) -> Database:
    database = app.extensions["bot"].db
    if database.dialect != "postgresql":
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL")
    return database


def terminate_backends(database: Database) -> int:
    """What a PostgreSQL restart does to the service: every connection of this database (and
    only this one) is cut. Sent on a connection of its own, which it spares."""
    url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        return len(
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        )


def _webhook(n: int) -> dict:
    return load_webhook(
        "message__text", webhookEventId=f"01JDROPPED{n:016d}", replyToken=f"rt-drop-{n}"
    )


def _shop_event(api: ShopApi) -> int:
    payload = {
        "type": "cart.updated",
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC).isoformat(),
        "member_id": MEMBER,
        **cart_body(),
    }
    return api.post("/events", payload).status_code


def _count(database: Database, model: type) -> int:
    with database.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_webhook_and_shop_event_after_the_database_dropped_its_connections(
    app: Flask, client, pg: Database
) -> None:
    add_shopper(app)
    api = ShopApi(client)
    # Warm the pool: the connections that PostgreSQL is about to drop.
    assert signed_post(client, [_webhook(1)]).status_code == 200
    assert _shop_event(api) == 202
    app.extensions["bot"].event_writer.drain()
    assert terminate_backends(pg) >= 1

    assert signed_post(client, [_webhook(2)]).status_code == 200
    assert _shop_event(api) == 202
    assert _count(pg, WebhookEvent) == 2
    assert _count(pg, ShopEvent) == 2


def test_webhook_batch_on_a_connection_dropped_while_leading(app: Flask, pg: Database) -> None:
    """The webhook writer keeps its connection while requests pass the lead on; one cut in
    between is retried on a fresh connection instead of failing the request."""
    writer = app.extensions["bot"].event_writer
    writer._leader_connection()  # as if a batch had just been stored and the lead passed on
    assert terminate_backends(pg) >= 1
    assert len(writer.store([_webhook(3)])) == 1
    assert _count(pg, WebhookEvent) == 1
