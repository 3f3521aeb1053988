"""Matching a shopper's Japanese question to the shop's FAQ, or to a request for a person.

The index (`FaqMatcher`), its results, and the calibrated confidence it decides with.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from bot.faq.analyzer import Analyzer, default_analyzer
from bot.faq.asking import asks
from bot.faq.file_format import FaqEntry
from bot.faq.human_request import is_human_request
from bot.faq.normalize import analysis_text, fold_kana, normalize_query, normalize_text
from bot.faq.readings import ReadingIndex
from bot.faq.soft import SOFT_WEIGHT, EntryWords, SoftIndex
from bot.faq.vectors import WordVectors, default_vectors

Intent = Literal["faq", "human", "none"]
Outcome = Literal["answer", "suggest", "none", "human"]


@dataclass(frozen=True)
class Candidate:
    """One FAQ entry and how likely it is the one the shopper means (0-1)."""

    faq_id: str
    score: float


@dataclass(frozen=True)
class MatchResult:
    """What the bot should do with a message.

    outcome "answer": send the answer of faq_id. "suggest": offer the candidates as choices
    (intent is "faq" but faq_id is None). "none": nothing fits. "human": hand over to staff.
    """

    intent: Intent
    faq_id: str | None
    score: float
    candidates: list[Candidate]
    outcome: Outcome

    def to_json(self) -> dict[str, object]:
        """The issue's JSON shape: intent, faq_id (or None), score and candidates."""
        return {
            "intent": self.intent,
            "faq_id": self.faq_id,
            "score": round(self.score, 4),
            "candidates": [
                {"faq_id": c.faq_id, "score": round(c.score, 4)} for c in self.candidates
            ],
        }


class Signals(NamedTuple):
    """What the confidence is computed from, for one query and its top entry."""

    top: float  # the top entry's raw score
    margin: float  # top minus the second entry's score
    coverage: float  # share of the query's word weight the top entry knows
    keyword: float  # the top entry's keyword hit (less when other entries share the keyword)
    ratio: float  # second score / top score
    best_text: float  # cosine with the top entry's closest single question or variant
    vocabulary: float  # share of the query's word weight that any entry knows
    words: float  # content words in the query, up to 8, divided by 8
    sem: float  # soft word-by-word similarity of the query with the top entry's words
    sem_margin: float  # sem of the top entry minus sem of the second
    concepts: float  # thesaurus concepts in the query, up to 3, divided by 3
    head_known: float  # 1 when the top entry knows the query's heaviest word
    asks: float  # 1 when the message asks (question, request, wish), 0 when it only tells
    topic_known: float  # share of the message's topic words (〜が, 〜は, 〜を) the top entry knows


NO_SIGNALS = Signals(*(0.0,) * len(Signals._fields))


@dataclass(frozen=True)
class Logistic:
    """A logistic model over the signals: a bias and one weight per field of `Signals`."""

    bias: float
    weights: tuple[float, ...]

    def __call__(self, signals: Signals) -> float:
        z = self.bias + sum(w * v for w, v in zip(self.weights, signals, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict[str, object]:
        return {
            "bias": round(self.bias, 4),
            "weights": {n: round(w, 4) for n, w in zip(Signals._fields, self.weights, strict=True)},
        }

    @classmethod
    def from_json(cls, data: dict) -> Logistic:
        weights = data["weights"]
        if set(weights) != set(Signals._fields):
            raise ValueError(f"weights must name exactly the signals {Signals._fields}")
        return cls(float(data["bias"]), tuple(float(weights[n]) for n in Signals._fields))


@dataclass(frozen=True)
class Calibration:
    """Two logistic models over the match signals, and the two decision thresholds.

    answer: probability that the top entry is the right one (the reported confidence).
    relevance: probability that the message asks the FAQ anything at all. The bot answers when
    the confidence is at least `answer_at` and the relevance at least `relevant_to_answer`;
    it offers choices when the relevance is at least `suggest_at`; else it found nothing.
    """

    answer: Logistic
    relevance: Logistic
    answer_at: float
    suggest_at: float
    relevant_to_answer: float

    def confidence(self, signals: Signals) -> float:
        """Probability that the top entry is the right one."""
        return self.answer(signals)

    def to_json(self) -> dict[str, object]:
        return {
            "answer": self.answer.to_json(),
            "relevance": self.relevance.to_json(),
            "answer_at": round(self.answer_at, 4),
            "suggest_at": round(self.suggest_at, 4),
            "relevant_to_answer": round(self.relevant_to_answer, 4),
        }

    @classmethod
    def from_json(cls, data: dict) -> Calibration:
        return cls(
            Logistic.from_json(data["answer"]),
            Logistic.from_json(data["relevance"]),
            float(data["answer_at"]),
            float(data["suggest_at"]),
            float(data["relevant_to_answer"]),
        )


# Written by `flask faq calibrate` (bot/faq/calibration.py): fitted on leave-one-out over the
# FAQs' own phrasings, off-topic lines, and the tuning query sets; see docs/faq-matching.md.
CALIBRATION_PATH = Path(__file__).resolve().parents[2] / "data" / "faq_calibration.json"


def load_calibration(path: Path = CALIBRATION_PATH) -> Calibration:
    """Read a calibration file written by `flask faq calibrate`."""
    return Calibration.from_json(json.loads(path.read_text(encoding="utf-8")))


DEFAULT_CALIBRATION = load_calibration()


@dataclass(frozen=True)
class _Doc:
    entry: int
    norm: float
    kind: int  # _TEXT, _UNION or _ANSWER


_TEXT, _UNION, _ANSWER = 0, 1, 2
# How the per-entry similarities add up; set by leave-one-out (bench/faq.py --tune).
SCORE_BEST_TEXT = 0.3
SCORE_UNION = 0.55
SCORE_ANSWER = 0.25
SCORE_KEYWORD = 0.15
HEAD_BOOST = 1.5
TIE_RATIO = 0.85
# An answer needs the entry to know this share of the message's word weight; below, the entry is
# offered as a choice. Chosen by leave-one-set-out over the tuning sets, counting a wrong answer
# as five missed ones: 0.2 took the wrong answers from 18 to 12 and the answers from 603 to 585.
ANSWER_MIN_COVERAGE = 0.2
COMMON_MIN_ENTRIES = 40
COMMON_SHARE = 0.04
SOFT_KNOWN_TOO = False
# Words and concepts common to all of an entry's phrasings are its head: what it is about.
SCORE_HEAD = 0.2
HEAD_MIN = 0.5


@dataclass
class FaqMatcher:
    """An immutable index over FAQ entries; build a new one when the FAQ changes."""

    entries: tuple[FaqEntry, ...]
    analyzer: Analyzer
    calibration: Calibration
    _docs: list[_Doc] = field(repr=False)
    _postings: dict[str, list[tuple[int, float]]] = field(repr=False)
    _idf: dict[str, float] = field(repr=False)
    _unseen_idf: float = field(repr=False)
    _keywords: list[tuple[tuple[str, float], ...]] = field(repr=False)
    _entry_features: list[frozenset[str]] = field(repr=False)
    _heads: list[dict[str, float]] = field(repr=False)  # head feature -> IDF, per entry
    _soft: SoftIndex | None = field(default=None, repr=False)
    _readings: ReadingIndex | None = field(default=None, repr=False)
    _entry_words: EntryWords | None = field(default=None, repr=False)
    max_candidates: int = 3

    @classmethod
    def build(
        cls,
        entries: Sequence[FaqEntry],
        *,
        analyzer: Analyzer | None = None,
        calibration: Calibration | None = None,
        vectors: WordVectors | None | Literal["default"] = "default",
    ) -> FaqMatcher:
        """Index the entries' questions, variants and keywords.

        vectors: word vectors for soft matching (default: the installed ones, if any; None: off).
        """
        analyzer = analyzer or default_analyzer()
        if vectors == "default":
            vectors = default_vectors()
        per_entry_texts: list[list[dict[str, float]]] = []
        df: dict[str, int] = defaultdict(int)
        for entry in entries:
            texts = [analyzer.features(analysis_text(t)) for t in (entry.question, *entry.variants)]
            kw_feats: dict[str, float] = {}
            for kw in entry.keywords:
                kw_feats.update(analyzer.features(analysis_text(kw)))
            union: dict[str, float] = {}
            for f in (*texts, kw_feats):
                union.update(f)
            answer = analyzer.features(normalize_text(entry.answer))
            per_entry_texts.append([*texts, union, answer])
            for name in union.keys() | answer.keys():
                df[name] += 1
        n = max(1, len(entries))
        idf = {name: math.log(1 + (n - d + 0.5) / (d + 0.5)) for name, d in df.items()}
        unseen_idf = math.log(1 + (n + 0.5) / 0.5)
        docs: list[_Doc] = []
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        # In a large FAQ, features found in many entries (の-bigrams, 注文) barely separate
        # entries but make every query walk long postings; they are left out of the index.
        common = common_df = max(COMMON_MIN_ENTRIES, COMMON_SHARE * n)
        for i, texts in enumerate(per_entry_texts):
            for k, feats in enumerate(texts):
                kind = _TEXT if k < len(texts) - 2 else (_UNION if k == len(texts) - 2 else _ANSWER)
                doc_index = len(docs)
                sq = 0.0
                for name, w in feats.items():
                    if df[name] > common:
                        continue
                    v = w * idf[name]
                    postings[name].append((doc_index, v))
                    sq += v * v
                docs.append(_Doc(i, math.sqrt(sq) or 1.0, kind))
        # A keyword that other entries also contain says less: its hit counts 1/(entries with it).
        folded_texts = [
            fold_kana(normalize_text(" ".join((e.question, *e.variants, *e.keywords)))).replace(
                " ", ""
            )
            for e in entries
        ]
        keywords: list[tuple[tuple[str, float], ...]] = []
        for entry in entries:
            kws = {fold_kana(normalize_text(kw)).replace(" ", "") for kw in entry.keywords}
            keywords.append(
                tuple((k, 1.0 / sum(k in t for t in folded_texts)) for k in sorted(kws) if k)
            )
        heads: list[dict[str, float]] = []
        for texts in per_entry_texts:
            phrasings = [{n for n in t if n[:2] in ("w:", "k:")} for t in texts[:-2]]
            common = set.intersection(*phrasings) if phrasings else set()
            heads.append({n: idf[n] for n in common if df[n] <= common_df})
        return cls(
            entries=tuple(entries),
            _heads=heads,
            analyzer=analyzer,
            calibration=calibration or DEFAULT_CALIBRATION,
            _docs=docs,
            _postings=dict(postings),
            _idf=idf,
            _unseen_idf=unseen_idf,
            _keywords=keywords,
            _entry_features=[frozenset(texts[-2]) for texts in per_entry_texts],
            _readings=ReadingIndex(
                {n[2:] for texts in per_entry_texts for n in texts[-2] if n.startswith("w:")}
                - {n[2:] for n in df if n.endswith("~否")},
                analyzer.tokenizer(),
            ),
            _entry_words=None
            if vectors is None
            else EntryWords(
                [
                    {n[2:] for n in texts[-2] if n.startswith("w:") and not n.endswith("~否")}
                    for texts in per_entry_texts
                ],
                vectors,
            ),
            _soft=None
            if vectors is None
            else SoftIndex(
                (n[2:] for texts in per_entry_texts for n in texts[-2] if n.startswith("w:")),
                vectors,
            ),
        )

    def rank(self, text: str) -> tuple[list[tuple[int, float]], Signals]:
        """Entries by raw score, best first, and the signals the confidence is computed from."""
        asking = float(asks(text))
        if self._readings is not None:
            text = self._readings.rewrite(normalize_text(text), self.analyzer.tokenizer())
        query = normalize_query(text)
        topics: set[str] = set()
        feats, links = self.analyzer.features_with_links(
            analysis_text(text),
            head_boost=HEAD_BOOST,
            topics=topics,
        )
        if not feats or not self._docs:
            return [], NO_SIGNALS
        if self._soft is not None:
            feats, links = _soften(self._soft, feats, links, self._idf)
        q_vec = {name: w * self._idf.get(name, self._unseen_idf) for name, w in feats.items()}
        q_norm = math.sqrt(sum(v * v for v in q_vec.values())) or 1.0
        dots: dict[int, float] = defaultdict(float)
        for name, qv in q_vec.items():
            for doc_index, dv in self._postings.get(name, ()):
                dots[doc_index] += qv * dv
        best_text: dict[int, float] = defaultdict(float)
        union_score: dict[int, float] = defaultdict(float)
        answer_score: dict[int, float] = defaultdict(float)
        for doc_index, dot in dots.items():
            doc = self._docs[doc_index]
            cos = dot / (q_norm * doc.norm)
            if doc.kind == _UNION:
                union_score[doc.entry] = cos
            elif doc.kind == _ANSWER:
                answer_score[doc.entry] = cos
            elif cos > best_text[doc.entry]:
                best_text[doc.entry] = cos
        folded = fold_kana(query.replace(" ", ""))
        scored: list[tuple[int, float]] = []
        kw_hit: dict[int, float] = {}
        for entry_index in union_score.keys() | answer_score.keys():
            kw_hit[entry_index] = max(
                (w for k, w in self._keywords[entry_index] if _affirmed(k, folded)), default=0.0
            )
            score = (
                SCORE_BEST_TEXT * best_text[entry_index]
                + SCORE_UNION * union_score[entry_index]
                + SCORE_ANSWER * answer_score[entry_index]
                + SCORE_KEYWORD * kw_hit[entry_index]
            )
            # Which entry the message's words are the core of (返品の期限は何日: returns, not
            # delivery days): the share of the entry's head found in the message.
            head = self._heads[entry_index]
            if head:
                score += (
                    SCORE_HEAD
                    * sum(v for n, v in head.items() if n in feats)
                    / max(sum(head.values()), HEAD_MIN * self._unseen_idf)
                )
            scored.append((entry_index, score))
        scored.sort(key=lambda p: -p[1])
        if not scored:
            return [], NO_SIGNALS
        top_index, top = scored[0]
        second = scored[1][1] if len(scored) > 1 else 0.0
        # Share of the query's word weight that the top entry knows: low for off-topic chat.
        top_union = self._entry_features[top_index]
        word_total = sum(v for n, v in q_vec.items() if n.startswith("w:") and n in links) or 1.0
        # A word counts as known through its thesaurus concept too (アメリカ -> overseas).
        word_known = sum(
            v
            for n, v in q_vec.items()
            if n.startswith("w:") and n in links and (n in top_union or links[n] & top_union)
        )
        coverage = word_known / word_total
        sem_top = sem_margin = 0.0
        if self._entry_words is not None:
            # Unknown words weigh no more than a word found in one entry.
            cap = math.log(1 + (len(self.entries) - 0.5) / 1.5)
            qwords = [
                (n[2:], feats[n] * min(self._idf.get(n, self._unseen_idf), cap))
                for n in links
                if not n.endswith("~否")
            ]
            sims = self._entry_words.similarity(qwords, [i for i, _ in scored[:2]])
            sem_top = sims[0]
            sem_margin = sims[0] - (sims[1] if len(sims) > 1 else 0.0)
        # Share of the query's word weight that any entry knows: low for chat about other things.
        vocabulary = sum(
            v
            for n, v in q_vec.items()
            if n.startswith("w:") and n in links and (n in self._idf or links[n] & self._idf.keys())
        )
        words = sum(1 for n in links if not n.endswith("~否"))
        concepts = sum(1 for n in feats if n.startswith("k:"))
        head_name = max(
            (n for n in links if not n.endswith("~否")), key=lambda n: feats[n], default=None
        )
        head_known = float(
            head_name is not None and (head_name in top_union or bool(links[head_name] & top_union))
        )
        topic_words = [n for n in topics if n in links]
        # Known directly or by concept, not by a soft neighbour: パソコンが壊れた is not about
        # the entry whose word 商品 sits near パソコン.
        topic_known = (
            sum(
                n in top_union or any(x in top_union for x in links[n] if x.startswith("k:"))
                for n in topic_words
            )
            / len(topic_words)
            if topic_words
            else 0.5
        )
        return scored, Signals(
            top,
            top - second,
            coverage,
            kw_hit[top_index],
            second / top if top else 0.0,
            best_text[top_index],
            vocabulary / word_total,
            min(words, 8) / 8,
            sem_top,
            sem_margin,
            min(concepts, 3) / 3,
            head_known,
            asking,
            topic_known,
        )

    def ask(self, text: str) -> MatchResult:
        """Decide whether to answer, suggest, hand over to a person, or admit no match."""
        if is_human_request(text):
            return MatchResult("human", None, 1.0, [], "human")
        scored, signals = self.rank(text)
        if not scored:
            return MatchResult("none", None, 0.0, [], "none")
        cal = self.calibration
        confidence = cal.confidence(signals)
        relevance = cal.relevance(signals)
        relevant = relevance >= cal.suggest_at
        top = scored[0][1] or 1.0
        candidates = [
            Candidate(self.entries[i].id, round(confidence * s / top, 4))
            for i, s in scored[: self.max_candidates]
        ]
        # Two entries nearly tied (荷物 → tracking or not received?): let the shopper choose.
        tied = len(scored) > 1 and scored[1][1] >= TIE_RATIO * scored[0][1]
        # Mostly words the entry does not know (歯医者の予約キャンセル): offer it, do not answer.
        known = signals.coverage >= ANSWER_MIN_COVERAGE
        if (
            relevance >= cal.relevant_to_answer
            and confidence >= cal.answer_at
            and known
            and not tied
        ):
            return MatchResult("faq", candidates[0].faq_id, confidence, candidates, "answer")
        if relevant:
            return MatchResult("faq", None, confidence, candidates, "suggest")
        return MatchResult("none", None, confidence, candidates, "none")


def _soften(
    soft: SoftIndex,
    feats: dict[str, float],
    links: dict[str, frozenset[str]],
    known: Container[str],
) -> tuple[dict[str, float], dict[str, frozenset[str]]]:
    """Add the FAQ words nearest to each query word the FAQ does not use itself.

    A word the FAQ uses already meets its entries exactly; widening it only blurs them. A word
    counts as known (for coverage) through its neighbours.
    """
    feats = dict(feats)
    links = dict(links)
    names = [
        n
        for n in feats
        if n.startswith("w:") and not n.endswith("~否") and (SOFT_KNOWN_TOO or n not in known)
    ]
    nearest = soft.neighbours_of([n[2:] for n in names])
    for name in names:
        near = nearest[name[2:]]
        for word, sim in near:
            weight = feats[name] * SOFT_WEIGHT * sim
            if weight > feats.get("w:" + word, 0.0):
                feats["w:" + word] = weight
        if near:
            links[name] = links.get(name, frozenset()) | {"w:" + w for w, _ in near}
    return feats, links


_NEGATED_AFTER = tuple(fold_kana(t) for t in ("ない", "なく", "なかっ", "ません", "ず"))


def _affirmed(keyword: str, text: str) -> bool:
    """Whether `keyword` occurs in `text` other than directly negated (売り切れない ≠ 売り切れ)."""
    at = text.find(keyword)
    while at >= 0:
        if not text.startswith(_NEGATED_AFTER, at + len(keyword)):
            return True
        at = text.find(keyword, at + 1)
    return False
