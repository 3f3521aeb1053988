"""A Redis connection cut under a client (restart, failover, CLIENT KILL) is re-established.

Needs a real Redis (TEST_REDIS_URL): the in-process stand-in has no connections to cut.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from redis import Redis

from bot.core.queues import connect_redis
from bot.core.settings import Settings

REDIS_URL = os.environ.get("TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs a real Redis: set TEST_REDIS_URL")


def _wait_until_blocked(admin: Redis, client_id: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if any(int(c["id"]) == client_id and c["cmd"] == "blpop" for c in admin.client_list()):
            return
        time.sleep(0.01)
    raise AssertionError("the client never blocked")


def test_a_connection_killed_mid_command_is_reestablished(settings: Settings) -> None:
    """What a worker waiting for jobs sees when Redis drops it: the wait goes on."""
    client = connect_redis(settings.with_changes(redis_url=REDIS_URL))
    admin = Redis.from_url(REDIS_URL)
    key = "test:reconnect:jobs"
    admin.delete(key)
    client_id = client.client_id()
    got: list[object] = []

    def wait_for_job() -> None:
        try:
            got.append(client.blpop([key], timeout=10))
        except Exception as exc:  # surfaced below
            got.append(exc)

    waiter = threading.Thread(target=wait_for_job)
    waiter.start()
    try:
        _wait_until_blocked(admin, client_id)
        assert admin.client_kill_filter(_id=client_id) == 1
        time.sleep(0.2)  # let the client notice and connect again
        admin.rpush(key, "job-1")
        waiter.join(timeout=15)
        assert got == [(key.encode(), b"job-1")]
        assert client.ping()
    finally:
        admin.delete(key)
        admin.close()
        client.close()
