"""Word n-gram statistics with datatrove's exact keys, for the FineWeb-2 repetition rules.

datatrove keys the most frequent n-gram by `" ".join(words)` and the repeated n-grams by `"".join(words)`,
so two n-grams of different words can be equal ("中国" + "人" and "中" + "国人"), which matters for the
languages whose tokenizers split the same string differently in different places (Chinese, Japanese,
Vietnamese words holding a space). The English filter keys n-grams by word ids instead, which agrees
with datatrove on English; here every n-gram is hashed as the substring it is of the joined text, in O(1)
each, vectorised: the same verdicts as datatrove's Python strings and Counters at a fraction of the cost.
Two different substrings get equal keys with probability about 2^-64.
"""

from __future__ import annotations

import numpy as np

_B = np.uint64(0x100000001B3)  # odd, so invertible modulo 2^64
_B_INV = np.uint64(pow(0x100000001B3, -1, 1 << 64))
_LEN_MIX = np.uint64(0x9E3779B97F4A7C15)


class _Powers:
    """B^i and B^-i modulo 2^64, grown on demand and shared by every document."""

    def __init__(self):
        self.size = 0
        self.up = self.down = np.zeros(0, dtype=np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if n > self.size:
            self.size = max(n, 2 * self.size, 1 << 16)
            self.up, self.down = _powers(_B, self.size), _powers(_B_INV, self.size)
        return self.up, self.down


def _powers(base: np.uint64, n: int) -> np.ndarray:
    out = np.full(n, base, dtype=np.uint64)
    out[0] = 1
    with np.errstate(over="ignore"):
        np.cumprod(out, out=out)
    return out


_POWERS = _Powers()


class SubstringKeys:
    """A 64-bit key for any substring s[a:e] of one string: equal substrings always get equal keys."""

    def __init__(self, s: str):
        codes = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        up, down = _POWERS.get(len(codes) + 1)
        self.prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.cumsum(codes * down[: len(codes)], out=self.prefix[1:])
        self.up = up

    def keys(self, a: np.ndarray, e: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            h = (self.prefix[e] - self.prefix[a]) * self.up[np.maximum(e - 1, 0)]
            return h ^ ((e - a).astype(np.uint64) * _LEN_MIX)


class JoinedNgrams:
    """`NgramStats` (filters.gopher_repetition) of one document's words, with datatrove's joined keys."""

    def __init__(self, words: list[str]):
        self.n_words = len(words)
        lens = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        self._lens = lens
        self._spaced: tuple[SubstringKeys, np.ndarray, np.ndarray] | None = None
        self._joined: tuple[SubstringKeys, np.ndarray] | None = None
        self._words = words

    def _spaced_keys(self) -> tuple[SubstringKeys, np.ndarray, np.ndarray]:
        """Keys of `" ".join(words)`: word i spans [starts[i], ends[i])."""
        if self._spaced is None:
            ends = np.cumsum(self._lens + 1) - 1
            self._spaced = SubstringKeys(" ".join(self._words)), ends - self._lens, ends
        return self._spaced

    def _joined_keys(self) -> tuple[SubstringKeys, np.ndarray]:
        """Keys of `"".join(words)`: words i..j-1 span [cum[i], cum[j])."""
        if self._joined is None:
            cum = np.zeros(self.n_words + 1, dtype=np.int64)
            np.cumsum(self._lens, out=cum[1:])
            self._joined = SubstringKeys("".join(self._words)), cum
        return self._joined

    def top_chars(self, n: int) -> int:
        """len(" ".join(most frequent n-gram)) * its count, ties going to the n-gram seen first (0: no n-gram)."""
        count = self.n_words - n + 1
        if count <= 0:
            return 0
        keys, starts, ends = self._spaced_keys()
        a, e = starts[:count], ends[n - 1 : n - 1 + count]
        _, first, counts = np.unique(keys.keys(a, e), return_index=True, return_counts=True)
        best = counts.max()
        i = int(first[counts == best].min())
        return int(e[i] - a[i]) * int(best)

    def repeated_chars(self, n: int, ceiling: float = 0.0) -> int:
        """datatrove's find_all_duplicate: walk the n-grams "".join(words[i:i+n]); a repeat of one seen
        before adds its length and jumps n words (skipped positions are never marked seen). Only positions
        whose key occurs twice or more can be a repeat, so only those are visited."""
        count = self.n_words - n + 1
        if count <= 0:
            return 0
        keys, cum = self._joined_keys()
        a, e = cum[:count], cum[n : n + count]
        _, inverse, counts = np.unique(keys.keys(a, e), return_inverse=True, return_counts=True)
        if counts.max() < 2:
            return 0
        positions = np.flatnonzero(counts[inverse] >= 2)
        seen: set[int] = set()
        repeated = next_free = 0
        for i, key, length in zip(
            positions.tolist(), inverse[positions].tolist(), (e[positions] - a[positions]).tolist(), strict=True
        ):
            if i < next_free:
                continue
            if key in seen:
                repeated += length
                next_free = i + n
            else:
                seen.add(key)
                next_free = i + 1
        return repeated
