"""RQ worker on the project's queues: `python worker.py [--burst]`.

Jobs run in this process (RQ's SimpleWorker): forking a child per job costs more than the
jobs themselves, and the app, DB pool and LINE connection pool are built once and reused.
"""

from __future__ import annotations

import argparse
import logging

from rq import SimpleWorker

from bot import create_app
from bot.settings import exit_on_config_error

log = logging.getLogger("worker")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    args = parser.parse_args()
    app = exit_on_config_error(create_app)
    services = app.extensions["bot"]
    with app.app_context():
        worker = SimpleWorker(services.queues.all(), connection=services.redis)
        log.info("worker starting", extra={"queues": [q.name for q in services.queues.all()]})
        worker.work(burst=args.burst, logging_level="WARNING", with_scheduler=True)


if __name__ == "__main__":
    main()
