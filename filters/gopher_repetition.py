"""Gopher repetition removal (Rae et al. 2021), as datatrove 0.10.1's GopherRepetitionFilter applies it.

Same rules, thresholds and drop reasons as datatrove's filter; lines, paragraphs and words come
from the shared `splits()` instead of a fresh spaCy pass.
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from .base import Block, register
from .text import find_duplicates, splits


def word_ids(words: list[str]) -> np.ndarray:
    """Each word as a 64-bit id: its string hash (equal words, equal ids; cached on the string)."""
    return np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)


def ngram_keys(ids: np.ndarray, n: int) -> np.ndarray:
    """A 64-bit key per n-gram of word ids (a polynomial hash: equal n-grams, equal keys)."""
    count = len(ids) - n + 1
    keys = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            keys = keys * np.uint64(0x9E3779B97F4A7C15) + ids[k : k + count] + np.uint64(1)
    return keys


def top_ngram_chars(words: list[str], ids: np.ndarray, n: int) -> int:
    """Characters covered by the most frequent n-gram (its " "-joined length times its count).

    Ties go to the n-gram seen first, as with datatrove's Counter.most_common(1).
    """
    if len(words) < n:
        return 0
    _, first, counts = np.unique(ngram_keys(ids, n), return_index=True, return_counts=True)
    best = counts.max()
    i = int(first[counts == best].min())
    return len(" ".join(words[i : i + n])) * int(best)


def word_ends(words: list[str]) -> np.ndarray:
    """Prefix sums of word lengths: the words i..j-1 have ends[j] - ends[i] characters."""
    ends = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, words), dtype=np.int64, count=len(words)), out=ends[1:])
    return ends


def repeat_positions(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions whose n-gram occurs earlier in the document, and where that n-gram occurs first."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    _, first, inverse = np.unique(ngram_keys(ids, n), return_index=True, return_inverse=True)
    first_of = first[inverse]
    candidates = np.flatnonzero(first_of < np.arange(count))
    return candidates, first_of[candidates]


def repeat_cover(ends: np.ndarray, n: int, positions: np.ndarray) -> int:
    """Characters of the n-grams starting at `positions` (those that fit in the document)."""
    positions = positions[positions + n < len(ends)]
    return int((ends[positions + n] - ends[positions]).sum())


class RepeatedNgrams:
    """datatrove's duplicated-n-gram measure (find_all_duplicate) of one document, at several n.

    Only an n-gram that occurs earlier in the document can be a repeat, and its first m < n words
    then occur earlier too, so the repeat positions found for one n bound those of every longer
    n-gram: most documents are answered from that bound without sorting again or scanning.
    """

    def __init__(self, words: list[str], ids: np.ndarray):
        self.ids = ids
        self.ends = word_ends(words)
        self._bound: tuple[int, np.ndarray] | None = None  # (n, repeat positions of the n-grams)

    def chars(self, n: int, ceiling: float = math.inf) -> int:
        """Characters in n-grams seen before, skipping past each repeat, as datatrove counts them;
        when that is at most `ceiling`, possibly an upper bound that is also at most `ceiling`."""
        if self._bound is not None and self._bound[0] <= n:
            cover = repeat_cover(self.ends, n, self._bound[1])
            if cover <= ceiling:
                return cover
        candidates, first_of = repeat_positions(self.ids, n)
        self._bound = (n, candidates)
        cover = repeat_cover(self.ends, n, candidates)
        if cover <= ceiling:
            return cover
        return self._scan(n, candidates, first_of)

    def _scan(self, n: int, candidates: np.ndarray, first_of: np.ndarray) -> int:
        """datatrove's scan, visiting the candidates only: a visited candidate is a repeat when its
        n-gram was visited before, at its first position (unless a repeat skipped that) or at an
        earlier visited candidate; every other position holds an n-gram seen for the first time."""
        skip_starts: list[int] = []  # after a repeat at c, positions c+1 .. c+n-1 are skipped
        visited: set[int] = set()  # n-grams (by first position) visited at a candidate
        repeated = position = 0
        for c, f in zip(candidates.tolist(), first_of.tolist(), strict=True):
            if c < position:
                continue
            i = bisect_right(skip_starts, f) - 1
            first_skipped = i >= 0 and f < skip_starts[i] + n - 1
            if f in visited or not first_skipped:
                repeated += int(self.ends[c + n] - self.ends[c])
                skip_starts.append(c + 1)
                position = c + n
            else:
                position = c + 1
            visited.add(f)
        return repeated


def _pairs(thresholds: dict | list | tuple) -> list[tuple[int, float]]:
    items = thresholds.items() if isinstance(thresholds, dict) else thresholds
    return [(int(n), float(frac)) for n, frac in items]


@register("gopher_repetition")
class GopherRepetitionFilter(BaseFilter, Block):
    """Drops documents made of repeated lines, paragraphs or n-grams."""

    name = "👯 Gopher Repetition"
    drop_reasons = {
        "empty": "no text",
        "dup_para_frac": "more than dup_para_frac of the paragraphs are repeats",
        "dup_para_char_frac": "repeated paragraphs hold more than dup_para_char_frac of the characters",
        "dup_line_frac": "more than dup_line_frac of the lines are repeats",
        "dup_line_char_frac": "repeated lines hold more than dup_line_char_frac of the characters",
        "top_{n}_gram": "the most frequent word n-gram covers more than top_n_grams[n] of the characters",
        "duplicated_{n}_n_grams": "repeated word n-grams cover more than dup_n_grams[n] of the characters",
    }

    def __init__(
        self,
        dup_line_frac: float | None,
        dup_para_frac: float | None,
        dup_line_char_frac: float | None,
        dup_para_char_frac: float | None,
        top_n_grams: dict[int, float],
        dup_n_grams: dict[int, float],
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.dup_line_frac = dup_line_frac
        self.dup_para_frac = dup_para_frac
        self.dup_line_char_frac = dup_line_char_frac
        self.dup_para_char_frac = dup_para_char_frac
        self.top_n_grams = _pairs(top_n_grams)
        self.dup_n_grams = _pairs(dup_n_grams)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        text = doc.text
        if not text:
            return False, "empty"
        s = splits(text)
        paragraphs = s.paragraphs
        para_dups, para_chars = find_duplicates(paragraphs)
        if self.dup_para_frac and para_dups / len(paragraphs) > self.dup_para_frac:
            return False, "dup_para_frac"
        if self.dup_para_char_frac and para_chars / len(text) > self.dup_para_char_frac:
            return False, "dup_para_char_frac"
        lines = s.newline_runs
        line_dups, line_chars = find_duplicates(lines)
        if self.dup_line_frac and line_dups / len(lines) > self.dup_line_frac:
            return False, "dup_line_frac"
        if self.dup_line_char_frac and line_chars / len(text) > self.dup_line_char_frac:
            return False, "dup_line_char_frac"
        words = s.tokens
        ids = word_ids(words)
        for n, frac in self.top_n_grams:
            if top_ngram_chars(words, ids, n) / len(text) > frac:
                return False, f"top_{n}_gram"
        repeats = RepeatedNgrams(words, ids)
        for n, frac in self.dup_n_grams:
            # an answer at most one character under the limit may be a bound, never a wrong verdict
            if repeats.chars(n, ceiling=frac * len(text) - 1) / len(text) > frac:
                return False, f"duplicated_{n}_n_grams"
        return True
