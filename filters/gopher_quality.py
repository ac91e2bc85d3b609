"""Gopher quality rules (Rae et al. 2021), as datatrove 0.10.1's GopherQualityFilter applies them.

Same rules, thresholds and drop reasons as datatrove's filter; words and lines come from the shared
`splits()` instead of a fresh spaCy pass.
"""

from __future__ import annotations

import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from .base import Block, register
from .text import splits


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
        self.min_doc_words = min_doc_words
        self.max_doc_words = max_doc_words
        self.min_avg_word_length = min_avg_word_length
        self.max_avg_word_length = max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.max_non_alpha_words_ratio = max_non_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.stop_words = frozenset(stop_words)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        text = doc.text
        s = splits(text)
        words = s.tokens
        n_words = len(words)
        content = s.content_tokens
        n_content = len(content)
        doc.metadata["word_count"] = n_content
        if self.min_doc_words and n_content < self.min_doc_words:
            return False, "gopher_short_doc"
        if self.max_doc_words and n_content > self.max_doc_words:
            return False, "gopher_long_doc"
        if not n_content:
            return False, "gopher_short_doc"
        avg_len = sum(len(w) for w in content) / n_content
        if self.min_avg_word_length and avg_len < self.min_avg_word_length:
            return False, "gopher_below_avg_threshold"
        if self.max_avg_word_length and avg_len > self.max_avg_word_length:
            return False, "gopher_above_avg_threshold"
        if self.max_symbol_word_ratio and text.count("#") / n_words > self.max_symbol_word_ratio:
            return False, "gopher_too_many_hashes"
        ellipses = text.count("...") + text.count("…")
        if self.max_symbol_word_ratio and ellipses / n_words > self.max_symbol_word_ratio:
            return False, "gopher_too_many_ellipsis"
        lines = s.lines
        if self.max_bullet_lines_ratio:
            bullets = sum(line.lstrip().startswith(("•", "-")) for line in lines)
            if bullets / len(lines) > self.max_bullet_lines_ratio:
                return False, "gopher_too_many_bullets"
        if self.max_ellipsis_lines_ratio:
            ending = sum(line.rstrip().endswith(("...", "…")) for line in lines)
            if ending / len(lines) > self.max_ellipsis_lines_ratio:
                return False, "gopher_too_many_end_ellipsis"
        if self.max_non_alpha_words_ratio:
            alpha = sum(w.isalpha() or any(c.isalpha() for c in w) for w in words)
            if alpha / n_words < self.max_non_alpha_words_ratio:
                return False, "gopher_below_alpha_threshold"
        if self.min_stop_words and len(self.stop_words.intersection(words)) < self.min_stop_words:
            return False, "gopher_enough_stop_words"
        return True
