"""C4's line and document rules (Raffel et al. 2020), as datatrove 0.10.1's C4QualityFilter applies them."""

from __future__ import annotations

import re
from collections import Counter

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from .base import Block, register
from .text import count_sentences, split_sentences, splits

CITATION_REGEX = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
ELLIPSIS = "..."
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


@register("c4_quality")
class C4QualityFilter(BaseFilter, Block):
    """Drops boilerplate lines (rewriting `doc.text`) and documents with too few sentences left.

    Line statistics are counted per document and added to the step's stats once, not per line.
    """

    name = "⛰ C4 Quality"
    drop_reasons = {
        "lorem_ipsum": "a line contains 'lorem ipsum'",
        "curly_bracket": "a line contains '{' (code)",
        "too_few_sentences": "fewer than min_num_sentences sentences left after the line rules",
    }

    def __init__(
        self,
        split_paragraph: bool,
        remove_citations: bool,
        filter_no_terminal_punct: bool,
        min_num_sentences: int,
        min_words_per_line: int,
        max_word_length: int,
        filter_lorem_ipsum: bool,
        filter_javascript: bool,
        filter_curly_bracket: bool,
        filter_policy: bool,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.split_paragraph = split_paragraph
        self.remove_citations = remove_citations
        self.filter_no_terminal_punct = filter_no_terminal_punct
        self.min_num_sentences = min_num_sentences
        self.min_words_per_line = min_words_per_line
        self.max_word_length = max_word_length
        self.filter_lorem_ipsum = filter_lorem_ipsum
        self.filter_javascript = filter_javascript
        self.filter_curly_bracket = filter_curly_bracket
        self.filter_policy = filter_policy

    def _units(self, text: str) -> list[str]:
        return splits(text).lines if self.split_paragraph else split_sentences(text)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        stats: Counter[str] = Counter()
        try:
            return self._filter(doc, stats)
        finally:
            for key, value in stats.items():
                self.stat_update(key, value=value)

    def _filter(self, doc: Document, stats: Counter) -> bool | tuple[bool, str]:
        num_sentences = 0
        kept: list[str] = []
        for line in self._units(doc.text):
            line = line.strip()
            words = line.split()
            stats["line-total"] += 1
            if self.max_word_length != -1 and any(len(w) > self.max_word_length for w in words):
                stats["line-filter-too_long_word"] += 1
                continue
            if self.remove_citations:
                line = CITATION_REGEX.sub("", line)
            if self.filter_no_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS)):
                stats["line-filter-no_terminal_punc"] += 1
                continue
            if len(words) < self.min_words_per_line:
                stats["line-filter-too_few_words"] += 1
                continue
            lower = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in lower:
                return False, "lorem_ipsum"
            if self.filter_javascript and "javascript" in lower:
                stats["line-filter-javascript"] += 1
                continue
            if self.filter_curly_bracket and "{" in line:
                return False, "curly_bracket"
            if self.filter_policy and any(p in lower for p in POLICY_SUBSTRINGS):
                stats["line-filter-policy"] += 1
                continue
            if self.min_num_sentences != -1:
                num_sentences += count_sentences(line) if self.split_paragraph else 1
            kept.append(line)
            stats["line-kept"] += 1
        if num_sentences < self.min_num_sentences:
            return False, "too_few_sentences"
        doc.text = ("\n" if self.split_paragraph else " ").join(kept).strip()
        return True
