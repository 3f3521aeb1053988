"""LINE's custom aggregation units for scenario pushes: one unit per scenario, step and variant.

A unit name is at most 30 characters of ``[A-Za-z0-9_]``. Readable names are kept where
they fit; anything else is shortened to a readable prefix and a hash of the whole, so two
different steps never share a unit and the same step always gets the same one.
"""

from __future__ import annotations

import hashlib
import re

UNIT_MAX = 30
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_]")


def aggregation_unit(scenario_id: str, step_id: str, variant: str | None) -> str:
    """The unit of a scenario step (and its A/B variant, if any)."""
    parts = [scenario_id, step_id] + ([variant] if variant else [])
    plain = "_".join(parts)
    if len(plain) <= UNIT_MAX and not _NOT_ALLOWED.search(plain):
        return plain
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:8]
    prefix = _NOT_ALLOWED.sub("", plain)[: UNIT_MAX - len(digest) - 1]
    return f"{prefix}_{digest}" if prefix else f"u_{digest}"
