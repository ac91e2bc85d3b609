"""The AI-text model: trees over the features, stacked with a fastText classifier, calibrated; and an
LM head: trees over the same features plus a language model's likelihood statistics.

The cheap part scores every document (~1 ms per 1,000 words); the LM head re-scores the documents
for which the LM block computed its statistics (those the cheap score is not sure about). Stored as
an `.npz` (no pickle) with the LightGBM trees and the fastText `.ftz` beside it, each in its
library's own format; `load_model` caches one per path and process.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .features import BigramTable, Extracted, Featurizer, Lexicon, feature_names

BUNDLED_MODEL = "ai_detector.npz"
# strong chat boilerplate: a text containing one is scored at least this high (see the model card)
BOILERPLATE_FLOOR = 0.9


def fasttext_log_odds(ft, texts: list[str]) -> list[float]:
    """Log-odds of `__label__1` (machine) from a two-label fastText classifier, for each text, in one
    call (training and inference alike: fastText's single-text `predict` rounds differently, ~1e-7)."""
    labels, probs = ft.f.multilinePredict([t + "\n" for t in texts], 2, 0.0, "strict")
    return [
        _log_odds(next((q for q, label in zip(ps, ls, strict=True) if label == "__label__1"), 0.0))
        for ls, ps in zip(labels, probs, strict=True)
    ]


def _log_odds(p: float) -> float:
    p = min(max(p, 1e-6), 1.0 - 1e-6)
    return math.log(p / (1.0 - p))


@dataclass
class LMHead:
    """Trees over [features, LM statistics] (+ the same fastText log-odds, weighted), Platt-calibrated."""

    trees: object  # lightgbm.Booster
    platt_a: float
    platt_b: float
    stats: tuple[str, ...]  # the lm_* statistics it reads, in feature order
    fasttext_weight: float
    band: tuple[float, float]  # cheap calibrated scores outside this band are not re-scored

    def decision(self, x: np.ndarray, lm: np.ndarray) -> np.ndarray:
        return self.trees.predict(np.hstack([x, lm]), raw_score=True, num_threads=1)


@dataclass
class AIDetectorModel:
    """Gradient-boosted trees over the features + optional fastText log-odds, stacked, + Platt
    calibration + the stored 1 %-FPR threshold.

    Stacked log-odds: trees' log-odds + `fasttext_weight` * fastText log-odds (the weight comes from a
    logistic stacker on out-of-fold scores); Platt maps that sum to a probability.
    """

    trees: object  # lightgbm.Booster (the .trees.txt next to the npz, LightGBM's own text format)
    platt_a: float
    platt_b: float
    featurizer: Featurizer
    meta: dict
    ft: object | None = None  # fasttext model (the .ftz next to the npz), or None
    lm: LMHead | None = None  # the LM head (its trees in .lm.trees.txt next to the npz), or None

    @property
    def fasttext_weight(self) -> float:
        return float(self.meta.get("fasttext_weight", 0.0)) if self.ft is not None else 0.0

    @property
    def languages(self) -> list[str]:
        return list(self.meta.get("languages", ["en"]))

    @property
    def threshold_1pct_fpr(self) -> float | None:
        return self.meta.get("threshold_1pct_fpr")

    def threshold(self, name: str, with_lm: bool) -> float | None:
        """A named threshold of the cheap score or of the LM head's: `1pct_fpr` (1 % of the pooled
        out-of-fold human texts above it) or `every_human_domain` (each human domain, held out of
        training, has at most 1 % of its texts above it)."""
        table = self.meta.get("lm_thresholds" if with_lm else "thresholds") or {}
        if name == "1pct_fpr" and not with_lm:
            return table.get(name, self.threshold_1pct_fpr)
        return table.get(name)

    @property
    def lm_band(self) -> list[float] | None:
        return list(self.lm.band) if self.lm is not None else None

    def decision(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated log-odds of the trees for an (n, d) feature array (one thread: workers are processes)."""
        return self.trees.predict(x, raw_score=True, num_threads=1)

    def calibrate(self, d: np.ndarray | float) -> np.ndarray | float:
        return 1.0 / (1.0 + np.exp(-(self.platt_a * d + self.platt_b)))

    def stacked_batch(self, exs: list[Extracted]) -> list[float]:
        """Uncalibrated stacked log-odds of each document; fastText reads all their texts in one call, so
        its tables stay in the CPU caches instead of being evicted by every document's features."""
        if not exs:
            return []
        out = self.decision(np.vstack([ex.x for ex in exs])).tolist()
        if self.ft is not None:
            w = self.fasttext_weight
            out = [d + w * f for d, f in zip(out, fasttext_log_odds(self.ft, [ex.ft_text for ex in exs]), strict=True)]
        return out

    def scores_with_lm(self, exs: list[Extracted], lm: np.ndarray) -> list[float]:
        """Calibrated P(machine) from the LM head, for documents with their LM statistics (rows of `lm`)."""
        if self.lm is None:
            raise ValueError("this AI-text model has no LM head; retrain it with LM statistics")
        if not exs:
            return []
        d = self.lm.decision(np.vstack([ex.x for ex in exs]), lm)
        if self.ft is not None and self.lm.fasttext_weight:
            d = d + self.lm.fasttext_weight * np.array(fasttext_log_odds(self.ft, [ex.ft_text for ex in exs]))
        out = []
        for ex, v in zip(exs, d.tolist(), strict=True):
            p = float(1.0 / (1.0 + np.exp(-(self.lm.platt_a * v + self.lm.platt_b))))
            out.append(max(p, BOILERPLATE_FLOOR) if ex.boilerplate else p)
        return out

    def score_extracted(self, ex: Extracted) -> float:
        return self.scores([ex])[0]

    def scores(self, exs: list[Extracted]) -> list[float]:
        """Calibrated P(machine) of each document (`score_extracted` over a batch)."""
        out = []
        for ex, d in zip(exs, self.stacked_batch(exs), strict=True):
            p = float(self.calibrate(d))
            out.append(max(p, BOILERPLATE_FLOOR) if ex.boilerplate else p)
        return out

    def save(self, path: str | Path) -> None:
        fz = self.featurizer
        vocab = np.array(list(fz.zipf), dtype=np.str_)
        zipf = np.round(np.array(list(fz.zipf.values()), dtype=np.float32) * 100).astype(np.uint16)
        trees_path = Path(path).with_suffix(".trees.txt")
        self.trees.save_model(str(trees_path))
        self.meta["trees_file"] = trees_path.name  # the model's own meta too: its card names the files
        if self.ft is not None:
            ft_path = Path(path).with_suffix(".ftz")
            self.ft.save_model(str(ft_path))
            self.meta["fasttext_file"] = ft_path.name
        else:
            self.meta.pop("fasttext_file", None)
        if self.lm is not None:
            lm_path = Path(path).with_suffix(".lm.trees.txt")
            self.lm.trees.save_model(str(lm_path))
            self.meta["lm"] = {
                **(self.meta.get("lm") or {}),
                "trees_file": lm_path.name,
                "platt": [self.lm.platt_a, self.lm.platt_b],
                "stats": list(self.lm.stats),
                "fasttext_weight": self.lm.fasttext_weight,
                "band": list(self.lm.band),
            }
        meta = dict(self.meta)
        meta["feature_names"] = feature_names(fz.sym_bigrams, fz.bigrams is not None)
        meta["lexicon"] = fz.lexicon.to_dict()
        meta["stopwords"] = sorted(fz.stopwords)
        arrays = fz.bigrams.to_arrays() if fz.bigrams is not None else {}
        np.savez_compressed(
            path,
            **arrays,
            scalars=np.array([self.platt_a, self.platt_b]),
            vocab=vocab,
            zipf_x100=zipf,
            sym_bigrams=fz.sym_bigrams,
            meta=np.array(json.dumps(meta, sort_keys=True)),
        )

    @classmethod
    def load(cls, path: str | Path | None = None) -> AIDetectorModel:
        if path is None:
            with resources.as_file(resources.files("thresher.filters").joinpath("models", BUNDLED_MODEL)) as p:
                return cls.load(p)
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            sym_bigrams = z["sym_bigrams"] if "sym_bigrams" in z.files else np.zeros(0, np.int64)
            has_lm = "bg_id1" in z.files
            if meta.get("feature_names") != feature_names(sym_bigrams, has_lm):
                raise ValueError(f"{path}: model was trained with other features; retrain it with this version")
            zipf = dict(zip(z["vocab"].tolist(), (z["zipf_x100"].astype(np.float64) / 100).tolist(), strict=False))
            bigrams = BigramTable.from_arrays(z, len(zipf)) if has_lm else None
            fz = Featurizer(
                zipf, Lexicon.from_dict(meta["lexicon"]), frozenset(meta["stopwords"]), sym_bigrams, bigrams
            )
            a, b = z["scalars"].tolist()
            if not meta.get("trees_file"):
                raise ValueError(f"{path}: model from an older version (no trees file); retrain it with this one")
            trees_path = Path(path).with_name(meta["trees_file"])
            if not trees_path.exists():
                raise ValueError(f"{path}: its trees file {trees_path} is missing")
            trees = load_trees(trees_path)
            ft = None
            if meta.get("fasttext_file"):
                ft_path = Path(path).with_name(meta["fasttext_file"])
                if not ft_path.exists():
                    raise ValueError(f"{path}: its fastText model {ft_path} is missing")
                ft = load_fasttext(ft_path)
            lm = None
            if meta.get("lm"):
                lm_meta = meta["lm"]
                lm_path = Path(path).with_name(lm_meta["trees_file"])
                if not lm_path.exists():
                    raise ValueError(f"{path}: its LM head {lm_path} is missing")
                lm = LMHead(
                    load_trees(lm_path),
                    *lm_meta["platt"],
                    tuple(lm_meta["stats"]),
                    float(lm_meta["fasttext_weight"]),
                    tuple(lm_meta["band"]),
                )
            return cls(trees, a, b, fz, meta, ft, lm)


def load_trees(path: str | Path):
    """Load a LightGBM booster from its text file (LightGBM's own format, not pickle)."""
    import lightgbm

    return lightgbm.Booster(model_file=str(path))


def load_fasttext(path: str | Path):
    """Load a fastText .ftz/.bin (fastText's own format, not pickle)."""
    import fasttext

    return fasttext.load_model(str(path))


_MODELS: dict[str | None, AIDetectorModel] = {}


def load_model(path: str | None = None) -> AIDetectorModel:
    """Load once per process (blocks are pickled to workers; the model is loaded lazily there)."""
    if path not in _MODELS:
        _MODELS[path] = AIDetectorModel.load(path)
    return _MODELS[path]
