"""Machine-generated-text score: calibrated gradient-boosted trees over signals that transfer.

Detectors trained on one generator's text break on the next one. The signals here are chosen because
they describe *how* text is written rather than *what* it is about, so they carry over to unseen
generators and domains better than n-gram classifiers: word-frequency statistics against a pre-LLM
reference (wordfreq's English table, bundled inside the model file), stylometry (sentence-length
variation, type-token ratio, punctuation and function-word rates, bigrams over a topic-free alphabet
of function words and punctuation, repetition) and a lexicon of chat-model-overused vocabulary and
boilerplate (Kobak et al. 2024). A small quantised fastText classifier (word uni+bigrams over the
first 256 tokens) is stacked on top: it adds in-distribution accuracy the style features lack.
Everything runs on the shared token split of `thresher.filters.text`, so whitespace and layout never
reach a model (the training corpora kept newlines only in machine text).

The model file is an `.npz` (no pickle): Platt calibration, the threshold that keeps 1 % false
positives on held-out human text, the frequency and bigram tables and the lexicon; the trees are a
LightGBM text file and the fastText part an `.ftz` beside it (each in its library's own format), named
in the npz metadata.
`thresher train ai-detector` (thresher.pipeline.lab.ai_train) rebuilds it from labelled jsonl.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from ..base import Block, register
from .features import Extracted
from .model import AIDetectorModel, load_model

THRESHOLD_NAMES = ("1pct_fpr", "every_human_domain")


@register("ai_text")
class AIGeneratedTextFilter(BaseFilter, Block):
    """Writes `ai_score` (calibrated P(machine), null when not scorable) and `ai_evidence`; may drop.

    A document is scored only when its language is one the model was trained for (and one of
    `languages`): the language block's `language` metadata decides when present, otherwise a cheap
    stopword share. Documents shorter than `min_words` words get no score: too little evidence.
    `threshold` null annotates only; otherwise documents scoring above it are dropped. A name means a
    threshold stored in the model, so a retrained model brings its thresholds with it: `1pct_fpr`
    (1 % of the pooled held-out human texts score above it) or `every_human_domain` (no human
    domain, held out of training, has more than 1 % of its texts above it; see the model card).
    `min_english_share`: share of English stopwords among the words below which a document without
    language metadata counts as not English (English prose: 0.3-0.5; other languages: under 0.1).
    """

    name = "🤖 AI-text score"
    output_columns = {"ai_score": pa.float32(), "ai_evidence": pa.list_(pa.string())}
    drop_reasons = {"ai_generated": "ai_score above threshold (only when a threshold is set)"}
    needs_lm_head = False  # the LM-head block (with_lm.py) needs a model trained with LM statistics

    def __init__(
        self,
        threshold: float | Literal["1pct_fpr", "every_human_domain"] | None,
        languages: list[str],
        min_words: int,
        min_english_share: float,
        model_path: str | None = None,
        batch_size: int = 1,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer, batch_size=batch_size)
        if isinstance(threshold, str) and threshold not in THRESHOLD_NAMES:
            raise ValueError(f"threshold {threshold!r}: give a number, null, or one of {', '.join(THRESHOLD_NAMES)}")
        self.threshold = threshold
        self.languages = list(languages)
        self.min_words = min_words
        self.model_path = model_path
        self.min_english_share = min_english_share
        if self.needs_lm_head and self.model.lm is None:
            raise ValueError("the AI-text model has no LM head: retrain it with LM statistics (thresher train)")
        if isinstance(threshold, str) and self.drop_threshold() is None:
            raise ValueError(f"threshold {threshold!r}: the AI-text model has no such threshold; retrain it")

    @property
    def model(self) -> AIDetectorModel:
        # loaded once per process and never held by the step: steps are pickled to workers and
        # written to the run's config JSON, which a fastText object cannot be
        return load_model(self.model_path)

    def _language_ok(self, doc: Document, ex: Extracted) -> bool:
        allowed = set(self.languages) & set(self.model.languages)
        lang = doc.metadata.get("language")
        if lang is not None:
            return str(lang).split("_")[0] in allowed
        # no language block ran: the bundled model is English-only, so a stopword share decides
        return "en" in allowed and ex.english_share >= self.min_english_share

    def annotate(self, doc: Document) -> float | None:
        """Score `doc` and write ai_score / ai_evidence into its metadata; returns the score."""
        return self.annotate_batch([doc])[0]

    def annotate_batch(self, batch: list[Document]) -> list[float | None]:
        """`annotate` for each document: all features first, then one fastText call for the batch
        (its tables and the bigram table each stay in the CPU caches; the same scores)."""
        model = self.model
        # a document in a language the model does not read costs nothing: no features for it
        exs = {i: model.featurizer.extract(doc.text) for i, doc in enumerate(batch) if self._may_read(doc)}
        scored = [i for i, ex in exs.items() if ex.n_words >= self.min_words and self._language_ok(batch[i], ex)]
        found = dict(zip(scored, model.scores([exs[i] for i in scored]), strict=True))
        for i, doc in enumerate(batch):
            doc.metadata["ai_score"] = found.get(i)
            doc.metadata["ai_evidence"] = exs[i].boilerplate + exs[i].markers if i in found else []
        return [found.get(i) for i in range(len(batch))]

    def _may_read(self, doc: Document) -> bool:
        lang = doc.metadata.get("language")
        return lang is None or str(lang).split("_")[0] in set(self.languages) & set(self.model.languages)

    def score(self, text: str) -> float:
        """Calibrated probability that `text` is machine-generated (no language or length check)."""
        return self.model.score_extracted(self.model.featurizer.extract(text))

    def drop_threshold(self) -> float | None:
        if isinstance(self.threshold, str):
            return self.model.threshold(self.threshold, with_lm=False)
        return self.threshold

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        threshold = self.drop_threshold()
        return [
            (False, "ai_generated") if threshold is not None and score is not None and score > threshold else True
            for score in self.annotate_batch(batch)
        ]

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]


def score(text: str, model_path: str | None = None) -> float:
    """Module-level convenience: calibrated P(machine-generated) of `text` with the given model."""
    model = load_model(model_path)
    return model.score_extracted(model.featurizer.extract(text))
