"""The scheduler process's periodic jobs register cleanly and idempotently."""

from __future__ import annotations

from rq_scheduler import Scheduler

from bot.schedule import periodic_jobs, register_periodic_jobs


def test_periodic_jobs_register_once_even_after_restarts(app, redis):
    settings = app.extensions["bot"].settings
    scheduler = Scheduler(queue=app.extensions["bot"].queues.default, connection=redis)
    register_periodic_jobs(scheduler, settings)
    register_periodic_jobs(scheduler, settings)  # a restarted scheduler process
    jobs = list(scheduler.get_jobs())
    expected = {f"{func.__module__}.{func.__name__}" for func, _, _ in periodic_jobs(settings)}
    assert {job.func_name for job in jobs} == expected
    assert len(jobs) == len(expected)
    dispatcher = next(j for j in jobs if j.func_name.endswith("dispatch_due_deliveries"))
    assert dispatcher.meta["interval"] == settings.dispatch_interval_seconds
