"""FineWeb's own quality rules, as datatrove 0.10.1's FineWebQualityFilter applies them."""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.text import TERMINAL_PUNCTUATION

from .base import Block, register
from .text import find_duplicates, splits


@register("fineweb_quality")
class FineWebQualityFilter(BaseFilter, Block):
    """Drops list-like pages: few lines ending in punctuation, many short or repeated lines."""

    name = "🍷 FineWeb Quality"
    drop_reasons = {
        "empty": "no non-blank line",
        "line_punct_ratio": "fewer than line_punct_thr of the lines end in terminal punctuation",
        "short_line_ratio": "more than short_line_thr of the lines are short_line_length characters or less",
        "char_dup_ratio": "repeated lines hold more than char_duplicates_ratio of the characters",
        "list_ratio": "more than new_line_ratio newlines per word (a list)",
    }

    def __init__(
        self,
        line_punct_thr: float,
        line_punct_exclude_zero: bool,
        short_line_thr: float,
        short_line_length: int,
        char_duplicates_ratio: float,
        new_line_ratio: float,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.line_punct_thr = line_punct_thr
        self.line_punct_exclude_zero = line_punct_exclude_zero
        self.short_line_thr = short_line_thr
        self.short_line_length = short_line_length
        self.char_duplicates_ratio = char_duplicates_ratio
        self.new_line_ratio = new_line_ratio
        self.stop_chars = tuple(TERMINAL_PUNCTUATION)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        s = splits(doc.text)
        lines = s.nonblank_lines
        if not lines:
            return False, "empty"
        ratio = sum(1 for line in lines if line.endswith(self.stop_chars)) / len(lines)
        if ratio < self.line_punct_thr and not (ratio == 0 and self.line_punct_exclude_zero):
            return False, "line_punct_ratio"
        ratio = sum(1 for line in lines if len(line) <= self.short_line_length) / len(lines)
        if ratio > self.short_line_thr:
            return False, "short_line_ratio"
        chars = len(doc.text) - doc.text.count("\n")
        if chars and find_duplicates(lines)[1] / chars > self.char_duplicates_ratio:
            return False, "char_dup_ratio"
        words = s.tokens
        if words and doc.text.count("\n") / len(words) > self.new_line_ratio:
            return False, "list_ratio"
        return True
