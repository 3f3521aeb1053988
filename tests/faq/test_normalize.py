"""Normalisation of shoppers' Japanese before matching."""

from __future__ import annotations

import pytest

from bot.faq.normalize import fold_kana, normalize_query, normalize_text, strip_polite


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＰａｙＰａｙは使える？", "paypayは使える"),  # full-width latin and ? to ASCII, dropped
        ("ｸｰﾎﾟﾝｺｰﾄﾞ", "クーポンコード"),  # half-width katakana
        ("スニーカ〜〜", "スニーカー"),  # a wave dash after katakana is a long vowel mark
        ("セールーーー!!", "セールー"),
        ("送料は？😊🙏", "送料は"),  # emoji and punctuation go
        ("返品 　 したい", "返品 したい"),  # any run of spaces becomes one
        ("「注文履歴」から", "注文履歴 から"),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_fold_kana_makes_hiragana_katakana() -> None:
    assert fold_kana("きゃんせる") == "キャンセル"
    assert fold_kana("ぽいんと、ポイント") == "ポイント、ポイント"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("送料はいくらですか", "送料はいくら"),
        ("ギフト包装できますか", "ギフト包装でき"),
        ("届くのはいつでしょうか", "届くのはいつ"),
        ("住所を教えてください", "住所を教えて"),
        ("返品したいです", "返品"),
        ("ラッピングしてほしいんですが", "ラッピングして"),
        ("送料って無料になる?", "送料は無料になる"),
        ("ポイントって", "ポイントは"),
    ],
)
def test_strip_polite(raw: str, expected: str) -> None:
    assert strip_polite(normalize_text(raw)) == expected


def test_tte_after_a_verb_is_kept() -> None:
    # 送って is a verb's te-form, not the topic particle.
    assert normalize_query("海外に送ってもらえますか") == "海外に送ってもらえ"


def test_polite_and_plain_forms_normalise_alike() -> None:
    assert normalize_query("領収書を発行してほしいです") == normalize_query(
        "領収書を発行して欲しい"
    )
