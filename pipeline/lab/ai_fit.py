"""Fitting the AI-text model's parts: the featurizer's tables, boosted trees, fastText, calibration."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...filters.ai_text.features import BigramTable, Featurizer, load_lexicon_file
from ...filters.ai_text.model import AIDetectorModel, fasttext_log_odds
from .ai_data import Row

STOPWORDS = (
    "the of and to is that it for was with as on are this be by at have from or not but which were "
    "they you he his their has an we will can would there been its more all also one than when who into"
).split()


def choose_sym_bigrams(fz: Featurizer, rows: list[Row], n: int, sample: int = 3000) -> np.ndarray:
    """The `n` most frequent symbol bigrams in (a sample of) the training texts, both classes alike."""
    from ...filters.text import splits

    rng = np.random.default_rng(0)
    pick = rng.choice(len(rows), min(sample, len(rows)), replace=False)
    total = sum(fz.symbol_bigram_counts(splits(rows[i].text).words) for i in pick)
    return np.sort(np.argsort(-total)[:n])


def build_featurizer(vocab_size: int, lexicon_path: str | None, lm: bool = True) -> Featurizer:
    """wordfreq's pre-LLM English table when installed, else the bundled model's copy of it; with `lm`,
    the reference bigram table (symspellpy's Google Books bigrams when installed, else the bundled copy)."""
    try:
        import wordfreq

        words = wordfreq.top_n_list("en", vocab_size)
        zipf = {w: round(wordfreq.zipf_frequency(w, "en"), 2) for w in words}
    except ImportError:
        zipf = dict(list(AIDetectorModel.load().featurizer.zipf.items())[:vocab_size])
    bigrams = reference_bigrams(list(zipf)) if lm else None
    return Featurizer(zipf, load_lexicon_file(lexicon_path), frozenset(STOPWORDS), bigrams=bigrams)


SYMSPELL_UNIGRAMS = "frequency_dictionary_en_82_765.txt"
SYMSPELL_BIGRAMS = "frequency_bigramdictionary_en_243_342.txt"


def reference_bigrams(vocab: list[str]) -> BigramTable:
    """Bigram table of the pseudo-language-model features over `vocab`.

    Source: the English unigram and bigram count lists that ship with symspellpy (MIT; counts from Google
    Books n-grams, so pre-LLM text): read from the installed package without importing it. Without
    symspellpy, the bundled model's table is re-indexed onto `vocab` (words it lacks are dropped).
    """
    import importlib.util

    spec = importlib.util.find_spec("symspellpy")
    base = Path(spec.origin).parent if spec is not None and spec.origin else None
    if base is not None and (base / SYMSPELL_BIGRAMS).exists():
        unigram = {}
        with (base / SYMSPELL_UNIGRAMS).open(encoding="utf-8") as f:
            for line in f:
                w, c = line.split()
                unigram[w] = int(c)
        bigrams = []
        with (base / SYMSPELL_BIGRAMS).open(encoding="utf-8") as f:
            for line in f:
                a, b, c = line.split()
                bigrams.append((a, b, int(c)))
        return BigramTable.from_counts(vocab, unigram, bigrams)
    bundled = AIDetectorModel.load().featurizer
    if bundled.bigrams is None:
        raise RuntimeError(
            "the LM features need symspellpy's bigram list (pip install symspellpy) or a bundled model that carries it"
        )
    return BigramTable.from_scored(vocab, bundled.bigrams.scored(list(bundled.zipf)))


def featurize(fz: Featurizer, rows: list[Row]) -> np.ndarray:
    return featurize_all(fz, rows)[0]


def featurize_all(fz: Featurizer, rows: list[Row]) -> tuple[np.ndarray, list[str]]:
    """Feature matrix and the whitespace-normalised texts the fastText classifier reads."""
    exs = [fz.extract(r.text) for r in rows]
    return np.vstack([e.x for e in exs]), [e.ft_text for e in exs]


# fastText is trained in a fresh child process: inside a long-running process (after the feature
# model's numpy work) this fastText build stopped with "Encountered NaN" on files that train cleanly
# in a fresh process, whatever the learning rate: it seems to read memory it did not initialise
_FT_CHILD = """
import json, sys
import fasttext
src, out, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
quantize = params.pop("quantize")
model = fasttext.train_supervised(src, **params)
if quantize:
    model.quantize(input=src, qnorm=True, cutoff=100000, retrain=False, thread=1, verbose=0)
model.save_model(out)
"""


def fit_fasttext(
    texts: list[str],
    y: np.ndarray,
    idx: np.ndarray,
    dim: int,
    epochs: int,
    lr: float = 0.1,
    quantize: bool = False,
    seed: int = 0,
):
    """fastText supervised classifier (word unigrams + bigrams) on the rows `idx`, one thread.

    Texts are the space-joined, lowercased word split (see `fasttext_text`): no layout reaches it.
    """
    import subprocess

    from ...filters.ai_text.model import load_fasttext

    order = np.array(idx)
    np.random.default_rng(seed).shuffle(order)
    tmp = tempfile.mkdtemp(prefix="ai_ft_")
    src, out = os.path.join(tmp, "train.txt"), os.path.join(tmp, "model.ftz" if quantize else "model.bin")
    try:
        with open(src, "w", encoding="utf-8") as f:
            for i in order:
                f.write(f"__label__{int(y[i])} {texts[i] or '<empty>'}\n")
        for attempt in range(4):
            params = {
                "dim": dim,
                "epoch": epochs,
                "lr": lr,
                "wordNgrams": 2,
                "minCount": 1,
                "bucket": 200_000,
                "loss": "softmax",
                "thread": 1,
                "seed": 1 + attempt,
                "verbose": 0,
                "quantize": quantize,
            }
            run = subprocess.run(
                [sys.executable, "-c", _FT_CHILD, src, out, json.dumps(params)], capture_output=True, text=True
            )
            if run.returncode == 0:
                break
            if attempt == 3:
                raise RuntimeError(f"fastText training failed: {run.stderr[-2000:]}")
            print(f"  fastText: failed (attempt {attempt + 1}), retrying with another seed", file=sys.stderr)
        return load_fasttext(out)
    finally:
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)


def fasttext_decisions(model, texts: list[str], idx: np.ndarray) -> np.ndarray:
    return np.array(fasttext_log_odds(model, [texts[i] for i in idx]), dtype=np.float64)


def fit_logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float, iters: int = 30):
    """Weighted L2 logistic regression by Newton's method; returns (mean, scale, coef, intercept)."""
    mean = X.mean(0)
    scale = X.std(0)
    scale[scale < 1e-9] = 1.0
    Z = np.hstack([(X - mean) / scale, np.ones((len(X), 1))])
    beta = np.zeros(Z.shape[1])
    reg = np.full(Z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(Z @ beta, -30, 30)))
        g = Z.T @ (w * (p - y)) + reg * beta
        H = (Z * (w * p * (1 - p))[:, None]).T @ Z + np.diag(reg + 1e-9)
        step = np.linalg.solve(H, g)
        beta -= step
        if np.abs(step).max() < 1e-5:
            break
    return mean, scale, beta[:-1], float(beta[-1])


@dataclass(frozen=True)
class TreeParams:
    """LightGBM settings of the feature model (the defaults were chosen on the protocol: model card)."""

    trees: int = 400
    learning_rate: float = 0.05
    leaves: int = 31
    min_leaf: int = 20
    feature_fraction: float = 0.5
    row_fraction: float = 0.8


def fit_trees(X: np.ndarray, y: np.ndarray, w: np.ndarray, p: TreeParams):
    """Gradient-boosted trees on the raw features (trees need no standardisation), with a fixed seed
    and LightGBM's deterministic mode, so a retrain on the same data gives the same trees."""
    import lightgbm

    params = {
        "objective": "binary",
        "learning_rate": p.learning_rate,
        "num_leaves": p.leaves,
        "min_data_in_leaf": p.min_leaf,
        "feature_fraction": p.feature_fraction,
        "bagging_fraction": p.row_fraction,
        "bagging_freq": 1,
        "seed": 0,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": os.cpu_count() or 1,
        "verbose": -1,
    }
    return lightgbm.train(params, lightgbm.Dataset(X, y, weight=w), num_boost_round=p.trees)


def balanced_weights(y: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Each (source, class) cell weighs as much as its class share in that source; classes balanced."""
    w = np.zeros(len(y))
    for c in (0, 1):
        m = y == c
        w[m] = len(y) / (2.0 * max(m.sum(), 1))
    return w


def fit_platt(d: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling on out-of-fold log-odds, classes weighted equally (a 50/50 prior)."""
    X = d[:, None]
    m, s, coef, b = fit_logistic(X, y.astype(float), balanced_weights(y, y), l2=0.0)
    a = float(coef[0] / s[0])
    return a, float(b - a * m[0])


class Fitted:
    """A trained feature model for the protocol runs (no calibration needed: metrics are rank-based)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, src: np.ndarray, params: TreeParams):
        self.trees = fit_trees(X, y, balanced_weights(y, src), params)

    def decision(self, X: np.ndarray) -> np.ndarray:
        return self.trees.predict(X, raw_score=True)
