"""FAQ bot test helpers: the test FAQ file and a clock the test sets by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

FAQ_FILE = Path(__file__).resolve().parents[1] / "faq" / "faq.yaml"
# Monday 2025-07-07 11:00 in Tokyo: inside the default business hours.
MONDAY_MORNING = datetime(2025, 7, 7, 2, 0, tzinfo=UTC)


class SettableClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current
