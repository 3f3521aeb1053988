"""The FAQ in the database: import and export of the YAML file, edits of single entries (from
the console), and the per-process matcher.

An import replaces the whole FAQ in one transaction and bumps `FaqState.version`; so does every
edit. Every process keeps a `FaqCache` that compares that version (at most once per few seconds)
with the one its matcher was built from and rebuilds when they differ, so neither an import nor
an edit needs a restart.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.faq.file_format import (
    MAX_ANSWER_CHARS,
    FaqEntry,
    FaqFileError,
    dump_faq_file,
    parse_faq_text,
)
from bot.faq.matcher import FaqMatcher
from bot.models import Faq, FaqState

log = logging.getLogger(__name__)

STATE_ID = 1
MAX_ID_LENGTH = 64
# Limits of an entry edited in the console. An answer is sent as one LINE text message, which
# holds at most 5,000 characters; the rest keep the matcher's index and the pages small.
MAX_QUESTION_CHARS = 300
MAX_CATEGORY_CHARS = 100  # the column's size
MAX_VARIANTS = 200
MAX_KEYWORDS = 50
MAX_KEYWORD_CHARS = 50
_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")  # the same rule as the YAML file's
# Control characters have no place in a FAQ line; an answer may hold line breaks and tabs.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ANSWER_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class FaqEditError(ValueError):
    """An edit of the FAQ cannot be saved; the message (Japanese) says why, for the staff."""


class FaqEditConflict(FaqEditError):
    """The entry was changed (or removed) by someone else since the form was opened."""


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


def _lock_state(session: Session, now: datetime) -> FaqState:
    """The state row, locked: edits and imports of the FAQ take turns."""
    state = session.get(FaqState, STATE_ID, with_for_update=True)
    if state is None:
        state = FaqState(id=STATE_ID, version=0, entry_count=0, updated_at=now)
        session.add(state)
    return state


def _bump_version(session: Session, state: FaqState, now: datetime) -> int:
    """Raise the version (every process rebuilds its matcher) and recount the entries."""
    session.flush()
    state.version += 1
    state.entry_count = session.scalar(select(func.count()).select_from(Faq)) or 0
    state.updated_at = now
    session.flush()
    return state.version


def _clean_line(value: str, what: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise FaqEditError(f"{what}を入力してください。")
    if _CONTROL_RE.search(value):
        raise FaqEditError(f"{what}に改行や制御文字は使えません。")
    if len(value) > limit:
        raise FaqEditError(f"{what}は{limit:,}文字以内にしてください（{len(value):,}文字）。")
    return value


def _clean_lines(values: Sequence[str], what: str, limit: int, count: int) -> tuple[str, ...]:
    kept: list[str] = []
    for value in values:
        if value.strip():
            line = _clean_line(value, what, limit)
            if line not in kept:
                kept.append(line)
    if len(kept) > count:
        raise FaqEditError(f"{what}は{count}件までです（{len(kept)}件）。")
    return tuple(kept)


def validate_entry(
    faq_id: str,
    question: str,
    variants: Sequence[str],
    keywords: Sequence[str],
    answer: str,
    category: str | None = None,
) -> FaqEntry:
    """An entry from form values, checked by the YAML import's rules and the console's limits.

    Blank lines of variants and keywords are left out and repeats kept once. The entry is
    written as YAML and read back, so whatever is saved can be exported and imported again.
    """
    faq_id = faq_id.strip()
    if not faq_id:
        raise FaqEditError("IDを入力してください。")
    if len(faq_id) > MAX_ID_LENGTH or not _ID_RE.match(faq_id):
        raise FaqEditError(f"IDは半角英数字と _ . - で{MAX_ID_LENGTH}文字以内にしてください。")
    question = _clean_line(question, "質問", MAX_QUESTION_CHARS)
    answer = answer.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not answer:
        raise FaqEditError("回答を入力してください。")
    if _ANSWER_CONTROL_RE.search(answer):
        raise FaqEditError("回答に使えない制御文字が含まれています。")
    if len(answer) > MAX_ANSWER_CHARS:
        raise FaqEditError(
            f"回答はLINEの1メッセージに収まる{MAX_ANSWER_CHARS:,}文字以内にしてください"
            f"（{len(answer):,}文字）。"
        )
    category = category.strip() if category else ""
    entry = FaqEntry(
        id=faq_id,
        question=question,
        variants=tuple(
            v
            for v in _clean_lines(variants, "言い換え", MAX_QUESTION_CHARS, MAX_VARIANTS)
            if v != question
        ),
        keywords=_clean_lines(keywords, "キーワード", MAX_KEYWORD_CHARS, MAX_KEYWORDS),
        answer=answer,
        category=_clean_line(category, "カテゴリ", MAX_CATEGORY_CHARS) if category else None,
    )
    try:
        same = parse_faq_text(dump_faq_file([entry])) == [entry]
    except FaqFileError:
        same = False
    if not same:
        raise FaqEditError("YAMLファイルに書き出せない内容が含まれています。")
    return entry


def _row(session: Session, faq_id: str) -> Faq | None:
    return session.scalars(select(Faq).where(Faq.faq_id == faq_id)).first()


def entry_row(session: Session, faq_id: str) -> Faq | None:
    """The stored row of one entry (with its update time), or None."""
    return _row(session, faq_id)


def create_entry(session: Session, entry: FaqEntry, now: datetime) -> int:
    """Add an entry at the end of the FAQ and bump the version; returns the new version.

    Only flushes: the caller commits.
    """
    state = _lock_state(session, now)
    if _row(session, entry.id) is not None:
        raise FaqEditError(f"ID「{entry.id}」はすでに使われています。")
    last = session.scalar(select(func.max(Faq.position)))
    session.add(
        Faq(
            faq_id=entry.id,
            position=(last if last is not None else -1) + 1,
            category=entry.category,
            question=entry.question,
            variants=list(entry.variants),
            keywords=list(entry.keywords),
            answer=entry.answer,
            created_at=now,
            updated_at=now,
        )
    )
    return _bump_version(session, state, now)


def update_entry(
    session: Session, entry: FaqEntry, now: datetime, seen_updated_at: datetime | None = None
) -> int:
    """Replace an entry's texts (its id stays) and bump the version; returns the new version.

    `seen_updated_at` is the entry's update time when the form was opened: if it has changed
    since, someone else saved in between and FaqEditConflict is raised instead of overwriting.
    """
    state = _lock_state(session, now)
    row = _row(session, entry.id)
    if row is None:
        raise FaqEditConflict("この項目は削除されています。")
    if seen_updated_at is not None and row.updated_at != seen_updated_at:
        raise FaqEditConflict(
            "ほかの人がこの項目を先に更新しました。画面を開き直して内容を確認してください。"
        )
    row.category = entry.category
    row.question = entry.question
    row.variants = list(entry.variants)
    row.keywords = list(entry.keywords)
    row.answer = entry.answer
    row.updated_at = now
    return _bump_version(session, state, now)


def delete_entry(session: Session, faq_id: str, now: datetime) -> int:
    """Remove an entry and bump the version; returns the new version."""
    state = _lock_state(session, now)
    row = _row(session, faq_id)
    if row is None:
        raise FaqEditConflict("この項目はすでに削除されています。")
    session.delete(row)
    return _bump_version(session, state, now)


def add_variant(session: Session, faq_id: str, text: str, now: datetime) -> bool:
    """Add a phrasing to an entry's variants (bumping the version); False if it was there."""
    line = _clean_line(text, "質問", MAX_QUESTION_CHARS)
    state = _lock_state(session, now)
    row = _row(session, faq_id)
    if row is None:
        raise FaqEditConflict("追加先の項目が見つかりません。削除された可能性があります。")
    variants = list(row.variants or ())
    if line == row.question or line in variants:
        return False  # nothing changed: no rebuild anywhere
    if len(variants) >= MAX_VARIANTS:
        raise FaqEditError(f"言い換えは{MAX_VARIANTS}件までです。不要なものを削除してください。")
    row.variants = [*variants, line]  # a new list: the JSON column notices a replaced value
    row.updated_at = now
    _bump_version(session, state, now)
    return True


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

    def invalidate(self) -> None:
        """Make the next call compare versions at once (after an edit made by this process)."""
        self._checked_at = None

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
