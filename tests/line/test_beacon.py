"""The alive keys of the events a worker has in hand: set at once, renewed while the event is
in hand, left to expire after; a Redis failure never fails the event."""

from __future__ import annotations

import threading
import time

from redis.exceptions import ConnectionError as RedisConnectionError

from bot.line.beacon import EventBeacon, live_events
from tests.helpers.line import load_webhook, signed_post


def _wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_a_held_event_stays_alive_and_expires_after(redis) -> None:
    beacon = EventBeacon(redis, alive_seconds=1, beat_seconds=0.2)
    with beacon.holding(7):
        assert live_events(redis, [7, 8]) == {7}
        time.sleep(1.5)  # longer than a key lives: only the renewals keep it
        assert live_events(redis, [7]) == {7}
    _wait_for(lambda: not live_events(redis, [7]))
    # The renewing thread ends with the last event in hand.
    _wait_for(lambda: not any(t.name == "webhook-event-beacon" for t in threading.enumerate()))


def test_live_events_of_nothing_asks_nothing(redis) -> None:
    assert live_events(redis, []) == set()


def test_a_redis_failure_does_not_fail_the_event(redis, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RedisConnectionError("Redis went away")

    beacon = EventBeacon(redis, alive_seconds=1, beat_seconds=0.1)
    monkeypatch.setattr(redis, "pipeline", broken)
    ran: list[int] = []
    with beacon.holding(9):  # marking fails at once and at every renewal: never raised
        time.sleep(0.3)
        ran.append(9)
    assert ran == [9]


def test_the_event_is_alive_while_its_handler_runs(app, client, line, run_jobs, monkeypatch):
    """Through the dispatcher: a follow's greeting is sent with its event's key alive."""
    redis = app.extensions["bot"].redis
    seen: list[int] = []
    reply = line.reply

    def watching(token, messages):
        seen.append(len(redis.keys("webhook:alive:*")))
        return reply(token, messages)

    monkeypatch.setattr(line, "reply", watching)
    assert signed_post(client, [load_webhook("follow")]).status_code == 200
    run_jobs()
    assert seen == [1]
