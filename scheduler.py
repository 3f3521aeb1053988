"""rq-scheduler process: registers the periodic jobs, then runs the scheduler loop.

Several scheduler processes may run: rq-scheduler's lock lets only one of them enqueue.
"""

from __future__ import annotations

import logging

from rq_scheduler import Scheduler

from bot import create_app
from bot.schedule import register_periodic_jobs
from bot.settings import exit_on_config_error

log = logging.getLogger("scheduler")


def main() -> None:
    app = exit_on_config_error(create_app)
    services = app.extensions["bot"]
    scheduler = Scheduler(queue=services.queues.default, connection=services.redis, interval=1)
    with app.app_context():
        register_periodic_jobs(scheduler, services.settings)
    log.info("scheduler starting")
    scheduler.run()


if __name__ == "__main__":
    main()
