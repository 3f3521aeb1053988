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

from bot import create_app, delivery_jobs
from bot.models import Delivery, DeliveryState
from tests.conftest import TEST_SECRET, TEST_TOKEN
from tests.deliveries.conftest import add_shopper, cart_body
from tests.shop_api.conftest import ShopApi

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
    settings = settings.with_changes(
        line_api_base_url=emulator.base_url,
        quiet_hours=None,
        daily_marketing_cap=100,
        delivery_lease_seconds=1,
    )
    app = create_app(settings, redis=redis, database=db)
    api = ShopApi(app.test_client())
    users = []
    for n in range(SHOPPERS):
        user_id = emulator.add_user(display_name=f"テスト 太郎{n}")["userId"]
        add_shopper(app, line_user_id=user_id, member_id=f"M{n:03d}", now=datetime.now(UTC))
        users.append(user_id)
        # Abandoned 20 minutes ago: the 15-minute reminder is due now.
        body = cart_body(cart_id=f"C{n}")
        sent = api.post(
            "/events",
            {
                "type": "cart.updated",
                "event_id": f"e{n}",
                "occurred_at": (datetime.now(UTC) - timedelta(minutes=20)).isoformat(),
                "member_id": f"M{n:03d}",
                **body,
            },
        )
        assert sent.status_code == 202, sent.json

    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env.update(
        APP_ENV="development",
        DATABASE_URL=os.environ.get("TEST_DATABASE_URL") or settings.database_url,
        REDIS_URL=os.environ["TEST_REDIS_URL"],
        LINE_API_BASE_URL=emulator.base_url,
        LINE_CHANNEL_SECRET=TEST_SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=TEST_TOKEN,
        QUIET_HOURS="",
        DAILY_MARKETING_CAP="100",
        DELIVERY_SEND_THREADS="2",
    )
    emulator.slow_next(0.3, n=None, path="/v2/bot/message/push")  # pushes in flight when killed
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

    redis.flushdb()  # and Redis forgets the queued jobs too
    emulator.clear_faults()
    time.sleep(1.2)  # past the lease
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
    with app.app_context():
        due = (
            app.extensions["db"]
            .session()
            .scalars(select(Delivery).where(Delivery.due_at <= datetime.now(UTC)))
            .all()
        )
    assert {d.state for d in due} == {DeliveryState.SENT}
