"""The AI-text model's evaluation protocol: documents held out by source cluster (i), by generator
family (ii), by domain (iii), across corpora (iv); the rows under target; would more data help?

Why it looks like this: detectors break on unseen generators and domains, so the figures that matter
are held out by generator, domain and corpus, not a random split; every split keeps a source
cluster (a text and its continuations or rewrites) on one side.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .ai_data import Row
from .ai_fit import Fitted, TreeParams, balanced_weights, fasttext_decisions, fit_fasttext, fit_logistic


def auroc(scores: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i : j + 1] = (i + j) / 2.0 + 1
        i = j + 1
    r = np.empty(len(s))
    r[order] = ranks
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def threshold_at_fpr(human_scores: np.ndarray, fpr: float = 0.01) -> float:
    """Smallest threshold t with at most `fpr` of human scores strictly above t."""
    s = np.sort(human_scores)[::-1]
    k = int(np.floor(fpr * len(s)))
    return float(s[min(k, len(s) - 1)])


def tpr_at_fpr(scores: np.ndarray, y: np.ndarray, fpr: float = 0.01) -> float:
    t = threshold_at_fpr(scores[y == 0], fpr)
    return float((scores[y == 1] > t).mean())


def metric_row(setting: str, subset: str, scores, y) -> dict:
    return {
        "setting": setting,
        "subset": subset,
        "n_machine": int(y.sum()),
        "n_human": int((y == 0).sum()),
        "auroc": auroc(scores, y),
        "tpr_at_1pct_fpr": tpr_at_fpr(scores, y),
    }


class Data:
    """Rows + features + column arrays, so that every protocol split is a boolean mask.

    `ft_cache` holds fastText's out-of-split scores by split name: the feature model and the LM head
    are evaluated on the same splits and share them (fastText reads only the text).
    """

    def __init__(
        self,
        rows: list[Row],
        X: np.ndarray,
        n_folds: int,
        trees: TreeParams | None = None,
        ft_texts: list[str] | None = None,
        ft_dim: int = 16,
        ft_epochs: int = 0,
        ft_cache: dict | None = None,
    ):
        self.ft_texts = ft_texts
        self.ft_dim = ft_dim
        self.ft_epochs = ft_epochs if ft_texts is not None else 0
        self.ft_cache = {} if ft_cache is None else ft_cache
        self.trees = trees or TreeParams()
        self.rows = rows
        self.X = X
        self.y = np.array([r.y for r in rows])
        self.gen = np.array([r.generator for r in rows])
        self.fam = np.array([r.family for r in rows])
        self.dom = np.array([r.domain for r in rows])
        self.src = np.array([r.source for r in rows])
        self.fold = np.array([int(hashlib.sha1(r.cluster.encode()).hexdigest(), 16) % n_folds for r in rows])
        self.n_folds = n_folds

    def fit(self, mask: np.ndarray) -> Fitted:
        return Fitted(self.X[mask], self.y[mask], self.src[mask], self.trees)

    def ft_scores(self, train_mask: np.ndarray, test_mask: np.ndarray, key: str | None = None) -> np.ndarray:
        """fastText log-odds on `test_mask` rows from a classifier fit on `train_mask` rows (NaN elsewhere)."""
        if key is not None and key in self.ft_cache:
            return self.ft_cache[key]
        out = np.full(len(self.y), np.nan)
        model = fit_fasttext(self.ft_texts, self.y, np.flatnonzero(train_mask), self.ft_dim, self.ft_epochs)
        te = np.flatnonzero(test_mask)
        out[te] = fasttext_decisions(model, self.ft_texts, te)
        if key is not None:
            self.ft_cache[key] = out
        return out

    def ft_out_of_fold(self, train_mask: np.ndarray, groups: int | None = None, key: str | None = None) -> np.ndarray:
        """fastText out-of-fold log-odds; `groups` < n_folds merges folds (fewer, cheaper fits)."""
        if key is not None and key in self.ft_cache:
            return self.ft_cache[key]
        k = groups or self.n_folds
        g = self.fold % k
        out = np.full(len(self.y), np.nan)
        for f in range(k):
            s = self.ft_scores(train_mask & (g != f), g == f)
            out[g == f] = s[g == f]
        if key is not None:
            self.ft_cache[key] = out
        return out


def humans_like(data: Data, machine_mask: np.ndarray) -> np.ndarray:
    """The human texts a set of machine texts is told apart from: the humans of the same sources and
    domains, or every human text when some of the machine texts come from a source without humans
    (the chat answers)."""
    with_humans = set(data.src[data.y == 0])
    if not set(data.src[machine_mask]) <= with_humans:
        return data.y == 0
    pairs = set(zip(data.src[machine_mask], data.dom[machine_mask], strict=False))
    return (data.y == 0) & np.array([(s, d) in pairs for s, d in zip(data.src, data.dom, strict=False)])


def breakdown(setting: str, data: Data, scores: np.ndarray, mask: np.ndarray) -> list[dict]:
    """Overall, per generator family and per domain figures for scored rows in `mask`."""
    out = [metric_row(setting, "all", scores[mask], data.y[mask])]
    for g in sorted(set(data.fam[mask & (data.y == 1)])):
        gm = mask & (data.fam == g)
        sub = gm | (mask & humans_like(data, gm))
        out.append(metric_row(setting, f"generator={g}", scores[sub], data.y[sub]))
    doms = sorted(set(data.dom[mask]))
    if len(doms) > 1:
        for d in doms:
            sub = mask & (data.dom == d)
            if len(set(data.y[sub])) == 2:
                out.append(metric_row(setting, f"domain={d}", scores[sub], data.y[sub]))
    return out


def out_of_fold(data: Data, train_mask=None, groups: int | None = None) -> np.ndarray:
    """Decision values of every row from a model that never saw its src_cluster fold (`groups` < n_folds
    merges folds: fewer, cheaper fits)."""
    train_mask = np.ones(len(data.y), bool) if train_mask is None else train_mask
    k = groups or data.n_folds
    g = data.fold % k
    scores = np.full(len(data.y), np.nan)
    for f in range(k):
        model = data.fit(train_mask & (g != f))
        te = g == f
        scores[te] = model.decision(data.X[te])
    return scores


@dataclass
class Protocol:
    """What the protocol measured for one model: the figures of the stacked and the trees-only model, the
    (i) out-of-fold decision values, and each domain's decision values from a model that never saw it."""

    results: list[dict]
    results_features: list[dict]
    oof: np.ndarray
    held_out: dict[str, np.ndarray]
    stack_weight: float


def run_protocol(data: Data, log=print, generator_groups: int = 2) -> Protocol:
    """All figures (i)-(iv).

    Every split scores its test rows with the trees and (when enabled) with a fastText classifier
    trained on the same training rows; fastText's stacking weight is fit once, by a logistic stacker on
    the scores every row got from the models that never saw its domain ((iii); (i)'s out-of-fold
    scores when there is one domain), and applied to every split: word n-grams learn topic, and the
    weight that serves unseen domains is the one to ship. (ii) holds out a generator family
    (every version of a model), scored out of fold in `generator_groups` fold groups; (iii) holds out
    each domain whole, human-only domains included (they give the held-out human scores the
    `every_human_domain` threshold is chosen on); (iv) holds out each source whole.
    """
    use_ft = data.ft_epochs > 0
    everything = np.ones(len(data.y), bool)
    splits: list[tuple[str, str | None, np.ndarray, np.ndarray, np.ndarray | None]] = []
    f_i = out_of_fold(data)
    t_i = data.ft_out_of_fold(everything, key="i") if use_ft else None
    splits.append(("i_heldout_src_cluster", None, everything, f_i, t_i))
    log(
        f"  (i) held-out src_cluster: features {auroc(f_i, data.y):.3f}"
        + (f", fastText {auroc(t_i, data.y):.3f}" if use_ft else "")
    )
    for g in sorted(set(data.fam[data.y == 1])):
        gm = data.fam == g
        test = gm | humans_like(data, gm)
        f = out_of_fold(data, train_mask=~gm, groups=generator_groups)
        t = data.ft_out_of_fold(~gm, groups=generator_groups, key=f"ii:{g}") if use_ft else None
        splits.append(("ii_leave_one_generator_out", g, test, f, t))
        log(
            f"  (ii) without {g}: features {auroc(f[test], data.y[test]):.3f}"
            + (f", fastText {auroc(t[test], data.y[test]):.3f}" if use_ft else "")
        )
    held_out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for d in sorted(set(data.dom)):
        test = data.dom == d
        if test.all():
            continue
        f = data.fit(~test).decision(data.X)
        t = data.ft_scores(~test, test, key=f"iii:{d}") if use_ft else None
        held_out[d] = (f, t)
        if len(set(data.y[test])) < 2:
            kind = "human only, scored for the threshold" if data.y[test][0] == 0 else "machine only, no AUROC"
            log(f"  (iii) without domain {d}: {kind} ({int(test.sum())} texts)")
            continue
        splits.append((f"iii_leave_one_domain_out:{d}", None, test, f, t))
        log(
            f"  (iii) without domain {d}: features {auroc(f[test], data.y[test]):.3f}"
            + (f", fastText {auroc(t[test], data.y[test]):.3f}" if use_ft else "")
        )
    for src in sorted(set(data.src)):
        test = data.src == src
        if test.all() or len(set(data.y[test])) < 2:
            continue
        f = data.fit(~test).decision(data.X)
        t = data.ft_scores(~test, test, key=f"iv:{src}") if use_ft else None
        splits.append((f"iv_cross_source:rest->{src}", None, test, f, t))
        log(
            f"  (iv) the other sources -> {src}: features {auroc(f[test], data.y[test]):.3f}"
            + (f", fastText {auroc(t[test], data.y[test]):.3f}" if use_ft else "")
        )
    w = 0.0
    if use_ft:
        # fastText's weight is fit where it has to transfer: on every row's score from the model that
        # never saw its domain (the (iii) fits cover every row), else on (i)'s out-of-fold scores
        f_x, t_x = np.full(len(data.y), np.nan), np.full(len(data.y), np.nan)
        for d, (f, t) in held_out.items():
            f_x[data.dom == d], t_x[data.dom == d] = f[data.dom == d], t[data.dom == d]
        covered = ~np.isnan(f_x) & ~np.isnan(t_x)
        if covered.all():
            w = stack_weight(f_x, t_x, data.y)
            log(f"  fastText stacking weight, fit on the held-out-domain scores: {w:.3f}")
        else:
            w = stack_weight(f_i, t_i, data.y)
            log(f"  fastText stacking weight, fit on (i)'s out-of-fold scores: {w:.3f}")

    def stacked(f: np.ndarray, t: np.ndarray | None, weight: float) -> np.ndarray:
        return f if t is None or weight == 0 else f + weight * np.nan_to_num(t)

    def table(weight: float) -> list[dict]:
        out: list[dict] = []
        for setting, gen, mask, f, t in splits:
            s = stacked(f, t, weight)
            if gen is not None:
                out.append(metric_row(setting, f"generator={gen}", s[mask], data.y[mask]))
            else:
                out += breakdown(setting, data, s, mask)
        return out

    held = {d: stacked(f, t, w)[data.dom == d] for d, (f, t) in held_out.items()}
    return Protocol(table(w), table(0.0), stacked(f_i, t_i, w), held, w)


def stack_weight(f: np.ndarray, t: np.ndarray, y: np.ndarray) -> float:
    """Logistic stacker on out-of-fold [feature, fastText] log-odds: fastText's weight relative to the
    features' (the overall scale is left to Platt calibration)."""
    m, sc, coef, _ = fit_logistic(np.column_stack([f, t]), y.astype(float), balanced_weights(y, y), l2=0.0)
    a = coef / sc
    # capped: on small or odd data the feature coefficient can come out near zero, and an unbounded ratio
    # then buries the feature model (and Platt's slope) under fastText's log-odds
    return float(min(max(a[1], 0.0) / max(a[0], 1e-6), STACK_WEIGHT_MAX))


STACK_WEIGHT_MAX = 10.0


def _n_gen(data: Data, mask) -> int:
    return len(set(data.gen[mask & (data.y == 1)]))


def format_table(results: list[dict]) -> str:
    lines = [
        "| setting | subset | n machine | n human | AUROC | TPR @ 1 % FPR |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['setting']} | {r['subset']} | {r['n_machine']} | {r['n_human']} | "
            f"{r['auroc']:.3f} | {r['tpr_at_1pct_fpr']:.3f} |"
        )
    return "\n".join(lines)


def is_headline(row: dict) -> bool:
    """The protocol's headline rows: (i), every held-out generator, every held-out domain and both
    cross-source directions (the rows the model choices were compared on)."""
    return row["subset"] == "all" or row["setting"].startswith("ii_")


def headline(results: list[dict]) -> str:
    """Mean AUROC over the headline rows (one number to compare models by)."""
    rows = [r["auroc"] for r in results if is_headline(r)]
    return (
        f"mean AUROC over the {len(rows)} headline rows ((i), each held-out generator and domain, "
        f"cross-source): {np.mean(rows):.4f}"
    )


# the AUROC targets: documents held out by src_cluster (i), and unseen generator / domain / source
TARGET_HELD_OUT = 0.95
TARGET_SHIFTED = 0.85


def weak_spots(results: list[dict]) -> list[str]:
    """Rows under the targets (TARGET_HELD_OUT on (i), TARGET_SHIFTED on (ii)-(iv))."""
    out = []
    for r in results:
        target = TARGET_HELD_OUT if r["setting"].startswith("i_") else TARGET_SHIFTED
        if r["auroc"] < target:
            out.append(
                f"{r['setting']} / {r['subset']}: AUROC {r['auroc']:.3f} < {target} "
                f"(short by {target - r['auroc']:.3f}); TPR@1%FPR {r['tpr_at_1pct_fpr']:.3f}"
            )
    return out


LEARNING_CURVE_FRACTIONS = (0.125, 0.25, 0.5, 1.0)


def learning_curve(data: Data, fractions: tuple[float, ...] = LEARNING_CURVE_FRACTIONS, log=print) -> list[dict]:
    """Split (i) again, trained on a share of the training src_clusters (each held-out fold stays whole):
    how the figures grow with labelled data of the same kind tells whether labelling more would pay."""
    share = np.array(
        [int(hashlib.sha1(f"{r.cluster}#share".encode()).hexdigest(), 16) % 10**6 / 10**6 for r in data.rows]
    )
    out = []
    for frac in sorted(fractions):
        keep = share < frac  # nested: a smaller share's clusters are inside every larger one
        if any(len(set(data.y[keep & (data.fold != k)])) < 2 for k in range(data.n_folds)):
            log(f"  (i) with {frac:.1%} of the training clusters: skipped, a fold would train on one class")
            continue
        f = out_of_fold(data, train_mask=keep)
        t = data.ft_out_of_fold(keep) if data.ft_epochs > 0 else None
        s = f if t is None else f + stack_weight(f, t, data.y) * t
        row = {
            "fraction": frac,
            "train_texts": int(np.mean([(keep & (data.fold != k)).sum() for k in range(data.n_folds)])),
            "auroc_features": auroc(f, data.y),
            "auroc": auroc(s, data.y),
            "tpr_at_1pct_fpr": tpr_at_fpr(s, data.y),
        }
        out.append(row)
        log(
            f"  (i) with {frac:.1%} of the training clusters ({row['train_texts']} texts per fold): "
            f"features {row['auroc_features']:.3f}, stacked {row['auroc']:.3f}"
        )
    return out


def data_needed(curve: list[dict], target: float = TARGET_HELD_OUT) -> tuple[float, float | None]:
    """Power law through the curve, (1 - AUROC) = c * n^slope: the factor by which each doubling of the
    training texts cuts the shortfall, and the multiple of today's texts at which (i) would reach
    `target` (None when more data did not help). An extrapolation, not a measurement."""
    n = np.array([r["train_texts"] for r in curve], float)
    miss = 1.0 - np.array([r["auroc"] for r in curve])
    slope, icpt = np.polyfit(np.log(n), np.log(miss), 1)
    if slope > -1e-6:  # flat or worse (rounding leaves a flat fit a hair below zero)
        return float(2.0**slope), None
    return float(2.0**slope), float(np.exp((np.log(1.0 - target) - icpt) / slope) / n[-1])


def curve_text(curve: list[dict] | None) -> str:
    """The card's learning-curve table and what it says."""
    if not curve:
        return "Not measured for this model (`thresher train ai-detector ... --learning-curve` measures it)."
    lines = [
        "| share of training clusters | training texts per fold | AUROC features | AUROC stacked | TPR @ 1 % FPR |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['fraction']:.1%} | {r['train_texts']} | {r['auroc_features']:.3f} | {r['auroc']:.3f} | "
        f"{r['tpr_at_1pct_fpr']:.3f} |"
        for r in curve
    ]
    if len(curve) < 2:
        return "\n".join(lines)
    per_doubling, multiple = data_needed(curve)
    lines.append("")
    lines.append(
        f"Each doubling of the training texts multiplied the shortfall (1 - AUROC) by {per_doubling:.2f} "
        "(least-squares power law through the rows above)."
    )
    if multiple is not None:
        lines.append(
            f"If that law held, (i) would reach AUROC {TARGET_HELD_OUT} with about {multiple:.0f} times "
            "today's training texts. That is an extrapolation, not a measurement."
        )
    return "\n".join(lines)
