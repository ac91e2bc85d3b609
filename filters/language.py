"""Language identification with fastText lid.176, as datatrove 0.10.1's LanguageFilter decides.

The quantised lid.176.ftz ships in the package, so nothing is downloaded at run time; any other
fastText LID model (the full lid.176.bin FineWeb used) can be named with `model_path`.
"""

from __future__ import annotations

import os
from importlib import resources

import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from thresher.pipeline.config import FromPreset

_MODELS: dict[str, object] = {}  # path -> loaded model, once per process (never pickled with a step)


def bundled_model_path() -> str:
    return str(resources.files("thresher.filters").joinpath("models", "lid.176.ftz"))


def load_model(path: str):
    """The fastText model at `path`, loaded once per process."""
    model = _MODELS.get(path)
    if model is None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"fastText language-ID model not found: {path} (set model_path to a lid.176 file)")
        from fasttext.FastText import _FastText

        model = _MODELS[path] = _FastText(model_path=path)
    return model


class LanguageFilter(BaseFilter, FromPreset):
    """Keeps documents in `languages` (any language when null) predicted with a score above `min_score`."""

    name = "🌍 Language ID"
    block = "language"
    output_columns = {"language": pa.string(), "language_score": pa.float32()}

    def __init__(
        self,
        languages: list[str] | None,
        min_score: float,
        model_path: str | None,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.languages = [languages] if isinstance(languages, str) else languages
        self.min_score = min_score
        self.model_path = model_path or bundled_model_path()

    def predict(self, text: str) -> dict[str, float]:
        """Language -> probability for every label of the model (datatrove uses k=-1 too)."""
        labels, scores = load_model(self.model_path).predict(text.replace("\n", " "), k=-1)
        pairs = zip(labels, scores, strict=True)
        return {label.removeprefix("__label__"): float(score) for label, score in pairs}

    def top(self, text: str) -> tuple[str, float]:
        """The best label and its probability. With min_score >= 0.5 it decides alone: any other label
        has at most 1 - that probability <= 0.5 (and fastText's k=1 is cheaper than all 176 labels)."""
        labels, scores = load_model(self.model_path).predict(text.replace("\n", " "), k=1)
        return labels[0].removeprefix("__label__"), float(scores[0])

    def filter(self, doc: Document) -> bool:
        if self.min_score >= 0.5:  # only the best label can pass
            lang, score = self.top(doc.text)
            scores = {lang: score}
        else:
            scores = self.predict(doc.text)
            lang, score = max(scores.items(), key=lambda kv: kv[1])
        doc.metadata["language"] = lang
        doc.metadata["language_score"] = score
        if self.languages:
            return any(scores.get(language, 0.0) > self.min_score for language in self.languages)
        return score > self.min_score
