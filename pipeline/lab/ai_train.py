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
import os
import sys
import time
from pathlib import Path

import numpy as np

from ...filters.ai_text.features import Featurizer
from ...filters.ai_text.model import AIDetectorModel, LMHead
from ...filters.lm_likelihood import STAT_NAMES, default_model_path
from .ai_card import write_card
from .ai_data import load_rows
from .ai_fit import TreeParams, build_featurizer, choose_sym_bigrams, featurize_all, fit_fasttext, fit_platt
from .ai_protocol import (
    LEARNING_CURVE_FRACTIONS,
    Data,
    Protocol,
    curve_text,
    format_table,
    headline,
    learning_curve,
    run_protocol,
    threshold_at_fpr,
    weak_spots,
)
from .ai_thresholds import (
    calibrate,
    choose_band,
    every_human_domain,
    format_drop_table,
    held_out_humans,
    human_drop_table,
)
from .lm_cache import lm_stats


def fit_heads(
    data: Data, data_lm: Data | None, fz: Featurizer, cheap: Protocol, full: Protocol | None, settings: dict
) -> AIDetectorModel:
    """Fit on all rows: the cheap trees (+ fastText), and the LM head when there are LM statistics; each
    calibrated on its out-of-fold scores, with its thresholds and (the LM head) the band it re-scores."""
    everything = np.ones(len(data.y), bool)
    ft = None
    if data.ft_epochs > 0:
        ft = fit_fasttext(data.ft_texts, data.y, np.arange(len(data.y)), data.ft_dim, data.ft_epochs, quantize=True)
    a, b = fit_platt(cheap.oof, data.y)
    meta = {
        "languages": ["en"],
        "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "n_train": {"machine": int(data.y.sum()), "human": int((data.y == 0).sum())},
        "generators": sorted(set(data.gen[data.y == 1])),
        "generator_families": sorted(set(data.fam[data.y == 1])),
        "domains": sorted(set(data.dom)),
        "sources": sorted(set(data.src)),
        "train_args": settings,
        "calibration": "Platt on 5-fold out-of-fold (by src_cluster) stacked log-odds, classes weighted equally",
        "fasttext_weight": round(float(cheap.stack_weight), 6),
        **thresholds_meta("thresholds", data, cheap, a, b),
    }
    meta["threshold_1pct_fpr"] = meta["thresholds"]["1pct_fpr"]
    model = AIDetectorModel(data.fit(everything).trees, a, b, fz, meta, ft)
    if data_lm is not None and full is not None:
        la, lb = fit_platt(full.oof, data.y)
        meta.update(thresholds_meta("lm_thresholds", data, full, la, lb))
        band = choose_band(
            calibrate(cheap.oof, a, b), calibrate(full.oof, la, lb), meta["lm_thresholds"]["every_human_domain"]
        )
        meta["lm"] = {
            "max_tokens": settings["lm_max_tokens"],
            "model": settings["lm_model"],
            "band_share_of_documents": round(band[2], 4),
        }
        model.lm = LMHead(
            data_lm.fit(everything).trees,
            la,
            lb,
            tuple(STAT_NAMES),
            float(full.stack_weight),
            (round(band[0], 6), round(band[1], 6)),
        )
    return model


def thresholds_meta(key: str, data: Data, proto: Protocol, a: float, b: float) -> dict:
    """The named thresholds of one head, and the human domains' held-out scores they were chosen on."""
    oof = calibrate(proto.oof, a, b)
    humans = held_out_humans(proto.held_out, data.dom, data.y, a, b)
    every, worst = every_human_domain(humans)
    pooled = threshold_at_fpr(oof[data.y == 0], 0.01)
    return {
        key: {"1pct_fpr": round(pooled, 6), "every_human_domain": round(every, 6)},
        f"{key}_worst_domain": worst,
        f"{key}_human_drop": human_drop_table(humans, {"1pct_fpr": pooled, "every_human_domain": every}),
        f"{key}_oof_tpr": {
            "1pct_fpr": float((oof[data.y == 1] > pooled).mean()),
            "every_human_domain": float((oof[data.y == 1] > every).mean()),
        },
    }


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        action="append",
        required=True,
        help="labelled jsonl file, a directory of them (one source), or web:aeb / web:bench "
        "(human web text from before chat models, in ../shared); repeatable",
    )
    parser.add_argument("--out", help="directory for ai_detector.npz, AI_DETECTOR_CARD.md, metrics json")
    parser.add_argument(
        "--evaluate-only", action="store_true", help="run the evaluation protocol and print the figures; write nothing"
    )
    parser.add_argument("--folds", type=int, default=5, help="src_cluster folds for (i), (ii), calibration")
    parser.add_argument("--min-words", type=int, default=15, help="drop shorter texts (after prompt removal)")
    parser.add_argument(
        "--cap-per-generator",
        type=int,
        default=60,
        help="at most this many texts per generator of a source without human texts",
    )
    parser.add_argument("--vocab-size", type=int, default=40000, help="words kept from the frequency table")
    parser.add_argument(
        "--sym-bigrams", type=int, default=128, help="function-word/punctuation bigram features to use (0 = none)"
    )
    parser.add_argument("--trees", type=int, default=TreeParams.trees, help="boosting rounds of each trees model")
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
        "--lm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="train the LM head on the language model's statistics (cached per text; the first "
        "run scores every text, ~0.15-0.4 s of CPU each)",
    )
    parser.add_argument("--lm-max-tokens", type=int, default=128, help="tokens the LM reads of each text")
    parser.add_argument("--lm-model", help="GGUF model file for the LM statistics (default: SmolLM2-135M)")
    parser.add_argument(
        "--learning-curve",
        action="store_true",
        help="also retrain split (i) on shares "
        f"{', '.join(f'{f:g}' for f in LEARNING_CURVE_FRACTIONS)} of the training clusters "
        "(would more labelled data help?); the card shows it",
    )


SETTINGS = (
    "folds",
    "min_words",
    "cap_per_generator",
    "vocab_size",
    "sym_bigrams",
    "trees",
    "learning_rate",
    "leaves",
    "min_leaf",
    "fasttext_dim",
    "fasttext_epochs",
    "lm_max_tokens",
)


def main(args: argparse.Namespace) -> int:
    if not args.evaluate_only and not args.out:
        print("error: --out DIR is needed unless --evaluate-only", file=sys.stderr)
        return 2
    t0 = time.time()
    rows = load_rows(args.data, args.min_words, cap_per_generator=args.cap_per_generator)
    if len({r.y for r in rows}) < 2:
        print("error: the data needs both human and machine texts", file=sys.stderr)
        return 2
    fz = build_featurizer(args.vocab_size, args.lexicon)
    if args.sym_bigrams:
        fz = Featurizer(fz.zipf, fz.lexicon, fz.stopwords, choose_sym_bigrams(fz, rows, args.sym_bigrams), fz.bigrams)
    X, ft_texts = featurize_all(fz, rows)
    trees = TreeParams(args.trees, args.learning_rate, args.leaves, args.min_leaf)
    ft_cache: dict = {}
    data = Data(rows, X, args.folds, trees, ft_texts, args.fasttext_dim, args.fasttext_epochs, ft_cache)
    print(
        f"{len(rows)} texts ({int(data.y.sum())} machine), {len(set(data.fam))} generator families, "
        f"{len(set(data.dom))} domains, features in {time.time() - t0:.1f}s"
    )
    print("\nthe cheap score (features + fastText), every document:")
    cheap = run_protocol(data)
    data_lm = full = None
    if args.lm:
        L = lm_stats([r.text for r in rows], args.lm_max_tokens, args.lm_model)
        data_lm = Data(
            rows, np.hstack([X, L]), args.folds, trees, ft_texts, args.fasttext_dim, args.fasttext_epochs, ft_cache
        )
        print("\nthe LM head (features + LM statistics + fastText), the documents the LM block scores:")
        full = run_protocol(data_lm)
    headline_proto = full or cheap
    print(format_table(headline_proto.results))
    print("\n" + headline(headline_proto.results) + (f"  (cheap score: {headline(cheap.results)})" if full else ""))
    spots = weak_spots(headline_proto.results)
    print("\nunder target:" if spots else "\nall targets met")
    for s in spots:
        print("  " + s)
    curve = None
    if args.learning_curve:
        print("\nwould more labelled data help? (the cheap score)")
        curve = learning_curve(data)
        print(curve_text(curve))
    settings = {k: v for k, v in vars(args).items() if k in SETTINGS}
    settings["lm_model"] = os.path.basename(args.lm_model or str(default_model_path())) if args.lm else None
    model = fit_heads(data, data_lm, fz, cheap, full, settings) if not args.evaluate_only else None
    # the thresholds are in the model's metadata; with --evaluate-only, calibrate and print them all the same
    meta = model.meta if model is not None else _thresholds_only(data, cheap, full)
    print_thresholds(meta)
    if args.evaluate_only:
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "ai_detector.npz")
    from .ai_bench import benchmark

    bench = benchmark(model_path=str(out / "ai_detector.npz"))
    metrics = {
        "results": headline_proto.results,
        "results_cheap": cheap.results,
        "results_features_only": cheap.results_features,
        "learning_curve": curve,
        "benchmark": bench,
        "meta": model.meta,
    }
    (out / "ai_detector.metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    cmd = (
        "thresher train ai-detector "
        + " ".join(f"--data {d}" for d in args.data)
        + f" --out {args.out}"
        + (" --learning-curve" if args.learning_curve else "")
    )
    write_card(out / "AI_DETECTOR_CARD.md", model, metrics, cmd)
    print(f"\nwrote {out / 'ai_detector.npz'} and {out / 'AI_DETECTOR_CARD.md'} in {time.time() - t0:.0f}s")
    return 0


def _thresholds_only(data: Data, cheap: Protocol, full: Protocol | None) -> dict:
    meta = thresholds_meta("thresholds", data, cheap, *fit_platt(cheap.oof, data.y))
    if full is not None:
        meta.update(thresholds_meta("lm_thresholds", data, full, *fit_platt(full.oof, data.y)))
    return meta


def print_thresholds(meta: dict) -> None:
    for key, label in (("thresholds", "cheap score"), ("lm_thresholds", "LM head")):
        if key not in meta:
            continue
        t, tpr, worst = meta[key], meta[key + "_oof_tpr"], meta[key + "_worst_domain"]
        print(
            f"\n{label}: 1pct_fpr = {t['1pct_fpr']:.4f} (out-of-fold TPR {tpr['1pct_fpr']:.3f}), every_human_domain"
            f" = {t['every_human_domain']:.4f} (TPR {tpr['every_human_domain']:.3f}; set by {worst})"
        )
        rows = meta[key + "_human_drop"]
        print(format_drop_table(rows, ["1pct_fpr", "every_human_domain"]))
        print(_worst_line(rows))


def _worst_line(rows: list[dict]) -> str:
    """The worst held-out human domain at each named threshold, the non-native essays apart."""
    parts = []
    for name in ("1pct_fpr", "every_human_domain"):
        worst = max(rows, key=lambda r: r[name] or 0.0)
        where = worst["domain"] if worst[name] else "none in any domain"
        parts.append(f"at {name} {100 * (worst[name] or 0.0):.1f} % ({where})")
    line = "worst held-out human domain: " + ", ".join(parts)
    toefl = [r for r in rows if "toefl" in r["domain"]]
    if toefl:
        r = toefl[0]
        line += f"; non-native TOEFL essays: {100 * r['1pct_fpr']:.1f} % / {100 * r['every_human_domain']:.1f} %"
    return line + "; " + _preset_thresholds()


def _preset_thresholds() -> str:
    """What each shipped preset drops on: its AI-text blocks' thresholds as the preset writes them."""
    from ...filters.presets import read_preset

    said = []
    for name in ("fineweb", "fast", "thresher", "fineweb2"):
        steps = dict(read_preset(name)["pipeline"])
        ts = {str(steps[b].get("threshold")) for b in ("ai_text", "ai_text_lm") if b in steps} - {"None"}
        said.append(f"{name} " + (", ".join(sorted(ts)) if ts else "annotates only (0 % dropped)"))
    return "presets: " + "; ".join(said)
