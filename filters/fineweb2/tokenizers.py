"""Word splitters with datatrove's words for each FineWeb-2 language, and the faster ways to get them.

datatrove assigns each language a tokenizer (its assets/tokenizer_assignment.csv). What this module runs:

* spaCy's rule-based tokenizers (1,689 configs, and the Whitespace ones, which are spaCy `xx`) never look
  across whitespace, so a text's words are the words of its whitespace-separated chunks in order:
  `SpacyChunks` tokenises each distinct chunk once (a document's new chunks in one spaCy call) and caches
  it. A text holding one of the language's special cases that span a space (es `EE. UU.`, ru `т. е.`)
  goes to spaCy whole, as datatrove sends it.
* Chinese (jieba) and Japanese (Sudachi, split mode A) are called directly, without building the spaCy
  Doc around them: the same words, 2-4x faster.
* every other tokenizer (Vietnamese pyvi, Korean Kiwi, Thai, Indic, Khmer, Lao, Burmese) is datatrove's
  own object, called once per document.
* substitutes, only when asked for: Kiwi's `knlm` model for Korean (3x faster than datatrove's `sbg`)
  and jieba-rs for Chinese; they change some words (measured: `thresher bench --fineweb2`).
* `ApproximateWords`: spaCy `xx` for the languages whose tokenizer cannot run offline (Stanza, botok),
  flagged on every document it splits.
"""

from __future__ import annotations

import re
from bisect import bisect_right

SPACY_CACHE_CHUNKS = 200_000  # distinct chunks kept per language (~30 MB); cleared when full


class SpacyChunks:
    """datatrove's SpaCyTokenizer(code).word_tokenize for a rule-based spaCy language, chunk by chunk."""

    exact = True

    def __init__(self, code: str):
        import spacy

        self.code = code
        self.nlp = spacy.blank(code)
        # lexeme attributes (shape, like_num, ...) are never read by the tokenizer; computing them for
        # every new string was half the cost of a cache miss
        self.nlp.vocab.lex_attr_getters = {}
        self.cache: dict[str, tuple[str, ...]] = {}
        rules = self.nlp.tokenizer.rules or {}
        spaced = sorted(k for k in rules if any(c.isspace() for c in k.strip()))
        self.spaced_special = re.compile("|".join(map(re.escape, spaced))) if spaced else None
        self._whole = None

    def __getstate__(self):
        raise TypeError("word splitters are built in each worker (tokenizers.splitter_for), never pickled")

    def whole(self, text: str) -> list[str]:
        """datatrove's own path for the whole text."""
        if self._whole is None:
            from datatrove.utils.word_tokenizers import SpaCyTokenizer

            self._whole = SpaCyTokenizer(self.code)
        return self._whole.word_tokenize(text)

    def words(self, text: str) -> list[str]:
        if self.spaced_special is not None and self.spaced_special.search(text):
            return self.whole(text)
        chunks = text.split()
        cache = self.cache
        missing = [c for c in dict.fromkeys(chunks) if c not in cache]
        if missing and not self._fill(missing):
            return self.whole(text)
        out: list[str] = []
        for c in chunks:
            out.extend(cache[c])
        return out

    def _fill(self, missing: list[str]) -> bool:
        """Tokenise the new chunks in one call, joined by newlines (never part of a token); False when spaCy
        fails on them (its `IS_ALPHA` bug), which datatrove's path works around."""
        starts, pos = [], 0
        for c in missing:
            starts.append(pos)
            pos += len(c) + 1
        parts: list[list[str]] = [[] for _ in missing]
        try:
            with self.nlp.memory_zone():
                for tok in self.nlp.tokenizer("\n".join(missing)):
                    word = tok.text.strip()
                    if word:
                        parts[bisect_right(starts, tok.idx) - 1].append(word)
        except Exception:
            return False
        if len(self.cache) + len(missing) > SPACY_CACHE_CHUNKS:
            self.cache.clear()
        for c, p in zip(missing, parts, strict=True):
            self.cache[c] = tuple(p)
        return True


class JiebaWords:
    """datatrove's zh words (spaCy's ChineseTokenizer over jieba, then stripped) from jieba directly."""

    exact = True

    def __init__(self):
        import jieba

        jieba.setLogLevel(60)
        jieba.initialize()
        self._cut = jieba.cut

    def words(self, text: str) -> list[str]:
        return [s for s in (w.strip() for w in self._cut(text, cut_all=False)) if s]


class SudachiWords:
    """datatrove's ja words (its spaCy JapaneseTokenizer: SudachiPy split mode A on 40,000-byte chunks)
    from Sudachi directly."""

    exact = True

    def __init__(self):
        from spacy.lang.ja import try_sudachi_import

        self._tok = try_sudachi_import(None)

    def words(self, text: str) -> list[str]:
        from datatrove.utils.word_tokenizers import chunk_text_on_bytes

        out: list[str] = []
        for part in chunk_text_on_bytes(text, 40000):
            out.extend(s for s in (m.surface().strip() for m in self._tok.tokenize(part)) if s)
        return out


class DatatroveWords:
    """datatrove's own tokenizer object for a label, called once per document."""

    exact = True

    def __init__(self, label: str):
        from datatrove.utils.word_tokenizers import load_word_tokenizer

        self.tok = load_word_tokenizer(label)

    def words(self, text: str) -> list[str]:
        return self.tok.word_tokenize(text)


class KiwiKnlm:
    """Substitute for Korean: Kiwi with its `knlm` model (datatrove uses `sbg`), 3x faster, other words."""

    exact = False

    def __init__(self):
        from datatrove.utils.word_tokenizers import KiwiTokenizer

        self.tok = KiwiTokenizer(model_type="knlm")

    def words(self, text: str) -> list[str]:
        return self.tok.word_tokenize(text)


class RJiebaWords:
    """Substitute for Chinese: jieba-rs (the `rjieba` package), ~15x faster than jieba, other words."""

    exact = False

    def __init__(self):
        import rjieba

        self._cut = rjieba.cut

    def words(self, text: str) -> list[str]:
        return [s for s in (w.strip() for w in self._cut(text, hmm=True)) if s]


class ApproximateWords(SpacyChunks):
    """spaCy `xx` (datatrove's WhitespaceTokenizer) standing in for a tokenizer that cannot run here."""

    exact = False

    def __init__(self):
        super().__init__("xx")


# substitute name -> (what it replaces: tokenizer class, code), class, module it needs
SUBSTITUTES = {
    "kiwi_knlm": (("KiwiTokenizer", ""), KiwiKnlm, "kiwipiepy"),
    "rjieba": (("SpaCyTokenizer", "zh"), RJiebaWords, "rjieba"),
}
