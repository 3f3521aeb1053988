"""Word meaning in the FAQ matcher: vectors read without spaCy, soft matching, kana spellings,
and the naive floor the evaluation compares against."""

from __future__ import annotations

import json

import pytest

from bot.faq.analyzer import default_analyzer
from bot.faq.calibration import BigramFloor, floor_right_first
from bot.faq.file_format import FaqEntry
from bot.faq.matcher import FaqMatcher
from bot.faq.readings import ReadingIndex
from bot.faq.soft import SOFT_MIN, EntryWords, SoftIndex
from bot.faq.vectors import (
    WordVectors,
    default_vectors,
    murmur64a,
    package_vocab_dir,
    read_key2row,
)


@pytest.fixture(scope="module")
def vectors() -> WordVectors:
    found = default_vectors()
    assert found is not None, "the word-vector package (ja-ginza) is a dependency"
    return found


def entry(faq_id: str, question: str, *variants: str, keywords: tuple[str, ...] = ()) -> FaqEntry:
    return FaqEntry(faq_id, question, tuple(variants), keywords, f"{question}への答え", None)


# -- reading the package's files -----------------------------------------------------------


def test_murmur_hash_finds_the_package_words(vectors: WordVectors) -> None:
    # The string table lists every key of the vectors (among other strings): if the hash were
    # wrong, none of them would be found in key2row.
    vocab = package_vocab_dir()
    strings = json.loads((vocab / "strings.json").read_text(encoding="utf-8"))
    words = [w for w in strings if len(w) >= 2 and all("\u4e00" <= c <= "\u9fff" for c in w)]
    found = sum(vectors.row(w) is not None for w in words[:2000])
    assert found > 1500
    assert murmur64a(b"abcdefgh") != murmur64a(b"abcdefgi")  # the 8-byte block is read
    assert murmur64a(b"abcdefghi") != murmur64a(b"abcdefghj")  # and the tail


def test_key2row_reads_every_integer_width() -> None:
    # fixmap of 4: keys and rows in positive fixint, uint8, uint16, uint32 and uint64.
    buf = bytes(
        [0x84, 0x01, 0x02]
        + [0xCC, 0xFF, 0xCD, 0x01, 0x00]
        + [0xCE, 0x00, 0x01, 0x00, 0x00, 0x05]
        + [0xCF, *(0xFFFFFFFFFFFFFFFF).to_bytes(8, "big"), 0x7F]
    )
    keys, rows = read_key2row(buf)
    assert keys == [1, 255, 65536, 2**64 - 1]
    assert rows == [2, 256, 5, 127]
    with pytest.raises(ValueError):
        read_key2row(b"\x01")


def test_vectors_cover_the_package_vocabulary(vectors: WordVectors) -> None:
    assert len(vectors) > 400_000
    assert vectors.row("送料") is not None
    assert vectors.row("ぁぁぁ存在しない語ぁぁぁ") is None
    assert vectors.similarity("送料", "ぁぁぁ存在しない語ぁぁぁ") is None
    assert vectors.similarity("送料", "送料") == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("費用", "料金"),
        ("届く", "到着"),
        ("壊れる", "破損"),
        ("国外", "海外"),
        ("領収書", "レシート"),
        ("包装", "ラッピング"),
        ("問い合わせ", "窓口"),
    ],
)
def test_paraphrase_words_are_near(vectors: WordVectors, a: str, b: str) -> None:
    assert vectors.similarity(a, b) >= SOFT_MIN


@pytest.mark.parametrize(
    ("a", "b"), [("送料", "天気"), ("費用", "猫"), ("届く", "映画"), ("パスワード", "ラーメン")]
)
def test_unrelated_words_are_far(vectors: WordVectors, a: str, b: str) -> None:
    assert vectors.similarity(a, b) < SOFT_MIN


# -- soft matching ---------------------------------------------------------------------------


def test_soft_index_finds_the_nearest_faq_word_but_not_the_word_itself(
    vectors: WordVectors,
) -> None:
    index = SoftIndex(["料金", "天気", "パスワード", "存在しない語ぁぁ"], vectors)
    assert "存在しない語ぁぁ" not in index.words  # no vector, not indexed
    assert [w for w, _ in index.neighbours("費用")] == ["料金"]
    assert index.neighbours("料金") == []  # itself does not count
    assert index.neighbours("ラーメン") == []  # nothing near enough
    assert index.neighbours_of(["費用", "ぁぁぁ"]) == {
        "費用": index.neighbours("費用"),
        "ぁぁぁ": [],
    }


PARAPHRASE_FAQ = [
    entry("fee", "送料の料金はいくら?", keywords=("送料",)),
    entry("arrival", "商品はいつ届く?"),
    entry("broken", "商品が破損していた"),
    entry("abroad", "海外に発送できますか?"),
    entry("password", "パスワードを忘れた"),
]


@pytest.mark.parametrize(
    ("text", "faq_id"),
    [
        ("費用を知りたい", "fee"),
        ("到着はいつ頃?", "arrival"),
        ("品物が壊れていた", "broken"),
        ("国外へも送れますか", "abroad"),
    ],
)
def test_paraphrases_meet_their_entry_through_word_meaning(
    vectors: WordVectors, text: str, faq_id: str
) -> None:
    soft = FaqMatcher.build(PARAPHRASE_FAQ, vectors=vectors)
    scored, _ = soft.rank(text)
    assert soft.entries[scored[0][0]].id == faq_id
    # Soft matching is what raised the right entry: without it the score is lower.
    plain = FaqMatcher.build(PARAPHRASE_FAQ, vectors=None)
    plain_scores = dict(plain.rank(text)[0])
    assert scored[0][1] > plain_scores.get(scored[0][0], 0.0)


@pytest.mark.parametrize("text", ["今日の天気はどう?", "好きな映画を教えて", "猫がかわいい"])
def test_unrelated_chat_gains_nothing_from_soft_matching(vectors: WordVectors, text: str) -> None:
    soft = FaqMatcher.build(PARAPHRASE_FAQ, vectors=vectors)
    plain = FaqMatcher.build(PARAPHRASE_FAQ, vectors=None)
    assert soft.rank(text)[0] == plain.rank(text)[0]
    assert soft.ask(text).outcome == "none"


def test_words_the_faq_uses_are_not_widened(vectors: WordVectors) -> None:
    # 料金 is the FAQ's own word: its meaning is matched exactly, not blurred to neighbours.
    soft = FaqMatcher.build(PARAPHRASE_FAQ, vectors=vectors)
    plain = FaqMatcher.build(PARAPHRASE_FAQ, vectors=None)
    assert soft.rank("料金")[0] == plain.rank("料金")[0]


def test_matcher_works_without_vectors() -> None:
    matcher = FaqMatcher.build(PARAPHRASE_FAQ, vectors=None)
    assert matcher.ask("パスワードを忘れてしまいました").faq_id == "password"


# -- kana spellings of the FAQ's words ------------------------------------------------------


@pytest.fixture(scope="module")
def readings() -> ReadingIndex:
    return ReadingIndex(
        ["領収書", "送料", "キャンセル", "指定", "内容"], default_analyzer().tokenizer()
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("りょうしゅうしょください", "領収書ください"),
        ("そうりょうはいくら", "送料はいくら"),
        ("きゃんせるしたいです", "キャンセルしたいです"),
        # Grammar that sounds like an FAQ word stays as it is (指定, 内容).
        ("対応していますか", "対応していますか"),
        ("届かないようにしたい", "届かないようにしたい"),
        ("送料はいくら", "送料はいくら"),
    ],
)
def test_kana_spellings_become_the_faq_word(readings: ReadingIndex, text: str, expected: str):
    assert readings.rewrite(text, default_analyzer().tokenizer()) == expected


def test_a_kana_query_is_answered() -> None:
    matcher = FaqMatcher.build(
        [entry("receipt", "領収書を発行できますか?", keywords=("領収書",)), *PARAPHRASE_FAQ]
    )
    assert matcher.ask("りょうしゅうしょほしい").candidates[0].faq_id == "receipt"


# -- the naive floor ----------------------------------------------------------------------------


def test_bigram_floor_ranks_by_shared_character_pairs() -> None:
    floor = BigramFloor(PARAPHRASE_FAQ)
    assert floor.top("パスワードを忘れました") == "password"
    assert floor.top("ぬぬぬ") is None  # no shared bigram
    rows = [("パスワード忘れた", "password"), ("品物が壊れた", "broken"), ("x", "NONE")]
    # The floor has no notion of meaning: 壊れる shares no character pair with 破損.
    assert floor_right_first(PARAPHRASE_FAQ, rows) == 1


# -- keywords that the shopper negates -----------------------------------------------------------


def test_a_negated_keyword_does_not_count_as_a_hit() -> None:
    matcher = FaqMatcher.build(
        [
            entry("restock", "売り切れの商品は再入荷しますか?", keywords=("売り切れ",)),
            entry("hold", "カートに入れた商品は確保されますか?"),
        ],
        vectors=None,
    )
    assert matcher.rank("売り切れの靴はまた入りますか")[1][3] == 1.0
    assert matcher.rank("カートに入れたら売り切れないですか")[1][3] == 0.0
    # Negated once, plain once: the plain mention counts.
    assert matcher.rank("売り切れないと思ったけど売り切れでした")[1][3] == 1.0


def test_keywords_that_are_negative_themselves_still_match() -> None:
    matcher = FaqMatcher.build(
        [entry("missing", "荷物が届きません", keywords=("届かない",))], vectors=None
    )
    assert matcher.rank("荷物が届かないです")[1][3] == 1.0


# -- the soft word-by-word similarity (a confidence signal) --------------------------------


def test_entry_words_similarity_is_a_weighted_mean_of_best_cosines(vectors: WordVectors) -> None:
    index = EntryWords([{"送料", "料金"}, {"天気", "散歩"}, set()], vectors)
    # A word of the entry itself counts 1; a word only near the entry's words counts its cosine.
    assert index.similarity([("送料", 1.0)], [0]) == pytest.approx([1.0])
    near = vectors.similarity("費用", "料金")
    got = index.similarity([("送料", 1.0), ("費用", 3.0)], [0, 1, 2])
    assert got[0] == pytest.approx((1.0 + 3.0 * near) / 4.0, abs=1e-5)
    assert got[0] > got[1] >= 0.0 and got[2] == 0.0
    # A word without a vector counts only when the entry has it.
    assert index.similarity([("ふがふがぴよ", 1.0)], [0]) == [0.0]
    assert index.similarity([], [0, 1]) == [0.0, 0.0]
