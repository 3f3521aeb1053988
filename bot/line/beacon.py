"""Which webhook events a live worker has in hand: a short-lived Redis key per event, renewed
every few seconds by a thread while the event is being handled.

The sweep takes a processing event whose key has expired for interrupted (its worker died)
within seconds, not minutes, so that the retry still has most of the reply token's minute.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

ALIVE_SECONDS = 10  # a key lives this long unless renewed
BEAT_SECONDS = 3  # and is renewed this often while its event is in hand


def alive_key(event_id: int) -> str:
    return f"webhook:alive:{event_id}"


class EventBeacon:
    """Keeps the alive keys of the events this process is handling.

    One thread renews them all; it runs only while some event is in hand, so an idle
    process (or a test app) keeps no thread. A key is never deleted: when its event is done
    it simply expires.
    """

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
    def holding(self, event_id: int) -> Iterator[None]:
        """Mark the event alive now, and keep it so until the block ends."""
        self._mark([event_id])
        with self._lock:
            self._held.add(event_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._beat, name="webhook-event-beacon", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(event_id)

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

    def _mark(self, event_ids: Sequence[int]) -> None:
        # A Redis hiccup must not fail the event: at worst the sweep hands it out again,
        # marked interrupted, and a refused reply token is then not followed by a push.
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for event_id in event_ids:
                    pipe.set(alive_key(event_id), 1, ex=self.alive_seconds)
                pipe.execute()
        except RedisError as exc:
            log.warning("could not mark webhook events alive", extra={"error": str(exc)})


def live_events(redis: Redis, event_ids: Sequence[int]) -> set[int]:
    """The events among these that a live worker has in hand."""
    if not event_ids:
        return set()
    with redis.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            pipe.exists(alive_key(event_id))
        found = pipe.execute()
    return {event_id for event_id, exists in zip(event_ids, found, strict=True) if exists}
