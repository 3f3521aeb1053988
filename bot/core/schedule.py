"""The periodic jobs (the dispatcher and the sweeps) and the scheduler loop that enqueues them.

Why not rq-scheduler's own periodic jobs: it keeps a periodic job as one RQ job hash that is
re-enqueued under the same id. When a run outlives the job's result_ttl (the worker sets the
hash to expire when a run finishes, while the next run of the same id already waits in the
queue), the hash expires and rq-scheduler drops the job from its schedule for good
(rq-scheduler issue 42); a Redis flush or failover drops every periodic job until the
scheduler restarts. Nothing logs either.

So the schedule lives in code, and the scheduler process enqueues from its own clock:

* Time is cut into ticks of each job's interval, counted from the epoch, so every scheduler
  process names the same tick the same way (`floor(now / interval)`).
* At a new tick, `SET periodic:<job>:<tick> NX PX 2×interval` decides which scheduler process
  enqueues it: one Redis round trip per job per tick, and two schedulers never both enqueue a
  tick (with clocks within an interval of each other).
* Each tick enqueues a fresh job (`periodic-<job>-<tick>`), so nothing has to survive in
  Redis from one tick to the next. After a flush the next tick enqueues again: the dispatcher
  is back within one interval plus the loop's one second.
* A tick is skipped while the previous run of the same job still waits in its queue (a busy
  or stopped worker), so a backlog never piles up copies. A run that is still *running* does
  not hold the next one back: it waits behind it in the queue.
* The loop logs and carries on when Redis is unreachable (no crash loop), and logs again when
  it is back.

rq-scheduler still hosts the loop: its instance registration and heartbeat, and its
one-scheduler-at-a-time lock around its own `enqueue_jobs`, which keeps one-off jobs scheduled
with `enqueue_at`/`enqueue_in` working.

Every periodic run goes through `run_periodic`, which records in the database when the job
last finished (`periodic_runs`): `/healthz` and the gauges read the dispatcher's age there,
so a Redis flush cannot hide a stopped dispatcher.

The table names each job's function by dotted path, as RQ enqueues functions, and the path is
imported only when the job runs: core does not import the features whose jobs it schedules.
"""

from __future__ import annotations

import importlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq_scheduler import Scheduler
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.jobs import job_context
from bot.core.queues import DISPATCH_QUEUE, Queues
from bot.core.settings import Settings
from bot.models import PeriodicRun

log = logging.getLogger(__name__)

LEGACY_PREFIX = "periodic-"  # rq-scheduler registrations of the earlier design, removed at start
WAITING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
REDIS_DOWN_LOG_EVERY = 60.0  # seconds between "still unreachable" log lines
DISPATCHER = "dispatch_due_deliveries"  # the run record /healthz reads the dispatcher's age from


@dataclass(frozen=True)
class PeriodicJob:
    """A job function the scheduler enqueues every `interval` seconds on `queue`.

    `name` keys its run record and its tick locks (the function's name, kept stable); `path`
    is the function's dotted path (`package.module.function`), imported when the job runs.
    """

    name: str
    path: str
    interval: int
    queue: str = DISPATCH_QUEUE

    def function(self) -> Callable[[], Any]:
        """The job's function, imported now (a test's monkeypatch on its module applies)."""
        module, _, attribute = self.path.rpartition(".")
        return getattr(importlib.import_module(module), attribute)


def periodic_jobs(settings: Settings) -> list[PeriodicJob]:
    """Every periodic job; all go to the `dispatch` queue, which its own worker drains."""
    return [
        PeriodicJob(
            DISPATCHER,
            "bot.delivery.jobs.dispatch_due_deliveries",
            settings.dispatch_interval_seconds,
        ),
        PeriodicJob(
            "requeue_stale_webhook_events", "bot.line.jobs.requeue_stale_webhook_events", 15
        ),
        PeriodicJob("requeue_pending_restocks", "bot.delivery.jobs.requeue_pending_restocks", 60),
        PeriodicJob("return_idle_tickets", "bot.support.jobs.return_idle_tickets", 60),
        PeriodicJob("prune_login_attempts", "bot.console.jobs.prune_login_attempts", 3600),
        PeriodicJob("prune_webhook_events", "bot.line.jobs.prune_webhook_events", 3600),
        PeriodicJob(
            "purge_expired_link_records", "bot.linking.maintenance.purge_expired_link_records", 3600
        ),
        PeriodicJob("purge_erased_consents", "bot.consents.jobs.purge_erased_consents", 86400),
        # Ticks count from the epoch: the daily one runs at 00:00 UTC, 09:00 in Japan, when
        # LINE has its figures of the day before.
        PeriodicJob(
            "fetch_message_insights", "bot.delivery.insights.fetch_message_insights", 86400
        ),
        PeriodicJob("start_customer_flows", "bot.delivery.jobs.start_customer_flows", 86400),
        PeriodicJob(
            "plan_abandonment_surveys", "bot.delivery.survey.plan_abandonment_surveys", 600
        ),
    ]


def run_periodic(name: str) -> Any:
    """Run one periodic job by name and record when it finished (the RQ job of every tick)."""
    with job_context("run_periodic") as services:
        job = next((j for j in periodic_jobs(services.settings) if j.name == name), None)
        if job is None:
            raise ValueError(f"unknown periodic job {name!r}")
        function = job.function()
        started = services.clock.now()
        result = function()  # commits on its own
        record_run(services.db.session(), name, started, services.clock.now())
    return result


def record_run(session: Session, name: str, started: datetime, finished: datetime) -> None:
    """Upsert the job's last finished run (an UPDATE; an INSERT the first time)."""
    changed = session.execute(
        update(PeriodicRun)
        .where(PeriodicRun.name == name)
        .values(started_at=started, finished_at=finished)
    ).rowcount
    if changed:
        return
    try:
        with session.begin_nested():
            session.add(PeriodicRun(name=name, started_at=started, finished_at=finished))
    except IntegrityError:
        pass  # another worker recorded it first, just now: theirs is as good


class PeriodicScheduler(Scheduler):
    """rq-scheduler's loop, enqueueing the periodic jobs from this process's clock."""

    def __init__(
        self,
        queues: Queues,
        jobs: list[PeriodicJob],
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        loop_seconds: float = 1.0,
    ) -> None:
        super().__init__(queue=queues.dispatch, connection=queues.connection, interval=loop_seconds)
        self.queues = queues
        self.periodic = list(jobs)
        self.clock = clock
        self.sleep = sleep
        self._done: dict[str, int] = {}  # job name → the last tick this process handled
        self._born = False
        self._redis_down_since: float | None = None
        self._redis_down_logged = 0.0

    # -- one pass -----------------------------------------------------------------------------

    def tick(self) -> list[str]:
        """Enqueue every periodic job whose tick has come; returns the ids enqueued."""
        now = self.clock()
        enqueued = []
        for job in self.periodic:
            tick = int(now // job.interval)
            if self._done.get(job.name) == tick:
                continue
            lock = f"periodic:{job.name}:{tick}"
            won = self.connection.set(lock, self.name, nx=True, px=job.interval * 2000)
            self._done[job.name] = tick
            if not won:
                continue  # another scheduler process has this tick
            if self._still_waiting(job):
                log.info("periodic job still queued: tick skipped", extra={"job": job.name})
                continue
            job_id = f"periodic-{job.name}-{tick}"
            self.queues.get(job.queue).enqueue(
                run_periodic,
                job.name,
                job_id=job_id,
                description=f"periodic {job.name}",
                result_ttl=job.interval,
                failure_ttl=24 * 3600,
            )
            self.connection.set(self._last_key(job), job_id)  # one small key per job
            enqueued.append(job_id)
        return enqueued

    @staticmethod
    def _last_key(job: PeriodicJob) -> str:
        return f"periodic:{job.name}:last"

    def _still_waiting(self, job: PeriodicJob) -> bool:
        last = self.connection.get(self._last_key(job))
        if last is None:
            return False
        try:
            status = Job.fetch(last.decode(), connection=self.connection).get_status()
        except NoSuchJobError:
            return False
        return status in WAITING

    def remove_legacy_jobs(self) -> int:
        """Cancel periodic jobs an earlier version registered with rq-scheduler itself."""
        removed = 0
        for raw in self.connection.zrange(self.scheduled_jobs_key, 0, -1):
            job_id = raw.decode()
            if job_id.startswith(LEGACY_PREFIX):
                self.cancel(job_id)
                removed += 1
        return removed

    def step(self) -> None:
        """One loop iteration: heartbeat, periodic ticks, rq-scheduler's one-off jobs."""
        if not self._born:
            self.register_birth()
            self.remove_legacy_jobs()
            self._born = True
        self.heartbeat()
        self.tick()
        if self.acquire_lock():
            try:
                self.enqueue_jobs()
            finally:
                self.remove_lock()

    # -- the loop -----------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT end the loop; `run` then drops the lock and registers the death
        (rq-scheduler's own handler does that in the handler and fails if Redis is down)."""

        def stop(signum: int, _frame: object) -> None:
            log.info("scheduler stopping", extra={"signal": signum})
            raise SystemExit(0)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

    def run(self, burst: bool = False, max_loops: int | None = None) -> None:  # type: ignore[override]
        """Loop until stopped; Redis errors are logged and retried, never fatal."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        self._install_signal_handlers()
        loops = 0
        try:
            while max_loops is None or loops < max_loops:
                loops += 1
                started = time.monotonic()
                self._guarded_step()
                if burst:
                    break
                self.sleep(max(0.0, self._interval - (time.monotonic() - started)))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            try:
                self.remove_lock()
                if self._born:
                    self.register_death()
            except RedisError:
                pass

    def _guarded_step(self) -> None:
        try:
            self.step()
        except RedisError as exc:
            now = time.monotonic()
            if self._redis_down_since is None:
                self._redis_down_since = now
                self._redis_down_logged = now
                log.error("scheduler: Redis unreachable, retrying", extra={"error": repr(exc)})
            elif now - self._redis_down_logged >= REDIS_DOWN_LOG_EVERY:
                self._redis_down_logged = now
                log.error(
                    "scheduler: Redis still unreachable",
                    extra={"seconds": round(now - self._redis_down_since), "error": repr(exc)},
                )
            self._lock_acquired = False
            return
        except Exception:  # a bug in one pass must not stop the periodic work for good
            log.exception("scheduler pass failed")
            return
        if self._redis_down_since is not None:
            log.warning(
                "scheduler: Redis reachable again",
                extra={"seconds": round(time.monotonic() - self._redis_down_since)},
            )
            self._redis_down_since = None
