"""What the card and the page are made from: one pass over a run, and the per-block table."""

from __future__ import annotations

import glob
import os
from collections import Counter
from dataclasses import dataclass

import yaml

from .scan import KEPT, Scan, load_stats, pipeline_blocks, read_json, scan_run, shard_paths, task_progress, text_start


@dataclass
class Summary:
    run_dir: str
    run: dict | None
    stats: dict | None
    complete: bool
    progress: dict[str, tuple[int, int]]
    scan: Scan
    description: str | None


def summarize(run_dir: str) -> Summary:
    run_dir = os.path.abspath(run_dir)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"run folder {run_dir!r} does not exist")
    run = read_json(os.path.join(run_dir, "run.json"))
    stats, complete = load_stats(run_dir, run)
    if run is None and stats is None and not shard_paths(run_dir):
        raise FileNotFoundError(f"{run_dir!r} holds no run.json, stats.json or parquet shards: not a thresher run")
    description = None
    preset = (run or {}).get("preset") or (stats or {}).get("preset")
    if preset and os.path.isfile(preset):
        try:
            with open(preset, encoding="utf-8") as f:
                description = (yaml.safe_load(f) or {}).get("description")
        except (OSError, yaml.YAMLError):
            description = None
    return Summary(run_dir, run, stats, complete, task_progress(run_dir, run), scan_run(run_dir, run), description)


def block_table(s: Summary) -> list[dict]:
    """Per block: documents in/out/dropped (stats, or shard counts without stats) and words in/out.

    Words are whitespace-separated tokens of each document's text as it left the pipeline: kept
    documents' final text, removed documents' text when removed. Removed documents are on disk only
    with write_removed, so words in are known only then; before `extract` the text is HTML, not counted.
    """
    names = pipeline_blocks(s.run) if s.run else ["reader"] + [b["block"] for b in (s.stats or {}).get("blocks", [])]
    by_block = {b["block"]: b for b in (s.stats or {}).get("blocks", [])}
    removed_dirs = {os.path.basename(d) for d in glob.glob(os.path.join(s.run_dir, "removed", "*"))}
    have_removed = bool(removed_dirs)
    sc = s.scan
    rows = []
    # documents
    if s.stats is not None:
        d = s.stats["documents"]
        for name in names:
            if name == "reader":
                r = s.stats.get("reader", {})
                rows.append(
                    {
                        "block": "reader",
                        "in": int(r.get("html_records", d["html_records"])),
                        "out": int(r.get("forwarded", 0)),
                        "dropped": int(d["removed_by"].get("reader", 0)),
                        "reasons": _reader_reasons(r),
                    }
                )
            elif name in by_block:
                b = by_block[name]
                rows.append(
                    {
                        "block": name,
                        "in": b["in"],
                        "out": b["out"],
                        "dropped": b["dropped"],
                        "reasons": dict(b["reasons"]),
                    }
                )
    else:  # no stats at all yet: what the shards hold
        remaining = sc.rows[KEPT] + sum(sc.rows[n] for n in names)
        for name in names:
            dropped = sc.rows[name]
            reasons = {r: c for (b, r), c in sc.reasons.items() if b == name}
            rows.append(
                {"block": name, "in": remaining, "out": remaining - dropped, "dropped": dropped, "reasons": reasons}
            )
            remaining -= dropped
    # words, from the last block backwards: out(b) = kept + removed after b; in(b) = out(b) + removed by b
    text_from = text_start(names)  # first block whose input is text
    out_words: int | None = sc.words[KEPT]
    for row in reversed(rows):
        idx = names.index(row["block"])
        row["words_out"] = out_words if idx >= text_from - 1 else None
        on_disk = row["dropped"] == 0 or sc.rows[row["block"]] > 0  # a block may drop without writing removed/
        known = idx >= text_from and have_removed and on_disk and out_words is not None
        row["words_in"] = out_words + sc.words[row["block"]] if known else None
        out_words = row["words_in"]
    return rows


def _reader_reasons(reader: dict) -> dict[str, int]:
    return {k.removeprefix("dropped_"): int(v) for k, v in reader.items() if k.startswith("dropped_")}


def size_category(n: int) -> str:
    """Hugging Face's size_categories value for `n` rows."""
    bounds = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
        (1_000_000_000, "100M<n<1B"),
        (10_000_000_000, "1B<n<10B"),
        (100_000_000_000, "10B<n<100B"),
        (10**12, "100B<n<1T"),
    ]
    for bound, label in bounds:
        if n < bound:
            return label
    return "n>1T"


def kept_count(s: Summary) -> int:
    """Kept documents: the shards on disk when the run is partial, stats otherwise."""
    if s.stats is not None and s.complete:
        return int(s.stats["documents"]["kept"])
    return int(s.scan.rows[KEPT])


def language_codes(s: Summary) -> list[str]:
    """ISO codes of kept documents' languages, most documents first (`eng_Latn` -> `eng`)."""
    langs = s.scan.languages.get(KEPT, Counter())
    out: list[str] = []
    for lang, _ in langs.most_common():
        code = lang.split("_")[0].split("-")[0].lower()
        if code and code.isalpha() and code not in out and code not in ("none", "unknown", "und"):
            out.append(code)
    return out
