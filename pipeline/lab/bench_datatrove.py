"""datatrove's own FineWeb pipeline (its examples/fineweb.py, offline): the reference `thresher bench`
measures the presets against. Run as a module it is the measured child process:
`python -m thresher.pipeline.lab.bench_datatrove --out DIR --workers N --lid-model PATH FILES...`.
"""

from __future__ import annotations

import json
import os
import re
import sys


def run_datatrove(files: list[str], out: str, workers: int, lid_model: str, extract_timeout: float = 1.0) -> None:
    """datatrove's examples/fineweb.py, run locally and offline: filtering, then its 4 MinHash stages.

    Offline changes only: the LID model comes from `lid_model`, tldextract uses its bundled suffix
    list, the output is parquet, and TokensCounter (which downloads a tokenizer) is left out.
    `extract_timeout` is trafilatura's per-page limit (1 s in the example).
    """
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (  # not .dedup: it imports tokenizers
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
        URLFilter,
    )
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import ParquetReader, WarcReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.hashing import HashConfig
    from tldextract import TLDExtract

    input_dir = os.path.join(out, "input")
    os.makedirs(input_dir, exist_ok=True)
    for i, path in enumerate(files):  # datatrove reads a folder: link the inputs into one
        os.symlink(os.path.abspath(path), os.path.join(input_dir, f"{i:05d}_{os.path.basename(path)}"))
    tasks = len(files)
    filtered, final = os.path.join(out, "filtered"), os.path.join(out, "final")
    minhash = os.path.join(out, "minhash")
    logs = os.path.join(out, "logs")

    url_filter = URLFilter()
    url_filter.tldextractor = TLDExtract(suffix_list_urls=())  # bundled public suffix list, no fetch
    language = LanguageFilter(languages=["en"])
    language.model.MODEL_URL = lid_model  # instead of downloading lid.176.bin

    config = MinhashConfig(
        hash_config=HashConfig(hash_fc="sha1", precision=64), num_buckets=14, hashes_per_bucket=8, n_grams=5
    )
    stages = [
        (
            "filter",
            [
                WarcReader(input_dir, glob_pattern="*.warc*"),
                url_filter,
                Trafilatura(favour_precision=True, timeout=extract_timeout),
                language,
                GopherRepetitionFilter(),
                GopherQualityFilter(),
                C4QualityFilter(filter_no_terminal_punct=False),
                FineWebQualityFilter(),
                ParquetWriter(filtered),
            ],
            tasks,
        ),
        ("signatures", [ParquetReader(filtered), MinhashDedupSignature(f"{minhash}/signatures", config=config)], tasks),
        (
            "buckets",
            [MinhashDedupBuckets(f"{minhash}/signatures", f"{minhash}/buckets", config=config)],
            config.num_buckets,
        ),
        ("clusters", [MinhashDedupCluster(f"{minhash}/buckets", f"{minhash}/remove_ids", config=config)], 1),
        (
            "final",
            [
                ParquetReader(filtered),
                MinhashDedupFilter(f"{minhash}/remove_ids"),
                PIIFormatter(),
                ParquetWriter(final),
            ],
            tasks,
        ),
    ]
    for name, pipeline, n in stages:
        LocalPipelineExecutor(pipeline, tasks=n, workers=min(workers, n), logging_dir=os.path.join(logs, name)).run()


def datatrove_block_seconds(out: str) -> list[tuple[str, float]]:
    """(step, seconds summed over tasks) from each stage's merged stats.json."""
    rows: list[tuple[str, float]] = []
    for stage in ("filter", "signatures", "buckets", "clusters", "final"):
        path = os.path.join(out, "logs", stage, "stats.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            steps = json.load(f)
        for step in steps:
            ts = step.get("time_stats") or {}
            seconds = ts.get("total", 0.0) if isinstance(ts, dict) else 0.0
            rows.append((f"{stage}: {_plain(step.get('name', '?'))}", float(seconds)))
    return rows


def datatrove_timeouts(out: str) -> int:
    """Documents datatrove's Trafilatura step dropped on its time limit."""
    path = os.path.join(out, "logs", "filter", "stats.json")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        steps = json.load(f)
    for step in steps:
        value = (step.get("stats") or {}).get("timeout", 0)
        if value:
            return int(value["total"] if isinstance(value, dict) else value)
    return 0


def _plain(name: str) -> str:
    """A step name without its emoji."""
    return " ".join(re.sub(r"[^\w\s:().-]", " ", name).split()).lstrip("- ")


def _child_main(argv: list[str]) -> int:
    """Run datatrove's pipeline once (the measured child)."""
    import argparse

    p = argparse.ArgumentParser(prog="thresher.pipeline.lab.bench_datatrove")
    d = p
    d.add_argument("--out", required=True)
    d.add_argument("--workers", type=int, default=1)
    d.add_argument("--lid-model", required=True)
    d.add_argument("--extract-timeout", type=float, default=1.0)
    d.add_argument("files", nargs="+")
    args = p.parse_args(argv)
    run_datatrove(args.files, args.out, args.workers, args.lid_model, args.extract_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
