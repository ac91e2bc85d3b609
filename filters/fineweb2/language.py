"""FineWeb-2's language identification: a FineWeb-2 label per document, kept above its language's threshold.

FineWeb-2 labelled every document with GlotLID v3 (ISO 639-3 + script labels, `deu_Latn`) and kept it in
its top label's subset when that label's score is at least the label's `language_score` config value.
GlotLID is a 1.6 GB model that no package on the index ships, so the bundled lid.176 (176 labels) runs by
default with its labels mapped to FineWeb-2's (`labels.Lid176Labels`); `backend: glotlid` with
`model_path` runs GlotLID's own model file. The thresholds were fitted to GlotLID's scores: with lid.176
they keep a different share (README: Languages).
"""

from __future__ import annotations

import os
from typing import Literal

import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from ..base import Block, register
from ..language import bundled_model_path, load_model
from ..presets import ConfigError
from .configs import open_configs
from .words import check_installed


@register("fineweb2_language", defaults="fineweb2")
class FineWeb2LanguageFilter(BaseFilter, Block):
    """Writes `language` (a FineWeb-2 label) and `language_score`; drops a document whose language has no
    FineWeb-2 config, is not one of `languages`, or scores below its threshold."""

    name = "🌍 FineWeb-2 language"
    output_columns = {"language": pa.string(), "language_score": pa.float32()}
    drop_reasons = {
        "no_config": "the most likely language has no FineWeb-2 config (English has none: it is FineWeb's)",
        "not_in_languages": "the most likely language is not one of `languages`",
        "low_language_score": "the score of the most likely language is below its config's language_score",
    }

    def __init__(
        self,
        backend: Literal["lid176", "glotlid"],
        model_path: str | None,
        configs: str,
        languages: list[str] | None,
        min_score: float | None,
        batch_size: int = 1,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer, batch_size=batch_size)
        if backend == "glotlid" and not model_path:
            raise ConfigError("backend glotlid needs model_path: the path of GlotLID's model_v3.bin (cis-lmu/glotlid)")
        self.backend = backend
        self.model_path = os.path.expanduser(model_path) if model_path else bundled_model_path()
        if not os.path.isfile(self.model_path):
            raise ConfigError(f"model_path {model_path!r}: no such file (GlotLID's model_v3.bin, or a lid.176 file)")
        self.configs = configs
        self.languages = frozenset(languages) if languages else None
        self.min_score = min_score
        found = open_configs(configs)
        found.check(sorted(self.languages or ()))
        if backend == "lid176" and self.languages:
            never = sorted(self.languages - found.lid176.reachable())
            if never:
                raise ConfigError(
                    f"language {never[0]!r}: lid.176 has no label for it (it covers 176 languages); "
                    f"give backend: glotlid and model_path: GlotLID's model_v3.bin"
                )
        # the tokenizers of every language that can pass on to the quality blocks: a missing package is one
        # line now, not an error in the middle of the run
        check_installed(sorted(self.languages or found.labels))

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        """One fastText call for the batch; only the top label and its score are needed (datatrove reads
        the maximum over every label: the same)."""
        texts = [doc.text.replace("\n", " ") for doc in batch]
        labels, scores = load_model(self.model_path).predict(texts, k=1)
        configs = open_configs(self.configs)
        mapper = configs.lid176 if self.backend == "lid176" else None
        out: list[bool | tuple[bool, str]] = []
        for doc, (label,), (score,) in zip(batch, labels, scores, strict=True):
            label = mapper.label(label, doc.text) if mapper else label.removeprefix("__label__")
            doc.metadata["language"] = label
            doc.metadata["language_score"] = float(score)
            out.append(self.decide(label, float(score)))
        return out

    def decide(self, label: str, score: float) -> bool | tuple[bool, str]:
        """Keep, or the drop reason, for a document labelled `label` with `score`."""
        configs = open_configs(self.configs)
        if label not in configs:
            return False, "no_config"
        if self.languages is not None and label not in self.languages:
            return False, "not_in_languages"
        threshold = self.min_score if self.min_score is not None else configs.get(label)["language_score"]
        return score >= threshold or (False, "low_language_score")

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]
