"""`thresher train ai-detector`: train, evaluate and write the machine-generated-text model + its card.

Input is labelled jsonl (`text`, `label` in human/machine/ai/0/1; optional `generator`, `domain`,
`source`, `pair_key`, `src_cluster`). A directory stands for all its *.jsonl files, one source named
after the directory (how SeqXGPT ships: one file per generator, `label` = generator name).

Why the protocol looks like this: detectors break on unseen generators and domains, so the figures
that matter are leave-one-generator-out, leave-one-domain-out and cross-source, not a random split.
Texts continuing a human prompt share that prompt with their human pair; the shared prefix is removed
from both (otherwise a detector learns the prompt), and every split keeps a source cluster together.

The model is the feature model of `thresher.filters.ai_text` stacked with a small fastText classifier
(`--fasttext-epochs 0` leaves fastText out). Neither sees layout: whitespace runs collapse to one space.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

from ...filters.ai_text.features import Featurizer, feature_names
from ...filters.ai_text.model import AIDetectorModel
from .ai_card import _top_features, write_card
from .ai_data import load_rows
from .ai_fit import TreeParams, build_featurizer, choose_sym_bigrams, featurize_all, fit_fasttext, fit_platt
from .ai_protocol import (
    LEARNING_CURVE_FRACTIONS,
    Data,
    curve_text,
    format_table,
    headline,
    learning_curve,
    run_protocol,
    threshold_at_fpr,
    weak_spots,
)


def train_final(data: Data, fz: Featurizer, oof: np.ndarray, args_dict: dict) -> AIDetectorModel:
    """Fit on all rows; calibrate and set the 1 %-FPR threshold on out-of-fold scores (held-out humans)."""
    full = data.fit(np.ones(len(data.y), bool))
    ft = None
    if data.ft_epochs > 0:
        ft = fit_fasttext(data.ft_texts, data.y, np.arange(len(data.y)), data.ft_dim, data.ft_epochs, quantize=True)
    a, pb = fit_platt(oof, data.y)
    cal_oof = 1.0 / (1.0 + np.exp(-(a * oof + pb)))
    thr = threshold_at_fpr(cal_oof[data.y == 0], 0.01)
    meta = {
        "languages": ["en"],
        "threshold_1pct_fpr": round(thr, 6),
        "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "n_train": {"machine": int(data.y.sum()), "human": int((data.y == 0).sum())},
        "generators": sorted(set(data.gen[data.y == 1])),
        "domains": sorted(set(data.dom)),
        "sources": sorted(set(data.src)),
        "train_args": args_dict,
        "calibration": "Platt on 5-fold out-of-fold (by src_cluster) stacked log-odds, classes weighted equally",
        "fasttext_weight": round(float(getattr(data, "stack_weight", 0.0)), 6),
        "oof_fpr_at_threshold": float((cal_oof[data.y == 0] > thr).mean()),
        "oof_tpr_at_threshold": float((cal_oof[data.y == 1] > thr).mean()),
        "oof_at_threshold_by_domain": {
            d: {
                "fpr": float((cal_oof[(data.dom == d) & (data.y == 0)] > thr).mean()),
                "tpr": float((cal_oof[(data.dom == d) & (data.y == 1)] > thr).mean()),
            }
            for d in sorted(set(data.dom))
        },
    }
    return AIDetectorModel(full.trees, a, pb, fz, meta, ft)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        action="append",
        required=True,
        help="labelled jsonl file, or a directory of them (one source); repeatable",
    )
    parser.add_argument("--out", help="directory for ai_detector.npz, AI_DETECTOR_CARD.md, metrics json")
    parser.add_argument(
        "--evaluate-only", action="store_true", help="run the evaluation protocol and print the figures; write nothing"
    )
    parser.add_argument("--folds", type=int, default=5, help="src_cluster folds for (i), (ii), calibration")
    parser.add_argument("--min-words", type=int, default=15, help="drop shorter texts (after prompt removal)")
    parser.add_argument("--vocab-size", type=int, default=40000, help="words kept from the frequency table")
    parser.add_argument(
        "--sym-bigrams", type=int, default=128, help="function-word/punctuation bigram features to use (0 = none)"
    )
    parser.add_argument("--trees", type=int, default=TreeParams.trees, help="boosting rounds of the feature model")
    parser.add_argument(
        "--learning-rate", type=float, default=TreeParams.learning_rate, help="learning rate of the boosted trees"
    )
    parser.add_argument("--leaves", type=int, default=TreeParams.leaves, help="leaves per tree")
    parser.add_argument("--min-leaf", type=int, default=TreeParams.min_leaf, help="fewest texts in a leaf")
    parser.add_argument(
        "--fasttext-epochs", type=int, default=20, help="epochs of the stacked fastText classifier (0 = no fastText)"
    )
    parser.add_argument("--fasttext-dim", type=int, default=16, help="fastText embedding size")
    parser.add_argument("--lexicon", help="marker lexicon JSON (default: the bundled one)")
    parser.add_argument(
        "--lm-features",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pseudo-language-model features against the reference bigram table",
    )
    parser.add_argument(
        "--learning-curve",
        action="store_true",
        help="also retrain split (i) on shares "
        f"{', '.join(f'{f:g}' for f in LEARNING_CURVE_FRACTIONS)} of the training clusters "
        "(would more labelled data help?); about 20 %% more time; the card shows it",
    )


def main(args: argparse.Namespace) -> int:
    if not args.evaluate_only and not args.out:
        print("error: --out DIR is needed unless --evaluate-only", file=sys.stderr)
        return 2
    t0 = time.time()
    rows = load_rows(args.data, args.min_words)
    if len({r.y for r in rows}) < 2:
        print("error: the data needs both human and machine texts", file=sys.stderr)
        return 2
    fz = build_featurizer(args.vocab_size, args.lexicon, lm=args.lm_features)
    if args.sym_bigrams:
        fz = Featurizer(fz.zipf, fz.lexicon, fz.stopwords, choose_sym_bigrams(fz, rows, args.sym_bigrams), fz.bigrams)
    X, ft_texts = featurize_all(fz, rows)
    trees = TreeParams(args.trees, args.learning_rate, args.leaves, args.min_leaf)
    data = Data(rows, X, args.folds, trees, ft_texts, args.fasttext_dim, args.fasttext_epochs)
    print(
        f"{len(rows)} texts ({int(data.y.sum())} machine), {len(set(data.gen))} generators, "
        f"{len(set(data.dom))} domains, features in {time.time() - t0:.1f}s"
    )
    results, oof = run_protocol(data)
    results_no_lm = None
    if fz.bigrams is not None:  # what the LM features add: the feature model without them, same splits
        n_lm = len(feature_names(fz.sym_bigrams, True)) - len(feature_names(fz.sym_bigrams, False))
        plain = Data(rows, X[:, :-n_lm], args.folds, trees)
        results_no_lm, _ = run_protocol(plain, log=lambda *a: None)
        print(f"  feature model without the LM features: (i) {results_no_lm[0]['auroc']:.3f}")
    print(format_table(results))
    print("\n" + headline(results))
    spots = weak_spots(results)
    print("\nunder target:" if spots else "\nall targets met")
    for s in spots:
        print("  " + s)
    curve = None
    if args.learning_curve:
        print("\nwould more labelled data help?")
        curve = learning_curve(data)
        print(curve_text(curve))
    if args.evaluate_only:
        return 0
    keep = (
        "folds",
        "min_words",
        "vocab_size",
        "sym_bigrams",
        "trees",
        "learning_rate",
        "leaves",
        "min_leaf",
        "fasttext_dim",
        "fasttext_epochs",
        "lm_features",
    )
    train_args = {k: v for k, v in vars(args).items() if k in keep}
    model = train_final(data, fz, oof, train_args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "ai_detector.npz")
    from .ai_bench import benchmark

    bench = benchmark(model_path=str(out / "ai_detector.npz"))
    (out / "ai_detector.metrics.json").write_text(
        json.dumps(
            {
                "results": results,
                "results_features_only": data.results_features,
                "results_features_without_lm": results_no_lm,
                "learning_curve": curve,
                "benchmark": bench,
                "meta": model.meta,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    cmd = (
        "thresher train ai-detector "
        + " ".join(f"--data {d}" for d in args.data)
        + f" --out {args.out}"
        + (" --learning-curve" if args.learning_curve else "")
    )
    write_card(out / "AI_DETECTOR_CARD.md", model, results, bench, cmd, data.results_features, results_no_lm, curve)
    print(f"\nfeatures the trees use most:\n{_top_features(model)}")
    print(f"threshold at 1 % FPR (out-of-fold humans): {model.threshold_1pct_fpr:.4f}")
    print(f"cost: {bench['ms_per_1000_words']:.3f} ms CPU per 1,000-word document")
    print(f"wrote {out / 'ai_detector.npz'} and {out / 'AI_DETECTOR_CARD.md'} in {time.time() - t0:.0f}s")
    return 0
