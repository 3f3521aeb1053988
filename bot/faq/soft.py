"""Soft matching: a query word the FAQ never uses counts, in part, as the FAQ's nearest words.

For every content word of the query, the entries' own words whose vectors are closest (cosine at
least `SOFT_MIN`) are added to the query as extra word features, weighted by the similarity. The
sparse cosine of the matcher then works as a soft cosine: 費用 meets 料金, 現在地 meets 追跡,
without a thesaurus line for either. The calibration is fitted with the expansion on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


class EntryWords:
    """Each entry's own words as vectors, for a soft word-by-word similarity with a query.

    For every query word the closest word of the entry counts (cosine, 1 for the word itself),
    weighted like the word in the query: a word-mover-style score between 0 and 1 that needs no
    shared word at all. The matcher computes it for its two best entries only.
    """

    def __init__(self, per_entry: Sequence[Iterable[str]], vectors: WordVectors) -> None:
        import numpy as np

        self.vectors = vectors
        self._words: list[frozenset[str]] = []
        self._rows: list[object] = []
        for words in per_entry:
            words = frozenset(words)
            rows = sorted({r for r in (vectors.row(w) for w in words) if r is not None})
            self._words.append(words)
            self._rows.append(np.asarray(rows, dtype=np.int64))

    def similarity(self, query: Sequence[tuple[str, float]], entries: Sequence[int]) -> list[float]:
        """For each entry index, the weighted mean over query words of their best cosine."""
        import numpy as np

        total = sum(w for _, w in query)
        if not query or total <= 0:
            return [0.0 for _ in entries]
        rows = [self.vectors.row(word) for word, _ in query]
        have = [n for n, r in enumerate(rows) if r is not None]
        q = self.vectors.matrix[np.asarray([rows[n] for n in have], dtype=np.int64)]
        result = []
        for e in entries:
            best = [1.0 if word in self._words[e] else 0.0 for word, _ in query]
            cols = self._rows[e]
            if have and len(cols):
                sims = (q @ self.vectors.matrix[cols].T).max(axis=1)
                for k, n in enumerate(have):
                    best[n] = max(best[n], float(sims[k]), 0.0)
            result.append(sum(b * w for b, (_, w) in zip(best, query, strict=True)) / total)
        return result
