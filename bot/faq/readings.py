"""Words the shopper wrote in kana that the FAQ writes in kanji (りょうしゅうしょ → 領収書).

Sudachi reads a long hiragana run as several short words (りょう・しゅう・しょ), so the content
word is lost. The FAQ's own words are indexed by their reading (katakana, from Sudachi), and a
kana run of the query that contains one of those readings brings the word back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.faq.normalize import fold_kana

MIN_READING = 3  # shorter readings (イツ, ドコ) occur inside too many unrelated kana runs
_GRAMMAR_POS = frozenset(("助詞", "助動詞", "補助記号", "空白"))
_KANA_RUN_RE = re.compile(r"[ぁ-ゖァ-ヺー]{3,}")


class ReadingIndex:
    """Readings of the FAQ's words, for finding them inside kana runs of a query."""

    def __init__(self, words: Iterable[str], tokenizer: object) -> None:
        by_reading: dict[str, str] = {}
        for word in sorted(set(words)):
            tokens = list(tokenizer.tokenize(word))  # type: ignore[attr-defined]
            reading = fold_kana("".join(t.reading_form() for t in tokens))
            if len(reading) >= MIN_READING and reading not in by_reading:
                by_reading[reading] = word
        self._words = by_reading
        self._lengths = sorted({len(r) for r in by_reading}, reverse=True)

    def __len__(self) -> int:
        return len(self._words)

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, word) for FAQ words whose reading is in a kana run; longest first."""
        found: list[tuple[int, int, str]] = []
        for match in _KANA_RUN_RE.finditer(text):
            kana = fold_kana(match.group())
            taken = [False] * len(kana)
            for length in self._lengths:
                for start in range(len(kana) - length + 1):
                    if any(taken[start : start + length]):
                        continue
                    word = self._words.get(kana[start : start + length])
                    if word is not None:
                        begin = match.start() + start
                        found.append((begin, begin + length, word))
                        taken[start : start + length] = [True] * length
        return sorted(found)

    def rewrite(self, text: str, tokenizer: object) -> str:
        """`text` with kana spellings of FAQ words written as the FAQ writes them.

        A span is rewritten only where it starts and ends at Sudachi's token boundaries and holds
        a content token: していますか has the reading of 指定 but is grammar throughout.
        """
        spans = self.find(text)
        if not spans:
            return text
        starts, ends, content = set(), set(), []
        for m in tokenizer.tokenize(text):  # type: ignore[attr-defined]
            starts.add(m.begin())
            ends.add(m.end())
            pos = m.part_of_speech()
            if pos[0] not in _GRAMMAR_POS and pos[1] not in ("非自立可能", "助動詞語幹"):
                content.append((m.begin(), m.end()))
        out, at = [], 0
        for start, end, word in spans:
            if start not in starts or end not in ends:
                continue
            if not any(b < end and start < e for b, e in content):
                continue
            out.append(text[at:start])
            out.append(word)
            at = end
        out.append(text[at:])
        return "".join(out)
