"""A batch left `sending` by a dead sender is claimed again within seconds, not after the
lease; a batch a live sender holds (its alive keys renewed) is left alone until the lease."""

from __future__ import annotations

from datetime import timedelta

import pytest
from redis.exceptions import RedisError

from bot.delivery import engine as deliveries
from bot.delivery import jobs as delivery_jobs
from bot.delivery.jobs import DEAD_SENDER
from bot.line.beacon import delivery_alive_key
from bot.models import DeliveryState
from tests.helpers.delivery import START, cart_body, pushes

M15 = timedelta(minutes=15)
SECOND = timedelta(seconds=1)


def dispatch(app) -> int:
    with app.app_context():
        return delivery_jobs.dispatch_due_deliveries()


@pytest.fixture
def claimed(app, shop):
    """The first reminder, claimed and queued, its send job never run."""
    shop.event("cart.updated", cart_body())
    shop.at(START + M15)
    assert dispatch(app) == 1
    return shop.delivery("reminder")


def test_queued_rows_are_alive_for_the_lease(app, claimed):
    redis = app.extensions["bot"].redis
    ttl = redis.ttl(delivery_alive_key(claimed.id))
    lease = app.extensions["bot"].settings.delivery_lease_seconds
    assert lease - 2 <= ttl <= lease


def test_a_row_a_live_sender_holds_waits_for_the_lease(app, shop, claimed):
    shop.at(START + M15 + DEAD_SENDER + SECOND)
    assert dispatch(app) == 0  # its key is alive: queued, or in a sender's hands
    lease = timedelta(seconds=app.extensions["bot"].settings.delivery_lease_seconds)
    shop.at(START + M15 + lease + SECOND)
    assert dispatch(app) == 1  # past the lease, held or not


def test_a_row_nobody_holds_is_claimed_again_after_a_few_seconds(app, shop, line, claimed):
    redis = app.extensions["bot"].redis
    redis.flushdb()  # the sender died and Redis lost its job and its keys
    shop.at(START + M15 + DEAD_SENDER - SECOND)
    assert dispatch(app) == 0  # too young to tell a dead sender from a slow Redis
    shop.at(START + M15 + DEAD_SENDER + SECOND)
    assert shop.tick() == 1
    reminder = shop.delivery("reminder")
    assert reminder.state is DeliveryState.SENT
    assert len(pushes(line)) == 1


def test_the_sender_keeps_its_rows_alive_while_it_sends(app, shop, line, claimed, monkeypatch):
    seen: list[int] = []
    redis = app.extensions["bot"].redis
    redis.delete(delivery_alive_key(claimed.id))  # whatever the dispatcher set
    push = line.push

    def record(*args, **kwargs):
        seen.append(redis.exists(delivery_alive_key(claimed.id)))
        return push(*args, **kwargs)

    monkeypatch.setattr(line, "push", record)
    shop.run()
    assert seen == [1]
    assert shop.delivery("reminder").state is DeliveryState.SENT


def test_without_redis_only_the_lease_brings_rows_back(app, shop, claimed):
    def broken(ids):
        raise RedisError("connection refused")

    shop.at(START + M15 + DEAD_SENDER + SECOND)
    with app.app_context():
        session = app.extensions["bot"].db.session()
        ids = deliveries.claim_due(
            session,
            START + M15 + DEAD_SENDER + SECOND,
            limit=10,
            lease=timedelta(seconds=45),
            dead_after=DEAD_SENDER,
            alive=broken,
        )
        session.rollback()
    assert ids == []
