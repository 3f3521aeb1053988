"""Which rows a live worker has in hand: a short-lived Redis key per row, renewed every few
seconds by a thread while the work is being done.

Webhook events: the sweep takes a processing event whose key has expired for interrupted (its
worker died) within seconds, not minutes, so that the retry still has most of the reply
token's minute. Deliveries: the dispatcher claims again a batch left `sending` by a dead
sender within seconds instead of waiting out the whole lease.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

ALIVE_SECONDS = 10  # a key lives this long unless renewed
BEAT_SECONDS = 3  # and is renewed this often while its event is in hand


def alive_key(event_id: int) -> str:
    return f"webhook:alive:{event_id}"


def delivery_alive_key(delivery_id: int) -> str:
    return f"delivery:alive:{delivery_id}"


class Beacon:
    """Keeps the alive keys of the rows this process is working on.

    One thread renews them all; it runs only while some row is in hand, so an idle
    process (or a test app) keeps no thread. A key is never deleted: when its work is done
    it simply expires.
    """

    name = "beacon"

    @staticmethod
    def key(row_id: int) -> str:
        raise NotImplementedError

    def __init__(
        self, redis: Redis, alive_seconds: int = ALIVE_SECONDS, beat_seconds: float = BEAT_SECONDS
    ) -> None:
        self.redis = redis
        self.alive_seconds = alive_seconds
        self.beat_seconds = beat_seconds
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, ids: int | Iterable[int]) -> Iterator[None]:
        """Mark the rows alive now, and keep them so until the block ends."""
        held = {ids} if isinstance(ids, int) else set(ids)
        self._mark(sorted(held))
        with self._lock:
            self._held |= held
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name=self.name, daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held -= held

    def _beat(self) -> None:
        stop = threading.Event()
        while True:
            stop.wait(self.beat_seconds)
            with self._lock:
                held = sorted(self._held)
                if not held:
                    self._thread = None
                    return
            self._mark(held)

    def _mark(self, ids: Sequence[int]) -> None:
        # A Redis hiccup must not fail the work: at worst the row is handed out again (an
        # event marked interrupted, a delivery pushed again under its retry key).
        try:
            mark_alive(self.redis, self.key, ids, self.alive_seconds)
        except RedisError as exc:
            log.warning("could not mark rows alive", extra={"beacon": self.name, "error": str(exc)})


class EventBeacon(Beacon):
    """The webhook events a worker is handling."""

    name = "webhook-event-beacon"

    @staticmethod
    def key(row_id: int) -> str:
        return alive_key(row_id)


class DeliveryBeacon(Beacon):
    """The deliveries a sender is pushing."""

    name = "delivery-beacon"

    @staticmethod
    def key(row_id: int) -> str:
        return delivery_alive_key(row_id)


def mark_alive(redis: Redis, key: Callable[[int], str], ids: Sequence[int], seconds: int) -> None:
    """Set the rows' alive keys to live `seconds` from now."""
    if not ids:
        return
    with redis.pipeline(transaction=False) as pipe:
        for row_id in ids:
            pipe.set(key(row_id), 1, ex=seconds)
        pipe.execute()


def live_ids(redis: Redis, key: Callable[[int], str], ids: Sequence[int]) -> set[int]:
    """The rows among these whose alive key is set."""
    if not ids:
        return set()
    with redis.pipeline(transaction=False) as pipe:
        for row_id in ids:
            pipe.exists(key(row_id))
        found = pipe.execute()
    return {row_id for row_id, exists in zip(ids, found, strict=True) if exists}


def live_events(redis: Redis, event_ids: Sequence[int]) -> set[int]:
    """The events among these that a live worker has in hand."""
    return live_ids(redis, alive_key, event_ids)
