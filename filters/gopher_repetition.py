"""Gopher repetition removal (Rae et al. 2021), as datatrove 0.10.1's GopherRepetitionFilter applies it.

Same rules, thresholds and drop reasons as datatrove's filter; lines, paragraphs and words come
from the shared `splits()` instead of a fresh spaCy pass. The rules (`repetition_reason`) take
thresholds and an n-gram statistics object, so the FineWeb-2 block applies them to each language's
words (with datatrove's exact joined-string n-gram keys, `fineweb2.ngrams`) and config.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from .base import Block, register
from .text import TextSplits, find_duplicates, splits


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


def ngram_fractions(thresholds: dict | list | tuple) -> tuple[tuple[int, float], ...]:
    items = thresholds.items() if isinstance(thresholds, dict) else thresholds
    return tuple((int(n), float(frac)) for n, frac in items)


class NgramStats(Protocol):
    """A document's word n-gram statistics, as datatrove's find_top_duplicate and find_all_duplicate."""

    def top_chars(self, n: int) -> int: ...  # characters of the most frequent n-gram times its count

    def repeated_chars(self, n: int, ceiling: float) -> int: ...  # chars of repeats (a bound when <= ceiling)


class WordIdNgrams:
    """NgramStats of the English token split: n-grams keyed by their words' ids."""

    def __init__(self, words: list[str]):
        self.words = words
        self.ids = word_ids(words)
        self._repeats: RepeatedNgrams | None = None

    def top_chars(self, n: int) -> int:
        return top_ngram_chars(self.words, self.ids, n)

    def repeated_chars(self, n: int, ceiling: float) -> int:
        if self._repeats is None:
            self._repeats = RepeatedNgrams(self.words, self.ids)
        return self._repeats.chars(n, ceiling=ceiling)


@dataclass(frozen=True)
class RepetitionThresholds:
    """GopherRepetitionFilter's settings; a falsy fraction turns its rule off, as in datatrove."""

    dup_line_frac: float | None
    dup_para_frac: float | None
    dup_line_char_frac: float | None
    dup_para_char_frac: float | None
    top_n_grams: tuple[tuple[int, float], ...]
    dup_n_grams: tuple[tuple[int, float], ...]


def repetition_reason(
    text: str, s: TextSplits, ngrams: Callable[[], NgramStats], t: RepetitionThresholds
) -> str | None:
    """The first repetition rule `text` fails (datatrove's order and reasons), or None; `ngrams` is asked
    for the word statistics only once the line and paragraph rules pass."""
    if not text:
        return "empty"
    if t.dup_para_frac or t.dup_para_char_frac:
        paragraphs = s.paragraphs
        para_dups, para_chars = find_duplicates(paragraphs)
        if t.dup_para_frac and para_dups / len(paragraphs) > t.dup_para_frac:
            return "dup_para_frac"
        if t.dup_para_char_frac and para_chars / len(text) > t.dup_para_char_frac:
            return "dup_para_char_frac"
    lines = s.newline_runs
    line_dups, line_chars = find_duplicates(lines)
    if t.dup_line_frac and line_dups / len(lines) > t.dup_line_frac:
        return "dup_line_frac"
    if t.dup_line_char_frac and line_chars / len(text) > t.dup_line_char_frac:
        return "dup_line_char_frac"
    stats = ngrams()
    for n, frac in t.top_n_grams:
        if stats.top_chars(n) / len(text) > frac:
            return f"top_{n}_gram"
    for n, frac in t.dup_n_grams:
        # an answer at most one character under the limit may be a bound, never a wrong verdict
        if stats.repeated_chars(n, frac * len(text) - 1) / len(text) > frac:
            return f"duplicated_{n}_n_grams"
    return None


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
        self.thresholds = RepetitionThresholds(
            dup_line_frac,
            dup_para_frac,
            dup_line_char_frac,
            dup_para_char_frac,
            ngram_fractions(top_n_grams),
            ngram_fractions(dup_n_grams),
        )

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        s = splits(doc.text)
        reason = repetition_reason(doc.text, s, lambda: WordIdNgrams(s.tokens), self.thresholds)
        return True if reason is None else (False, reason)
