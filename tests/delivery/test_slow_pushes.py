"""Slow LINE answers cannot starve the engine: a stuck push ends at the client timeout, a batch
stops starting pushes at its time limit, and the rows it did not push go out on the next tick.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import select

from bot.app import create_app
from bot.delivery import jobs as delivery_jobs
from bot.delivery.send_rules import ALREADY_ACCEPTED, OUT_OF_TIME
from bot.line.gateway import InMemoryLineGateway, Message, SendResult
from bot.models import Delivery, DeliveryState
from tests.helpers.delivery import ShiftedClock, abandoned_carts

PUSH = "/v2/bot/message/push"


@dataclass
class SlowLine(InMemoryLineGateway):
    """Every push takes `seconds` of real time."""

    seconds: float = 0.0

    def push(
        self,
        to: str,
        messages: Sequence[Message],
        *,
        retry_key: str | None = None,
        aggregation_unit: str | None = None,
    ) -> SendResult:
        time.sleep(self.seconds)
        return super().push(to, messages, retry_key=retry_key, aggregation_unit=aggregation_unit)


def _deliveries(app) -> dict[int, Delivery]:
    """Each shopper's first reminder (the one due; the later steps are days away)."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        query = select(Delivery).where(Delivery.step_index == 0)
        rows = {d.shopper_id: d for d in session.scalars(query).all()}
        session.commit()
        return rows


def _send_jobs(app, redis) -> float:
    """Run the queued send batches in a `sender` worker; returns the seconds it took."""
    started = time.monotonic()
    with app.app_context():
        worker = SimpleWorker([app.extensions["bot"].queues.deliveries], connection=redis)
        worker.work(burst=True, logging_level="WARNING")
    return time.monotonic() - started


@pytest.fixture
def quick_settings(settings):
    return settings.with_changes(quiet_hours=None, daily_marketing_cap=100)


def _one_push_slowed(settings, db, redis, emulator, *, read_timeout: float, slow: float):
    """Six shoppers' first reminders claimed and sent with LINE answering the first push only
    after `slow` seconds; returns the app, its clock, the users and the batch's duration."""
    clock = ShiftedClock()
    app = create_app(
        settings.with_changes(line_api_base_url=emulator.base_url, line_read_timeout=read_timeout),
        redis=redis,
        database=db,
        clock=clock,
    )
    users = [emulator.add_user(display_name=f"テスト 花子{n}")["userId"] for n in range(6)]
    abandoned_carts(app, users)
    emulator.slow_next(slow, n=1, path=PUSH)
    with app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() == 6
    return app, clock, users, _send_jobs(app, redis)


def test_a_push_stuck_past_the_client_timeout_ends_there_and_the_others_go_out(
    quick_settings, db, redis, emulator
):
    # LINE takes the first push but answers only after 5 s: the client gives up at 0.5 s.
    app, clock, users, took = _one_push_slowed(
        quick_settings, db, redis, emulator, read_timeout=0.5, slow=5
    )
    assert took < 4, f"the batch waited for the stuck push ({took:.1f}s)"
    rows = _deliveries(app).values()
    assert sorted(d.state.value for d in rows) == ["pending"] + ["sent"] * 5
    stuck = next(d for d in rows if d.state is DeliveryState.PENDING)
    assert stuck.reason == "retrying: LineTimeout" and stuck.attempts == 1
    # The next tick is not held up either, and once the backoff is over the retry (same
    # retry key) gets LINE's 409: counted as sent, and nobody has two messages.
    clock.offset += timedelta(seconds=6)
    with app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() == 1
    _send_jobs(app, redis)
    again = _deliveries(app)[stuck.shopper_id]
    assert again.state is DeliveryState.SENT and again.reason == ALREADY_ACCEPTED
    assert [len(emulator.inbox(u)) for u in users] == [1] * 6


def test_a_batch_stops_starting_pushes_at_its_time_limit(quick_settings, db, redis):
    line = SlowLine(seconds=1.0)
    app = create_app(
        quick_settings.with_changes(delivery_batch_seconds=3, delivery_send_threads=1),
        line=line,
        redis=redis,
        database=db,
    )
    users = [f"U{n:032x}" for n in range(1, 7)]
    abandoned_carts(app, users)
    with app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() == 6
    took = _send_jobs(app, redis)
    # Six pushes of 1 s each on one thread would take 6 s; none starts after 3 s.
    assert took < 5.5
    rows = list(_deliveries(app).values())
    sent = [d for d in rows if d.state is DeliveryState.SENT]
    later = [d for d in rows if d.state is DeliveryState.PENDING]
    assert sent and later and len(sent) + len(later) == 6
    for delivery in later:  # back in line at once, with no attempt used up
        assert delivery.reason == OUT_OF_TIME and delivery.attempts == 0
        assert delivery.due_at <= datetime.now(UTC)
    line.seconds = 0
    with app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() == len(later)
    _send_jobs(app, redis)
    assert {d.state for d in _deliveries(app).values()} == {DeliveryState.SENT}
    assert sorted(p["to"] for p in line.sent("push")) == sorted(users)


def test_the_dispatcher_keeps_the_send_queue_shallow(quick_settings, db, redis, monkeypatch):
    """Rows wait as pending in the database, not claimed in Redis past their lease."""
    monkeypatch.setattr(delivery_jobs, "MAX_QUEUED_BATCHES", 2)
    monkeypatch.setattr(delivery_jobs, "SEND_BATCH", 2)
    app = create_app(quick_settings, line=InMemoryLineGateway(), redis=redis, database=db)
    abandoned_carts(app, [f"U{n:032x}" for n in range(1, 8)])
    with app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() == 4  # two batches of two
        assert delivery_jobs.dispatch_due_deliveries() == 0  # the sender has not taken them
    _send_jobs(app, redis)
    with app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() == 3


def test_a_batch_does_not_wait_out_a_stalled_push(quick_settings, db, redis, emulator):
    """LINE takes a push but answers only after 4 s (the client waits up to 8 s): the batch
    writes the other five and ends; the stalled row stays `sending`, comes back after the
    lease, and the retry key makes LINE answer 409, counted as sent."""
    app, clock, users, took = _one_push_slowed(
        quick_settings, db, redis, emulator, read_timeout=8, slow=4
    )
    assert took < 3.5, f"the batch waited for the stalled push ({took:.1f}s)"
    rows = _deliveries(app).values()
    assert sorted(d.state.value for d in rows) == ["sending"] + ["sent"] * 5
    stuck = next(d for d in rows if d.state is DeliveryState.SENDING)
    deadline = time.monotonic() + 10
    while sum(len(emulator.inbox(u)) for u in users) < 6:
        assert time.monotonic() < deadline, "the stalled push never reached LINE"
        time.sleep(0.1)
    with app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() == 0  # its lease still runs
    clock.offset += timedelta(seconds=quick_settings.delivery_lease_seconds + 1)
    with app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() == 1
    _send_jobs(app, redis)
    again = _deliveries(app)[stuck.shopper_id]
    assert again.state is DeliveryState.SENT and again.reason == ALREADY_ACCEPTED
    assert [len(emulator.inbox(u)) for u in users] == [1] * 6
