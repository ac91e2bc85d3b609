"""FineWeb-2's FineWeb quality filter: the English rules with each language's thresholds."""

from __future__ import annotations

from typing import Literal

from datatrove.data import Document

from ..base import Block, register
from ..fineweb_quality import FineWebQualityFilter, FineWebThresholds, fineweb_reason
from ..text import splits
from .per_language import COMMON_REASONS, PerLanguage


@register("fineweb2_fineweb_quality", defaults="fineweb2")
class FineWeb2QualityFilter(PerLanguage, Block):
    """FineWeb's rules with the language's words and its config's line-punctuation and newline ratios."""

    name = "🍷 FineWeb-2 FineWeb Quality"
    drop_reasons = {**FineWebQualityFilter.drop_reasons, **COMMON_REASONS}

    def __init__(
        self,
        configs: str,
        line_punct_exclude_zero: bool,
        short_line_thr: float,
        short_line_length: int,
        char_duplicates_ratio: float,
        tokenizer_substitutes: list[str],
        unavailable_tokenizer: Literal["approximate", "drop"],
        exclusion_writer=None,
    ):
        super().__init__(configs, tokenizer_substitutes, unavailable_tokenizer, exclusion_writer)
        self.line_punct_exclude_zero = line_punct_exclude_zero
        self.short_line_thr = short_line_thr
        self.short_line_length = short_line_length
        self.char_duplicates_ratio = char_duplicates_ratio

    def thresholds_for(self, config: dict) -> FineWebThresholds:
        return FineWebThresholds(
            config["line_punct_thr"],
            self.line_punct_exclude_zero,
            self.short_line_thr,
            self.short_line_length,
            self.char_duplicates_ratio,
            config["new_line_ratio"],
        )

    def reason(self, doc: Document, label: str, thresholds: FineWebThresholds) -> str | None:
        lines = splits(doc.text).nonblank_lines
        return fineweb_reason(doc.text, lines, lambda: self.words(doc, label).n_words, thresholds)
