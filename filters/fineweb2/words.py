"""Each language's words, as FineWeb-2 split them, computed once per document and shared.

FineWeb-2 split words with the tokenizer datatrove assigns to the language (`tokenizer_assignment.csv`:
spaCy's rule-based tokenizers for most, jieba, Sudachi, pyvi, Kiwi, pythainlp, indic-nlp, ...); the
three quality blocks read the same words, so the first block that needs a document's words splits it
and the others reuse them (`language_words`, a cache keyed by the text object and the label, like
`filters.text.splits`). Which splitter runs for a label is `splitter_for` (see `tokenizers`).

The packages come with `pip install 'thresher[fineweb2]'`; a block checks that the ones its languages
need are importable when it is built, so a missing one is one line before any work.
"""

from __future__ import annotations

import csv
import importlib.util
import os
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from datatrove.utils.text import PUNCTUATION_SET

from ..presets import ConfigError
from . import tokenizers as tk

EXTRA = "pip install 'thresher[fineweb2]'"
# tokenizers that cannot run offline: Stanza fetches its models from the Hugging Face Hub (and needs torch),
# botok fetches its dialect pack from GitHub on first use
OFFLINE_UNAVAILABLE = {"StanzaTokenizer": "stanza", "TibetanTokenizer": "botok"}


@lru_cache(maxsize=1)
def assignments() -> dict[str, tuple[str, str]]:
    """FineWeb-2 label -> (datatrove tokenizer class, its language code), resolved as datatrove's
    load_tokenizer_assignments resolves `<iso639-3>_<Script>` (the first row of a label wins)."""
    from datatrove.utils._import_utils import ASSETS_PATH

    out: dict[str, tuple[str, str]] = {}
    with open(os.path.join(ASSETS_PATH, "tokenizer_assignment.csv"), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["type"]:
                out.setdefault(f"{row['code_3']}_{row['script']}", (row["type"], row["tok_code"]))
    return out


def tokenizer_of(label: str) -> tuple[str, str]:
    found = assignments().get(label)
    if found is None:
        raise ConfigError(f"language {label!r} has no word tokenizer in datatrove's tokenizer_assignment.csv")
    return found


def modules_for(cls: str, code: str) -> tuple[str, ...]:
    """The importable modules datatrove's tokenizer for (cls, code) needs."""
    if cls == "SpaCyTokenizer":
        extra = {"zh": ("jieba",), "ja": ("sudachipy", "sudachidict_core"), "vi": ("pyvi",)}.get(code, ())
        return ("spacy", *extra)
    return {
        "WhitespaceTokenizer": ("spacy",),
        "IndicNLPTokenizer": ("indicnlp",),
        "KiwiTokenizer": ("kiwipiepy", "kiwipiepy_model"),
        "ThaiTokenizer": ("pythainlp",),
        "KhmerTokenizer": ("khmernltk",),
        "LaoTokenizer": ("laonlp",),
        "BurmeseTokenizer": ("pyidaungsu",),
    }.get(cls, ())


def check_installed(labels: Iterable[str], substitutes: Iterable[str] = ()) -> None:
    """One line naming the missing tokenizer packages (and the extra that brings them), before any work."""
    needed: dict[str, str] = {}
    for label in labels:
        cls, code = tokenizer_of(label)
        if cls in OFFLINE_UNAVAILABLE:
            continue  # approximated, or dropped, as the block is told (words stay approximate)
        for module in modules_for(cls, code):
            needed.setdefault(module, label)
    for name in substitutes:
        if name not in tk.SUBSTITUTES:
            raise ConfigError(f"unknown tokenizer substitute {name!r}; valid: {', '.join(tk.SUBSTITUTES)}")
        needed.setdefault(tk.SUBSTITUTES[name][2], name)
    missing = sorted(m for m in needed if importlib.util.find_spec(m) is None)
    if missing:
        hint = "pip install rjieba" if missing == ["rjieba"] else EXTRA
        raise ConfigError(
            f"FineWeb-2 word tokenizers missing: {', '.join(missing)} (for {needed[missing[0]]}, ...); {hint}"
        )


class Unavailable(Exception):
    """The label's tokenizer cannot run here (Stanza, botok offline)."""


_SPLITTERS: dict[tuple[str, tuple[str, ...]], object] = {}


def splitter_for(label: str, substitutes: tuple[str, ...] = (), approximate: bool = True):
    """The word splitter of `label` (built once per process); `substitutes` names faster stand-ins to use
    (tokenizers.SUBSTITUTES). A tokenizer that cannot run offline gives `tokenizers.ApproximateWords` when
    `approximate`, else raises Unavailable."""
    cls, code = tokenizer_of(label)
    for name in substitutes:
        replaces, sub_cls, _ = tk.SUBSTITUTES[name]
        if replaces == (cls, code):
            return _built(("sub", name), sub_cls)
    if cls in OFFLINE_UNAVAILABLE and importlib.util.find_spec(OFFLINE_UNAVAILABLE[cls]) is None:
        if not approximate:
            raise Unavailable(label)
        return _built(("approx",), tk.ApproximateWords)
    if cls == "SpaCyTokenizer" and code == "zh":
        return _built(("zh",), tk.JiebaWords)
    if cls == "SpaCyTokenizer" and code == "ja":
        return _built(("ja",), tk.SudachiWords)
    if cls == "WhitespaceTokenizer" or (cls == "SpaCyTokenizer" and code != "vi"):
        code = "xx" if cls == "WhitespaceTokenizer" else code
        return _built(("spacy", code), lambda: tk.SpacyChunks(code))
    return _built(("datatrove", label), lambda: tk.DatatroveWords(label))


def _built(key: tuple[str, ...], make):
    found = _SPLITTERS.get(key)
    if found is None:
        found = _SPLITTERS[key] = make()
    return found


# --- one document's words ------------------------------------------------------------------------

_WORD_INFO: dict[str, tuple[int, bool, bool]] = {}  # word -> (length, has a non-punctuation char, has a letter)
_WORD_INFO_SIZE = 2_000_000


def _info(word: str) -> tuple[int, bool, bool]:
    found = _WORD_INFO.get(word)
    if found is None:
        if len(_WORD_INFO) >= _WORD_INFO_SIZE:
            _WORD_INFO.clear()
        found = _WORD_INFO[word] = (
            len(word),
            any(ch not in PUNCTUATION_SET for ch in word),
            any(ch.isalpha() for ch in word),
        )
    return found


@dataclass(eq=False)
class LanguageWords:
    """One document's words in one language, and the word statistics the quality rules read
    (`filters.gopher_quality.WordStats`); per-word facts are cached across documents."""

    text: str
    label: str
    words: list[str]
    exact: bool  # False: a substitute or approximate tokenizer made them
    _extra: dict = field(default_factory=dict, repr=False)

    @property
    def n_words(self) -> int:
        return len(self.words)

    @cached_property
    def _infos(self) -> list[tuple[int, bool, bool]]:
        return [_info(w) for w in self.words]

    @cached_property
    def _content_lengths(self) -> list[int]:
        return [n for n, content, _ in self._infos if content]

    @property
    def n_content(self) -> int:
        return len(self._content_lengths)

    def mean_content_length(self) -> float:
        return sum(self._content_lengths) / len(self._content_lengths)

    def alpha_words(self) -> int:
        return sum(alpha for _, _, alpha in self._infos)

    def distinct_stop_words(self, stop_words: frozenset[str]) -> int:
        return len(stop_words.intersection(self.words))


_CACHE: OrderedDict[tuple[int, str, tuple[str, ...]], LanguageWords] = OrderedDict()
_CACHE_SIZE = 256


def language_words(text: str, label: str, substitutes: tuple[str, ...] = (), approximate: bool = True) -> LanguageWords:
    """The words of `text` in `label`'s tokenizer (same text object and label -> the same object)."""
    key = (id(text), label, substitutes)
    hit = _CACHE.get(key)
    if hit is not None and hit.text is text:
        _CACHE.move_to_end(key)
        return hit
    splitter = splitter_for(label, substitutes, approximate)
    result = LanguageWords(text, label, splitter.words(text), splitter.exact)
    _CACHE[key] = result
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result
