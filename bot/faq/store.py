"""The FAQ in the database: import and export of the YAML file, and the per-process matcher.

An import replaces the whole FAQ in one transaction and bumps `FaqState.version`; every process
keeps a `FaqCache` that compares that version (at most once per few seconds) with the one its
matcher was built from and rebuilds when they differ, so an import needs no restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.faq.file_format import FaqEntry, FaqFileError, dump_faq_file, parse_faq_text
from bot.faq.matcher import FaqMatcher
from bot.models import Faq, FaqState

log = logging.getLogger(__name__)

STATE_ID = 1
MAX_ID_LENGTH = 64


@dataclass(frozen=True)
class ImportResult:
    """What an import changed."""

    added: int
    updated: int
    removed: int
    unchanged: int
    version: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def read_faq_file(path: Path) -> list[FaqEntry]:
    """Parse a FAQ file; FaqFileError (with line and reason) if it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FaqFileError(None, f"{path} does not exist") from None
    except UnicodeDecodeError:
        raise FaqFileError(None, "the file is not UTF-8 text") from None
    entries = parse_faq_text(text)
    for entry in entries:
        if len(entry.id) > MAX_ID_LENGTH:
            raise FaqFileError(None, f"id {entry.id!r} is longer than {MAX_ID_LENGTH} characters")
    return entries


def _row_entry(row: Faq) -> FaqEntry:
    return FaqEntry(
        id=row.faq_id,
        question=row.question,
        variants=tuple(row.variants or ()),
        keywords=tuple(row.keywords or ()),
        answer=row.answer,
        category=row.category,
    )


def load_entries(session: Session) -> list[FaqEntry]:
    """Every FAQ entry in file order."""
    rows = session.scalars(select(Faq).order_by(Faq.position, Faq.id))
    return [_row_entry(row) for row in rows]


def get_entry(session: Session, faq_id: str) -> FaqEntry | None:
    """One entry by its id, or None (e.g. removed by a later import)."""
    row = session.scalars(select(Faq).where(Faq.faq_id == faq_id)).first()
    return _row_entry(row) if row is not None else None


def current_version(session: Session) -> int:
    """The FAQ's version; 0 when nothing was ever imported."""
    version = session.scalar(select(FaqState.version).where(FaqState.id == STATE_ID))
    return version or 0


def export_yaml(session: Session) -> str:
    """The stored FAQ as YAML in the import format."""
    return dump_faq_file(load_entries(session))


def import_entries(
    session: Session, entries: Sequence[FaqEntry], now: datetime, source: str | None = None
) -> ImportResult:
    """Make the stored FAQ equal to `entries`: update by id, add new, remove the rest.

    Only flushes: the caller commits (or rolls back) so the whole import is one transaction.
    """
    ids = [e.id for e in entries]
    if len(set(ids)) != len(ids):
        raise FaqFileError(None, "the same id is used twice")
    # Locking the state row serialises concurrent imports on PostgreSQL.
    state = session.get(FaqState, STATE_ID, with_for_update=True)
    existing = {row.faq_id: row for row in session.scalars(select(Faq))}
    added = updated = unchanged = 0
    reordered = False
    for position, entry in enumerate(entries):
        values = {
            "position": position,
            "category": entry.category,
            "question": entry.question,
            "variants": list(entry.variants),
            "keywords": list(entry.keywords),
            "answer": entry.answer,
        }
        row = existing.pop(entry.id, None)
        if row is None:
            session.add(Faq(faq_id=entry.id, created_at=now, updated_at=now, **values))
            added += 1
            continue
        if _row_entry(row) != entry:
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            updated += 1
            continue
        if row.position != position:
            # Same content in another place: candidates are listed in file order.
            row.position = position
            reordered = True
        unchanged += 1
    for row in existing.values():
        session.delete(row)
    removed = len(existing)
    if state is None:
        state = FaqState(id=STATE_ID, version=0, entry_count=0)
        session.add(state)
    if added or updated or removed or reordered or state.version == 0:
        state.version += 1
    state.entry_count = len(entries)
    state.source = source[-300:] if source else None
    state.updated_at = now
    session.flush()
    return ImportResult(added, updated, removed, unchanged, state.version)


def seed_if_empty(session: Session, path: Path, now: datetime) -> ImportResult | None:
    """Import `path` only if no FAQ was ever imported (start-up of dev mode or a release).

    Returns None when the FAQ already exists. A concurrent seed by another process is not an
    error: the loser's savepoint is rolled back and the winner's FAQ stays.
    """
    if current_version(session):
        return None
    entries = read_faq_file(path)
    try:
        with session.begin_nested():
            return import_entries(session, entries, now, source=str(path))
    except IntegrityError:
        log.info("FAQ was seeded by another process")
        return None


class FaqCache:
    """A process's matcher over the stored FAQ, rebuilt when the stored version changes."""

    def __init__(
        self,
        check_every: float = 3.0,
        monotonic: Callable[[], float] = time.monotonic,
        build: Callable[[Sequence[FaqEntry]], FaqMatcher] = FaqMatcher.build,
    ) -> None:
        self.check_every = check_every
        self.monotonic = monotonic
        self._build = build
        self._lock = threading.Lock()
        self._matcher: FaqMatcher | None = None
        self._built_version: int | None = None
        self._seen_version: int | None = None
        self._checked_at: float | None = None

    @property
    def version(self) -> int | None:
        """The version the current matcher was built from (None before the first build)."""
        return self._built_version

    def is_stale(self, session: Session) -> bool:
        """True if the next `matcher()` call will rebuild (checks the database when due)."""
        now = self.monotonic()
        if self._checked_at is None or now - self._checked_at >= self.check_every:
            self._seen_version = current_version(session)
            self._checked_at = now
        return self._matcher is None or self._seen_version != self._built_version

    def matcher(self, session: Session) -> FaqMatcher:
        """The matcher for the stored FAQ, rebuilt if an import changed it."""
        if not self.is_stale(session):
            assert self._matcher is not None
            return self._matcher
        with self._lock:
            # Read entries and version together; another thread may have rebuilt meanwhile.
            version = current_version(session)
            if self._matcher is None or version != self._built_version:
                started = time.perf_counter()
                self._matcher = self._build(load_entries(session))
                self._built_version = version
                log.info(
                    "FAQ matcher built",
                    extra={
                        "faq_version": version,
                        "entries": len(self._matcher.entries),
                        "ms": round((time.perf_counter() - started) * 1000),
                    },
                )
            self._seen_version = version
            return self._matcher
