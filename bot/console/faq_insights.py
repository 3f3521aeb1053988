"""What the console shows about the FAQ's use: per-entry figures, and the questions the bot did
not resolve, grouped by similar wording, with what staff decided about them.

A question is unresolved when the bot found no answer ("none"), offered 「もしかして」 choices
that nobody picked, or answered (directly or through a pick) and the shopper then said 「いいえ」
to 「解決しましたか?」. Only rows that still hold the shopper's text are listed: a message the
shopper unsent has lost its text and so drops out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from bot.models import FaqInteraction

# Reading more rows than this for one page would make grouping slow; the newest are kept.
MAX_ROWS = 2000
# Two phrasings join a group when their analyzer features have at least this cosine with the
# group's most frequent phrasing: 「送料はいくら?」 and 「配送料はいくらかかりますか」 score about
# 0.67, 「返品したい」 and 「返品できますか」 0.65, while unrelated questions stay near 0.
SIMILAR_AT = 0.5
OPEN_REVIEWS = (None, "suggested")  # still listed; "suggested" waits for an admin

Features = Callable[[str], dict[str, float]]

KIND_LABELS = {"none": "回答なし", "unpicked": "選ばれず", "no": "「いいえ」"}


@dataclass(frozen=True)
class EntryStats:
    """How one entry did: answers sent (directly or picked), and 「解決しましたか?」 replies."""

    answered: int = 0
    yes: int = 0
    no: int = 0
    last_at: datetime | None = None

    @property
    def rate(self) -> float | None:
        """Share of 「はい」 among the replies, or None when nobody replied."""
        replies = self.yes + self.no
        return self.yes / replies if replies else None


def entry_stats(session: Session) -> dict[str, EntryStats]:
    """Figures per FAQ id, over every interaction still kept."""
    fi = FaqInteraction
    rows = session.execute(
        select(
            fi.faq_id,
            func.count(),
            func.count().filter(fi.resolved.is_(True)),
            func.count().filter(fi.resolved.is_(False)),
            func.max(fi.created_at),
        )
        .where(fi.faq_id.is_not(None), fi.outcome.in_(("answer", "picked")))
        .group_by(fi.faq_id)
    )
    return {
        faq_id: EntryStats(answered, yes, no, last_at)
        for faq_id, answered, yes, no, last_at in rows
    }


@dataclass(frozen=True)
class Question:
    """One unresolved question as asked."""

    id: int
    text: str
    text_hash: str
    kind: str  # "none", "unpicked" or "no"
    faq_id: str | None  # the entry answered, for "no"
    created_at: datetime
    review: str | None
    review_faq_id: str | None


@dataclass
class QuestionGroup:
    """Questions of similar wording: the most frequent phrasing first."""

    questions: list[Question] = field(default_factory=list)
    phrasings: list[tuple[str, int]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.phrasings[0][0]

    @property
    def count(self) -> int:
        return len(self.questions)

    @property
    def ids(self) -> list[int]:
        return [q.id for q in self.questions]

    @property
    def first_id(self) -> int:
        """The id of a question worded as the group's text (to start a new entry from it)."""
        return next(q.id for q in self.questions if q.text == self.text)

    @property
    def first_at(self) -> datetime:
        return min(q.created_at for q in self.questions)

    @property
    def last_at(self) -> datetime:
        return max(q.created_at for q in self.questions)

    @property
    def kinds(self) -> list[tuple[str, int]]:
        counts = Counter(q.kind for q in self.questions)
        return [(label, counts[kind]) for kind, label in KIND_LABELS.items() if counts[kind]]

    @property
    def suggested(self) -> list[str]:
        """Entries operators suggested for these questions, most suggested first."""
        counts = Counter(q.review_faq_id for q in self.questions if q.review == "suggested")
        return [faq_id for faq_id, _ in counts.most_common() if faq_id]

    @property
    def answered_with(self) -> list[str]:
        """Entries the bot answered that the shopper said 「いいえ」 to."""
        counts = Counter(q.faq_id for q in self.questions if q.kind == "no" and q.faq_id)
        return [faq_id for faq_id, _ in counts.most_common()]


def _open_condition(since: datetime):  # noqa: ANN202 - a SQLAlchemy expression
    fi = FaqInteraction
    pick = aliased(FaqInteraction)
    picked = exists().where(pick.asked_id == fi.id)
    picked_said_no = exists().where(pick.asked_id == fi.id, pick.resolved.is_(False))
    return and_(
        fi.text.is_not(None),
        fi.created_at >= since,
        or_(fi.review.is_(None), fi.review == "suggested"),
        or_(
            fi.outcome == "none",
            and_(fi.outcome == "answer", fi.resolved.is_(False)),
            and_(fi.outcome == "suggest", or_(~picked, picked_said_no)),
        ),
    )


def unresolved_questions(session: Session, since: datetime) -> list[Question]:
    """The open unresolved questions asked since `since`, newest first (at most MAX_ROWS)."""
    fi = FaqInteraction
    rows = list(
        session.execute(
            select(
                fi.id,
                fi.text,
                fi.text_hash,
                fi.outcome,
                fi.faq_id,
                fi.created_at,
                fi.review,
                fi.review_faq_id,
            )
            .where(_open_condition(since))
            .order_by(fi.created_at.desc(), fi.id.desc())
            .limit(MAX_ROWS)
        )
    )
    # For a 「もしかして」 that was picked and then answered 「いいえ」: the entry picked.
    suggest_ids = [r.id for r in rows if r.outcome == "suggest"]
    picks: dict[int, str | None] = {}
    for start in range(0, len(suggest_ids), 500):
        chunk = suggest_ids[start : start + 500]
        for asked_id, faq_id in session.execute(
            select(fi.asked_id, fi.faq_id).where(fi.asked_id.in_(chunk), fi.resolved.is_(False))
        ):
            picks[asked_id] = faq_id
    questions = []
    for r in rows:
        if r.outcome == "suggest":
            kind, faq_id = ("no", picks[r.id]) if r.id in picks else ("unpicked", None)
        else:
            kind, faq_id = ("none", None) if r.outcome == "none" else ("no", r.faq_id)
        questions.append(
            Question(
                r.id,
                r.text,
                r.text_hash or "",
                kind,
                faq_id,
                r.created_at,
                r.review,
                r.review_faq_id,
            )
        )
    return questions


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    dot = sum(w * b.get(name, 0.0) for name, w in a.items())
    norm = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    return dot / norm if norm else 0.0


def group_questions(questions: Sequence[Question], features: Features) -> list[QuestionGroup]:
    """Group questions: the same normalised text always, similar wording by feature cosine.

    Phrasings are taken most frequent first; each joins the first group whose leading
    phrasing it resembles (SIMILAR_AT), or starts one. Groups come largest first, then the
    most recently asked.
    """
    by_text: dict[str, list[Question]] = {}
    for question in questions:
        by_text.setdefault(question.text_hash or question.text, []).append(question)
    phrasings = sorted(by_text.values(), key=lambda qs: (-len(qs), -qs[0].created_at.timestamp()))
    groups: list[tuple[dict[str, float], QuestionGroup]] = []
    for same in phrasings:
        # The wording shown for a phrasing is its most common spelling.
        text = Counter(q.text for q in same).most_common(1)[0][0]
        feats = features(text)
        home = next((g for lead, g in groups if feats and _cosine(feats, lead) >= SIMILAR_AT), None)
        if home is None:
            home = QuestionGroup()
            groups.append((feats, home))
        home.questions.extend(same)
        home.phrasings.append((text, len(same)))
    result = [group for _, group in groups]
    result.sort(key=lambda g: (-g.count, -g.last_at.timestamp()))
    return result


def review_questions(
    session: Session,
    ids: Iterable[int],
    review: str,
    operator_id: int,
    now: datetime,
    faq_id: str | None = None,
) -> int:
    """Record staff's decision on open questions (others are left alone); how many changed."""
    fi = FaqInteraction
    wanted = sorted(set(ids))
    changed = 0
    for start in range(0, len(wanted), 500):
        result = session.execute(
            update(fi)
            .where(
                fi.id.in_(wanted[start : start + 500]),
                fi.text.is_not(None),
                or_(fi.review.is_(None), fi.review == "suggested"),
            )
            .values(review=review, review_faq_id=faq_id, reviewed_at=now, reviewed_by=operator_id)
            .execution_options(synchronize_session=False)
        )
        changed += result.rowcount or 0
    return changed
