"""Scheduled broadcasts on a timeline: the dispatcher hands them out at their time, a cancel
before the start stops them, a lost job is handed out again."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time

from bot.broadcast import jobs, service
from tests.helpers.broadcast import NOON, add_shoppers, broadcast_row, make_broadcast, outcomes


def dispatch(app) -> int:
    with app.app_context():
        return jobs.dispatch_due_broadcasts()


def test_a_scheduled_broadcast_waits_for_its_time(app, line, run_jobs, redis):
    add_shoppers(app, 4)
    at = NOON + timedelta(hours=2)
    with freeze_time(NOON) as clock:
        broadcast_id = make_broadcast(app, send_at=at)
        assert dispatch(app) == 0
        run_jobs()
        clock.move_to(at - timedelta(seconds=1))
        assert dispatch(app) == 0
        clock.move_to(at)
        assert dispatch(app) == 1
        assert dispatch(app) == 0  # handed out: not again while its job waits
        run_jobs()
    assert len(line.sent("multicast")) == 1
    assert outcomes(app, broadcast_id) == {"sent": 4}
    row = broadcast_row(app, broadcast_id)
    assert row.started_at == at and row.state.value == "done"


def test_cancel_before_the_start_means_nothing_is_sent(app, line, run_jobs):
    add_shoppers(app, 2)
    at = NOON + timedelta(hours=2)
    with freeze_time(NOON) as clock:
        broadcast_id = make_broadcast(app, send_at=at)
        clock.move_to(NOON + timedelta(hours=1))
        with app.app_context():
            session = app.extensions["bot"].db.session()
            service.cancel(session, broadcast_id, NOON + timedelta(hours=1))
            session.commit()
        clock.move_to(at + timedelta(hours=1))
        assert dispatch(app) == 0
        run_jobs()
    assert line.sent("multicast") == []
    assert broadcast_row(app, broadcast_id).state.value == "cancelled"


def test_a_job_lost_from_redis_is_handed_out_again(app, line, run_jobs, redis):
    add_shoppers(app, 3)
    with freeze_time(NOON) as clock:
        broadcast_id = make_broadcast(app)
        assert dispatch(app) == 1
        redis.flushdb()  # the queued job is gone
        run_jobs()
        assert line.sent("multicast") == []
        clock.move_to(NOON + service.DISPATCH_GRACE)
        assert dispatch(app) == 1
        run_jobs()
    assert outcomes(app, broadcast_id) == {"sent": 3}


def test_a_second_copy_of_the_job_sends_nothing_again(app, line, run_jobs):
    add_shoppers(app, 2)
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app)
        with app.app_context():
            jobs.enqueue_send(app.extensions["bot"].queues, broadcast_id)
            jobs.enqueue_send(app.extensions["bot"].queues, broadcast_id)
        run_jobs()
    assert len(line.sent("multicast")) == 1
    assert outcomes(app, broadcast_id) == {"sent": 2}
