"""Turning a text into weighted features: Sudachi's content words and the EC concept thesaurus."""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from bot.faq.normalize import fold_kana, normalize_text, strip_polite

# Verbs and adjectives that carry no topic (する, ある, できる, ...) are tagged 非自立可能 by the
# dictionary; these few common words carry none either.
# 教える and 知る frame a question (〜を教えて, 〜を知りたい), 就く and 関する are parts of
# について and に関して; 方法, やり方 and 仕方 ask "how" of whatever comes before them
# (確認する方法): none of them says anything about the topic.
_STOP_TEXT = (
    "事 物 物事 方 様 為る 有る 居る 成る 出来る 下さる 呉れる 貰う 頂く 良い 言う 思う "
    "此れ 其れ 何 御 今 どう 教える 知る これ それ あれ どれ 私 僕 自分 よう 感じ ところ "
    "場合 時 際 前 後 就く 関する 対する 方法 遣り方 仕方 分かる 願う"
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
_TOPIC_PARTICLES = frozenset(("は", "が", "を", "も", "って"))
# What a helper verb follows (取っておく, 走り抜ける): a verb, an auxiliary, an adjective, or て.
_HELPED = frozenset(("動詞", "助動詞", "形容詞"))

# How much each kind of feature counts; set by leave-one-out over FAQ variants (bench/faq.py).
WEIGHT_LEMMA = 1.0
WEIGHT_PAIR = 0.6
WEIGHT_SYNONYM = 0.8
WEIGHT_CHAR = 0.35
WEIGHT_STEM = 0.5
PAIR_WINDOW = 3
_NOISE_RE = re.compile(r"[ぁ-ゖ]|[a-z]|[0-9.,]+[a-z]*")
_HIRAGANA_RE = re.compile(r"[ぁ-ゖ]+")
_KANJI_STEM_RE = re.compile(r"[\u4e00-\u9fff]+(?=[ぁ-ゖ])")


@dataclass(frozen=True)
class _Lemma:
    text: str
    groups: tuple[int, ...]
    is_verb: bool
    index: int  # position of its token in the text, for pairing with concepts
    part: bool = False  # a part of a compound (何 and 日 of 何日), not a word of the sentence
    topic: bool = False  # marked by は, が, を, も or って: what the sentence is about


@cache
def _sudachi_dictionary() -> object:
    from sudachipy import Dictionary

    return Dictionary(dict="core")


# -- the concept thesaurus ---------------------------------------------------------------

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
    # Two concepts read together as one phrase -> the concept whose own word they make up
    # (配送料金 is dispatch + price: 配送にかかる費用 is the shipping cost).
    composed: dict[frozenset[str], tuple[str, ...]]


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
    composed: dict[frozenset[str], set[str]] = defaultdict(set)
    for concept, entries in groups.items():
        for word in entries:
            parts = _word_concepts(word, words, tokenizer)
            parts = [p - {concept} for p in parts]
            parts = [p for p in parts if p]
            if len(parts) == 2:
                for a in parts[0]:
                    for b in parts[1] - {a}:
                        composed[frozenset((a, b))].add(concept)
    return _CompiledThesaurus(
        {k: tuple(sorted(v)) for k, v in words.items()},
        {k: tuple(v) for k, v in phrases.items()},
        {k: tuple(sorted(v)) for k, v in composed.items()},
    )


def _word_concepts(word: str, words: dict[str, set[str]], tokenizer: object) -> list[set[str]]:
    """The concepts of a thesaurus word's smallest parts (配送料金: {dispatch}, {price})."""
    from sudachipy import SplitMode

    found: list[set[str]] = []
    for m in tokenizer.tokenize(normalize_text(word)):  # type: ignore[attr-defined]
        if "ない" in _token_keys(m):
            return []  # 送ってこない is not dispatch + arrival: the negation is the meaning
        parts = m.split(SplitMode.A)
        for unit in parts if len(parts) > 1 else (m,):
            concepts: set[str] = set()
            for key in _token_keys(unit):
                concepts |= words.get(key, set())
            if concepts:
                found.append(concepts)
            elif unit.part_of_speech()[0] in ("名詞", "動詞", "形容詞", "形状詞", "副詞"):
                return []  # 毎月送られてくる: a part of its own meaning that no concept has
    return found


class Analyzer:
    """Turns a text into weighted features: lemmas, concepts, pairs, synonym groups, bigrams."""

    def __init__(self, concepts: dict[str, tuple[str, ...]] | None = None) -> None:
        # None: the shipped thesaurus; {} turns concepts off.
        self._groups = load_thesaurus() if concepts is None else dict(concepts)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._thesaurus: _CompiledThesaurus | None = None

    def tokenizer(self) -> object:
        """This thread's Sudachi tokenizer (mode C)."""
        return self._tokenizer()

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
        previous: tuple[str, ...] = ("", "")  # the part of speech of the token before
        for i, m in enumerate(self._tokenizer().tokenize(text)):  # type: ignore[attr-defined]
            keys = _token_keys(m)
            stream.append(keys)
            pos = m.part_of_speech()
            helper_position = previous[0] in _HELPED or previous[:2] == ("助詞", "接続助詞")
            previous = pos
            # Grammar is no concept's word: the wish ending たい is not タイ (Thailand).
            if pos[0] not in _PHRASE_SKIP_POS:
                for key in keys:
                    hits.extend((i, c) for c in thesaurus.words.get(key, ()))
            lemma = m.normalized_form()
            parts = m.split(SplitMode.A)
            if len(parts) > 1:
                for p in parts:
                    for key in _token_keys(p) - keys:
                        hits.extend((i, c) for c in thesaurus.words.get(key, ()))
            if pos[0] == "助詞" and m.surface() in _TOPIC_PARTICLES:
                for k in range(len(out) - 1, -1, -1):
                    if out[k].index != i - 1:
                        break
                    if not out[k].part:
                        out[k] = replace(out[k], topic=True)
            # しなきゃ, しなければ: the conditional of ない says "must", not "not".
            if (
                lemma in _NEGATIONS
                and pos[0] == "助動詞"
                and out
                and not pos[5].startswith("仮定形")
            ):
                out.append(_Lemma(out[-1].text + "~否", (), False, i))
                continue
            if pos[0] not in _CONTENT_POS or pos[1] == "数詞":
                continue
            # 非自立可能: a verb that can be a helper (取っておく, 走り抜ける) is one only right
            # after a verb or て; after a particle it is a word of its own (メンバーを抜ける).
            if pos[1] == "非自立可能" and (pos[0] != "動詞" or helper_position):
                continue
            if lemma in _STOP_LEMMAS or _NOISE_RE.fullmatch(lemma):
                continue
            out.append(_Lemma(lemma, tuple(m.synonym_group_ids()), pos[0] == "動詞", i))
            if lemma[0] == "御" and len(lemma) > 1:
                # お店 is 御店 in the dictionary; the bare noun is what other texts say.
                out.append(_Lemma(lemma[1:], (), False, i, part=True))
            if len(parts) > 1:
                for p in parts:
                    if p.part_of_speech()[0] in _CONTENT_POS and p.normalized_form() != lemma:
                        out.append(
                            _Lemma(
                                p.normalized_form(),
                                tuple(p.synonym_group_ids()),
                                False,
                                i,
                                part=True,
                            )
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
        self,
        text: str,
        *,
        head_boost: float = 1.0,
        topics: set[str] | None = None,
    ) -> tuple[dict[str, float], dict[str, frozenset[str]]]:
        """Features, and for each word feature the concept features found at the same token.

        topics: if given, receives the word features marked as the topic or subject (〜が, 〜は).
        """
        feats: dict[str, float] = {}
        lemmas, hits = self.analyze(text)
        if topics is not None:
            topics.update("w:" + lm.text for lm in lemmas if lm.topic)
        # Japanese is head-final: the last content word is usually what the shopper wants done.
        head = next((lm.text for lm in reversed(lemmas) if not lm.text.endswith("~否")), None)
        in_concept = {i for i, _ in hits}
        for lm in lemmas:
            # A word the thesaurus covers shares its weight with its concept: which of the
            # concept's words the shopper picked (やめる or キャンセル) matters less.
            share = CONCEPT_WORD_SHARE if lm.index in in_concept else 1.0
            weight = WEIGHT_LEMMA * share * (head_boost if lm.text == head else 1.0)
            if weight > feats.get("w:" + lm.text, 0.0):
                feats["w:" + lm.text] = weight
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
            for k in range(i + 1, min(len(lemmas), i + 1 + PAIR_WINDOW)):
                b = concepts[k]
                # A compound and its own parts (何日, 何, 日) are one word, not a pair.
                if a != b and lemmas[k].index != lemmas[i].index:
                    feats["p:" + "|".join(sorted((a, b)))] = WEIGHT_PAIR
        # Thesaurus concepts, and concepts near each other: the thing being cancelled matters
        # (注文をやめる vs 会員をやめる), and in Japanese it sits a few tokens before the verb.
        for _, c in hits:
            feats.setdefault("k:" + c, WEIGHT_CONCEPT)
        # 到着しない meets 届きません: a negated word's concepts are negated too.
        negated = {
            lemmas[k - 1].index for k, lm in enumerate(lemmas) if k and lm.text.endswith("~否")
        }
        for i, c in hits:
            if i in negated:
                feats.setdefault("k:" + c + "~否", WEIGHT_CONCEPT)
        composed = self.thesaurus().composed
        for n, (i, a) in enumerate(hits):
            for j, b in hits[n + 1 :]:
                if j - i > CONCEPT_WINDOW:
                    break
                if j > i and a != b:
                    feats["q:" + "|".join(sorted((a, b)))] = WEIGHT_CONCEPT_PAIR
                    for c in composed.get(frozenset((a, b)), ()):
                        feats.setdefault("k:" + c, WEIGHT_CONCEPT)
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
