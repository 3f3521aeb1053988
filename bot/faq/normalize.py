"""Normalising a shopper's Japanese text: width, case, long vowels, punctuation, polite endings."""

from __future__ import annotations

import re
import unicodedata

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
