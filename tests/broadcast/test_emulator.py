"""Broadcasts over real HTTP to the LINE emulator (and PostgreSQL when the suite runs on it):
the request shape LINE accepts, and a sender killed between LINE's answer and the database
write never sends a batch twice."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from bot.broadcast.sending import batch_retry_key
from bot.delivery.aggregation import broadcast_unit
from bot.line.gateway import LineClientError
from bot.models import Broadcast
from line_emulator import EmulatorServer
from tests.helpers.broadcast import (
    add_shoppers,
    broadcast_row,
    logged,
    make_broadcast,
    outcomes,
    personalised_content,
    run_sender,
    user_id,
)

MULTICAST = "/v2/bot/message/multicast"


class Killed(BaseException):
    """The worker process dying (SIGKILL): nothing after it runs, no except clause sees it."""


def friends(emulator: EmulatorServer, count: int, *, start: int = 1) -> None:
    for n in range(start, start + count):
        emulator.add_user(user_id(n), f"テスト {n}")


def responses(emulator: EmulatorServer, status: int) -> int:
    return emulator.stats()["responses"].get(f"POST {MULTICAST} {status}", 0)


def inbox_sizes(emulator: EmulatorServer, count: int) -> set[int]:
    return {len(emulator.inbox(user_id(n))) for n in range(1, count + 1)}


def expire_lease(app, broadcast_id: int) -> None:
    """As if the killed sender's lease had run out."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        session.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id).values(lease_until=None)
        )
        session.commit()


def test_multicast_reaches_every_friend_once(e2e_app, emulator: EmulatorServer):
    friends(emulator, 1201)
    add_shoppers(e2e_app, 1201)
    broadcast_id = make_broadcast(e2e_app)
    counts = run_sender(e2e_app, broadcast_id)
    assert counts["sent"] == 1201 and counts["requests"] == 3
    requests = emulator.requests(MULTICAST)
    assert sorted(len(r["body"]["to"]) for r in requests) == [201, 500, 500]
    assert {r["headers"]["x-line-retry-key"] for r in requests} == {
        batch_retry_key(broadcast_id, n) for n in (1, 2, 3)
    }
    assert responses(emulator, 200) == 3
    assert inbox_sizes(emulator, 1201) == {1}
    assert emulator.stats()["totalUsage"] == 1201
    assert broadcast_row(e2e_app, broadcast_id).state.value == "done"


def test_every_multicast_body_names_the_broadcasts_unit(e2e_app, emulator: EmulatorServer):
    friends(emulator, 501)
    add_shoppers(e2e_app, 501)
    broadcast_id = make_broadcast(e2e_app)
    run_sender(e2e_app, broadcast_id)
    bodies = [r["body"] for r in emulator.requests(MULTICAST)]
    assert len(bodies) == 2
    assert [b["customAggregationUnits"] for b in bodies] == [[broadcast_unit(broadcast_id)]] * 2
    assert responses(emulator, 200) == 2  # LINE accepts the name
    assert outcomes(e2e_app, broadcast_id) == {"sent": 501}


def test_every_personalised_push_body_names_the_broadcasts_unit(e2e_app, emulator: EmulatorServer):
    friends(emulator, 3)
    add_shoppers(e2e_app, 3)
    broadcast_id = make_broadcast(e2e_app, content=personalised_content(e2e_app))
    run_sender(e2e_app, broadcast_id)
    bodies = [r["body"] for r in emulator.requests("/v2/bot/message/push")]
    assert sorted(b["messages"][0]["altText"].split("、")[0] for b in bodies) == [
        "テスト 1様",
        "テスト 2様",
        "テスト 3様",
    ]
    assert [b["customAggregationUnits"] for b in bodies] == [[broadcast_unit(broadcast_id)]] * 3
    assert outcomes(e2e_app, broadcast_id) == {"sent": 3}


@pytest.mark.parametrize("threads", [1, 4])
def test_killed_between_answer_and_write_sends_no_batch_twice(
    e2e_app, emulator: EmulatorServer, threads: int
):
    friends(emulator, 1300)
    add_shoppers(e2e_app, 1300)
    broadcast_id = make_broadcast(e2e_app)
    with e2e_app.app_context():
        gateway = e2e_app.extensions["bot"].line
    original = gateway.multicast
    accepted: list[Any] = []

    def dies_after_the_second(to, messages, *, retry_key=None, aggregation_unit=None):
        # LINE has accepted it
        result = original(to, messages, retry_key=retry_key, aggregation_unit=aggregation_unit)
        accepted.append(retry_key)
        if len(accepted) == 2:
            raise Killed
        return result

    gateway.multicast = dies_after_the_second
    with pytest.raises(Killed):
        run_sender(e2e_app, broadcast_id, threads=threads)
    gateway.multicast = original
    assert responses(emulator, 200) >= 2
    expire_lease(e2e_app, broadcast_id)
    run_sender(e2e_app, broadcast_id, threads=threads)
    # Three batches: each accepted once; the ones LINE had before the crash answer 409.
    assert responses(emulator, 200) == 3
    assert responses(emulator, 409) >= 1
    assert inbox_sizes(emulator, 1300) == {1}
    assert emulator.stats()["totalUsage"] == 1300
    assert outcomes(e2e_app, broadcast_id) == {"sent": 1300}
    log = logged(e2e_app)
    assert len(log) == 1300 and {len(texts) for texts in log.values()} == {1}


def test_a_500_after_delivery_is_retried_with_the_same_key(e2e_app, emulator: EmulatorServer):
    friends(emulator, 3)
    add_shoppers(e2e_app, 3)
    emulator.fail_next(500, path=MULTICAST, deliver=True)  # delivered, but the answer is lost
    broadcast_id = make_broadcast(e2e_app)
    run_sender(e2e_app, broadcast_id)
    keys = [r["headers"]["x-line-retry-key"] for r in emulator.requests(MULTICAST)]
    assert keys == [batch_retry_key(broadcast_id, 1)] * 2
    assert responses(emulator, 409) == 1
    assert inbox_sizes(emulator, 3) == {1}
    assert outcomes(e2e_app, broadcast_id) == {"sent": 3}


def test_the_monthly_limit_stops_the_broadcast(e2e_app, emulator: EmulatorServer):
    friends(emulator, 700)
    add_shoppers(e2e_app, 700)
    emulator.monthly_quota = 1000  # enough when it starts
    broadcast_id = make_broadcast(e2e_app)
    with e2e_app.app_context():
        gateway = e2e_app.extensions["bot"].line
    original = gateway.multicast

    def others_use_the_rest(to, messages, *, retry_key=None, aggregation_unit=None):
        result = original(to, messages, retry_key=retry_key, aggregation_unit=aggregation_unit)
        emulator.monthly_quota = 500  # meanwhile the month's messages are used up
        return result

    gateway.multicast = others_use_the_rest
    try:
        run_sender(e2e_app, broadcast_id, threads=1)
    finally:
        gateway.multicast = original
    assert responses(emulator, 429) == 1
    assert outcomes(e2e_app, broadcast_id) == {"sent": 500, "not_sent": 200}
    row = broadcast_row(e2e_app, broadcast_id)
    assert row.state.value == "stopped" and "上限" in row.reason
    assert sorted(inbox_sizes(emulator, 700)) == [0, 1]


def test_the_gateway_keeps_to_lines_multicast_limits(e2e_app, emulator: EmulatorServer):
    with e2e_app.app_context():
        gateway = e2e_app.extensions["bot"].line
    message = [{"type": "text", "text": "お知らせ"}]
    for size in (0, 501):
        with pytest.raises(LineClientError, match="1 to 500"):
            gateway.multicast([user_id(n) for n in range(size)], message)
    assert emulator.requests(MULTICAST) == []  # refused before anything was sent
    friends(emulator, 1)
    accepted = gateway.multicast([user_id(1)], message, retry_key=batch_retry_key(1, 1))
    again = gateway.multicast([user_id(1)], message, retry_key=batch_retry_key(1, 1))
    assert not accepted.duplicate and again.duplicate
    assert again.request_id == accepted.request_id  # LINE names the request it accepted
    assert len(emulator.inbox(user_id(1))) == 1
