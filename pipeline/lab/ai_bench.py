"""The AI-text score's cost: CPU milliseconds per 1,000-word document, as `thresher bench` prints it."""

from __future__ import annotations

import time

import numpy as np

from ...filters.ai_text import AIGeneratedTextFilter
from ...filters.ai_text.features import MAX_TOKENS
from ...filters.ai_text.model import AIDetectorModel, load_model


def benchmark(batch_size: int | None = None, rounds: int = 5, model_path: str | None = None) -> dict:
    """CPU milliseconds per 1,000-word document, tokenisation included (`thresher bench` calls this).

    Documents are synthetic (words drawn from the model's frequency table by their frequency, in
    sentences of varied length), so the figure does not depend on `../shared`. They are scored as the
    block scores them: `batch_size` documents at a time (default: the fineweb preset's). A warm-up pass
    on other documents fills the per-process type table first, as in a long run; the figure is the
    best of `rounds` batches (CPU time), like `timeit`, so that other load on the machine does not
    inflate it. Batches of fewer than 40 documents are timed 40 documents at a time.
    """
    if batch_size is None:
        batch_size = AIGeneratedTextFilter.from_preset("fineweb").batch_size
    model = load_model(model_path)
    fz = model.featurizer
    per_round = max(batch_size, 40)
    for d in _synthetic_docs(model, per_round, 1000, seed=1):  # warm the type table
        fz.extract(d, tokens=_fresh_tokens(d))
    docs = _synthetic_docs(model, rounds * per_round, 1000)
    toks = [_fresh_tokens(d) for d in docs]

    def per_doc(shared: bool) -> float:
        best = float("inf")
        for r in range(rounds):
            ks = range(r * per_round, (r + 1) * per_round)
            t0 = time.process_time()
            for start in range(ks.start, ks.stop, batch_size):
                batch = range(start, min(start + batch_size, ks.stop))
                model.scores([fz.extract(docs[k], tokens=toks[k] if shared else _fresh_tokens(docs[k])) for k in batch])
            best = min(best, (time.process_time() - t0) / per_round)
        return 1000.0 * best

    return {
        "ms_per_1000_words": per_doc(shared=False),
        "ms_per_1000_words_tokens_shared": per_doc(shared=True),
        "n_docs": len(docs),
        "batch_size": batch_size,
    }


def _fresh_tokens(text: str) -> list[str]:
    from ...filters.text import TextSplits

    return TextSplits(text).first_words(MAX_TOKENS)


def _synthetic_docs(model: AIDetectorModel, n_docs: int, n_words: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = list(model.featurizer.zipf)[:20000]
    p = np.power(10.0, np.array([model.featurizer.zipf[w] for w in vocab]))
    p /= p.sum()
    docs = []
    for _ in range(n_docs):
        idx = rng.choice(len(vocab), size=n_words, p=p)
        out, k = [], 0
        while k < n_words:
            n = int(rng.integers(5, 35))
            sent = [vocab[i] for i in idx[k : k + n]]
            sent[0] = sent[0].capitalize()
            out.append(" ".join(sent) + rng.choice([".", ".", ".", "?", "!"]))
            k += n
        docs.append(" ".join(out))
    return docs
