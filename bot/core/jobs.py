"""The job context: what every RQ job runs inside (app context, session, outcome counter).

Jobs are module-level functions taking plain ids, idempotent, and enqueued by dotted path.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context

from bot.core.metrics import JOBS
from bot.core.services import Services

# Outside an app context (a job run by a bare RQ worker) the app is built from the
# environment by this factory, named by path so that core does not import the app.
APP_FACTORY = "bot.app:create_app"
_worker_app: Flask | None = None


def _app() -> Flask:
    """The app of the running process: the current one, or one built from the environment."""
    global _worker_app
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    if _worker_app is None:
        module, _, name = APP_FACTORY.partition(":")
        _worker_app = getattr(importlib.import_module(module), name)()
    return _worker_app


@contextmanager
def job_context(name: str) -> Iterator[Services]:
    """Push the app context, count the outcome and always release the session."""
    app = _app()
    with app.app_context():
        services: Services = app.extensions["bot"]
        try:
            yield services
            services.db.session.commit()
        except BaseException:
            services.db.session.rollback()
            JOBS.labels(name, "error").inc()
            raise
        else:
            JOBS.labels(name, "ok").inc()
        finally:
            services.db.session.remove()
