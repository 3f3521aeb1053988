"""Matching a shopper's Japanese question to the shop's FAQ, or to a request for a person."""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from bot.faq.file_format import FaqEntry

Intent = Literal["faq", "human", "none"]
Outcome = Literal["answer", "suggest", "none", "human"]

# --------------------------------------------------------------------------- normalisation

_LONG_VOWEL_LIKE = "ー-~〜−‐‑–—―ｰ"
_KATAKANA = r"\u30a1-\u30fa"
_LONG_VOWEL_RE = re.compile(rf"(?<=[{_KATAKANA}ー])[{re.escape(_LONG_VOWEL_LIKE)}]+")
_REPEAT_RE = re.compile(r"([ーっッ!?])\1+")
_SPACE_RE = re.compile(r"\s+")
# After 2+ kanji, katakana or latin letters, 「って」 is the colloquial topic particle (送料って),
# not a verb's te-form (送って), so it can safely become は.
_TTE_RE = re.compile(
    rf"(?:(?<=[\u4e00-\u9fff]{{2}})|(?<=[{_KATAKANA}ーa-z0-9]))って(?=[^ぁ-ゖ]|$|[いなど])"
)
_ENDINGS = (
    "でしょうか",
    "ですか",
    "ますか",
    "ません",
    "でしょう",
    "ください",
    "くださいませ",
    "下さい",
    "ほしいです",
    "ほしい",
    "欲しい",
    "したいです",
    "したい",
    "たいです",
    "たい",
    "んですが",
    "のですが",
    "んですけど",
    "ですが",
    "ですけど",
    "けど",
    "です",
    "ます",
    "かな",
    "よね",
    "ね",
    "よ",
    "か",
    "の",
    "な",
)
_ENDING_RE = re.compile("(?:" + "|".join(sorted(map(re.escape, _ENDINGS), key=len)[::-1]) + ")$")


def _is_dropped_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    # Punctuation, symbols (emoji are So), marks used in emoji sequences, and format characters.
    return cat[0] in "PS" or cat in ("Mn", "Me", "Cf", "Co", "Cs") and ch not in "゙゚"


def normalize_text(text: str) -> str:
    """NFKC, lower case, one long-vowel mark, no punctuation or emoji, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _LONG_VOWEL_RE.sub("ー", text)
    text = "".join(" " if _is_dropped_char(ch) else ch for ch in text)
    text = _REPEAT_RE.sub(r"\1", text)
    return _SPACE_RE.sub(" ", text).strip()


def fold_kana(text: str) -> str:
    """Write hiragana as katakana so that きゃんせる and キャンセル compare equal."""
    return "".join(chr(ord(ch) + 0x60) if "ぁ" <= ch <= "ゖ" else ch for ch in text)


def strip_polite(text: str) -> str:
    """Drop polite or wishful sentence endings and turn the colloquial って into は."""
    text = _TTE_RE.sub("は", text)
    previous = None
    while previous != text:
        previous = text
        text = _ENDING_RE.sub("", text).rstrip()
    return text or previous or ""


def normalize_query(text: str) -> str:
    """A text normalised and without polite endings (the form its character bigrams come from)."""
    return strip_polite(normalize_text(text))


def analysis_text(text: str) -> str:
    """The form Sudachi reads: normalised, colloquial って as は, endings kept.

    Endings stay for the tokenizer: cutting たい off 返したい leaves the noun 返し, and cutting
    ません off 届きません loses the negation. Sudachi drops auxiliaries by itself.
    """
    return _TTE_RE.sub("は", normalize_text(text))


# --------------------------------------------------------------------------- asking for a person

_PERSON = (
    r"(?:担当(?:者|の(?:方|かた|人))?|係(?:の)?(?:人|方|かた)|オペレータ|スタッフ|店員|人間|有人"
    r"|中の人|責任者|サポート(?:の人|担当)|誰か|だれか|生身|(?<![\u4e00-\u9fff])人(?![気数分件])|ひと)"
)
_REQUEST = (
    r"(?:話|はな[しさせす]|繋|つな[いぎげ]|代わ|かわって|替わ|対応|相談|呼|よん|よべ|やり[とと取]"
    r"|やりとり|聞[きけ]|きき|連絡|お願い|おねがい|出て|でて|チャット|切り替え|切替|変えて|ください)"
)
_HUMAN_PATTERNS = (
    re.compile(_PERSON + r".{0,12}?" + _REQUEST),
    re.compile(r"有人|オペレータ|人工知能じゃな|ボットじゃな|botじゃな|aiじゃな|機械じゃな"),
    re.compile(
        r"電話(?:で|に|を)?.{0,4}?(?:話|はな[しさ]|相談|かけ|し(?:たい|て(?:ほし|くだ|もら)))"
    ),
    re.compile(r"直接.{0,8}?(?:話|はな[しさ]|相談|やり[とと取]|やりとり)"),
)
_HUMAN_ALONE = re.compile(_PERSON + r"(?:さん|様|さま)?(?:を|に|と|で)?(?:お願い)?")
_NOT_WANTED = re.compile(
    r"(?:不要|いらない|いりません|結構|必要ない|要らない|なしで|なくて(?:いい|大丈夫))"
)


def is_human_request(text: str) -> bool:
    """True when the shopper asks to talk with a person rather than the bot."""
    norm = normalize_text(text).replace(" ", "")
    if not norm or _NOT_WANTED.search(norm):
        return False
    if _HUMAN_ALONE.fullmatch(strip_polite(norm)):
        return True
    return any(p.search(norm) for p in _HUMAN_PATTERNS)


# --------------------------------------------------------------------------- analysis

# Verbs and adjectives that carry no topic (する, ある, できる, ...) are tagged 非自立可能 by the
# dictionary; these few common words carry none either.
# 教える and 知る frame a question (〜を教えて, 〜を知りたい), 就く and 関する are parts of
# について and に関して: none of them says anything about the topic.
_STOP_TEXT = (
    "事 物 物事 方 様 為る 有る 居る 成る 出来る 下さる 呉れる 貰う 頂く 良い 言う 思う "
    "此れ 其れ 何 御 今 どう 教える 知る これ それ あれ どれ 私 僕 自分 よう 感じ ところ "
    "場合 時 際 前 後 就く 関する 対する"
)
# Fillers of spoken Japanese (やっぱり, さっき, ちょっと, 実は): they say how, not what, and an
# unknown word weighs heavily against the coverage signal.
_FILLER_TEXT = (
    "矢張り さっき 先程 先刻 ちょっと 一寸 少し すみません 済みません 実は 本当 本当に とても "
    "凄い 凄く 全然 結構 多分 早速 何か なんか 一応 取り敢えず とりあえず 色々 いろいろ 是非 "
    "今日 昨日 先日 先週 この間 今回 前回 ずっと 既に もう 又 また 一度 以前"
)
_STOP_LEMMAS = frozenset(_STOP_TEXT.split()) | frozenset(_FILLER_TEXT.split())
_CONTENT_POS = frozenset(("名詞", "動詞", "形容詞", "形状詞", "副詞", "代名詞", "接尾辞"))
_NEGATIONS = frozenset(("ない", "ず", "ぬ", "無い"))

# How much each kind of feature counts; set by leave-one-out over FAQ variants (bench/faq.py).
WEIGHT_LEMMA = 1.0
WEIGHT_PAIR = 0.6
WEIGHT_SYNONYM = 0.8
WEIGHT_CHAR = 0.35
WEIGHT_STEM = 0.5
PAIR_WINDOW = 2
_NOISE_RE = re.compile(r"[ぁ-ゖ]|[a-z]|[0-9.,]+[a-z]*")
_HIRAGANA_RE = re.compile(r"[ぁ-ゖ]+")
_KANJI_STEM_RE = re.compile(r"[\u4e00-\u9fff]+(?=[ぁ-ゖ])")


@dataclass(frozen=True)
class _Lemma:
    text: str
    groups: tuple[int, ...]
    is_verb: bool
    index: int  # position of its token in the text, for pairing with concepts


@cache
def _sudachi_dictionary() -> object:
    from sudachipy import Dictionary

    return Dictionary(dict="core")


# --------------------------------------------------------------------------- concept thesaurus

THESAURUS_PATH = Path(__file__).resolve().parents[2] / "data" / "ec_thesaurus.yaml"
WEIGHT_CONCEPT = 1.4
WEIGHT_CONCEPT_PAIR = 1.0
CONCEPT_WORD_SHARE = 0.5
CONCEPT_WINDOW = 5  # tokens between two concepts that are read as one phrase (注文を…やめる)
PHRASE_GAP = 3  # tokens allowed between the parts of a multi-word thesaurus entry
# Tokens a multi-word entry does without: grammar, and verbs that only carry it (している, しない).
_PHRASE_SKIP_POS = frozenset(("助詞", "助動詞", "補助記号", "空白"))
_PHRASE_SKIP_LEMMAS = frozenset(("居る", "為る", "有る", "て", "てる"))


class ThesaurusError(ValueError):
    """A thesaurus file that does not have the documented shape."""


def load_thesaurus(*paths: Path) -> dict[str, tuple[str, ...]]:
    """Concept groups from thesaurus files (default: the shipped one); same ids are merged."""
    import yaml

    merged: dict[str, list[str]] = {}
    for path in paths or (THESAURUS_PATH,):
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        concepts = data.get("concepts") if isinstance(data, dict) else None
        if not isinstance(concepts, dict):
            raise ThesaurusError(f"{path}: expected a mapping under 'concepts'")
        for concept, words in concepts.items():
            if not isinstance(words, list) or not all(isinstance(w, str | int) for w in words):
                raise ThesaurusError(f"{path}: concept {concept!r} must be a list of words")
            bucket = merged.setdefault(str(concept), [])
            bucket.extend(str(w) for w in words if str(w) not in bucket)
    return {concept: tuple(words) for concept, words in merged.items()}


def _token_keys(morpheme: object) -> frozenset[str]:
    """The forms a token is looked up by: normalised and dictionary form, kana folded."""
    pos = morpheme.part_of_speech()  # type: ignore[attr-defined]
    norm = morpheme.normalized_form()  # type: ignore[attr-defined]
    if pos[0] == "助動詞" and norm in _NEGATIONS:
        return frozenset(("ない",))
    return frozenset((fold_kana(norm), fold_kana(morpheme.dictionary_form())))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _CompiledThesaurus:
    words: dict[str, tuple[str, ...]]
    # First token key -> (keys of the remaining tokens, concept) for multi-word entries.
    phrases: dict[str, tuple[tuple[tuple[frozenset[str], ...], str], ...]]


def _compile_thesaurus(groups: dict[str, tuple[str, ...]], tokenizer: object) -> _CompiledThesaurus:
    words: dict[str, set[str]] = defaultdict(set)
    phrases: dict[str, list[tuple[tuple[frozenset[str], ...], str]]] = defaultdict(list)
    for concept, entries in groups.items():
        for word in entries:
            tokens = list(tokenizer.tokenize(normalize_text(word)))  # type: ignore[attr-defined]
            kept = [
                m
                for m in tokens
                if "ない" in _token_keys(m)
                or (
                    m.part_of_speech()[0] not in _PHRASE_SKIP_POS
                    and m.normalized_form() not in _PHRASE_SKIP_LEMMAS
                )
            ]
            if len(kept) < 2 and len(tokens) > len(kept):
                # いつまで, どのくらい: the particle is the meaning, so keep every token.
                kept = [m for m in tokens if m.part_of_speech()[0] not in ("補助記号", "空白")]
            if len(kept) == 1:
                for key in _token_keys(kept[0]):
                    words[key].add(concept)
            elif kept:
                keys = [_token_keys(m) for m in kept]
                for first in keys[0]:
                    phrases[first].append((tuple(keys[1:]), concept))
    return _CompiledThesaurus(
        {k: tuple(sorted(v)) for k, v in words.items()},
        {k: tuple(v) for k, v in phrases.items()},
    )


class Analyzer:
    """Turns a text into weighted features: lemmas, concepts, pairs, synonym groups, bigrams."""

    def __init__(self, concepts: dict[str, tuple[str, ...]] | None = None) -> None:
        # None: the shipped thesaurus; {} turns concepts off.
        self._groups = load_thesaurus() if concepts is None else dict(concepts)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._thesaurus: _CompiledThesaurus | None = None

    def _tokenizer(self) -> object:
        # Sudachi tokenizers are not safe to share between threads; the dictionary is.
        tok = getattr(self._local, "tokenizer", None)
        if tok is None:
            from sudachipy import SplitMode

            tok = _sudachi_dictionary().tokenizer(mode=SplitMode.C)  # type: ignore[attr-defined]
            self._local.tokenizer = tok
        return tok

    def thesaurus(self) -> _CompiledThesaurus:
        """The concept groups compiled into token keys (once, on first use)."""
        if self._thesaurus is None:
            with self._lock:
                if self._thesaurus is None:
                    self._thesaurus = _compile_thesaurus(self._groups, self._tokenizer())
        return self._thesaurus

    def analyze(self, text: str) -> tuple[list[_Lemma], list[tuple[int, str]]]:
        """Content words (normalised forms, synonym groups) and (token index, concept) hits."""
        from sudachipy import SplitMode

        thesaurus = self.thesaurus()
        out: list[_Lemma] = []
        stream: list[frozenset[str]] = []
        hits: list[tuple[int, str]] = []
        for i, m in enumerate(self._tokenizer().tokenize(text)):  # type: ignore[attr-defined]
            keys = _token_keys(m)
            stream.append(keys)
            for key in keys:
                hits.extend((i, c) for c in thesaurus.words.get(key, ()))
            pos = m.part_of_speech()
            lemma = m.normalized_form()
            parts = m.split(SplitMode.A)
            if len(parts) > 1:
                for p in parts:
                    for key in _token_keys(p) - keys:
                        hits.extend((i, c) for c in thesaurus.words.get(key, ()))
            if lemma in _NEGATIONS and pos[0] == "助動詞" and out:
                out.append(_Lemma(out[-1].text + "~否", (), False, i))
                continue
            if pos[0] not in _CONTENT_POS or pos[1] in ("非自立可能", "数詞"):
                continue
            if lemma in _STOP_LEMMAS or _NOISE_RE.fullmatch(lemma):
                continue
            out.append(_Lemma(lemma, tuple(m.synonym_group_ids()), pos[0] == "動詞", i))
            if lemma[0] == "御" and len(lemma) > 1:
                # お店 is 御店 in the dictionary; the bare noun is what other texts say.
                out.append(_Lemma(lemma[1:], (), False, i))
            if len(parts) > 1:
                for p in parts:
                    if p.part_of_speech()[0] in _CONTENT_POS and p.normalized_form() != lemma:
                        out.append(
                            _Lemma(p.normalized_form(), tuple(p.synonym_group_ids()), False, i)
                        )
        hits.extend(_phrase_hits(stream, thesaurus))
        return out, sorted(set(hits))

    def lemmas(self, text: str) -> list[_Lemma]:
        """Content words as Sudachi normalised forms with their synonym groups."""
        return self.analyze(text)[0]

    def features(self, text: str, *, head_boost: float = 1.0) -> dict[str, float]:
        """Weighted features of one text (already passed through analysis_text)."""
        return self.features_with_links(text, head_boost=head_boost)[0]

    def features_with_links(
        self, text: str, *, head_boost: float = 1.0
    ) -> tuple[dict[str, float], dict[str, frozenset[str]]]:
        """Features, and for each word feature the concept features found at the same token."""
        feats: dict[str, float] = {}
        lemmas, hits = self.analyze(text)
        # Japanese is head-final: the last content word is usually what the shopper wants done.
        head = next((lm.text for lm in reversed(lemmas) if not lm.text.endswith("~否")), None)
        in_concept = {i for i, _ in hits}
        for lm in lemmas:
            # A word the thesaurus covers shares its weight with its concept: which of the
            # concept's words the shopper picked (やめる or キャンセル) matters less.
            share = CONCEPT_WORD_SHARE if lm.index in in_concept else 1.0
            feats["w:" + lm.text] = WEIGHT_LEMMA * share * (head_boost if lm.text == head else 1.0)
            for g in lm.groups:
                feats.setdefault(f"s:{g}", WEIGHT_SYNONYM)
            if lm.is_verb:
                # Transitive/intransitive pairs share the kanji stem: 届く/届ける, 変わる/変える.
                stem = _KANJI_STEM_RE.match(lm.text)
                if stem:
                    feats.setdefault("v:" + stem.group(), WEIGHT_STEM)
        # Two concepts close together, in either order (サイズを変更 / 変えたいサイズ).
        concepts = [str(lm.groups[0]) if lm.groups else lm.text for lm in lemmas]
        for i, a in enumerate(concepts):
            for b in concepts[i + 1 : i + 1 + PAIR_WINDOW]:
                if a != b:
                    feats["p:" + "|".join(sorted((a, b)))] = WEIGHT_PAIR
        # Thesaurus concepts, and concepts near each other: the thing being cancelled matters
        # (注文をやめる vs 会員をやめる), and in Japanese it sits a few tokens before the verb.
        for _, c in hits:
            feats.setdefault("k:" + c, WEIGHT_CONCEPT)
        for n, (i, a) in enumerate(hits):
            for j, b in hits[n + 1 :]:
                if j - i > CONCEPT_WINDOW:
                    break
                if j > i and a != b:
                    feats["q:" + "|".join(sorted((a, b)))] = WEIGHT_CONCEPT_PAIR
        chars = strip_polite(text).replace(" ", "")
        for i in range(len(chars) - 1):
            bigram = chars[i : i + 2]
            # Bigrams of hiragana alone are grammar (について, ですか), not topic.
            if not _HIRAGANA_RE.fullmatch(bigram):
                feats.setdefault("c:" + fold_kana(bigram), WEIGHT_CHAR)
        at_token: dict[int, set[str]] = defaultdict(set)
        for i, c in hits:
            at_token[i].add("k:" + c)
        links = {"w:" + lm.text: frozenset(at_token.get(lm.index, ())) for lm in lemmas}
        return feats, links


def _phrase_hits(
    stream: list[frozenset[str]], thesaurus: _CompiledThesaurus
) -> list[tuple[int, str]]:
    """Multi-word entries found in order, a few tokens apart; the hit sits on the last token."""
    hits: list[tuple[int, str]] = []
    for start, keys in enumerate(stream):
        for key in keys:
            for rest, concept in thesaurus.phrases.get(key, ()):
                at = start
                for part in rest:
                    nxt = next(
                        (
                            j
                            for j in range(at + 1, min(len(stream), at + 2 + PHRASE_GAP))
                            if stream[j] & part
                        ),
                        None,
                    )
                    if nxt is None:
                        break
                    at = nxt
                else:
                    hits.append((at, concept))
    return hits


@cache
def default_analyzer() -> Analyzer:
    """The process-wide analyzer (the Sudachi dictionary is loaded once)."""
    return Analyzer()


# --------------------------------------------------------------------------- results


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


@dataclass(frozen=True)
class Calibration:
    """Logistic model from raw match signals to confidence, and the two decision thresholds."""

    bias: float
    w_top: float
    w_margin: float
    w_coverage: float
    w_keyword: float
    answer_at: float
    suggest_at: float

    def confidence(self, signals: tuple[float, float, float, float]) -> float:
        """Probability that the top entry is the right one."""
        top, margin, coverage, keyword = signals
        z = (
            self.bias
            + self.w_top * top
            + self.w_margin * margin
            + self.w_coverage * coverage
            + self.w_keyword * keyword
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# Printed by `python bench/faq.py --calibrate`: fitted on leave-one-out over the variants of the
# shared FAQ and data/faq_sample.yaml, against GENERIC_OFF_TOPIC; see docs/faq-matching.md.
DEFAULT_CALIBRATION = Calibration(
    bias=-3.7966,
    w_top=4.6625,
    w_margin=1.4605,
    w_coverage=3.2194,
    w_keyword=2.5475,
    answer_at=0.5051,
    suggest_at=0.1429,
)

# --------------------------------------------------------------------------- matcher


@dataclass(frozen=True)
class _Doc:
    entry: int
    norm: float
    kind: int  # _TEXT, _UNION or _ANSWER


_TEXT, _UNION, _ANSWER = 0, 1, 2
# How the per-entry similarities add up; set by leave-one-out (bench/faq.py --tune).
SCORE_BEST_TEXT = 0.3
SCORE_UNION = 0.55
SCORE_ANSWER = 0.15
SCORE_KEYWORD = 0.15
HEAD_BOOST = 1.5
TIE_RATIO = 0.85
COMMON_MIN_ENTRIES = 40
COMMON_SHARE = 0.04


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
    max_candidates: int = 3

    @classmethod
    def build(
        cls,
        entries: Sequence[FaqEntry],
        *,
        analyzer: Analyzer | None = None,
        calibration: Calibration | None = None,
    ) -> FaqMatcher:
        """Index the entries' questions, variants and keywords."""
        analyzer = analyzer or default_analyzer()
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
        common = max(COMMON_MIN_ENTRIES, COMMON_SHARE * n)
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
        return cls(
            entries=tuple(entries),
            analyzer=analyzer,
            calibration=calibration or DEFAULT_CALIBRATION,
            _docs=docs,
            _postings=dict(postings),
            _idf=idf,
            _unseen_idf=unseen_idf,
            _keywords=keywords,
            _entry_features=[frozenset(texts[-2]) for texts in per_entry_texts],
        )

    def rank(self, text: str) -> tuple[list[tuple[int, float]], tuple[float, float, float, float]]:
        """Entries by raw score, best first, and the signals the confidence is computed from."""
        query = normalize_query(text)
        feats, links = self.analyzer.features_with_links(analysis_text(text), head_boost=HEAD_BOOST)
        if not feats or not self._docs:
            return [], (0.0, 0.0, 0.0, 0.0)
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
                (w for k, w in self._keywords[entry_index] if k in folded), default=0.0
            )
            score = (
                SCORE_BEST_TEXT * best_text[entry_index]
                + SCORE_UNION * union_score[entry_index]
                + SCORE_ANSWER * answer_score[entry_index]
                + SCORE_KEYWORD * kw_hit[entry_index]
            )
            scored.append((entry_index, score))
        scored.sort(key=lambda p: -p[1])
        if not scored:
            return [], (0.0, 0.0, 0.0, 0.0)
        top_index, top = scored[0]
        second = scored[1][1] if len(scored) > 1 else 0.0
        # Share of the query's word weight that the top entry knows: low for off-topic chat.
        top_union = self._entry_features[top_index]
        word_total = sum(v for n, v in q_vec.items() if n.startswith("w:")) or 1.0
        # A word counts as known through its thesaurus concept too (アメリカ -> overseas).
        word_known = sum(
            v
            for n, v in q_vec.items()
            if n.startswith("w:") and (n in top_union or links.get(n, frozenset()) & top_union)
        )
        coverage = word_known / word_total
        return scored, (top, top - second, coverage, kw_hit[top_index])

    def ask(self, text: str) -> MatchResult:
        """Decide whether to answer, suggest, hand over to a person, or admit no match."""
        if is_human_request(text):
            return MatchResult("human", None, 1.0, [], "human")
        scored, signals = self.rank(text)
        if not scored:
            return MatchResult("none", None, 0.0, [], "none")
        cal = self.calibration
        confidence = cal.confidence(signals)
        top = scored[0][1] or 1.0
        candidates = [
            Candidate(self.entries[i].id, round(confidence * s / top, 4))
            for i, s in scored[: self.max_candidates]
        ]
        # Two entries nearly tied (荷物 → tracking or not received?): let the shopper choose.
        tied = len(scored) > 1 and scored[1][1] >= TIE_RATIO * scored[0][1]
        if confidence >= cal.answer_at and not tied:
            return MatchResult("faq", candidates[0].faq_id, confidence, candidates, "answer")
        if confidence >= cal.suggest_at:
            return MatchResult("faq", None, confidence, candidates, "suggest")
        return MatchResult("none", None, confidence, candidates, "none")


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvalReport:
    """Accuracy per kind of expected result (faq, human, none) and the misses."""

    totals: dict[str, int]
    correct: dict[str, int]
    misses: list[tuple[str, str, str]]

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
    for query, expected in rows:
        result = matcher.ask(query)
        kind = expected.lower() if expected in ("HUMAN", "NONE") else "faq"
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
    return EvalReport(dict(totals), dict(correct), misses)


# --------------------------------------------------------------------------- calibration

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


Sample = tuple[tuple[float, float, float, float], int, bool]


def calibration_samples(
    entries: Sequence[FaqEntry],
    off_topic: Sequence[str] = GENERIC_OFF_TOPIC + NEAR_DOMAIN_OFF_TOPIC,
) -> list[Sample]:
    """(signals, top is right, is off-topic) for each variant left out and each off-topic text."""
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
            matcher = FaqMatcher.build([*entries[:i], reduced, *entries[i + 1 :]])
            scored, signals = matcher.rank(text)
            right = bool(scored) and matcher.entries[scored[0][0]].id == entry.id
            samples.append((signals, int(right), False))
    matcher = FaqMatcher.build(entries)
    for text in off_topic:
        samples.append((matcher.rank(text)[1], 0, True))
    return samples


def fit_calibration(
    samples: Sequence[Sample],
    *,
    answer_precision: float = 0.9,
    off_topic_suggest_rate: float = 0.1,
) -> Calibration:
    """Fit the logistic confidence and pick thresholds from labelled signals."""
    weights = [0.0] * 5
    rate = 0.5
    for _ in range(4000):
        grad = [0.0] * 5
        for signals, label, _ in samples:
            x = (1.0, *signals)
            z = sum(w * v for w, v in zip(weights, x, strict=True))
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            for k in range(5):
                grad[k] += (p - label) * x[k]
        # A little L2 keeps the weights finite when the classes separate cleanly.
        weights = [
            w - rate * (g / len(samples) + 0.001 * w) for w, g in zip(weights, grad, strict=True)
        ]
    cal = Calibration(*weights, answer_at=0.5, suggest_at=0.5)
    scored = sorted(((cal.confidence(s), label) for s, label, _ in samples), reverse=True)
    # Answer threshold: the lowest confidence at which answers above it are still precise enough.
    answer_at, right = 0.99, 0
    for n, (conf, label) in enumerate(scored, start=1):
        right += label
        if right / n >= answer_precision:
            answer_at = conf
    # Suggest threshold: let through only a small share of off-topic messages.
    chat = sorted((cal.confidence(s) for s, _, off in samples if off), reverse=True)
    cut = chat[int(len(chat) * off_topic_suggest_rate)] if chat else 0.0
    suggest_at = min(answer_at, max(0.05, cut + 1e-4))
    return Calibration(*weights, answer_at=answer_at, suggest_at=suggest_at)
