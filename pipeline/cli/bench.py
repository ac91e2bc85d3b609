"""`thresher bench`: presets against datatrove's FineWeb pipeline, `--fineweb2` against its FineWeb-2 filtering,
or `--extraction` quality."""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", "-i", action="append", help="WARC file, folder or glob (repeatable)")
    p.add_argument("--workers", "-w", type=int, default=2, help="worker processes for every pipeline (default: 2)")
    p.add_argument("--out", "-o", default="thresher-bench", help="folder for the runs and bench.json")
    p.add_argument(
        "--skip-datatrove",
        action="store_true",
        help="do not run datatrove; compare with its cached result if there is one",
    )
    p.add_argument("--rerun-datatrove", action="store_true", help="run datatrove even if a cached result exists")
    p.add_argument("--cache-dir", help="where datatrove's result is cached (default: TMPDIR/thresher-bench-cache)")
    p.add_argument("--lid-model", help="fastText LID model for datatrove (default: the bundled lid.176.ftz)")
    p.add_argument("--fineweb-preset", default="fineweb", help="preset measured as `fineweb` (name or YAML path)")
    p.add_argument("--fast-preset", default="fast", help="preset measured as `fast` (name or YAML path)")
    p.add_argument(
        "--thresher-preset",
        default="thresher",
        help="preset measured as `thresher` (name or YAML path; its LM block runs after dedup)",
    )
    p.add_argument(
        "--preset", action="append", default=[], metavar="LABEL=PRESET", help="also measure this preset (repeatable)"
    )
    p.add_argument(
        "--only",
        choices=["fineweb", "fast", "thresher"],
        action="append",
        help="measure only these of the three presets (repeatable)",
    )
    p.add_argument(
        "--extract-timeout",
        type=float,
        help="trafilatura's per-page limit in seconds for datatrove and every preset (default: as "
        "published, 1 s); raise it on a busy machine, where 1 s of wall time drops pages at random",
    )
    p.add_argument(
        "--extraction",
        action="store_true",
        help="score trafilatura and resiliparse against the gold text of the AEB pages instead",
    )
    p.add_argument("--aeb", help="article-extraction-benchmark folder (html/, ground-truth.json)")
    p.add_argument("--limit", type=int, help="with --extraction: only the first N pages")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every pipeline this many times and report the median run (a 15 s run varies "
        "by a second on a shared machine; default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="also print the result as JSON")
    p.add_argument(
        "--dedup",
        action="store_true",
        help="also score the fineweb run's dedup against the corpus manifest.jsonl (exact truth), "
        "next to datatrove's MinHash on the same documents",
    )
    p.add_argument(
        "--fineweb2",
        action="store_true",
        help="the fineweb2 preset's per-language filtering against datatrove's FineWeb-2 filtering on the same "
        "documents (the inputs' pages, plus lingua's sentences for languages with few pages): agreement per "
        "language and the speed ratio",
    )
    p.add_argument("--lingua", help="with --fineweb2: lingua's sentences folder (default: ../shared/data/lid/lingua)")
    p.add_argument(
        "--substitute",
        action="append",
        default=[],
        help="with --fineweb2: also count the decisions a faster tokenizer changes (kiwi_knlm, rjieba)",
    )
    p.add_argument("--language", action="append", help="with --fineweb2: only these FineWeb-2 labels (repeatable)")
    p.add_argument(
        "--approximate",
        action="store_true",
        help="with --fineweb2: also count the decisions spaCy xx words (the stand-in for Stanza and botok) change",
    )


def _lm_cost() -> str:
    """The LM block's CPU ms per 128-token document, next to the float32 floor of this CPU."""
    from ..lab import lm_bench

    try:
        return lm_bench.format_cost(lm_bench.measure())
    except Exception as e:  # the model missing: say so, the rest of the report stands
        return f"lm_likelihood cost: not measured ({e})"


def _ai_detector_cost() -> str:
    """The AI-text block's own cost, next to its target (1 ms of CPU per 1,000-word document)."""
    from ..lab.ai_bench import benchmark

    r = benchmark()
    shared, alone = r["ms_per_1000_words_tokens_shared"], r["ms_per_1000_words"]
    verdict = "MET" if shared <= 1.0 else "MISSED"
    return (
        f"ai_text cost: {shared:.2f} ms CPU per 1,000-word document with word splits shared by earlier blocks, "
        f"{alone:.2f} ms including the split ({r['n_docs']} documents, in batches of {r['batch_size']} as the "
        f"presets score them)\n  {verdict} ai_text <= 1 ms per 1,000 words"
    )


def _dedup_evaluation(files: list[str], out: str) -> str:
    from ..lab.dedup_eval import evaluate_run, format_run_evaluation

    manifest = os.path.join(os.path.dirname(files[0]), "manifest.jsonl")
    if not os.path.exists(manifest):
        return f"dedup: no {manifest} beside the inputs (build the corpus with build_bench_warc.py)"
    run_dir = os.path.join(os.path.abspath(out), "fineweb", "run")
    if not os.path.isdir(run_dir):
        candidates = [
            os.path.dirname(p)
            for p in glob.glob(os.path.join(os.path.abspath(out), "fineweb", "**", "stats.json"), recursive=True)
        ]
        if not candidates:
            return "dedup: no fineweb run in the bench folder"
        run_dir = candidates[0]
    res = evaluate_run(run_dir, manifest, os.path.join(os.path.abspath(out), "dedup-eval"))
    with open(os.path.join(out, "dedup.json"), "w") as f:
        json.dump(res, f, indent=2, default=str)
    return format_run_evaluation(res)


def main(args: argparse.Namespace) -> int:
    from ..lab import bench

    if args.extraction:
        from ..lab import extraction_eval

        folder = args.aeb or extraction_eval.default_aeb_dir()
        rows = extraction_eval.run_extraction(folder, args.limit)
        print(extraction_eval.format_extraction(rows))
        if args.json:
            print(json.dumps(rows, indent=2))
        return 0
    if not args.input:
        print("thresher bench: give --input WARC files (e.g. a corpus from build_bench_warc.py)", file=sys.stderr)
        return 2
    from ..read.inputs import expand_inputs

    files = expand_inputs(args.input)
    if args.fineweb2:
        from ..lab import fineweb2_bench

        return fineweb2_bench.main(args, files)
    presets = [("fineweb", args.fineweb_preset), ("fast", args.fast_preset), ("thresher", args.thresher_preset)]
    if args.only:
        presets = [(label, p) for label, p in presets if label in args.only]
    for item in args.preset:
        label, _, preset = item.partition("=")
        presets.append((label, preset or label))
    report = bench.run_bench(
        files,
        args.out,
        args.workers,
        presets,
        skip_datatrove=args.skip_datatrove,
        rerun_datatrove=args.rerun_datatrove,
        cache_dir=args.cache_dir,
        lid_model=args.lid_model,
        extract_timeout=args.extract_timeout,
        repeat=args.repeat,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    print(bench.format_report(report))
    print()
    print(_ai_detector_cost())
    print()
    print(_lm_cost())
    if args.dedup:
        print()
        print(_dedup_evaluation(files, args.out))
    print(f"\nruns and bench.json: {os.path.abspath(args.out)}")
    if args.json:
        with open(os.path.join(args.out, "bench.json")) as f:
            print(f.read())
    return 0 if all(m.ok for m in report["results"]) else 1
