"""Language identification with fastText lid.176, as datatrove 0.10.1's LanguageFilter decides.

The quantised lid.176.ftz ships in the package, so nothing is downloaded at run time; any other
fastText LID model (the full lid.176.bin FineWeb used) can be named with `model_path`.
"""

from __future__ import annotations

import difflib
import os
from importlib import resources

import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from .base import Block, register
from .presets import ConfigError

_MODELS: dict[str, object] = {}  # path -> loaded model, once per process (never pickled with a step)


def bundled_model_path() -> str:
    return str(resources.files("thresher.filters").joinpath("models", "lid.176.ftz"))


def check_languages(languages: list[str] | None, model_path: str) -> None:
    """Each kept language must be a label of the model: a typo would silently drop every page."""
    if not languages:
        return
    labels = sorted(label.removeprefix("__label__") for label in load_model(model_path).get_labels())
    for language in languages:
        if language not in labels:
            close = difflib.get_close_matches(str(language), labels, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ConfigError(
                f"language {language!r} is not a label of {os.path.basename(model_path)}: {hint}give its codes "
                f"(ISO 639, e.g. en, de, fr; {len(labels)} labels)"
            )


def load_model(path: str):
    """The fastText model at `path`, loaded once per process."""
    model = _MODELS.get(path)
    if model is None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"fastText language-ID model not found: {path} (set model_path to a lid.176 file)")
        from fasttext.FastText import _FastText

        model = _MODELS[path] = _FastText(model_path=path)
    return model


@register("language")
class LanguageFilter(BaseFilter, Block):
    """Keeps documents in `languages` (any language when null) predicted with a score above `min_score`."""

    name = "🌍 Language ID"
    output_columns = {"language": pa.string(), "language_score": pa.float32()}
    drop_reasons = {
        "not_{languages}": "the most likely language is none of `languages` and none of them scores above min_score",
        "low_language_score": "the most likely language is kept but scores min_score or less",
    }

    def __init__(
        self,
        languages: list[str] | None,
        min_score: float,
        model_path: str | None,
        batch_size: int = 1,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer, batch_size=batch_size)
        self.languages = [languages] if isinstance(languages, str) else languages
        self.min_score = min_score
        self.model_path = model_path or bundled_model_path()
        check_languages(self.languages, self.model_path)
        self.reason = "not_" + "_".join(self.languages) if self.languages else "low_language_score"

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        """One fastText call for the batch: its tables stay in the CPU caches from one text to the
        next (the same scores as one call per text). With min_score >= 0.5 only the best label can
        pass (any other has at most 1 - its probability <= 0.5), and fastText's k=1 is cheaper than
        all 176 labels; datatrove asks for all of them."""
        k = 1 if self.min_score >= 0.5 else -1
        texts = [doc.text.replace("\n", " ") for doc in batch]
        labels, scores = load_model(self.model_path).predict(texts, k=k)
        return [self._decide(doc, lab, sc) for doc, lab, sc in zip(batch, labels, scores, strict=True)]

    def _decide(self, doc: Document, labels: list[str], probs) -> bool | tuple[bool, str]:
        scores = {label.removeprefix("__label__"): float(p) for label, p in zip(labels, probs, strict=True)}
        lang, score = max(scores.items(), key=lambda kv: kv[1])
        doc.metadata["language"] = lang
        doc.metadata["language_score"] = score
        if not self.languages:
            return score > self.min_score or (False, "low_language_score")
        if any(scores.get(language, 0.0) > self.min_score for language in self.languages):
            return True
        return False, "low_language_score" if lang in self.languages else self.reason

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]
