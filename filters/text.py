"""Per-document text splits, computed once and shared by every filter.

datatrove's filters re-tokenise the text in every block (about 7 ms per 1,000 words each time); here
the first block that needs words, lines or paragraphs computes them and later blocks reuse them. The
cache is keyed by the identity of the text string, so it is correct even when a block rewrites
`doc.text` (a new string object gets new splits) and it never leaks into document metadata.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

# words: runs of word characters, or single non-space non-word characters (punctuation is its own
# token, as in spaCy's blank English tokenizer that FineWeb used)
_WORD_RE = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE)
_PARAGRAPH_RE = re.compile(r"\n{2,}")


@dataclass(eq=False)
class TextSplits:
    """Lazy splits of one text; each is computed on first use and then kept."""

    text: str
    _cache: dict = field(default_factory=dict, repr=False)

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    @cached_property
    def paragraphs(self) -> list[str]:
        return _PARAGRAPH_RE.split(self.text.strip())

    @cached_property
    def words(self) -> list[str]:
        """Tokens including punctuation tokens (spaCy-like)."""
        return _WORD_RE.findall(self.text)

    @cached_property
    def line_words(self) -> list[list[str]]:
        return [_WORD_RE.findall(line) for line in self.lines]


_CACHE: OrderedDict[int, TextSplits] = OrderedDict()
_CACHE_SIZE = 256


def splits(text: str) -> TextSplits:
    """Shared splits for `text` (same string object -> same TextSplits)."""
    key = id(text)
    hit = _CACHE.get(key)
    if hit is not None and hit.text is text:
        _CACHE.move_to_end(key)
        return hit
    result = TextSplits(text)
    _CACHE[key] = result
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result
