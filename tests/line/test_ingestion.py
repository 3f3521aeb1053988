"""Webhook events are stored once each, even under concurrency, and reach the worker."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from bot.core.clock import SystemClock
from bot.line import ingest, jobs
from bot.line.beacon import alive_key
from bot.line.ingest import EventWriter
from bot.line.webhook_events import INTERRUPTED
from bot.models import WebhookEvent, WebhookEventState
from tests.helpers.line import load_webhook, signed_post


def _event(event_id: str) -> dict:
    return load_webhook("message__text", webhookEventId=event_id)


def test_writer_stores_concurrent_requests_once_each(app, db):
    enqueued: list[list[int]] = []
    writer = EventWriter(db, SystemClock(), enqueued.append)
    requests = [[_event(f"E{i:03d}"), _event(f"E{i + 1:03d}")] for i in range(0, 40, 2)]
    requests.append([_event("E000")])  # LINE redelivered one of them meanwhile
    results: list[list[int]] = []
    threads = [
        threading.Thread(target=lambda r=r: results.append(writer.store(r))) for r in requests
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    new_ids = sorted(i for ids in results for i in ids)
    assert len(new_ids) == 40 == len(set(new_ids))  # the duplicate got no row
    writer.drain()  # the enqueuer hands ids to RQ after the requests are released
    assert sorted(i for batch in enqueued for i in batch) == new_ids
    assert len(enqueued) <= len(requests)  # concurrent requests share jobs
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(WebhookEvent)) == 40


def test_writer_under_many_threads_stores_each_event_once_and_releases_everyone(app, db):
    enqueued: list[list[int]] = []
    writer = EventWriter(db, SystemClock(), enqueued.append)
    new_ids: list[int] = []
    errors: list[BaseException] = []

    def sender(n: int) -> None:
        for i in range(15):
            # Neighbouring senders share half their ids, as LINE redeliveries would.
            ids = [f"E{n:02d}-{i:02d}", f"E{(n + 1) % 32:02d}-{i:02d}"]
            try:
                new_ids.extend(writer.store([_event(event_id) for event_id in ids]))
            except BaseException as exc:  # recorded: every request must come back
                errors.append(exc)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads) and errors == []
    assert len(new_ids) == len(set(new_ids)) == 32 * 15
    writer.drain()
    assert sorted(i for batch in enqueued for i in batch) == sorted(new_ids)


def test_writer_reports_database_errors_to_every_waiting_request(app, db):
    writer = EventWriter(db, SystemClock(), lambda ids: None)
    broken = _event("E-broken")
    broken["timestamp"] = 10**20  # not a representable time: the INSERT fails
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises must reach us
        writer.store([broken])
    assert writer.store([_event("E-after")])  # the writer keeps working


def test_a_request_that_cannot_be_stored_fails_alone(app, db, monkeypatch):
    gate = threading.Event()
    real = ingest.store_new_events

    def held_first_batch(connection, events, now):
        gate.wait(5)  # the first request leads; the next two queue up behind it
        return real(connection, events, now)

    monkeypatch.setattr(ingest, "store_new_events", held_first_batch)
    writer = EventWriter(db, SystemClock(), lambda ids: None)
    broken = _event("E-broken")
    broken["timestamp"] = 10**20  # not a representable time: its INSERT fails
    requests = {"first": [_event("E-first")], "broken": [broken], "good": [_event("E-good")]}
    results: dict[str, object] = {}

    def send(name: str) -> None:
        try:
            results[name] = writer.store(requests[name])
        except Exception as exc:  # recorded for the assertions
            results[name] = exc

    threads = {name: threading.Thread(target=send, args=(name,)) for name in requests}
    threads["first"].start()
    _until(lambda: writer._leading)  # the state this test arranges
    threads["broken"].start()
    threads["good"].start()
    _until(lambda: len(writer._waiting) == 2)  # both queued for the next batch
    gate.set()
    for thread in threads.values():
        thread.join(timeout=10)
    assert isinstance(results["broken"], Exception)
    assert len(results["first"]) == len(results["good"]) == 1
    with app.app_context():
        stored = db.session().scalars(select(WebhookEvent.webhook_event_id)).all()
    assert sorted(stored) == ["E-first", "E-good"]


def _until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_events_lost_by_redis_are_swept_and_handled(app, client, redis, run_jobs, line):
    with freeze_time("2026-11-20 03:00:00"):
        assert signed_post(client, [load_webhook("follow")]).status_code == 200
    app.extensions["bot"].event_writer.drain()  # the job reached Redis …
    redis.flushdb()  # … and Redis lost it; the event is still in the database
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


def test_a_received_event_is_swept_within_its_reply_tokens_minute(app, client, redis, run_jobs):
    """Its job (or scheduled retry) lost, a received event goes out again after 15 s. One a
    worker is processing is left alone while the worker keeps its alive key, and is taken for
    interrupted 20 s after arrival once the key is gone (the worker died)."""
    with freeze_time("2026-11-20 03:00:00"):
        assert signed_post(client, [load_webhook("follow")]).status_code == 200
        assert signed_post(client, [load_webhook("message__text")]).status_code == 200
    app.extensions["bot"].event_writer.drain()
    redis.flushdb()
    with app.app_context():
        session = app.extensions["db"].session()
        busy = session.scalars(select(WebhookEvent).order_by(WebhookEvent.id.desc())).first()
        busy.state = WebhookEventState.PROCESSING  # a live worker has it
        session.commit()
    redis.set(alive_key(busy.id), 1)  # and renews its key
    with freeze_time("2026-11-20 03:00:20"), app.app_context():
        assert jobs.requeue_stale_webhook_events() == 1
        session = app.extensions["db"].session()
        assert session.get(WebhookEvent, busy.id).state is WebhookEventState.PROCESSING
    with freeze_time("2026-11-20 03:02:05"), app.app_context():
        assert jobs.requeue_stale_webhook_events() == 1  # alive however long it takes
    redis.delete(alive_key(busy.id))  # the worker died: its key expired
    with freeze_time("2026-11-20 03:00:19"), app.app_context():
        assert jobs.requeue_stale_webhook_events() == 1  # the busy one: too young to judge
        session = app.extensions["db"].session()
        assert session.get(WebhookEvent, busy.id).state is WebhookEventState.PROCESSING
    with freeze_time("2026-11-20 03:00:21"), app.app_context():
        assert jobs.requeue_stale_webhook_events() == 2  # now taken for interrupted
        session = app.extensions["db"].session()
        assert session.get(WebhookEvent, busy.id).error == INTERRUPTED
