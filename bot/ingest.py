"""Group commit for webhook events: one INSERT and one RQ job for many concurrent requests.

Each web process runs a small pipeline of two threads. A request hands its events to the
writer and waits; the writer takes everything waiting, stores it with one multi-row
INSERT … ON CONFLICT DO NOTHING (duplicates from LINE's redelivery are dropped by the
database) and releases the requests: LINE gets its 200 only after the events are durably
stored, and under load many requests share one round-trip and one WAL flush. The new row ids
go to the enqueuer thread, which hands whatever has accumulated to RQ as one job while the
writer is already storing the next batch. If the process dies in between, the periodic sweep
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

from bot.clock import Clock
from bot.db import Database
from bot.services.webhook_events import store_new_events

log = logging.getLogger(__name__)

IDLE_EXIT_SECONDS = 30.0
# The enqueuer waits this long for more new rows before handing a job to RQ. It is off the
# acknowledgement path, so it only delays handling slightly, and it spares most RQ round-trips
# when events trickle in faster than one per window.
ENQUEUE_WINDOW_SECONDS = 0.01
STORE_TIMEOUT_SECONDS = 10.0


def _latch() -> threading.Lock:
    # A held lock as a one-shot latch: the writer releases it when the batch is stored. Far
    # cheaper to release than a threading.Event, whose Condition wakes waiters in Python.
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass
class _Handoff:
    events: list[dict[str, Any]]
    done: threading.Lock = field(default_factory=_latch)
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
        self._waiting: list[_Handoff] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._new_ids: queue.Queue[list[int]] = queue.Queue()
        self._enqueuer: threading.Thread | None = None

    def store(self, events: list[dict[str, Any]]) -> list[int]:
        """Store events (once each, ever) and return the ids of rows that are new."""
        handoff = _Handoff(events)
        with self._cond:
            self._waiting.append(handoff)
            self._ensure_thread()
            self._cond.notify()
        if not handoff.done.acquire(timeout=STORE_TIMEOUT_SECONDS):
            raise TimeoutError("webhook events were not stored in time")
        if handoff.error is not None:
            raise handoff.error
        return handoff.new_ids

    def drain(self) -> None:
        """Wait until every stored event has been handed to RQ (tests, shutdown)."""
        self._new_ids.join()

    def _ensure_thread(self) -> None:
        # A forked process (gunicorn worker) has no copy of the parent's threads.
        forked = self._pid != os.getpid()
        if forked:
            self._pid = os.getpid()
            self._new_ids = queue.Queue()
            self._enqueuer = None
        if forked or self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
            self._thread.start()
        if self._enqueuer is None or not self._enqueuer.is_alive():
            self._enqueuer = threading.Thread(
                target=self._enqueue_loop, name="event-enqueuer", daemon=True
            )
            self._enqueuer.start()

    def _take(self) -> list[_Handoff]:
        taken, count = [], 0
        while self._waiting and (
            not taken or count + len(self._waiting[0].events) <= self._max_events
        ):
            handoff = self._waiting.pop(0)
            taken.append(handoff)
            count += len(handoff.events)
        return taken

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._waiting:
                    self._cond.wait(IDLE_EXIT_SECONDS)
                if not self._waiting:
                    self._thread = None  # idle: let the thread end; the next store starts one
                    return
                batch = self._take()
            self._write(batch)

    def _write(self, batch: list[_Handoff]) -> None:
        events = [event for handoff in batch for event in handoff.events]
        try:
            with self._database.autocommit() as connection:
                stored = store_new_events(connection, events, self._clock.now())
        except BaseException as exc:  # every waiting request must hear about it
            for handoff in batch:
                handoff.error = exc
                handoff.done.release()
            return
        if stored:
            self._new_ids.put(sorted(stored.values()))
        for handoff in batch:
            for event in handoff.events:
                new_id = stored.pop(event["webhookEventId"], None)  # the first claimant gets it
                if new_id is not None:
                    handoff.new_ids.append(new_id)
            handoff.done.release()

    def _enqueue_loop(self) -> None:
        while True:
            try:
                ids = self._new_ids.get(timeout=IDLE_EXIT_SECONDS)
            except queue.Empty:
                with self._cond:
                    if self._new_ids.empty():
                        self._enqueuer = None  # idle: end; the next store starts one
                        return
                continue
            taken = 1
            deadline = time.monotonic() + ENQUEUE_WINDOW_SECONDS
            while len(ids) < self._max_events:  # fold in what arrives within the window
                try:
                    ids.extend(self._new_ids.get(timeout=max(0.0, deadline - time.monotonic())))
                    taken += 1
                except queue.Empty:
                    break
            try:
                self._enqueue(ids)
            except Exception:
                # Stored already: the periodic sweep enqueues them again.
                log.exception("enqueue failed; events will be swept", extra={"count": len(ids)})
            finally:
                for _ in range(taken):
                    self._new_ids.task_done()
