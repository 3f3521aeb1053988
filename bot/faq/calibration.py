"""Measuring the FAQ matcher on labelled queries and fitting its confidence and thresholds."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.faq.file_format import FaqEntry
from bot.faq.human_request import is_human_request
from bot.faq.matcher import (
    ANSWER_MIN_COVERAGE,
    TIE_RATIO,
    Calibration,
    FaqMatcher,
    Logistic,
    Signals,
)
from bot.faq.normalize import normalize_text


@dataclass(frozen=True)
class EvalReport:
    """Accuracy per kind of expected result (faq, human, none) and the misses.

    For FAQ rows, ``correct`` counts the right entry first (answered, or the first choice
    offered); ``answered`` counts those answered at once. ``confident_wrong`` counts rows of any
    kind that got an answer from the wrong entry.
    """

    totals: dict[str, int]
    correct: dict[str, int]
    misses: list[tuple[str, str, str]]
    answered: int = 0
    confident_wrong: int = 0

    def accuracy(self, kind: str) -> float:
        """Share of rows of this kind that came out right (1.0 when there are none)."""
        total = self.totals.get(kind, 0)
        return self.correct.get(kind, 0) / total if total else 1.0


def read_eval_rows(path: Path) -> list[tuple[str, str]]:
    """Read a TSV of (query, expected) with a header line; expected is an id, HUMAN or NONE."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if n == 0 or not line.strip() or line.startswith("#"):
            continue
        query, expected = line.split("\t")[:2]
        rows.append((query.strip(), expected.strip()))
    return rows


def evaluate(matcher: FaqMatcher, rows: Iterable[tuple[str, str]]) -> EvalReport:
    """Score the matcher: faq rows need the right top candidate and intent faq."""
    totals: dict[str, int] = defaultdict(int)
    correct: dict[str, int] = defaultdict(int)
    misses: list[tuple[str, str, str]] = []
    answered = confident_wrong = 0
    for query, expected in rows:
        result = matcher.ask(query)
        kind = expected.lower() if expected in ("HUMAN", "NONE") else "faq"
        if result.outcome == "answer":
            if result.faq_id == expected:
                answered += 1
            else:
                confident_wrong += 1
        if kind == "faq":
            got = result.candidates[0].faq_id if result.intent == "faq" else result.intent.upper()
            ok = got == expected
        else:
            got = result.intent.upper()
            ok = result.intent == kind
        totals[kind] += 1
        if ok:
            correct[kind] += 1
        else:
            misses.append((query, expected, f"{got} ({result.outcome}, {result.score:.2f})"))
    return EvalReport(dict(totals), dict(correct), misses, answered, confident_wrong)


class BigramFloor:
    """The naive floor: character-bigram TF-IDF over each entry's question, variants and keywords.

    Only ranks; it has no way to say "none" or to spot a request for a person, so it is judged
    on FAQ rows by the right entry first.
    """

    def __init__(self, entries: Sequence[FaqEntry]) -> None:
        self.ids = [e.id for e in entries]
        docs = [_bigrams(" ".join((e.question, *e.variants, *e.keywords))) for e in entries]
        df: dict[str, int] = defaultdict(int)
        for doc in docs:
            for gram in doc:
                df[gram] += 1
        n = len(docs)
        self.idf = {g: math.log((1 + n) / (1 + d)) + 1.0 for g, d in df.items()}
        self.vectors = [self._weigh(doc) for doc in docs]

    def _weigh(self, counts: dict[str, int]) -> dict[str, float]:
        vec = {g: c * self.idf.get(g, 0.0) for g, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {g: v / norm for g, v in vec.items()}

    def top(self, text: str) -> str | None:
        """The id of the best-scoring entry, or None when no bigram is shared."""
        q = self._weigh(_bigrams(text))
        scores = [sum(w * vec.get(g, 0.0) for g, w in q.items()) for vec in self.vectors]
        best = max(range(len(scores)), key=scores.__getitem__, default=None)
        return None if best is None or scores[best] <= 0 else self.ids[best]


def _bigrams(text: str) -> dict[str, int]:
    chars = normalize_text(text).replace(" ", "")
    counts: dict[str, int] = defaultdict(int)
    for i in range(len(chars) - 1):
        counts[chars[i : i + 2]] += 1
    return counts


def floor_right_first(entries: Sequence[FaqEntry], rows: Iterable[tuple[str, str]]) -> int:
    """How many FAQ rows the naive floor ranks the right entry first for."""
    floor = BigramFloor(entries)
    return sum(
        floor.top(q) == expected for q, expected in rows if expected not in ("HUMAN", "NONE")
    )


# Everyday messages a shop's chat receives that no shop FAQ should answer. Used only to
# calibrate the "none" threshold; they are not phrasings of any test query.
GENERIC_OFF_TOPIC: tuple[str, ...] = (
    "おはようございます",
    "こんばんは",
    "はじめまして",
    "よろしくお願いします",
    "了解です",
    "わかりました",
    "ありがとう",
    "すごいですね",
    "元気ですか",
    "暇だなあ",
    "おやすみなさい",
    "週末は雨が降るらしい",
    "明日は晴れるかな",
    "最近寒くなってきましたね",
    "今何時ですか",
    "駅前のカフェでおすすめは?",
    "美味しいパスタのレシピを教えて",
    "おすすめの旅行先はどこ?",
    "サッカーの試合結果を知りたい",
    "好きな音楽は何?",
    "犬と猫どっちが好き?",
    "新幹線の時刻表を調べたい",
    "近くの病院を探しています",
    "宿題を手伝ってほしい",
    "英語の勉強方法を教えて",
    "株を始めたいんだけど",
    "転職について相談に乗ってほしい",
    "今日のニュースは?",
    "占いをしてください",
    "面白い話をして",
    "しりとりしよう",
    "あなたの名前は?",
    "誕生日はいつですか",
    "歌を歌って",
    "ゲームのおすすめある?",
    "会社の住所と代表者名は?",
    "求人は出していますか",
    "取材のお願いです",
    "広告を出しませんか",
    "月がきれいですね",
    "ダイエットの方法を知りたい",
    "ピアノ教室を探しています",
)

# Chat that touches a shop word without asking the shop anything (a country, a weekday, a broken
# phone, quitting a job): the calibration must learn that one domain word is not a question.
NEAR_DOMAIN_OFF_TOPIC: tuple[str, ...] = (
    "土曜日はジムに行く予定です",
    "夜ご飯何にしよう",
    "午後から会議があって忙しい",
    "韓国ドラマにはまっています",
    "フランス語を勉強中です",
    "スマホの画面が割れちゃった",
    "車が故障して困ってる",
    "昨日買ったパンがおいしかった",
    "コンビニでアイスを買った",
    "友達に誕生日プレゼントをもらった",
    "電車で財布をなくした",
    "引っ越し業者のおすすめは?",
    "郵便局は何時まで開いてる?",
    "天気が悪いと洗濯物が乾かない",
    "家の鍵をなくした",
    "年末年始は実家に帰ります",
    "新しいスマホが欲しい",
    "子供が熱を出した",
    "花粉症がつらい",
    "最近よく眠れない",
    "仕事を辞めたい",
    "部屋の掃除をしないと",
    "急いで駅に向かっています",
    "映画のチケットを予約した",
    "会社に遅刻しそう",
    "円安が続いてますね",
    "宝くじが当たったらいいな",
    "テレビが映らない",
    "雨で試合が中止になった",
    "ネットが遅い",
    "カラオケに行きたい",
    "日曜日は何してた?",
    "サッカー部をやめようか迷ってる",
    "ラーメンの替え玉は無料ですか",
    "銀行の振込手数料が高い",
    "台湾旅行のおすすめスポットは?",
    "郵便番号の調べ方は?",
    "パスポートの更新に行かなきゃ",
)


@dataclass(frozen=True)
class Sample:
    """The signals of one message, whether its top entry is right, and what kind it is."""

    signals: Signals
    right: bool
    off_topic: bool
    tied: bool = False


def calibration_samples(
    entries: Sequence[FaqEntry],
    off_topic: Sequence[str] = GENERIC_OFF_TOPIC + NEAR_DOMAIN_OFF_TOPIC,
    **build_options: object,
) -> list[Sample]:
    """A sample for each of the FAQ's phrasings left out of its entry, and each off-topic text."""
    samples: list[Sample] = []
    entries = list(entries)
    for i, entry in enumerate(entries):
        texts = (entry.question, *entry.variants)
        if len(texts) < 2:
            continue
        for j, text in enumerate(texts):
            rest = [t for k, t in enumerate(texts) if k != j]
            reduced = FaqEntry(
                entry.id, rest[0], tuple(rest[1:]), entry.keywords, entry.answer, entry.category
            )
            matcher = FaqMatcher.build([*entries[:i], reduced, *entries[i + 1 :]], **build_options)
            samples.extend(_sample(matcher, text, entry.id))
    matcher = FaqMatcher.build(entries, **build_options)
    for text in off_topic:
        samples.extend(_sample(matcher, text, None))
    return samples


def query_samples(matcher: FaqMatcher, rows: Iterable[tuple[str, str]]) -> list[Sample]:
    """Samples from labelled queries (query, id or NONE); requests for a person are left out."""
    samples: list[Sample] = []
    for query, expected in rows:
        if expected == "HUMAN" or is_human_request(query):
            continue
        samples.extend(_sample(matcher, query, None if expected == "NONE" else expected))
    return samples


def _sample(matcher: FaqMatcher, text: str, expected: str | None) -> list[Sample]:
    scored, signals = matcher.rank(text)
    if not scored:  # nothing in common with any entry: always "none", nothing to learn
        return []
    right = expected is not None and matcher.entries[scored[0][0]].id == expected
    tied = len(scored) > 1 and scored[1][1] >= TIE_RATIO * scored[0][1]
    return [Sample(signals, right, expected is None, tied)]


def fit_calibration(
    samples: Sequence[Sample],
    queries: Sequence[Sample] = (),
    *,
    answer_precision: float = 0.975,
    off_topic_suggest_rate: float = 0.1,
    off_topic_answer_rate: float = 0.05,
) -> Calibration:
    """Fit both logistic models on all samples, then the thresholds.

    suggest_at lets through `off_topic_suggest_rate` of the off-topic samples to the choices,
    relevant_to_answer only `off_topic_answer_rate` of them to an answer. answer_at is the
    lowest confidence at which the answers the bot would give to `queries` (the real shoppers'
    phrasings; all samples when there are none) are still `answer_precision` right.
    """
    every = [*samples, *queries]
    answer = _fit_logistic(every, [s.right for s in every])
    relevance = _fit_logistic(every, [not s.off_topic for s in every])
    chat = sorted((relevance(s.signals) for s in every if s.off_topic), reverse=True)
    cut = chat[int(len(chat) * off_topic_suggest_rate)] if chat else 0.0
    suggest_at = cut + 1e-4
    strict = chat[int(len(chat) * off_topic_answer_rate)] if chat else 0.0
    relevant_to_answer = max(suggest_at, strict + 1e-4)
    judged = sorted(
        (
            (answer(s.signals), s.right)
            for s in (queries or every)
            if not s.tied
            and s.signals.coverage >= ANSWER_MIN_COVERAGE
            and relevance(s.signals) >= suggest_at
        ),
        reverse=True,
    )
    answer_at, right = 0.99, 0
    for n, (conf, ok) in enumerate(judged, start=1):
        right += ok
        if right / n >= answer_precision:
            answer_at = conf
    return Calibration(answer, relevance, answer_at, suggest_at, relevant_to_answer)


def _fit_logistic(samples: Sequence[Sample], labels: Sequence[bool]) -> Logistic:
    """Logistic regression by gradient descent, with a little L2 to keep weights finite."""
    import numpy as np

    x = np.array([(1.0, *s.signals) for s in samples], dtype=np.float64)
    y = np.array(labels, dtype=np.float64)
    w = np.zeros(x.shape[1])
    for _ in range(3000):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30.0, 30.0)))
        w -= 0.5 * (x.T @ (p - y) / len(y) + 0.001 * w)
    return Logistic(float(w[0]), tuple(float(v) for v in w[1:]))
