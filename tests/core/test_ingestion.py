"""Webhook events reach the worker even when enqueueing is batched, delayed or lost."""

from __future__ import annotations

import time
from datetime import timedelta

from freezegun import freeze_time
from rq import SimpleWorker
from sqlalchemy import select

from bot import create_app, jobs
from bot.enqueue_batcher import EnqueueBatcher
from bot.models import WebhookEvent, WebhookEventState
from tests.conftest import load_webhook, signed_post


def test_batcher_coalesces_ids_into_one_job(app):
    batches: list[list[int]] = []
    batcher = EnqueueBatcher(batches.append, delay=60)  # thread sleeps; flush by hand
    batcher.add([1, 2])
    batcher.add([3])
    batcher.flush()
    assert batches == [[1, 2, 3]]


def test_batched_webhooks_are_handled(settings, db, redis, line, run_jobs):
    app = create_app(
        settings.with_changes(webhook_batch_seconds=0.001), line=line, redis=redis, database=db
    )
    client = app.test_client()
    first = load_webhook("follow")
    second = load_webhook("message__text")
    assert signed_post(client, [first]).status_code == 200
    assert signed_post(client, [second]).status_code == 200
    app.extensions["bot"].webhook_batcher.flush()
    queue = app.extensions["bot"].queues.webhooks
    deadline = time.monotonic() + 5
    while queue.count == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    with app.app_context():
        SimpleWorker([queue], connection=redis).work(burst=True, logging_level="WARNING")
        states = set(db.session().scalars(select(WebhookEvent.state)))
    assert states == {WebhookEventState.HANDLED}
    assert len(line.sent("reply")) >= 1


def test_events_lost_by_redis_are_swept_and_handled(app, client, redis, run_jobs, line):
    with freeze_time("2026-11-20 03:00:00"):
        assert signed_post(client, [load_webhook("follow")]).status_code == 200
    redis.flushdb()  # the job is gone; the event is still in the database
    assert run_jobs() == 0
    with freeze_time("2026-11-20 03:00:00") as frozen:
        frozen.tick(timedelta(minutes=3))
        with app.app_context():
            assert jobs.requeue_stale_webhook_events() == 1
        run_jobs()
    with app.app_context():
        row = app.extensions["db"].session().scalars(select(WebhookEvent)).one()
    assert row.state is WebhookEventState.HANDLED
    assert len(line.sent("reply")) == 1
    with app.app_context():
        assert jobs.requeue_stale_webhook_events() == 0  # nothing handled twice
