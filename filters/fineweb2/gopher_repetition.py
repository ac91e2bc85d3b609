"""FineWeb-2's Gopher repetition filter: the English rules with each language's thresholds and words."""

from __future__ import annotations

from typing import Literal

from datatrove.data import Document

from ..base import Block, register
from ..gopher_repetition import GopherRepetitionFilter, RepetitionThresholds, ngram_fractions, repetition_reason
from ..text import splits
from .ngrams import JoinedNgrams
from .per_language import COMMON_REASONS, PerLanguage


@register("fineweb2_gopher_repetition", defaults="fineweb2")
class FineWeb2RepetitionFilter(PerLanguage, Block):
    """Gopher repetition with the language's words and its config's line and n-gram fractions."""

    name = "👯 FineWeb-2 Gopher Repetition"
    drop_reasons = {**GopherRepetitionFilter.drop_reasons, **COMMON_REASONS}

    def __init__(
        self,
        configs: str,
        dup_para_frac: float | None,
        dup_para_char_frac: float | None,
        dup_line_char_frac: float | None,
        tokenizer_substitutes: list[str],
        unavailable_tokenizer: Literal["approximate", "drop"],
        exclusion_writer=None,
    ):
        super().__init__(configs, tokenizer_substitutes, unavailable_tokenizer, exclusion_writer)
        self.dup_para_frac = dup_para_frac
        self.dup_para_char_frac = dup_para_char_frac
        self.dup_line_char_frac = dup_line_char_frac

    def thresholds_for(self, config: dict) -> RepetitionThresholds:
        return RepetitionThresholds(
            config["dup_line_frac"],
            self.dup_para_frac,
            self.dup_line_char_frac,
            self.dup_para_char_frac,
            ngram_fractions(config["top_n_grams"]),
            ngram_fractions(config["dup_n_grams"]),
        )

    def reason(self, doc: Document, label: str, thresholds: RepetitionThresholds) -> str | None:
        s = splits(doc.text)
        return repetition_reason(doc.text, s, lambda: JoinedNgrams(self.words(doc, label).words), thresholds)
