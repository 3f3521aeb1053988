"""Japanese word vectors keyed by Sudachi normalised forms, read straight from an installed package.

The `ja-ginza` wheel ships chiVe-derived vectors in spaCy's on-disk layout: `vocab/vectors`
(a NumPy array of 20,000 rows x 300), `vocab/key2row` (MessagePack map from a 64-bit string hash
to a row) and `vocab/strings.json`. The hash is MurmurHash64A of the UTF-8 text with seed 1, so
a word's row is found without spaCy, its pipeline or the string table. Nothing is downloaded:
when the package is not installed, `default_vectors()` is None and the matcher works without.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
from functools import cache
from pathlib import Path

# One BLAS thread: a query multiplies a handful of vectors by the FAQ's words, far too little
# work to share, and on a busy machine threads waiting for each other cost ten times the sum.
# Only takes effect if NumPy was not loaded yet; set OPENBLAS_NUM_THREADS to choose otherwise.
if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

_M = 0xC6A4A7935BD1E995
_MASK = (1 << 64) - 1
PACKAGE = "ja_ginza"


def murmur64a(data: bytes, seed: int = 1) -> int:
    """MurmurHash64A, the hash spaCy keys its vocabulary by (seed 1)."""
    h = (seed ^ (len(data) * _M)) & _MASK
    whole = len(data) // 8 * 8
    for (k,) in struct.iter_unpack("<Q", data[:whole]):
        k = (k * _M) & _MASK
        k ^= k >> 47
        k = (k * _M) & _MASK
        h ^= k
        h = (h * _M) & _MASK
    tail = data[whole:]
    if tail:
        for i in range(len(tail) - 1, -1, -1):
            h ^= tail[i] << (8 * i)
        h = (h * _M) & _MASK
    h ^= h >> 47
    h = (h * _M) & _MASK
    h ^= h >> 47
    return h


def _read_uint(buf: bytes, at: int) -> tuple[int, int]:
    tag = buf[at]
    if tag < 0x80:
        return tag, at + 1
    size = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}.get(tag)
    if size is None:
        raise ValueError(f"unexpected MessagePack tag {tag:#x} at {at}")
    return int.from_bytes(buf[at + 1 : at + 1 + size], "big"), at + 1 + size


def read_key2row(buf: bytes) -> tuple[list[int], list[int]]:
    """Keys and rows of a MessagePack map of unsigned integers (spaCy's key2row file)."""
    tag = buf[0]
    if tag == 0xDF:
        count, at = int.from_bytes(buf[1:5], "big"), 5
    elif tag == 0xDE:
        count, at = int.from_bytes(buf[1:3], "big"), 3
    elif 0x80 <= tag <= 0x8F:
        count, at = tag & 0x0F, 1
    else:
        raise ValueError("key2row is not a MessagePack map")
    keys, rows = [0] * count, [0] * count
    for n in range(count):
        keys[n], at = _read_uint(buf, at)
        rows[n], at = _read_uint(buf, at)
    return keys, rows


class WordVectors:
    """Unit-length word vectors looked up by Sudachi normalised form."""

    def __init__(self, matrix: object, keys: object, rows: object) -> None:
        import numpy as np

        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self.matrix = (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)
        order = np.argsort(keys)
        self._keys = np.asarray(keys, dtype=np.uint64)[order]
        self._rows = np.asarray(rows, dtype=np.int32)[order]
        self._cache: dict[str, int | None] = {}

    @classmethod
    def from_directory(cls, vocab: Path) -> WordVectors:
        """Read spaCy's `vocab/vectors` and `vocab/key2row` without spaCy."""
        import numpy as np

        matrix = np.load(vocab / "vectors", allow_pickle=False)
        keys, rows = read_key2row((vocab / "key2row").read_bytes())
        return cls(matrix, np.array(keys, dtype=np.uint64), np.array(rows, dtype=np.int32))

    def __len__(self) -> int:
        return len(self._keys)

    def row(self, word: str) -> int | None:
        """The row of a word's vector, or None when the word has none."""
        if word in self._cache:
            return self._cache[word]
        import numpy as np

        # As a NumPy uint64: a Python int makes searchsorted convert the whole array.
        key = np.uint64(murmur64a(word.encode("utf-8")))
        at = int(self._keys.searchsorted(key))
        found = int(self._rows[at]) if at < len(self._keys) and self._keys[at] == key else None
        if len(self._cache) < 100_000:
            self._cache[word] = found
        return found

    def vector(self, word: str) -> object | None:
        """The unit vector of a word, or None."""
        row = self.row(word)
        return None if row is None else self.matrix[row]

    def similarity(self, a: str, b: str) -> float | None:
        """Cosine similarity of two words, or None when either has no vector."""
        va, vb = self.vector(a), self.vector(b)
        if va is None or vb is None:
            return None
        return float(va @ vb)


def package_vocab_dir() -> Path | None:
    """The installed package's vocab folder (found without importing the package)."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        for vocab in sorted(Path(location).glob("*/vocab")):
            if (vocab / "vectors").exists() and (vocab / "key2row").exists():
                return vocab
    return None


@cache
def default_vectors() -> WordVectors | None:
    """The process-wide vectors, or None when the package (or NumPy) is not installed."""
    vocab = package_vocab_dir()
    if vocab is None:
        return None
    try:
        return WordVectors.from_directory(vocab)
    except ImportError:
        return None
