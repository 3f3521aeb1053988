"""Periodic work that cannot silently stop: long runs, Redis flushes, two schedulers, outages.

The scheduler runs on an injected clock (seconds since the epoch) and does one pass per
`step()`; an in-process RQ worker plays the `dispatcher` process.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime

import fakeredis
import pytest
from rq import SimpleWorker
from rq_scheduler import Scheduler
from sqlalchemy import select

from bot.core.queues import Queues
from bot.core.schedule import DISPATCHER, PeriodicScheduler, periodic_jobs
from bot.delivery import jobs as delivery_jobs
from bot.models import PeriodicRun

T0 = 1_780_000_000.0  # a multiple of 10 and 60: ticks start here


class FakeClock:
    def __init__(self, at: float = T0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def _scheduler(app, clock: FakeClock) -> PeriodicScheduler:
    services = app.extensions["bot"]
    return PeriodicScheduler(
        services.queues, periodic_jobs(services.settings), clock=clock, sleep=lambda _s: None
    )


def _queued(app) -> list[str]:
    """Names of the periodic jobs waiting in the dispatch queue."""
    return [job.args[0] for job in app.extensions["bot"].queues.dispatch.jobs]


def _work(app, redis) -> None:
    with app.app_context():
        worker = SimpleWorker([app.extensions["bot"].queues.dispatch], connection=redis)
        worker.work(burst=True, logging_level="WARNING")


def _last_run(app, name: str) -> PeriodicRun | None:
    with app.app_context():
        session = app.extensions["bot"].db.session()
        run = session.scalars(select(PeriodicRun).where(PeriodicRun.name == name)).first()
        session.commit()
        return run


def test_every_job_is_enqueued_on_its_tick_and_records_its_run(app, redis):
    clock = FakeClock()
    scheduler = _scheduler(app, clock)
    scheduler.step()
    assert sorted(_queued(app)) == sorted(j.name for j in scheduler.periodic)
    scheduler.step()  # same tick: nothing new
    assert len(_queued(app)) == len(scheduler.periodic)
    _work(app, redis)
    run = _last_run(app, "dispatch_due_deliveries")
    assert run is not None and run.finished_at <= datetime.now(UTC)
    clock.at += 10  # the dispatcher's next tick (every 10 s); the minute sweeps wait
    scheduler.step()
    queued = _queued(app)
    assert "dispatch_due_deliveries" in queued
    # The webhook sweep runs every 15 s: whether 10 s crossed its tick depends on T0.
    assert set(queued) <= {"dispatch_due_deliveries", "requeue_stale_webhook_events"}


def test_a_run_longer_than_its_result_ttl_does_not_remove_the_dispatcher(app, redis, monkeypatch):
    """rq-scheduler dropped a periodic job whose run outlived its result_ttl (issue 42)."""
    clock = FakeClock()
    scheduler = _scheduler(app, clock)
    real = delivery_jobs.dispatch_due_deliveries
    during: list[list[str]] = []

    def long_run() -> int:
        # The scheduler goes on while this run takes three intervals (the first run only).
        for _ in range(0 if during else 3):
            clock.at += 10
            scheduler.step()
            during.append(_queued(app))
        return real()

    monkeypatch.setattr(delivery_jobs, "dispatch_due_deliveries", long_run)
    scheduler.step()
    _work(app, redis)  # the long run, then the one queued behind it (a normal run)
    monkeypatch.setattr(delivery_jobs, "dispatch_due_deliveries", real)
    # One copy queued behind the long run, not one per tick.
    assert [names.count("dispatch_due_deliveries") for names in during] == [1, 1, 1]
    # What the worker kept of the finished runs expires (result_ttl); the schedule does not.
    for key in redis.scan_iter("rq:job:*"):
        redis.delete(key)
    for _ in range(3):
        clock.at += 10
        scheduler.step()
        assert _queued(app).count("dispatch_due_deliveries") == 1
        _work(app, redis)


def test_after_a_redis_flush_the_dispatcher_runs_again_within_two_intervals(app, redis):
    clock = FakeClock()
    scheduler = _scheduler(app, clock)
    scheduler.step()
    _work(app, redis)
    before = _last_run(app, "dispatch_due_deliveries")
    clock.at += 3
    redis.flushdb()  # a restart without persistence, a failover, FLUSHDB
    flushed_at = clock.at
    while "dispatch_due_deliveries" not in _queued(app):
        clock.at += 1
        scheduler.step()
        assert clock.at - flushed_at <= 2 * 10, "the dispatcher did not come back"
    _work(app, redis)
    after = _last_run(app, "dispatch_due_deliveries")
    assert before is not None and after is not None
    assert after.finished_at >= before.finished_at
    # The sweeps come back too, on their own ticks.
    clock.at = T0 + 60
    scheduler.step()
    assert set(_queued(app)) == {j.name for j in scheduler.periodic if 60 % j.interval == 0}


@pytest.mark.parametrize("skew", [0.0, 0.4])
def test_two_schedulers_enqueue_each_tick_once(app, redis, skew):
    clock_a, clock_b = FakeClock(), FakeClock(T0 + skew)
    first, second = _scheduler(app, clock_a), _scheduler(app, clock_b)
    enqueued: list[str] = []
    for _ in range(35):  # 35 s of loops at one per second, both processes
        enqueued += first.tick() + second.tick()
        app.extensions["bot"].queues.dispatch.empty()  # a worker took them
        clock_a.at += 1
        clock_b.at += 1
    dispatcher = [i for i in enqueued if "dispatch_due_deliveries" in i]
    assert len(dispatcher) == len(set(dispatcher)) == 4  # ticks at +0, +10, +20, +30 s
    assert len(enqueued) == len(set(enqueued))
    assert any(i in enqueued for i in [f"periodic-return_idle_tickets-{int(T0 // 60)}"])


def test_a_tick_is_skipped_while_the_previous_run_still_waits(app, redis):
    clock = FakeClock()
    scheduler = _scheduler(app, clock)
    scheduler.step()
    for _ in range(15):  # no dispatcher worker for two and a half minutes
        clock.at += 10
        scheduler.step()
    assert _queued(app).count("dispatch_due_deliveries") == 1
    _work(app, redis)
    clock.at += 10
    scheduler.step()
    assert _queued(app).count("dispatch_due_deliveries") == 1


def test_the_scheduler_rides_out_a_redis_outage(app, caplog):
    server = fakeredis.FakeServer()
    connection = fakeredis.FakeRedis(server=server)
    clock = FakeClock()
    scheduler = PeriodicScheduler(
        Queues(connection),
        periodic_jobs(app.extensions["bot"].settings),
        clock=clock,
        sleep=lambda _s: None,
    )
    server.connected = False
    with caplog.at_level(logging.ERROR, logger="bot.core.schedule"):
        scheduler.run(max_loops=5)  # returns: nothing raised out of the loop
    assert [r.getMessage() for r in caplog.records].count(
        "scheduler: Redis unreachable, retrying"
    ) == 1
    server.connected = True
    clock.at += 10
    scheduler.run(max_loops=1)
    names = [job.args[0] for job in Queues(connection).dispatch.jobs]
    assert "dispatch_due_deliveries" in names


def test_registrations_of_the_earlier_design_are_removed(app, redis):
    old = Scheduler(queue=app.extensions["bot"].queues.default, connection=redis)
    old.schedule(
        scheduled_time=datetime.now(UTC),
        func=delivery_jobs.dispatch_due_deliveries,
        interval=10,
        id="periodic-bot_delivery_jobs-dispatch_due_deliveries",
        result_ttl=20,
    )
    scheduler = _scheduler(app, FakeClock())
    scheduler.step()
    assert list(old.get_jobs()) == []


def test_the_table_names_each_job_function_by_a_path_that_imports(settings):
    jobs = periodic_jobs(settings)
    assert [(j.name, j.interval) for j in jobs] == [
        ("dispatch_due_deliveries", settings.dispatch_interval_seconds),
        ("requeue_stale_webhook_events", 15),
        ("requeue_pending_restocks", 60),
        ("return_idle_tickets", 60),
        ("prune_login_attempts", 3600),
        ("prune_webhook_events", 3600),
        ("purge_expired_link_records", 3600),
        ("purge_erased_consents", 86400),
        ("fetch_message_insights", 86400),
        ("start_customer_flows", 86400),
        ("plan_abandonment_surveys", 600),
    ]
    for job in jobs:
        function = job.function()
        assert callable(function)
        # The run record and the tick locks are keyed by the function's name.
        assert (function.__module__, function.__name__) == tuple(job.path.rsplit(".", 1))
        assert function.__name__ == job.name
    assert jobs[0].name == DISPATCHER


def test_the_schedule_imports_no_job_module() -> None:
    """Core builds the table without importing the features; the paths are read at run time."""
    code = (
        "import sys, bot.core.schedule\n"
        "print(sorted(m for m in sys.modules if m.endswith(('.jobs', '.maintenance', '.liveness'))"
        " and m != 'bot.core.jobs'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
