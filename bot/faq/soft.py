"""Soft matching: a query word the FAQ never uses counts, in part, as the FAQ's nearest words.

For every content word of the query, the entries' own words whose vectors are closest (cosine at
least `SOFT_MIN`) are added to the query as extra word features, weighted by the similarity. The
sparse cosine of the matcher then works as a soft cosine: 費用 meets 料金, 現在地 meets 追跡,
without a thesaurus line for either. The calibration is fitted with the expansion on.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.faq.vectors import WordVectors

SOFT_MIN = 0.4  # below this, neighbours are related words rather than the same meaning
SOFT_TOP = 1  # nearest FAQ word taken per query word
SOFT_WEIGHT = 0.5  # a neighbour counts this much of the word it stands for, times the cosine


class SoftIndex:
    """Vectors of the FAQ's own words, for finding the nearest ones to a query word."""

    def __init__(self, words: Iterable[str], vectors: WordVectors) -> None:
        import numpy as np

        self.vectors = vectors
        names, rows = [], []
        for word in sorted(set(words)):
            row = vectors.row(word)
            if row is not None:
                names.append(word)
                rows.append(row)
        self.words = names
        self._known = frozenset(names)
        self._matrix = vectors.matrix[np.asarray(rows, dtype=np.int64)] if rows else None

    def neighbours(self, word: str) -> list[tuple[str, float]]:
        """The FAQ words nearest to `word` (not itself), best first, with their cosine."""
        if self._matrix is None:
            return []
        vec = self.vectors.vector(word)
        if vec is None:
            return []
        sims = self._matrix @ vec
        top = sims.argsort()[::-1][: SOFT_TOP + 1]
        return [
            (self.words[i], float(sims[i]))
            for i in top
            if sims[i] >= SOFT_MIN and self.words[i] != word
        ][:SOFT_TOP]
