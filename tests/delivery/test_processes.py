"""The Procfile's processes as written: the dispatcher keeps ticking while LINE stalls the
sender, and it comes back by itself after Redis loses everything.

Real processes on the test database and a real Redis, pushing to the LINE emulator over HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.core.schedule import DISPATCHER
from bot.core.settings import REPO_ROOT
from bot.devserver import procfile_processes
from bot.models import Delivery, DeliveryState, PeriodicRun
from tests.helpers.delivery import abandoned_carts, process_env

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_REDIS_URL"),
    reason="needs a Redis that subprocesses can share (CI's second suite sets it)",
)


@pytest.fixture
def start():
    started: list[subprocess.Popen] = []

    def run(names: list[str], env: dict[str, str]) -> None:
        commands = procfile_processes()
        for name in names:
            # Own process groups: RQ's worker runs its scheduler in a child process.
            started.append(
                subprocess.Popen(
                    commands[name],
                    cwd=REPO_ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

    yield run
    for process in started:
        os.killpg(process.pid, signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _dispatcher_runs(app, seconds: float) -> Iterator[datetime]:
    """The dispatcher's recorded last run, sampled every 0.2 s for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with app.app_context():
            session = app.extensions["bot"].db.session()
            run = session.get(PeriodicRun, DISPATCHER)
            session.commit()
            app.extensions["bot"].db.session.remove()
        if run is not None:
            yield run.finished_at
        time.sleep(0.2)


def _wait_for_new_run(app, after: datetime, seconds: float) -> float:
    started = time.monotonic()
    for finished in _dispatcher_runs(app, seconds):
        if finished > after:
            return time.monotonic() - started
    raise AssertionError(f"no dispatcher run within {seconds} s")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_dispatcher_ticks_while_the_sender_is_stuck_and_after_a_flush(
    settings, db, redis, emulator, start
):
    settings = settings.with_changes(quiet_hours=None, daily_marketing_cap=100)
    app = create_app(settings, redis=redis, database=db)
    users = [emulator.add_user(display_name=f"テスト 次郎{n}")["userId"] for n in range(3)]
    abandoned_carts(app, users)
    # Every push is taken by LINE but answered only after 30 s; the client waits 8 s.
    emulator.slow_next(30, n=None, path="/v2/bot/message/push")
    env = process_env(
        settings.database_url,
        emulator.base_url,
        DISPATCH_INTERVAL_SECONDS="1",
        HEALTH_MAX_DISPATCH_AGE_SECONDS="5",
        LINE_READ_TIMEOUT="8",
        DELIVERY_BATCH_SECONDS="2",
        DELIVERY_SEND_THREADS="1",
    )
    start(["sender", "dispatcher", "scheduler"], env)
    _wait_for_new_run(app, datetime.min.replace(tzinfo=UTC), 60)  # processes are up
    deadline = time.monotonic() + 30
    while not any(emulator.inbox(u) for u in users):  # taken, its answer still to come
        assert time.monotonic() < deadline, "no push started"
        time.sleep(0.2)

    # The sender now waits 8 s on each push; the dispatcher goes on ticking every second
    # (in one process with the sender it would wait behind each push).
    runs = sorted(set(_dispatcher_runs(app, 6)))
    assert len(runs) >= 3, runs
    gaps = [(b - a).total_seconds() for a, b in zip(runs, runs[1:], strict=False)]
    assert max(gaps) < 6, gaps

    # Redis loses everything: the scheduler enqueues the next tick afresh.
    emulator.clear_faults()
    flushed = datetime.now(UTC)
    redis.flushdb()
    back_after = _wait_for_new_run(app, flushed, 20)
    # Two intervals, plus a second for the worker to run it on a loaded machine.
    assert back_after <= 2 * 1 + 3, f"dispatcher back only after {back_after:.1f} s"

    # And every reminder goes out once (the stalled ones were accepted: 409 on the retry).
    deadline = time.monotonic() + 60
    while True:
        with app.app_context():
            session = app.extensions["bot"].db.session()
            states = session.scalars(
                select(Delivery.state).where(Delivery.due_at <= datetime.now(UTC))
            ).all()
            session.commit()
        if set(states) == {DeliveryState.SENT}:
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.5)
    assert [len(emulator.inbox(u)) for u in users] == [1, 1, 1]
    assert timedelta(0) <= datetime.now(UTC) - flushed
