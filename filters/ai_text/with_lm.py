"""The AI-text score, re-scored with a language model's likelihoods where the LM block computed them.

In the thresher preset the cheap score (`ai_text`) runs in the filter stage on every document; after
the filters and dedup, the `lm_likelihood` block computes LM statistics for the documents whose
cheap score is in the model's uncertain band, and this block re-scores exactly those with the
model's LM head. Other documents keep their cheap score; `ai_score_lm` says which score a document
carries. A drop threshold, when set, applies to the final score.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from datatrove.data import Document

from ..base import register
from . import AIGeneratedTextFilter

LM_PREFIX = "lm_"


@register("ai_text_lm", defaults="thresher")
class AIGeneratedTextLMFilter(AIGeneratedTextFilter):
    """`ai_text` after `lm_likelihood`: the LM head's score where `lm_*` statistics exist, else the cheap one."""

    name = "🤖 AI-text score (with LM)"
    output_columns = {**AIGeneratedTextFilter.output_columns, "ai_score_lm": pa.bool_()}
    needs_lm_head = True

    def drop_threshold(self) -> float | None:
        if isinstance(self.threshold, str):
            return self.model.threshold(self.threshold, with_lm=True)
        return self.threshold

    def score(self, text: str) -> float:
        """Calibrated P(machine) of `text` from the LM head (no language or length check). The LM
        statistics are computed here with `lm_likelihood`'s settings (those the head was trained
        with); in a pipeline that block computes them once per document instead."""
        from ..lm_likelihood import LMLikelihood, engine_for

        lm_block = LMLikelihood()
        stats = engine_for(lm_block.model_path).score([text], lm_block.max_tokens)[0]
        model = self.model
        lm = np.array([[stats[name] for name in model.lm.stats]], dtype=np.float64)
        return model.scores_with_lm([model.featurizer.extract(text)], lm)[0]

    def annotate_batch(self, batch: list[Document]) -> list[float | None]:
        model = self.model  # its LM head exists: the constructor checked (needs_lm_head)
        names = [LM_PREFIX + name for name in model.lm.stats]
        with_lm = [i for i, doc in enumerate(batch) if all(doc.metadata.get(n) is not None for n in names)]
        without = [doc for i, doc in enumerate(batch) if i not in set(with_lm)]
        missing = [doc for doc in without if "ai_score" not in doc.metadata]
        if missing:  # no cheap score yet (the block used on its own): compute it
            super().annotate_batch(missing)
        exs = {i: model.featurizer.extract(batch[i].text) for i in with_lm}
        scorable = [i for i in with_lm if exs[i].n_words >= self.min_words and self._language_ok(batch[i], exs[i])]
        if scorable:
            lm = np.array([[batch[i].metadata[n] for n in names] for i in scorable], dtype=np.float64)
            for i, score in zip(scorable, model.scores_with_lm([exs[i] for i in scorable], lm), strict=True):
                batch[i].metadata["ai_score"] = score
                batch[i].metadata["ai_evidence"] = exs[i].boilerplate + exs[i].markers
        rescored = set(scorable)
        for i, doc in enumerate(batch):
            doc.metadata["ai_score_lm"] = i in rescored
        return [doc.metadata.get("ai_score") for doc in batch]
