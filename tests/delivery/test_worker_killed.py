"""A worker process killed mid-batch: every due delivery still reaches its shopper exactly once.

Real processes and services: `worker.py` as a subprocess on the real Redis and the test
database, pushing through the LINE emulator over HTTP; SIGKILL while pushes are in flight.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.core.settings import batch_bound_seconds
from bot.delivery import jobs as delivery_jobs
from bot.delivery.send_rules import ALREADY_ACCEPTED
from bot.models import Delivery, DeliveryState
from tests.helpers.delivery import ShiftedClock, abandoned_carts, process_env

ROOT = Path(__file__).resolve().parents[2]
SHOPPERS = 24

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_REDIS_URL"),
    reason="needs a Redis that a worker subprocess can share (CI's second suite sets it)",
)


def _worker(env: dict[str, str]) -> subprocess.Popen:
    # A process group of its own: RQ's worker runs its scheduler in a child process, which
    # outlives a SIGKILLed parent unless the whole group is signalled.
    return subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(worker: subprocess.Popen, sig: signal.Signals) -> None:
    """Signal the worker's whole process group and wait until none of it is left."""
    os.killpg(worker.pid, sig)
    worker.wait(timeout=20)

    def group_gone() -> bool:
        try:
            os.killpg(worker.pid, 0)
        except ProcessLookupError:
            return True
        return False

    try:
        _wait(group_gone, 10, "the worker's processes to end")
    except AssertionError:
        os.killpg(worker.pid, signal.SIGKILL)  # leave nothing behind, then fail
        raise


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_killed_worker_loses_nothing_and_sends_nothing_twice(settings, db, redis, emulator):
    # The default lease bounds how long a killed worker's rows wait, even without Redis.
    settings = settings.with_changes(
        line_api_base_url=emulator.base_url, quiet_hours=None, daily_marketing_cap=100
    )
    assert settings.delivery_lease_seconds + settings.dispatch_interval_seconds <= 60
    assert settings.delivery_lease_seconds >= batch_bound_seconds(settings)
    clock = ShiftedClock()
    app = create_app(settings, redis=redis, database=db, clock=clock)
    users = [emulator.add_user(display_name=f"テスト 太郎{n}")["userId"] for n in range(SHOPPERS)]
    abandoned_carts(app, users)
    env = process_env(settings.database_url, emulator.base_url, DELIVERY_SEND_THREADS="2")
    emulator.slow_next(0.3, n=None, path="/v2/bot/message/push")  # pushes in flight when killed
    claimed = datetime.now(UTC)
    with app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() >= SHOPPERS
    first = _worker(env)
    try:
        _wait(lambda: len(emulator.requests("/v2/bot/message/push")) >= 4, 60, "first pushes")
    finally:
        _stop(first, signal.SIGKILL)

    with app.app_context():
        session = app.extensions["db"].session()
        stuck = session.scalars(
            select(Delivery).where(Delivery.state == DeliveryState.SENDING)
        ).all()
        session.commit()
    assert stuck, "the kill should leave deliveries claimed but unfinished"

    redis.flushdb()  # and Redis forgets the queued jobs and the batches' alive keys too
    emulator.clear_faults()
    dead_after = delivery_jobs.DEAD_SENDER
    assert dead_after < timedelta(seconds=settings.delivery_lease_seconds)
    # Not before a dead sender's rows are old enough (a live one renews their keys) ...
    clock.offset = claimed + dead_after - timedelta(seconds=2) - datetime.now(UTC)
    with app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() == 0
    # ... and on the first tick after, well within the lease: nobody holds them.
    clock.offset = claimed + dead_after + timedelta(seconds=1) - datetime.now(UTC)
    with app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() >= len(stuck)
    second = _worker(env)
    try:

        def all_finished() -> bool:
            with app.app_context():
                session = app.extensions["db"].session()
                open_ = session.scalars(
                    select(Delivery.id).where(
                        Delivery.due_at <= datetime.now(UTC),
                        Delivery.state.in_([DeliveryState.PENDING, DeliveryState.SENDING]),
                    )
                ).all()
                session.commit()
            return not open_

        _wait(all_finished, 90, "every due delivery to finish")
    finally:
        _stop(second, signal.SIGTERM)

    for user_id in users:
        assert len(emulator.inbox(user_id)) == 1, f"{user_id} got {len(emulator.inbox(user_id))}"
    # Pushes the killed worker got through were pushed again and LINE answered 409: sent.
    with app.app_context():
        session = app.extensions["db"].session()
        again = session.scalars(select(Delivery).where(Delivery.reason == ALREADY_ACCEPTED)).all()
        session.commit()
    answered_409 = [r for r in emulator.requests("/v2/bot/message/push") if r["status"] == 409]
    assert len(again) == len(answered_409)
    with app.app_context():
        due = (
            app.extensions["db"]
            .session()
            .scalars(select(Delivery).where(Delivery.due_at <= datetime.now(UTC)))
            .all()
        )
    assert {d.state for d in due} == {DeliveryState.SENT}
