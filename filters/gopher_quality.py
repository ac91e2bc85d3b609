"""Gopher quality rules (Rae et al. 2021), as datatrove 0.10.1's GopherQualityFilter applies them.

Same rules, thresholds and drop reasons as datatrove's filter; words and lines come from the shared
`splits()` instead of a fresh spaCy pass. The rules themselves (`quality_reason`) take thresholds and
word statistics, so the FineWeb-2 block applies them to each language's words with its config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from .base import Block, register
from .text import TextSplits, splits


class WordStats(Protocol):
    """What the rules read about a document's words (computed lazily: a rule that fails first saves the rest)."""

    n_words: int  # every word, punctuation tokens included
    n_content: int  # words with a character outside datatrove's PUNCTUATION_SET

    def mean_content_length(self) -> float: ...

    def alpha_words(self) -> int: ...  # words holding a letter

    def distinct_stop_words(self, stop_words: frozenset[str]) -> int: ...


@dataclass(frozen=True)
class QualityThresholds:
    """GopherQualityFilter's settings; a falsy value turns its rule off, as in datatrove."""

    min_doc_words: int | None
    max_doc_words: int | None
    min_avg_word_length: float | None
    max_avg_word_length: float | None
    max_symbol_word_ratio: float | None
    max_bullet_lines_ratio: float | None
    max_ellipsis_lines_ratio: float | None
    max_non_alpha_words_ratio: float | None
    min_stop_words: int | None
    stop_words: frozenset[str]


def quality_reason(text: str, lines: list[str], words: WordStats, t: QualityThresholds) -> str | None:
    """The first Gopher quality rule `text` fails (datatrove's order and reasons), or None.

    `lines` is `text.splitlines()`."""
    n_words, n_content = words.n_words, words.n_content
    if t.min_doc_words and n_content < t.min_doc_words:
        return "gopher_short_doc"
    if t.max_doc_words and n_content > t.max_doc_words:
        return "gopher_long_doc"
    if not n_content:
        return "gopher_short_doc"
    avg_len = words.mean_content_length()
    if t.min_avg_word_length and avg_len < t.min_avg_word_length:
        return "gopher_below_avg_threshold"
    if t.max_avg_word_length and avg_len > t.max_avg_word_length:
        return "gopher_above_avg_threshold"
    if t.max_symbol_word_ratio and text.count("#") / n_words > t.max_symbol_word_ratio:
        return "gopher_too_many_hashes"
    ellipses = text.count("...") + text.count("…")
    if t.max_symbol_word_ratio and ellipses / n_words > t.max_symbol_word_ratio:
        return "gopher_too_many_ellipsis"
    if t.max_bullet_lines_ratio:
        bullets = sum(line.lstrip().startswith(("•", "-")) for line in lines)
        if bullets / len(lines) > t.max_bullet_lines_ratio:
            return "gopher_too_many_bullets"
    if t.max_ellipsis_lines_ratio:
        ending = sum(line.rstrip().endswith(("...", "…")) for line in lines)
        if ending / len(lines) > t.max_ellipsis_lines_ratio:
            return "gopher_too_many_end_ellipsis"
    if t.max_non_alpha_words_ratio and words.alpha_words() / n_words < t.max_non_alpha_words_ratio:
        return "gopher_below_alpha_threshold"
    if t.min_stop_words and words.distinct_stop_words(t.stop_words) < t.min_stop_words:
        return "gopher_enough_stop_words"
    return None


class EnglishWordStats:
    """WordStats of the shared English token split."""

    def __init__(self, s: TextSplits):
        self.tokens = s.tokens
        self.content = s.content_tokens
        self.n_words = len(self.tokens)
        self.n_content = len(self.content)

    def mean_content_length(self) -> float:
        return sum(len(w) for w in self.content) / self.n_content

    def alpha_words(self) -> int:
        return sum(w.isalpha() or any(c.isalpha() for c in w) for w in self.tokens)

    def distinct_stop_words(self, stop_words: frozenset[str]) -> int:
        return len(stop_words.intersection(self.tokens))


@register("gopher_quality")
class GopherQualityFilter(BaseFilter, Block):
    """Drops documents whose word statistics do not look like prose (length, symbols, stop words)."""

    name = "🥇 Gopher Quality"
    output_columns = {"word_count": pa.int32()}
    drop_reasons = {
        "gopher_short_doc": "fewer than min_doc_words words (punctuation not counted)",
        "gopher_long_doc": "more than max_doc_words words",
        "gopher_below_avg_threshold": "mean word length below min_avg_word_length",
        "gopher_above_avg_threshold": "mean word length above max_avg_word_length",
        "gopher_too_many_hashes": "more '#' per word than max_symbol_word_ratio",
        "gopher_too_many_ellipsis": "more ellipses per word than max_symbol_word_ratio",
        "gopher_too_many_bullets": "more than max_bullet_lines_ratio of the lines start with a bullet",
        "gopher_too_many_end_ellipsis": "more than max_ellipsis_lines_ratio of the lines end with an ellipsis",
        "gopher_below_alpha_threshold": "fewer than max_non_alpha_words_ratio of the words hold a letter",
        "gopher_enough_stop_words": "fewer than min_stop_words of the stop words appear",
    }

    def __init__(
        self,
        min_doc_words: int | None,
        max_doc_words: int | None,
        min_avg_word_length: int | None,
        max_avg_word_length: int | None,
        max_symbol_word_ratio: float | None,
        max_bullet_lines_ratio: float | None,
        max_ellipsis_lines_ratio: float | None,
        max_non_alpha_words_ratio: float | None,
        min_stop_words: int | None,
        stop_words: list[str],
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.thresholds = QualityThresholds(
            min_doc_words,
            max_doc_words,
            min_avg_word_length,
            max_avg_word_length,
            max_symbol_word_ratio,
            max_bullet_lines_ratio,
            max_ellipsis_lines_ratio,
            max_non_alpha_words_ratio,
            min_stop_words,
            frozenset(stop_words),
        )

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        s = splits(doc.text)
        words = EnglishWordStats(s)
        doc.metadata["word_count"] = words.n_content
        reason = quality_reason(doc.text, s.lines, words, self.thresholds)
        return True if reason is None else (False, reason)
