"""FineWeb-2's Gopher quality filter: the English rules with each language's thresholds and stop words."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from datatrove.data import Document

from ..base import Block, register
from ..gopher_quality import GopherQualityFilter, QualityThresholds, quality_reason
from ..text import splits
from .per_language import COMMON_REASONS, PerLanguage


@register("fineweb2_gopher_quality", defaults="fineweb2")
class FineWeb2GopherQualityFilter(PerLanguage, Block):
    """Gopher quality with the language's words, word-length bounds, letter share and stop words."""

    name = "🥇 FineWeb-2 Gopher Quality"
    output_columns = {"word_count": pa.int32()}
    drop_reasons = {**GopherQualityFilter.drop_reasons, **COMMON_REASONS}

    def __init__(
        self,
        configs: str,
        min_doc_words: int | None,
        max_doc_words: int | None,
        max_symbol_word_ratio: float | None,
        max_bullet_lines_ratio: float | None,
        max_ellipsis_lines_ratio: float | None,
        min_stop_words: int | None,
        tokenizer_substitutes: list[str],
        unavailable_tokenizer: Literal["approximate", "drop"],
        exclusion_writer=None,
    ):
        super().__init__(configs, tokenizer_substitutes, unavailable_tokenizer, exclusion_writer)
        self.min_doc_words = min_doc_words
        self.max_doc_words = max_doc_words
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_stop_words = min_stop_words

    def thresholds_for(self, config: dict) -> QualityThresholds:
        return QualityThresholds(
            self.min_doc_words,
            self.max_doc_words,
            config["min_avg_word_length"],
            config["max_avg_word_length"],
            self.max_symbol_word_ratio,
            self.max_bullet_lines_ratio,
            self.max_ellipsis_lines_ratio,
            config["max_non_alpha_words_ratio"],
            self.min_stop_words,
            frozenset(config["stopwords"]),
        )

    def reason(self, doc: Document, label: str, thresholds: QualityThresholds) -> str | None:
        words = self.words(doc, label)
        doc.metadata["word_count"] = words.n_content
        return quality_reason(doc.text, splits(doc.text).lines, words, thresholds)
