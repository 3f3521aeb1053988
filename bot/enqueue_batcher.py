"""Coalesces webhook-event enqueues: one RQ job per few milliseconds instead of per request.

The webhook answers LINE as soon as its events are stored (the database is the record), so
handing them to RQ can be batched in the background. If the process dies before a batch is
enqueued, the periodic sweep (`jobs.requeue_stale_webhook_events`) enqueues those events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class EnqueueBatcher:
    """Collects ids from request threads; a background thread enqueues them in batches."""

    def __init__(
        self, enqueue: Callable[[list[int]], None], delay: float = 0.005, max_batch: int = 500
    ) -> None:
        self._enqueue = enqueue
        self._delay = delay
        self._max_batch = max_batch
        self._pending: list[int] = []
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self._owner_pid = 0

    def add(self, ids: list[int]) -> None:
        """Queue ids for the next batch (starts the thread in this process on first use)."""
        if self._delay <= 0:
            self._enqueue(ids)
            return
        with self._lock:
            self._pending.extend(ids)
            self._ensure_thread()
        self._wakeup.set()

    def flush(self) -> None:
        """Enqueue everything pending now (tests, shutdown)."""
        while True:
            with self._lock:
                batch, self._pending = (
                    self._pending[: self._max_batch],
                    self._pending[self._max_batch :],
                )
            if not batch:
                return
            self._send(batch)

    def _ensure_thread(self) -> None:
        import os

        # After gunicorn forks, the parent's thread does not exist in the child: start anew.
        if self._thread is None or self._owner_pid != os.getpid() or not self._thread.is_alive():
            self._owner_pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="enqueue-batcher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wakeup.wait()
            self._wakeup.clear()
            time.sleep(self._delay)  # let concurrent requests join this batch
            self.flush()

    def _send(self, batch: list[int]) -> None:
        try:
            self._enqueue(batch)
        except Exception:
            # Stored already: the periodic sweep enqueues them again.
            log.exception("enqueue failed; events will be swept", extra={"count": len(batch)})
