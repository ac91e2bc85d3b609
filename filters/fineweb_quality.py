"""FineWeb's own quality rules, as datatrove 0.10.1's FineWebQualityFilter applies them.

The rules (`fineweb_reason`) take thresholds and the document's word count, so the FineWeb-2 block
applies them with each language's words and config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.text import TERMINAL_PUNCTUATION

from .base import Block, register
from .text import find_duplicates, splits

STOP_CHARS = tuple(TERMINAL_PUNCTUATION)


@dataclass(frozen=True)
class FineWebThresholds:
    line_punct_thr: float
    line_punct_exclude_zero: bool
    short_line_thr: float
    short_line_length: int
    char_duplicates_ratio: float
    new_line_ratio: float


def fineweb_reason(text: str, lines: list[str], n_words: Callable[[], int], t: FineWebThresholds) -> str | None:
    """The first FineWeb rule `text` fails (datatrove's order and reasons), or None.

    `lines` are the non-blank lines of `text.split("\n")`; `n_words` is asked only at the last rule."""
    if not lines:
        return "empty"
    ratio = sum(1 for line in lines if line.endswith(STOP_CHARS)) / len(lines)
    if ratio < t.line_punct_thr and not (ratio == 0 and t.line_punct_exclude_zero):
        return "line_punct_ratio"
    ratio = sum(1 for line in lines if len(line) <= t.short_line_length) / len(lines)
    if ratio > t.short_line_thr:
        return "short_line_ratio"
    chars = len(text) - text.count("\n")
    if chars and find_duplicates(lines)[1] / chars > t.char_duplicates_ratio:
        return "char_dup_ratio"
    words = n_words()
    if words and text.count("\n") / words > t.new_line_ratio:
        return "list_ratio"
    return None


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
        self.thresholds = FineWebThresholds(
            line_punct_thr,
            line_punct_exclude_zero,
            short_line_thr,
            short_line_length,
            char_duplicates_ratio,
            new_line_ratio,
        )

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        s = splits(doc.text)
        reason = fineweb_reason(doc.text, s.nonblank_lines, lambda: len(s.tokens), self.thresholds)
        return True if reason is None else (False, reason)
