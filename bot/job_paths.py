"""Where the previous release's RQ jobs live now.

RQ stores a job's function by dotted path. Jobs the previous release queued (webhook retries,
send batches, restock retries, link notices, a periodic run caught mid-deploy) still carry the
old layout's paths when this release's workers pick them up. `install` makes each old module
path an alias of the module that holds those functions now, so such a job runs instead of
failing on import. Remove this module one release after the package-per-feature layout.
"""

from __future__ import annotations

import importlib
import sys

# old module path → module that holds its job functions now (same function names)
PREVIOUS_JOB_MODULES = {
    "bot.jobs": "bot.line.jobs",
    "bot.delivery_jobs": "bot.delivery.jobs",
    "handlers.linking": "bot.linking.handlers",
    "bot.shop_api.maintenance": "bot.linking.maintenance",
}


def install() -> None:
    """Alias every old module path (idempotent; a path that still exists is left alone)."""
    for old, new in PREVIOUS_JOB_MODULES.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)
