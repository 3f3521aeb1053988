"""RQ worker: `python worker.py [--queues webhooks,default] [--burst]`.

The Procfile runs one process per kind of work, so that none waits behind another: `worker`
(webhooks, default), `sender` (deliveries: send batches) and `dispatcher` (dispatch: the
dispatcher and the sweeps). Without `--queues` a worker takes every queue (dev tools).

Jobs run in this process (RQ's SimpleWorker): forking a child per job costs more than the
jobs themselves, and the app, DB pool and LINE connection pool are built once and reused.
"""

from __future__ import annotations

import argparse
import logging

from rq import SimpleWorker

from bot import job_paths
from bot.app import create_app
from bot.core.queues import QUEUE_NAMES
from bot.core.settings import exit_on_config_error

log = logging.getLogger("worker")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument(
        "--queues",
        default=",".join(QUEUE_NAMES),
        help=f"comma-separated queues, drained in this order (default: {','.join(QUEUE_NAMES)})",
    )
    args = parser.parse_args()
    job_paths.install()  # jobs the previous release queued still run
    app = exit_on_config_error(create_app)
    services = app.extensions["bot"]
    try:
        queues = services.queues.named(args.queues)
    except KeyError as exc:
        parser.error(f"--queues: {exc.args[0]} (known: {', '.join(QUEUE_NAMES)})")
    with app.app_context():
        worker = SimpleWorker(queues, connection=services.redis)
        log.info("worker starting", extra={"queues": [q.name for q in queues]})
        worker.work(burst=args.burst, logging_level="WARNING", with_scheduler=True)


if __name__ == "__main__":
    main()
