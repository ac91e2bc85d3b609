"""What FineWeb-2's three quality filters share: the language's config, thresholds and words.

Each block applies the same rules as its English counterpart (`filters.gopher_repetition`,
`filters.fineweb_quality`, `filters.gopher_quality`: the rule bodies are shared) to the words of the
document's language, with that language's thresholds and stop words read from its FineWeb-2 config.
The preset sets only FineWeb-2's global overrides (fineweb-2-pipeline.py: paragraph rules off, short-line
rule off, char_duplicates_ratio 0.1, two distinct stop words, datatrove's other defaults). The document's
language is the `language` label the `fineweb2_language` block wrote.
"""

from __future__ import annotations

from typing import Literal

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from .configs import open_configs
from .words import LanguageWords, Unavailable, check_installed, language_words, splitter_for

COMMON_REASONS = {
    "no_config": "no `language` label with a FineWeb-2 config (run fineweb2_language first)",
    "no_tokenizer": "the language's tokenizer cannot run offline (Stanza, botok) and unavailable_tokenizer is drop",
}


class PerLanguage(BaseFilter):
    """What the three blocks share: the label, the language's config-derived thresholds, its words."""

    def __init__(
        self,
        configs: str,
        tokenizer_substitutes: list[str],
        unavailable_tokenizer: Literal["approximate", "drop"],
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.configs = configs
        self.substitutes = tuple(tokenizer_substitutes)
        self.approximate = unavailable_tokenizer == "approximate"
        open_configs(configs)  # the source opens, or one line now
        check_installed((), self.substitutes)
        self._thresholds: dict[str, object] = {}

    def thresholds_for(self, config: dict):
        """The block's thresholds for one language's config."""
        raise NotImplementedError

    def language_of(self, doc: Document) -> tuple[str | None, str | None]:
        """(label, None) when the document can be judged, else (None, the drop reason)."""
        label = doc.metadata.get("language")
        configs = open_configs(self.configs)
        if label not in configs:
            return None, "no_config"
        try:
            splitter_for(label, self.substitutes, self.approximate)
        except Unavailable:
            return None, "no_tokenizer"
        if label not in self._thresholds:
            self._thresholds[label] = self.thresholds_for(configs.get(label))
        return label, None

    def words(self, doc: Document, label: str) -> LanguageWords:
        found = language_words(doc.text, label, self.substitutes, self.approximate)
        if not found.exact and not doc.metadata.get("approximate_words"):
            doc.metadata["approximate_words"] = True
            self.stat_update("approximate_words")
        return found

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        label, reason = self.language_of(doc)
        if label is not None:
            reason = self.reason(doc, label, self._thresholds[label])
        return True if reason is None else (False, reason)

    def reason(self, doc: Document, label: str, thresholds) -> str | None:
        raise NotImplementedError
