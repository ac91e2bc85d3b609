"""Per-document statistics of a causal LM's token likelihoods.

Why: a machine-generated-text detector needs a handful of cheap, well-known
zero-shot features rather than raw log-probs.  All of them derive from four
per-token quantities of the model's predictive distribution p_t at position t
(full-vocabulary softmax), with x_t the observed next token:

    lp   = log p_t(x_t)
    ent  = -sum_v p_t(v) log p_t(v)             (entropy; E[log p] = -ent)
    var  = sum_v p_t(v) log^2 p_t(v) - ent^2     (variance of log p under p_t)
    rank = 1 + #{v : z_t(v) > z_t(x_t)}          (1 = top-1 prediction)

:func:`quantities_from_logits` is the fast version the engine uses on the
float32 logits coming out of ORT (chunked, cache-friendly);
:func:`token_quantities` is the plain float64 version used with the reference.
"""

from __future__ import annotations

import math

import numpy as np

STAT_NAMES = (
    "mean_loglik",
    "std_loglik",
    "loglik_p10",
    "loglik_p25",
    "loglik_p50",
    "loglik_p75",
    "mean_entropy",
    "std_entropy",
    "mean_logrank",
    "top1_share",
    "top10_share",
    "top100_share",
    "mean_gap",
    "std_gap",
    "fast_detectgpt",
    "binoculars",
    "n_tokens",
)


def token_quantities(log_probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """[R, 4] (lp, ent, var, rank) from a float log-softmax [R, V] and targets [R]."""
    lpv = np.asarray(log_probs, dtype=np.float64)
    r = np.arange(len(targets))
    p = np.exp(lpv)
    mean = (p * lpv).sum(axis=1)
    var = (p * lpv * lpv).sum(axis=1) - mean * mean
    obs = lpv[r, targets]
    rank = (lpv > obs[:, None]).sum(axis=1) + 1
    return np.stack([obs, -mean, var, rank], axis=1)


def quantities_from_logits(
    z: np.ndarray, targets: np.ndarray, row_scale: np.ndarray | None = None, chunk: int = 16
) -> np.ndarray:
    """[R, 4] (lp, ent, var, rank) from float32 logits ``z * row_scale`` [R, V].

    Works in row chunks that stay in cache, with the moments of
    s = z - max(z):  S0 = sum e^s, S1 = sum e^s s, S2 = sum e^s s^2, so that
    log p = s - log S0, E[log p] = S1/S0 - log S0, Var[log p] = S2/S0 - (S1/S0)^2.
    The row dot products go through matmul (BLAS) to avoid temporaries.
    ``z`` is overwritten."""
    out = np.empty((len(targets), 4))
    for a in range(0, len(targets), chunk):
        zc, t = z[a : a + chunk], targets[a : a + chunk]
        r = np.arange(len(t))
        zt = zc[r, t].copy()
        out[a : a + len(t), 3] = np.count_nonzero(zc > zt[:, None], axis=1) + 1
        mx = zc.max(axis=1)
        zc -= mx[:, None]
        if row_scale is not None:  # a positive scale keeps ranks and argmax
            sc = row_scale[a : a + len(t)].astype(np.float32)
            zc *= sc[:, None]
            zt, mx = zt * sc, mx * sc
        # zc is now s = z - max(z)
        e = np.exp(zc)
        s0 = e.sum(axis=1, dtype=np.float64)
        s1 = np.matmul(e[:, None, :], zc[:, :, None])[:, 0, 0].astype(np.float64)
        e *= zc
        s2 = np.matmul(e[:, None, :], zc[:, :, None])[:, 0, 0].astype(np.float64)
        log_s0, m1 = np.log(s0), s1 / s0
        out[a : a + len(t), 0] = (zt - mx) - log_s0
        out[a : a + len(t), 1] = log_s0 - m1
        out[a : a + len(t), 2] = s2 / s0 - m1 * m1
    return out


def doc_stats(q: np.ndarray, start: int = 0) -> dict[str, float]:
    """Statistics over rows ``start:`` of a document's [n, 4] token quantities.

    * mean, std and quartiles of the token log-likelihood; mean and std of the entropy; mean
      log-rank; the share of tokens that were the model's top-1 / top-10 / top-100 prediction (GLTR);
    * ``mean_gap`` / ``std_gap``: lp + entropy per token, how much likelier the observed token was than
      the model expected (machine text sits above its own expectation);
    * ``fast_detectgpt``: analytic sampling discrepancy of Fast-DetectGPT with
      the same model as sampler and scorer,
      (sum lp - sum E[log p]) / sqrt(sum Var[log p]);
    * ``binoculars``: log-perplexity / mean cross-entropy; with a single model
      the cross-entropy is the entropy of its own distribution, so this is
      (-mean lp) / mean ent.  Low values = text the model finds typical;
    * ``n_tokens``: number of scored tokens (the first token of a text has no
      context and is never scored).
    NaN statistics are returned for documents with no scored token."""
    q = np.asarray(q, dtype=np.float64)[start:]
    n = len(q)
    if n == 0:
        return {k: (0.0 if k == "n_tokens" else math.nan) for k in STAT_NAMES}
    lp, ent, var, rank = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    var_sum = float(np.maximum(var, 0.0).sum())
    disc = (lp.sum() + ent.sum()) / math.sqrt(var_sum) if var_sum > 0 else math.nan
    mean_ent = float(ent.mean())
    p10, p25, p50, p75 = np.percentile(lp, [10, 25, 50, 75]).tolist()
    gap = lp + ent
    return {
        "mean_loglik": float(lp.mean()),
        "std_loglik": float(lp.std()),
        "loglik_p10": float(p10),
        "loglik_p25": float(p25),
        "loglik_p50": float(p50),
        "loglik_p75": float(p75),
        "mean_entropy": mean_ent,
        "std_entropy": float(ent.std()),
        "mean_logrank": float(np.log(rank).mean()),
        "top1_share": float((rank <= 1).mean()),
        "top10_share": float((rank <= 10).mean()),
        "top100_share": float((rank <= 100).mean()),
        "mean_gap": float(gap.mean()),
        "std_gap": float(gap.std()),
        "fast_detectgpt": float(disc),
        "binoculars": float(-lp.mean() / mean_ent) if mean_ent > 0 else math.nan,
        "n_tokens": float(n),
    }
