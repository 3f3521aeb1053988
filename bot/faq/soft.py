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


CACHE_SIZE = 50_000  # words remembered per index; shoppers repeat their words a lot


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
        self._position = {w: i for i, w in enumerate(names)}
        # Stored as columns: one product of (query words x 300) by (300 x FAQ words).
        self._columns = (
            np.ascontiguousarray(vectors.matrix[np.asarray(rows, dtype=np.int64)].T)
            if rows
            else None
        )
        self._cache: dict[str, list[tuple[str, float]]] = {}

    def neighbours(self, word: str) -> list[tuple[str, float]]:
        """The FAQ words nearest to `word` (not itself), best first, with their cosine."""
        return self.neighbours_of([word])[word]

    def neighbours_of(self, words: list[str]) -> dict[str, list[tuple[str, float]]]:
        """Nearest FAQ words for each of `words`, the new ones in one product of matrices."""
        import numpy as np

        found = {w: self._cache[w] for w in words if w in self._cache}
        todo = [(w, self.vectors.row(w)) for w in dict.fromkeys(words) if w not in found]
        for w, row in todo:
            if row is None or self._columns is None:
                found[w] = []
        todo = [(w, r) for w, r in todo if r is not None and w not in found]
        if todo:
            query = self.vectors.matrix[np.asarray([r for _, r in todo], dtype=np.int64)]
            sims = query @ self._columns
            for n, (word, _) in enumerate(todo):
                own = self._position.get(word)
                if own is not None:
                    sims[n, own] = -1.0
            near: list[list[tuple[str, float]]] = [[] for _ in todo]
            for _ in range(min(SOFT_TOP, sims.shape[1])):
                best = sims.argmax(axis=1)
                for n, col in enumerate(best):
                    if sims[n, col] >= SOFT_MIN:
                        near[n].append((self.words[col], float(sims[n, col])))
                    sims[n, col] = -1.0
            for (word, _), hits in zip(todo, near, strict=True):
                found[word] = hits
                if len(self._cache) < CACHE_SIZE:
                    self._cache[word] = hits
        return found
