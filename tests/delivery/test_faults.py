"""Faults end to end: real SDK gateway over HTTP to the emulator, real RQ worker, lost jobs.

Runs on SQLite + fakeredis by default and on PostgreSQL + Redis with TEST_DATABASE_URL and
TEST_REDIS_URL set. Whatever goes wrong, every due delivery reaches its shopper exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rq import SimpleWorker

from bot.app import create_app
from bot.delivery import jobs as delivery_jobs
from bot.models import DeliveryState
from tests.helpers.delivery import MUG, SteppedClock, emulator_carts


def test_every_due_delivery_is_sent_exactly_once_despite_faults(settings, db, redis, emulator):
    clock = SteppedClock(datetime(2025, 7, 1, 1, 0, tzinfo=UTC))  # 10:00 in Tokyo
    app = create_app(
        settings.with_changes(line_api_base_url=emulator.base_url),
        redis=redis,
        database=db,
        clock=clock,
    )
    users = emulator_carts(app, emulator, 30, clock.now(), MUG)

    def run_worker() -> None:
        worker = SimpleWorker(app.extensions["bot"].queues.all(), connection=redis)
        with app.app_context():
            worker.work(burst=True, logging_level="WARNING")

    def tick() -> int:
        with app.app_context():
            claimed = delivery_jobs.dispatch_due_deliveries()
        run_worker()
        return claimed

    # Reminders are due; LINE rate-limits some, fails others after delivering them.
    clock.current += timedelta(minutes=16)
    emulator.fail_next(429, n=4, path="/v2/bot/message/push", retry_after=30)
    emulator.fail_next(500, n=3, path="/v2/bot/message/push", deliver=True)
    assert tick() == 30

    # A second batch is claimed and then its jobs vanish (worker killed, Redis flushed).
    emulator.fail_next(500, n=5, path="/v2/bot/message/push", deliver=True)
    clock.current += timedelta(minutes=10)
    with app.app_context():
        claimed = delivery_jobs.dispatch_due_deliveries()
    assert claimed > 0
    redis.flushdb()
    run_worker()  # nothing to do: the jobs are gone
    emulator.clear_faults()

    # After the lease the dispatcher takes the stranded rows back.
    clock.current += timedelta(seconds=settings.delivery_lease_seconds + 60)
    for _ in range(5):
        tick()
    with app.app_context():
        session = app.extensions["bot"].db.session()
        from sqlalchemy import select

        from bot.models import Delivery

        reminders = session.scalars(select(Delivery).where(Delivery.step_id == "reminder")).all()
    assert {d.state for d in reminders} == {DeliveryState.SENT}
    for user in users:
        inbox = emulator.inbox(user)
        assert len(inbox) == 1, (user, inbox)
