"""thresher.filters: datatrove pipeline steps that filter or annotate documents.

Each block is one module (or folder) that registers itself with `thresher.filters.base.register`;
`presets` reads the preset YAML files and `text` holds the per-document splits the blocks share.
The blocks are imported on first use (`thresher.filters.ConsentFilter`), so importing the package
does not load every model and word list.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "URLFilter": "thresher.filters.url",
    "ConsentFilter": "thresher.filters.consent",
    "LanguageFilter": "thresher.filters.language",
    "GopherRepetitionFilter": "thresher.filters.gopher_repetition",
    "GopherQualityFilter": "thresher.filters.gopher_quality",
    "C4QualityFilter": "thresher.filters.c4",
    "FineWebQualityFilter": "thresher.filters.fineweb_quality",
    "AIGeneratedTextFilter": "thresher.filters.ai_text",
    "AIGeneratedTextLMFilter": "thresher.filters.ai_text.with_lm",
    "LMLikelihood": "thresher.filters.lm_likelihood",
    "FineWeb2LanguageFilter": "thresher.filters.fineweb2.language",
    "FineWeb2RepetitionFilter": "thresher.filters.fineweb2.gopher_repetition",
    "FineWeb2QualityFilter": "thresher.filters.fineweb2.fineweb_quality",
    "FineWeb2GopherQualityFilter": "thresher.filters.fineweb2.gopher_quality",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'thresher.filters' has no attribute {name!r}")
