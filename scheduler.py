"""Scheduler process: enqueues the periodic jobs of `bot/core/schedule.py` from its own clock.

Several scheduler processes may run: a Redis lock per job and tick lets exactly one of them
enqueue each tick. It survives Redis being unreachable (logs, retries every second) and
Redis losing its data (the next tick enqueues afresh); see `bot.core.schedule`.
"""

from __future__ import annotations

import logging

from bot.app import create_app
from bot.core.schedule import PeriodicScheduler, periodic_jobs
from bot.core.settings import exit_on_config_error

log = logging.getLogger("scheduler")


def main() -> None:
    app = exit_on_config_error(create_app)
    # Its birth is re-registered every second while Redis is unreachable: not worth a line each.
    logging.getLogger("rq_scheduler").setLevel(logging.WARNING)
    services = app.extensions["bot"]
    scheduler = PeriodicScheduler(services.queues, periodic_jobs(services.settings))
    log.info(
        "scheduler starting",
        extra={"jobs": {job.name: job.interval for job in scheduler.periodic}},
    )
    with app.app_context():
        scheduler.run()


if __name__ == "__main__":
    main()
