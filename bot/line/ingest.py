"""Group commit for webhook events: one INSERT and one RQ job for many concurrent requests.

A request hands its events to the writer. If no other request is storing, it becomes the
leader: it takes everything waiting (its own events first), stores it with one multi-row
INSERT … ON CONFLICT DO NOTHING (duplicates from LINE's redelivery are dropped by the
database) and releases the requests of that batch; if more requests queued up meanwhile, it
passes the lead to the first of them, which does the same. LINE gets its 200 only after the
events are durably stored, and under load many requests share one round-trip and one WAL
flush. The leader is always a request thread that had to wait anyway: a dedicated writer
thread cost every request a second hand-off between threads, which measured as a third of
the web process's CPU per event.

The new row ids go to an enqueuer thread, which hands whatever has accumulated to RQ as one
job, off the acknowledgement path. If the process dies in between, the periodic sweep
(`jobs.requeue_stale_webhook_events`) enqueues the stored events.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from bot.core.clock import Clock
from bot.core.db import Database, is_connection_lost
from bot.line.webhook_events import store_new_events

log = logging.getLogger(__name__)

IDLE_EXIT_SECONDS = 30.0
# The enqueuer hands RQ at most one job per interval: new rows arriving sooner wait for the
# next job (under load, a 25 ms interval turns hundreds of jobs a second into 40 per process,
# each an RQ job of Python and Redis round-trips). After a quiet spell, the first rows go at
# once. This is off the acknowledgement path.
ENQUEUE_INTERVAL_SECONDS = 0.025
STORE_TIMEOUT_SECONDS = 10.0


def _latch() -> threading.Lock:
    # A held lock as a one-shot latch, far cheaper to release than a threading.Event, whose
    # Condition wakes waiters in Python.
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(eq=False)
class _Handoff:
    events: list[dict[str, Any]]
    done: threading.Lock = field(default_factory=_latch)  # released: stored, or lead now
    lead: bool = False
    new_ids: list[int] = field(default_factory=list)
    error: BaseException | None = None


class EventWriter:
    """Stores webhook events for request threads, batching whatever arrives together."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        enqueue: Callable[[list[int]], None],
        max_events: int = 1000,
    ) -> None:
        self._database = database
        self._clock = clock
        self._enqueue = enqueue
        self._max_events = max_events
        self._lock = threading.Lock()
        self._waiting: list[_Handoff] = []
        self._leading = False  # a request thread is storing a batch
        self._connection: Connection | None = None  # the leader's, while the lead passes on
        self._pid = 0
        self._new_ids: queue.Queue[list[int]] = queue.Queue()
        self._enqueuer: threading.Thread | None = None

    def store(self, events: list[dict[str, Any]]) -> list[int]:
        """Store events (once each, ever) and return the ids of rows that are new."""
        handoff = _Handoff(events)
        with self._lock:
            self._waiting.append(handoff)
            handoff.lead = not self._leading
            self._leading = True
        if not handoff.lead:
            self._wait(handoff)
        if handoff.lead:
            self._lead()
        if handoff.error is not None:
            raise handoff.error
        return handoff.new_ids

    def drain(self) -> None:
        """Wait until every stored event has been handed to RQ (tests, shutdown)."""
        self._new_ids.join()

    def _wait(self, handoff: _Handoff) -> None:
        if handoff.done.acquire(timeout=STORE_TIMEOUT_SECONDS):
            return
        with self._lock:
            if handoff.lead:  # given the lead just now: the latch is open
                handoff.done.acquire()
                return
            if handoff in self._waiting:  # not taken into a batch: withdraw
                self._waiting.remove(handoff)
        # Possibly stored later; LINE redelivers after an error and the id de-duplicates it.
        raise TimeoutError("webhook events were not stored in time")

    def _lead(self) -> None:
        """Store one batch (this thread's events first), then pass the lead on or end it."""
        with self._lock:
            batch = self._take()
        try:
            self._write(batch)
        finally:
            idle = None
            with self._lock:
                if self._waiting:  # the successor inherits the connection too
                    successor = self._waiting[0]
                    successor.lead = True
                    successor.done.release()
                else:
                    self._leading = False
                    idle, self._connection = self._connection, None
            if idle is not None:
                idle.close()  # back to the pool

    def _take(self) -> list[_Handoff]:
        taken, count = [], 0
        while self._waiting and (
            not taken or count + len(self._waiting[0].events) <= self._max_events
        ):
            handoff = self._waiting.pop(0)
            taken.append(handoff)
            count += len(handoff.events)
        return taken

    def _write(self, batch: list[_Handoff]) -> None:
        events = [event for handoff in batch for event in handoff.events]
        try:
            stored = self._store(events)
        except BaseException as exc:
            self._drop_connection()
            if len(batch) > 1:  # store each request alone: one bad request fails only itself
                for handoff in batch:
                    self._write([handoff])
                return
            handoff = batch[0]
            handoff.error = exc
            if not handoff.lead:
                handoff.done.release()
            return
        if stored:
            with self._lock:  # atomic with the enqueuer's decision to end when idle
                self._ensure_enqueuer()
                self._new_ids.put(sorted(stored.values()))
        for handoff in batch:
            for event in handoff.events:
                new_id = stored.pop(event["webhookEventId"], None)  # the first claimant gets it
                if new_id is not None:
                    handoff.new_ids.append(new_id)
            if not handoff.lead:
                handoff.done.release()

    def _store(self, events: list[dict[str, Any]]) -> dict[str, int]:
        """Store on the leader's connection; if the database dropped it (restart, failover),
        once more on a fresh one. Safe to repeat: ON CONFLICT DO NOTHING skips whatever
        the first try stored (those rows are then enqueued by the periodic sweep)."""
        try:
            return store_new_events(self._leader_connection(), events, self._clock.now())
        except Exception as exc:
            if not is_connection_lost(exc):
                raise
            log.warning("database connection lost; storing on a fresh one")
            self._drop_connection()
        return store_new_events(self._leader_connection(), events, self._clock.now())

    def _leader_connection(self) -> Connection:
        # Kept while the lead passes from request to request: checking a connection out of
        # the pool and switching it to autocommit for every batch cost as much CPU as
        # building the INSERT.
        if self._connection is None:
            connection = self._database.engine.connect()
            self._connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.invalidate()  # whatever failed, start the next batch on a fresh one
            connection.close()

    def _ensure_enqueuer(self) -> None:
        # A forked process (gunicorn worker) has no copy of the parent's threads.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._new_ids = queue.Queue()
            self._enqueuer = None
        if self._enqueuer is None or not self._enqueuer.is_alive():
            self._enqueuer = threading.Thread(
                target=self._enqueue_loop, name="event-enqueuer", daemon=True
            )
            self._enqueuer.start()

    def _enqueue_loop(self) -> None:
        last = -ENQUEUE_INTERVAL_SECONDS
        while True:
            try:
                ids = self._new_ids.get(timeout=IDLE_EXIT_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._new_ids.empty():
                        self._enqueuer = None  # idle: end; the next batch starts one
                        return
                continue
            # Sleep (rather than wait on the queue, which every batch would wake) until the
            # next job is due, then fold in whatever arrived meanwhile.
            time.sleep(max(0.0, last + ENQUEUE_INTERVAL_SECONDS - time.monotonic()))
            taken = 1
            while len(ids) < self._max_events:
                try:
                    ids.extend(self._new_ids.get_nowait())
                    taken += 1
                except queue.Empty:
                    break
            try:
                self._enqueue(ids)
            except Exception:
                # Stored already: the periodic sweep enqueues them again.
                log.exception("enqueue failed; events will be swept", extra={"count": len(ids)})
            finally:
                last = time.monotonic()
                for _ in range(taken):
                    self._new_ids.task_done()
