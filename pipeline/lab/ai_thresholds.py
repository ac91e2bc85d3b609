"""Drop thresholds no human domain pays for, and where the LM head is worth its cost.

A threshold fit on pooled human texts holds its false-positive rate only on that pool: a domain
that scores high as a whole (non-native students' essays, terse abstracts) pays far more. Here
each human domain is held out of training in turn (the protocol's (iii)), and the threshold is
the lowest one that keeps every held-out domain at or under 1 % of its human texts above it.
"""

from __future__ import annotations

import numpy as np

from .ai_protocol import threshold_at_fpr

MAX_HUMAN_SHARE = 0.01  # of any held-out human domain's texts above `every_human_domain`


def calibrate(d: np.ndarray, a: float, b: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(a * d + b)))


def held_out_humans(
    held_out: dict[str, np.ndarray], dom: np.ndarray, y: np.ndarray, a: float, b: float
) -> dict[str, np.ndarray]:
    """Calibrated scores of each domain's human texts, from a model trained without the domain."""
    out = {}
    for d, scores in held_out.items():
        humans = y[dom == d] == 0
        if humans.any():
            out[d] = calibrate(scores[humans], a, b)
    return out


def every_human_domain(humans: dict[str, np.ndarray], share: float = MAX_HUMAN_SHARE) -> tuple[float, str]:
    """(threshold, the domain that sets it): the smallest threshold with at most `share` of every held-out
    human domain's texts above it."""
    worst, domain = -np.inf, ""
    for d, scores in humans.items():
        t = threshold_at_fpr(scores, share)
        if t > worst:
            worst, domain = t, d
    return float(worst), domain


def human_drop_table(humans: dict[str, np.ndarray], thresholds: dict[str, float | None]) -> list[dict]:
    """Per held-out human domain: its texts, and the share above each named threshold."""
    rows = []
    for d in sorted(humans):
        row = {"domain": d, "n_human": int(len(humans[d]))}
        for name, t in thresholds.items():
            row[name] = None if t is None else float((humans[d] > t).mean())
        rows.append(row)
    return rows


def format_drop_table(rows: list[dict], names: list[str]) -> str:
    lines = [
        "| human domain (held out) | texts | " + " | ".join(f"dropped at {n}" for n in names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    for r in rows:
        cells = ["—" if r[n] is None else f"{100 * r[n]:.1f} %" for n in names]
        lines.append(f"| {r['domain']} | {r['n_human']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def choose_band(
    cheap: np.ndarray, full: np.ndarray, threshold: float, max_changed: float = 0.005
) -> tuple[float, float, float]:
    """(low, high, share of documents inside): the narrowest band of cheap scores such that scoring only
    the documents inside it with the LM head (the others keep their cheap score) changes at most
    `max_changed` of the decisions at `threshold` against scoring every document with the LM head.
    Out-of-fold scores of both models on the same documents."""
    decided = full > threshold
    qs = np.unique(np.quantile(cheap, np.linspace(0.0, 1.0, 101)))
    best = (0.0, 1.0, 1.0)
    for i, lo in enumerate(qs):
        for hi in qs[i:][::-1]:
            inside = (cheap >= lo) & (cheap <= hi)
            mixed = np.where(inside, full, cheap) > threshold
            if (mixed != decided).mean() > max_changed:
                break  # a narrower top end only changes more
            if inside.mean() < best[2]:
                best = (float(lo), float(hi), float(inside.mean()))
    return best
