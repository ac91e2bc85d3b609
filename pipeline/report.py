"""Look at a run: gather what its parquet shards and stats say, then write a dataset card and an HTML page.

Everything is read in one streaming pass over the shards, only the columns a plot needs, into bounded
aggregates (fixed-bin histograms, capped counters, small reservoirs), so a report of a large run
costs time, not memory. A run still in progress (or interrupted) is reported from what exists:
its complete shards and the stats files of its finished tasks.
"""

from __future__ import annotations

import glob
import html
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from thresher.pipeline.schema import PROVENANCE_COLUMNS, REMOVED_COLUMNS

KEPT, REMOVED = "kept", "removed"
SERIES = (KEPT, REMOVED)
COLORS = {KEPT: "#2b6cb0", REMOVED: "#d9534f", "dropped": "#f0a8a6", "remaining": "#2b6cb0"}
TERMINAL_PUNCT = (".", "!", "?", '"', "'", "”", "’", "…", "。", "！", "？")
BATCH_ROWS = 1024
TOP_DOMAINS = 25
TOP_LANGUAGES = 20
COUNTER_CAP = 100_000  # distinct hosts kept before the rarest are pruned (top counts stay right)
RESERVOIR = 20_000  # values kept per generic metric and series
MAX_EXTRA_METRICS = 12
HANDLED = {"ai_score", "language_score", "dup_cluster_size", "dup_cluster_id"}


# --- reading a run -------------------------------------------------------------------------------


def read_json(path: str) -> dict | None:
    """A JSON file, or None when it is absent or half-written (a run still going)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def pipeline_blocks(run: dict | None) -> list[str]:
    """Block names in pipeline order, `reader` first."""
    return ["reader"] + [name for name, _ in (run or {}).get("pipeline") or []]


def text_start(names: list[str]) -> int:
    """Index in `names` of the first block that receives text, not HTML: the one after the extractor.

    Extractors are the blocks named `extract*` (trafilatura's `extract`, `extract_resiliparse`).
    """
    extractors = [i for i, n in enumerate(names) if n.startswith("extract")]
    return extractors[-1] + 1 if extractors else 1


def shard_paths(run_dir: str, which: str | None = None) -> list[tuple[str | None, str]]:
    """(removed_by block or None for kept, path) of every complete shard, in a stable order.

    `which`: None for all, "kept" for data/ only, "removed" for every removed/ block, or a block name.
    """
    out: list[tuple[str | None, str]] = []
    if which in (None, KEPT):
        out += [(None, p) for p in sorted(glob.glob(os.path.join(run_dir, "data", "*.parquet")))]
    if which != KEPT:
        order = pipeline_blocks(read_json(os.path.join(run_dir, "run.json")))
        folders = sorted(
            (d for d in glob.glob(os.path.join(run_dir, "removed", "*")) if os.path.isdir(d)),
            key=lambda d: (order.index(os.path.basename(d)) if os.path.basename(d) in order else len(order), d),
        )
        for folder in folders:
            block = os.path.basename(folder)
            if which in (None, REMOVED, block):
                out += [(block, p) for p in sorted(glob.glob(os.path.join(folder, "*.parquet")))]
    return out


def read_positions(path: str, positions: list[int], batch_rows: int = BATCH_ROWS) -> list[dict]:
    """The rows at `positions` (0-based, in file order) of one shard, streamed batch by batch.

    Shards are written as one large row group, so reading "the row group" would load the whole
    shard; batches keep memory to `batch_rows` rows.
    """
    wanted = sorted(set(positions))
    rows: list[dict] = []
    start, k = 0, 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        end = start + batch.num_rows
        local = []
        while k < len(wanted) and wanted[k] < end:
            local.append(wanted[k] - start)
            k += 1
        if local:
            rows += batch.take(local).to_pylist()
        if k == len(wanted):
            break
        start = end
    return rows


def task_progress(run_dir: str, run: dict | None) -> dict[str, tuple[int, int]]:
    """stage -> (tasks completed, tasks), from datatrove's completion markers."""
    out = {}
    for stage, total in ((run or {}).get("tasks") or {}).items():
        done = len(glob.glob(os.path.join(run_dir, "logs", stage, "completions", "*")))
        out[stage] = (min(done, int(total)), int(total))
    return out


def load_stats(run_dir: str, run: dict | None) -> tuple[dict | None, bool]:
    """(stats, complete): stats.json when the run finished, else stats merged from finished tasks.

    stats.json is written at the end of a run and run.json at its start, so a stats.json older than
    run.json belongs to an earlier attempt and is not used.
    """
    path = os.path.join(run_dir, "stats.json")
    stats = read_json(path)
    run_path = os.path.join(run_dir, "run.json")
    if stats is not None and (not os.path.exists(run_path) or os.path.getmtime(path) >= os.path.getmtime(run_path)):
        return stats, True
    if run is None:
        return None, False
    return partial_stats(run_dir, run), False


def partial_stats(run_dir: str, run: dict) -> dict | None:
    """The stats.json shape, from the per-task stats files that exist so far (finished tasks only)."""
    from thresher.pipeline.run import STAGE_BREAKS
    from thresher.pipeline.stats import _block_entry, _merge_task_files, thresher_version

    names = [n for n, _ in run.get("pipeline") or []]
    cut = next((i for i, n in enumerate(names) if n in STAGE_BREAKS), None)
    # pipeline positions: filter = [task start, reader, blocks.., writer]; final = [task start, parquet reader, ..]
    stages = [("filter", ["reader"] + (names if cut is None else names[:cut]), 1)]
    if cut is not None:
        stages.append(("final", names[cut:], 2))
    reader: Counter = Counter()
    blocks: list[dict] = []
    prev_out: int | None = None
    found = False
    for stage, stage_names, first in stages:
        merged = _merge_task_files(os.path.join(run_dir, "logs", stage))
        for j, name in enumerate(stage_names):
            pos = first + j
            if pos >= len(merged):
                break
            found = True
            if name == "reader":
                reader += merged[pos]["counts"]
                prev_out = int(reader.get("forwarded", 0))
                continue
            entry = _block_entry(name, stage, merged[pos]["counts"], merged[pos]["seconds"], prev_out)
            blocks.append(entry)
            prev_out = entry["out"]
    if not found:
        return None
    reader_dropped = sum(int(v) for k, v in reader.items() if k.startswith("dropped_"))
    html_records = int(reader.get("html_records", 0))
    kept = prev_out or 0
    removed = reader_dropped + sum(b["dropped"] for b in blocks)
    return {
        "thresher_version": thresher_version(),
        "preset": run.get("preset"),
        "input_files": len(run.get("inputs") or []),
        "reader": {k: int(v) for k, v in sorted(reader.items())},
        "blocks": blocks,
        "stages": {},
        "documents": {
            "html_records": html_records,
            "kept": kept,
            "removed": removed,
            "removed_by": {"reader": reader_dropped, **{b["block"]: b["dropped"] for b in blocks}},
            "accounted": html_records == kept + removed,
        },
        "partial": True,
    }


# --- bounded aggregates --------------------------------------------------------------------------


@dataclass
class Hist:
    """Fixed-bin histogram per series; `edges` are the lower bounds of the bins."""

    edges: list[float]
    labels: list[str]
    counts: dict[str, list[int]] = field(default_factory=dict)
    missing: Counter = field(default_factory=Counter)  # null values per series

    def add(self, values: pa.Array | np.ndarray, series: str) -> None:
        """Counts every value of `values` (nulls and NaN as missing)."""
        arr = _floats(values)
        nan = np.isnan(arr)
        self.missing[series] += int(nan.sum())
        arr = arr[~nan]
        if not len(arr):
            return
        idx = np.clip(np.searchsorted(np.asarray(self.edges), arr, side="right") - 1, 0, len(self.edges) - 1)
        row = self.counts.setdefault(series, [0] * len(self.edges))
        for i, c in enumerate(np.bincount(idx, minlength=len(self.edges)).tolist()):
            row[i] += c

    def total(self) -> int:
        return sum(sum(v) for v in self.counts.values())


def _floats(values: pa.Array | np.ndarray) -> np.ndarray:
    """Numbers as float64 with NaN for null."""
    if isinstance(values, np.ndarray):
        return values.astype(np.float64, copy=False)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)


def unit_hist(step: float = 0.05) -> Hist:
    """[0, 1] in equal bins (scores, fractions)."""
    n = round(1 / step)
    edges = [round(i * step, 6) for i in range(n)]
    return Hist(edges, [f"{e:.2f}" for e in edges])


def log2_hist(max_power: int = 20) -> Hist:
    """Counts in power-of-two bins: 0, 1, 2-3, 4-7, ..."""
    edges = [0.0] + [float(2**i) for i in range(max_power + 1)]
    labels = ["0"] + [
        (str(2**i) if i == 0 else f"{2**i}–{2 ** (i + 1) - 1}") if i < max_power else f"≥{2**i}"
        for i in range(max_power + 1)
    ]
    return Hist(edges, labels)


def linear_hist(lo: float, hi: float, step: float) -> Hist:
    n = round((hi - lo) / step)
    edges = [round(lo + i * step, 6) for i in range(n + 1)]
    labels = [f"{e:g}" for e in edges[:-1]] + [f"≥{edges[-1]:g}"]
    return Hist(edges, labels)


class Reservoir:
    """A uniform sample of at most `size` values plus the exact count and range, for metrics of unknown range.

    Each value gets a random key and the `size` smallest keys stay: uniform, deterministic for a seed,
    and vectorised (one numpy merge per batch instead of a Python step per value).
    """

    def __init__(self, size: int = RESERVOIR, seed: int = 0):
        self.size, self.rng = size, np.random.default_rng(seed)
        self.values = np.empty(0)
        self.keys = np.empty(0)
        self.n = 0
        self.lo, self.hi = math.inf, -math.inf

    def add(self, values: np.ndarray) -> None:
        values = values[~np.isnan(values)]
        if not len(values):
            return
        self.n += len(values)
        self.lo, self.hi = min(self.lo, float(values.min())), max(self.hi, float(values.max()))
        self.values = np.concatenate([self.values, values])
        self.keys = np.concatenate([self.keys, self.rng.random(len(values))])
        if len(self.values) > self.size:
            keep = np.argpartition(self.keys, self.size)[: self.size]
            self.values, self.keys = self.values[keep], self.keys[keep]


class CappedCounter(Counter):
    """A Counter that forgets its rarest keys past `cap` entries, so memory stays bounded."""

    cap = COUNTER_CAP

    def add_counts(self, counts: dict) -> None:
        self.update(counts)
        if len(self) > self.cap:
            for k, _ in self.most_common()[self.cap // 2 :]:
                del self[k]


LINE_END_RE = "[" + "".join(TERMINAL_PUNCT) + "]$"
HOST_RE = r"^[a-zA-Z][a-zA-Z0-9+.\-]*://(?:[^@/?#]*@)?(?P<host>\[[^\]]*\]|[^:/?#]*)"


def hosts(urls: pa.Array) -> pa.Array:
    """Lower-case host of each URL without a leading `www.` (empty when there is none)."""
    host = pc.struct_field(pc.extract_regex(urls, HOST_RE), [0])
    host = pc.utf8_lower(pc.fill_null(host, ""))
    return pc.replace_substring_regex(host, "^www\\.", "")


@dataclass
class Scan:
    """Everything the card and the page show that comes from the shards."""

    rows: Counter = field(default_factory=Counter)  # "kept" or removed block -> documents
    words: Counter = field(default_factory=Counter)  # same keys -> whitespace words (text only)
    columns: set[str] = field(default_factory=set)
    crawls: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)  # (block, reason) -> documents, from removed/
    languages: dict[str, Counter] = field(default_factory=dict)  # series -> language -> documents
    domains: dict[str, CappedCounter] = field(default_factory=dict)
    text_metrics: dict[str, Hist] = field(default_factory=dict)
    language_score: Hist = field(default_factory=unit_hist)
    ai_score: Hist = field(default_factory=unit_hist)
    dup_size: Hist = field(default_factory=lambda: log2_hist(16))
    consent: dict[str, Counter] = field(default_factory=dict)  # signal -> series -> documents
    consent_rows: Counter = field(default_factory=Counter)
    extra: dict[str, dict[str, Reservoir]] = field(default_factory=dict)  # metric -> series -> sample


WORDS, WORD_LEN, LINE_PUNCT, SHORT_LINES = (
    "words per document",
    "mean word length (characters)",
    "lines ending in punctuation (fraction)",
    "short lines, under 30 characters (fraction)",
)


def text_hists() -> dict[str, Hist]:
    return {
        WORDS: log2_hist(20),
        WORD_LEN: linear_hist(0, 15, 0.5),
        LINE_PUNCT: unit_hist(0.05),
        SHORT_LINES: unit_hist(0.05),
    }


def _numeric(dtype: pa.DataType) -> bool:
    return (pa.types.is_integer(dtype) or pa.types.is_floating(dtype)) and not pa.types.is_boolean(dtype)


def scan_run(run_dir: str, run: dict | None) -> Scan:
    """One streaming pass over every complete shard, reading only the columns the report needs."""
    scan = Scan(text_metrics=text_hists())
    order = pipeline_blocks(run)
    text_blocks = set(order[text_start(order) :])  # blocks whose removed documents hold text, not HTML
    wanted_fixed = {"text", "url", "crawl", "language", "language_score", "ai_score", "dup_cluster_size",
                    "removed_reason", "metadata"}
    for block, path in shard_paths(run_dir):
        series = KEPT if block is None else REMOVED
        try:
            pf = pq.ParquetFile(path)
        except (OSError, pa.ArrowInvalid):
            continue  # being replaced by a restarted task
        schema = pf.schema_arrow
        scan.columns.update(schema.names)
        extra_cols = [
            f.name for f in schema
            if _numeric(f.type) and f.name not in PROVENANCE_COLUMNS and f.name not in HANDLED
        ]
        consent_cols = [n for n in schema.names if n.startswith("consent_")]
        cols = [n for n in schema.names if n in wanted_fixed] + extra_cols + consent_cols
        with_text = block is None or block in text_blocks
        scan.rows[KEPT if block is None else block] += pf.metadata.num_rows
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=cols):
            _scan_batch(scan, batch, series, block, with_text, extra_cols, consent_cols)
    return scan


def _value_counts(arr: pa.Array) -> dict:
    return {d["values"]: d["counts"] for d in pc.value_counts(arr).to_pylist()}


def _scan_batch(scan: Scan, batch: pa.RecordBatch, series: str, block: str | None, with_text: bool,
                extra_cols: list[str], consent_cols: list[str]) -> None:
    col = {name: batch.column(name) for name in batch.schema.names}
    if "text" in col and with_text:
        scan.words[KEPT if block is None else block] += _text_metrics(scan, col["text"], series)
    if "url" in col:
        counts = _value_counts(hosts(col["url"]))
        counts.pop("", None)
        scan.domains.setdefault(series, CappedCounter()).add_counts(counts)
    if "crawl" in col:
        scan.crawls.update({k: v for k, v in _value_counts(col["crawl"]).items() if k})
    if "language" in col:
        counts = _value_counts(col["language"])
        nulls = counts.pop(None, 0)
        if series == KEPT and nulls:  # removed before the language block ran: not a language of the data
            counts["(none)"] = nulls
        scan.languages.setdefault(series, Counter()).update(counts)
    if "language_score" in col:
        scan.language_score.add(col["language_score"], series)
    if "ai_score" in col:
        scan.ai_score.add(col["ai_score"], series)
    if "dup_cluster_size" in col:
        scan.dup_size.add(col["dup_cluster_size"], series)
    if block is not None and "removed_reason" in col:
        for reason, n in _value_counts(col["removed_reason"]).items():
            scan.reasons[(block, reason or "(none)")] += n
    for name in extra_cols:
        scan.extra.setdefault(name, {}).setdefault(series, Reservoir()).add(_floats(col[name]))
    if "metadata" in col:
        _metadata_metrics(scan, col["metadata"], series)
    if consent_cols:
        scan.consent_rows[series] += batch.num_rows
        _consent(scan, col, series)


def _text_metrics(scan: Scan, text: pa.Array, series: str) -> int:
    """Adds the text metrics of a batch of documents; returns their words (`len(text.split())` each)."""
    text = text.filter(pc.is_valid(text))
    if not len(text):
        return 0
    h = scan.text_metrics
    # str.split() beats RE2's count_substring_regex here by ~3x (it is the costliest step of a report)
    split = [t.split() for t in text.to_pylist()]
    words = np.fromiter((len(tokens) for tokens in split), dtype=np.float64, count=len(split))
    chars = np.fromiter((len("".join(tokens)) for tokens in split), dtype=np.float64, count=len(split))
    del split
    h[WORDS].add(words, series)
    h[WORD_LEN].add(chars[words > 0] / words[words > 0], series)
    # per-line shares: split into lines, trim, drop empty lines, then sum per document
    lines = pc.split_pattern(text, "\n")
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lines))
    length = pc.utf8_length(flat)
    table = pa.table({
        "doc": pc.list_parent_indices(lines),
        "punct": pc.match_substring_regex(flat, LINE_END_RE),
        "short": pc.less(length, 30),
    }).filter(pc.greater(length, 0))
    per_doc = table.group_by("doc").aggregate([("punct", "sum"), ("short", "sum"), ("doc", "count")])
    n_lines = per_doc.column("doc_count").to_numpy().astype(np.float64)
    h[LINE_PUNCT].add(per_doc.column("punct_sum").to_numpy() / n_lines, series)
    h[SHORT_LINES].add(per_doc.column("short_sum").to_numpy() / n_lines, series)
    return int(words.sum())


def _metadata_metrics(scan: Scan, column: pa.Array, series: str) -> None:
    """Numeric top-level keys of the `metadata` JSON (metrics a block wrote without a typed column)."""
    found: dict[str, list[float]] = {}
    for raw in column.to_pylist():
        if not raw:
            continue
        try:
            meta = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(meta, dict):
            continue
        for k, v in meta.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or k in PROVENANCE_COLUMNS or k in HANDLED:
                continue
            name = f"metadata.{k}"
            if name not in scan.extra and name not in found and len(scan.extra) + len(found) >= MAX_EXTRA_METRICS:
                continue
            found.setdefault(name, []).append(float(v))
    for name, values in found.items():
        scan.extra.setdefault(name, {}).setdefault(series, Reservoir()).add(np.asarray(values, dtype=np.float64))


CONSENT_SIGNALS: dict[str, tuple[str, object]] = {
    # label -> (column, test on the value)
    "noai (X-Robots-Tag / meta robots)": ("consent_noai", True),
    "noimageai": ("consent_noimageai", True),
    "AI-addressed robots tags": ("consent_robots_tags", "nonempty"),
    "TDMRep tdm-reservation: 1": ("consent_tdm_reservation", True),
    "TDMRep tdm-policy given": ("consent_tdm_policy", "notnull"),
    "robots.txt disallows an AI agent": ("consent_robots", "disallowed"),
    "robots.txt not checked": ("consent_robots", "not_checked"),
    "host on opt-out domain list": ("consent_opt_out_domain", True),
}


def _consent(scan: Scan, col: dict[str, pa.Array], series: str) -> None:
    for label, (column, test) in CONSENT_SIGNALS.items():
        if column not in col:
            continue
        values = col[column]
        if pa.types.is_null(values.type):  # every value null (an untyped shard)
            scan.consent.setdefault(label, Counter())[series] += 0
            continue
        if test == "nonempty":
            hit = pc.greater(pc.list_value_length(values), 0)
        elif test == "notnull":
            hit = pc.is_valid(values)
        else:
            hit = pc.equal(values, pa.scalar(test, values.type))
        scan.consent.setdefault(label, Counter())[series] += int(pc.sum(pc.fill_null(hit, False)).as_py() or 0)


# --- the summary both outputs are made from ------------------------------------------------------


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
                rows.append({"block": "reader", "in": int(r.get("html_records", d["html_records"])),
                             "out": int(r.get("forwarded", 0)),
                             "dropped": int(d["removed_by"].get("reader", 0)), "reasons": _reader_reasons(r)})
            elif name in by_block:
                b = by_block[name]
                rows.append({"block": name, "in": b["in"], "out": b["out"], "dropped": b["dropped"],
                             "reasons": dict(b["reasons"])})
    else:  # no stats at all yet: what the shards hold
        remaining = sc.rows[KEPT] + sum(sc.rows[n] for n in names)
        for name in names:
            dropped = sc.rows[name]
            reasons = {r: c for (b, r), c in sc.reasons.items() if b == name}
            rows.append({"block": name, "in": remaining, "out": remaining - dropped, "dropped": dropped,
                         "reasons": reasons})
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
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
              (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (10**12, "100B<n<1T")]
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


# --- the dataset card ----------------------------------------------------------------------------


def _fmt_params(params: dict) -> str:
    if not params:
        return "(defaults)"
    return ", ".join(f"`{k}={json.dumps(v, default=str)}`" for k, v in params.items())


def _num(v: int | None) -> str:
    return "—" if v is None else f"{v:,}"


def render_card(s: Summary) -> str:
    """README.md in the Hugging Face dataset-card format: YAML metadata, then how the data was made."""
    from thresher.pipeline.stats import thresher_version

    sc = s.scan
    kept = kept_count(s)
    langs = language_codes(s)
    crawls = sorted(sc.crawls)
    inputs = (s.run or {}).get("inputs") or []
    version = (s.stats or {}).get("thresher_version") or thresher_version()
    name = os.path.basename(s.run_dir.rstrip("/"))
    header: dict = {}
    if langs:
        header["language"] = langs
    header.update({
        "license": "other",
        "license_name": "web-crawl-mixed",
        "license_details": (
            "Text extracted from public web pages; each page stays under its authors' copyright and terms. "
            "Crawl data is subject to the crawler's terms of use (e.g. https://commoncrawl.org/terms-of-use). "
            "Check the consent_* columns for AI opt-out signals before training."
        ),
        "size_categories": [size_category(kept)],
        "task_categories": ["text-generation"],
        "pretty_name": name,
        "source_datasets": crawls or ["original"],
        "tags": ["thresher", "web-crawl", "warc"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}],
        "thresher": {
            "version": version,
            "preset": (s.run or {}).get("preset") or (s.stats or {}).get("preset"),
            "complete": s.complete,
            "documents_kept": kept,
            "words_kept": int(sc.words[KEPT]),
        },
    })
    lines = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=100).rstrip(), "---", ""]
    lines.append(f"# {name}")
    lines.append("")
    lines.append(
        f"Web text made by [thresher](https://github.com/) {version} from {len(inputs) or '?'} WARC file(s)"
        + (f" of {', '.join(crawls)}" if crawls else "")
        + f": {kept:,} documents, {sc.words[KEPT]:,} words (whitespace-separated), kept in `data/*.parquet`."
    )
    if not s.complete:
        prog = ", ".join(f"{st} {d}/{t} tasks" for st, (d, t) in s.progress.items()) or "no task finished"
        lines += ["", f"> **Partial run** ({prog}): the numbers below are what exists so far."]
    lines += ["", "## How it was made", ""]
    preset = (s.run or {}).get("preset") or (s.stats or {}).get("preset") or "(unknown)"
    lines.append(f"- Preset: `{preset}`" + (f" — {s.description}" if s.description else ""))
    lines.append(f"- thresher version: {version}")
    if inputs:
        shown = ", ".join(f"`{os.path.basename(p)}`" for p in inputs[:10])
        more = f" and {len(inputs) - 10} more" if len(inputs) > 10 else ""
        lines.append(f"- Inputs: {len(inputs)} WARC file(s): {shown}{more}")
    if crawls:
        lines.append(f"- Source crawls: {', '.join(crawls)}")
    lines += ["", "### Blocks and thresholds", "", "| block | parameters |", "|---|---|"]
    lines.append("| reader | " + _fmt_params((s.run or {}).get("reader") or {}) + " |")
    for block, params in (s.run or {}).get("pipeline") or []:
        lines.append(f"| {block} | {_fmt_params(params)} |")
    lines += [
        "",
        "### Documents and words per block",
        "",
        "Words are whitespace-separated tokens (Python `str.split()`), not a model tokenizer's "
        "tokens (expect roughly 1.3 tokens per word for English). They are counted on each document's "
        "text as it left the pipeline; documents removed before or by `extract` still hold HTML and are "
        "not counted (—), and words in are known only when removed documents were written "
        "(`write_removed`).",
        "",
        "| block | documents in | documents out | dropped | words in | words out | top drop reasons |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in block_table(s):
        top = ", ".join(f"{k} {v:,}" for k, v in sorted(row["reasons"].items(), key=lambda kv: -kv[1])[:4])
        lines.append(
            f"| {row['block']} | {row['in']:,} | {row['out']:,} | {row['dropped']:,} | "
            f"{_num(row['words_in'])} | {_num(row['words_out'])} | {top} |"
        )
    if s.stats is not None:
        d = s.stats["documents"]
        lines += ["", f"Total: {d['html_records']:,} HTML records -> {d['kept']:,} kept + {d['removed']:,} removed"
                  + ("" if d.get("accounted", True) else " (counts do not add up)") + "."]
    lines += ["", "## Languages", ""]
    kept_langs = sc.languages.get(KEPT)
    if kept_langs:
        total = sum(kept_langs.values())
        lines += ["| language | documents | share |", "|---|---:|---:|"]
        for lang, n in kept_langs.most_common(TOP_LANGUAGES):
            lines.append(f"| {lang} | {n:,} | {100 * n / total:.1f}% |")
    else:
        lines.append("No language column in this run (no `language` block).")
    lines += ["", "## Dataset structure", "",
              "One row per document, with its provenance (WARC file, offset and length of the original record, "
              "record id, URL, date, payload digest) so any row can be traced back to its bytes "
              "(`thresher show RUN_DIR ID`). Columns:", ""]
    block_cols = sorted(c for c in sc.columns if c not in PROVENANCE_COLUMNS and c not in REMOVED_COLUMNS
                        and c != "metadata")
    lines.append("- provenance: " + ", ".join(f"`{c}`" for c in PROVENANCE_COLUMNS))
    if block_cols:
        lines.append("- from blocks: " + ", ".join(f"`{c}`" for c in block_cols))
    lines.append("- `metadata`: the other annotations, as JSON")
    lines += ["", "## Licence and consent notes", ""]
    lines.append(
        "The text comes from web pages crawled without asking their authors; it is not licensed by them. "
        "Use it under the rules that apply to you (e.g. text-and-data-mining exceptions) and honour opt-outs."
    )
    if sc.consent:
        lines += ["", "| consent signal | kept documents | removed documents |", "|---|---:|---:|"]
        for label, c in sc.consent.items():
            lines.append(f"| {label} | {c[KEPT]:,} | {c[REMOVED]:,} |")
    else:
        lines += ["", "No consent signals were recorded in this run (no `consent` block)."]
    lines += ["", "## Report", "", "Plots of this run (funnel, drop reasons, languages, domains, metrics): "
              "`report.html` beside this file.", ""]
    return "\n".join(lines)


# --- SVG plots -----------------------------------------------------------------------------------

W = 960


def _esc(v) -> str:
    return html.escape(str(v), quote=True)


def _short(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e4:
        return f"{n / 1e3:.1f}k"
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:.3g}"


def svg_hbars(rows: list[tuple[str, list[float]]], series: list[str], label_w: int = 260) -> str:
    """Horizontal stacked bars, one row per label; every bar segment is a `rect.mark`."""
    bar_h, gap, top = 18, 6, 8
    height = top + len(rows) * (bar_h + gap) + 24
    plot_w = W - label_w - 110
    vmax = max((sum(v) for _, v in rows), default=0) or 1
    out = [f'<svg class="chart" width="{W}" height="{height}" viewBox="0 0 {W} {height}" '
           f'xmlns="http://www.w3.org/2000/svg" role="img">']
    for i, (label, values) in enumerate(rows):
        y = top + i * (bar_h + gap)
        out.append(f'<text x="{label_w - 8}" y="{y + bar_h - 5}" text-anchor="end" class="lbl">'
                   f'{_esc(label[:48])}<title>{_esc(label)}</title></text>')
        x = label_w
        for name, v in zip(series, values, strict=True):
            w = plot_w * v / vmax
            if v > 0:
                out.append(
                    f'<rect class="mark" data-series="{_esc(name)}" data-value="{v}" x="{x:.1f}" y="{y}" '
                    f'width="{max(w, 1):.1f}" height="{bar_h}" fill="{COLORS.get(name, "#888")}">'
                    f"<title>{_esc(label)} — {_esc(name)}: {v:,}</title></rect>"
                )
            x += w
        total = " / ".join(_short(v) for v in values) if len(values) > 1 else _short(values[0])
        out.append(f'<text x="{x + 6:.1f}" y="{y + bar_h - 5}" class="val">{_esc(total)}</text>')
    out.append(_legend(series, 8, height - 8) if len(series) > 1 else "")
    out.append("</svg>")
    return "".join(out)


def _legend(series: list[str], x: int, y: int) -> str:
    parts = []
    for name in series:
        parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{COLORS.get(name, "#888")}"/>'
                     f'<text x="{x + 16}" y="{y}" class="lbl">{_esc(name)}</text>')
        x += 24 + 8 * len(name)
    return "".join(parts)


def svg_columns(labels: list[str], values: dict[str, list[float]], marker: tuple[float, str] | None = None,
                title_x: str = "", title_y: str = "documents") -> str:
    """Vertical stacked columns over bins; `marker` = (bin position, text) draws a threshold line."""
    left, right, top, bottom = 60, 20, 30 if len(values) > 1 else 14, 70
    height = 256 if len(values) > 1 else 240
    plot_w, plot_h = W - left - right, height - top - bottom
    n = len(labels)
    series = list(values)
    totals = [sum(values[s][i] for s in series) for i in range(n)]
    vmax = max(totals, default=0) or 1
    bw = plot_w / max(n, 1)
    out = [f'<svg class="chart" width="{W}" height="{height}" viewBox="0 0 {W} {height}" '
           f'xmlns="http://www.w3.org/2000/svg" role="img">']
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" class="axis"/>')
    out.append(f'<text x="{left - 6}" y="{top + 8}" text-anchor="end" class="val">{_short(vmax)}</text>')
    out.append(f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="val">0</text>')
    out.append(f'<text x="14" y="{top + plot_h / 2}" class="val" transform="rotate(-90 14 {top + plot_h / 2})" '
               f'text-anchor="middle">{_esc(title_y)}</text>')
    every = max(1, math.ceil(n / 24))
    for i, label in enumerate(labels):
        x = left + i * bw
        y = top + plot_h
        for s in series:
            v = values[s][i]
            if v <= 0:
                continue
            h = plot_h * v / vmax
            y -= h
            out.append(
                f'<rect class="mark" data-series="{_esc(s)}" data-value="{v}" x="{x + 1:.1f}" y="{y:.1f}" '
                f'width="{max(bw - 2, 1):.1f}" height="{max(h, 0.5):.1f}" fill="{COLORS.get(s, "#888")}">'
                f"<title>{_esc(label)} — {_esc(s)}: {_short(v)}</title></rect>"
            )
        if i % every == 0:
            tx, ty = x + bw / 2, top + plot_h + 12
            out.append(f'<text x="{tx:.1f}" y="{ty}" class="tick" text-anchor="end" '
                       f'transform="rotate(-45 {tx:.1f} {ty})">{_esc(label)}</text>')
    if marker is not None:
        pos, text = marker
        mx = left + pos * bw
        out.append(f'<line x1="{mx:.1f}" y1="{top}" x2="{mx:.1f}" y2="{top + plot_h}" class="marker"/>'
                   f'<text x="{mx + 4:.1f}" y="{top + 10}" class="marker-text">{_esc(text)}</text>')
    if title_x:
        out.append(f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle" class="val">'
                   f"{_esc(title_x)}</text>")
    out.append(_legend(series, W - 200, 16) if len(series) > 1 else "")
    out.append("</svg>")
    return "".join(out)


def _hist_svg(h: Hist, marker: tuple[float, str] | None = None, title_x: str = "", trim: bool = True) -> str:
    """Columns of a histogram; with `trim`, empty bins at either end are left out (log bins go far)."""
    series = [s for s in SERIES if s in h.counts]
    lo, hi = 0, len(h.labels)
    if trim:
        used = [i for i in range(len(h.labels)) if any(h.counts[s][i] for s in series)]
        if used:
            lo, hi = used[0], used[-1] + 1
    if marker is not None:
        marker = (marker[0] - lo, marker[1])
    return svg_columns(h.labels[lo:hi], {s: h.counts[s][lo:hi] for s in series}, marker=marker, title_x=title_x)


def _reservoir_svg(samples: dict[str, Reservoir], bins: int = 30) -> str:
    """A histogram of sampled values, scaled to the true counts."""
    lo = min(r.lo for r in samples.values())
    hi = max(r.hi for r in samples.values())
    if hi <= lo:
        hi = lo + 1
    step = (hi - lo) / bins
    labels = [f"{lo + i * step:.3g}" for i in range(bins)]
    values = {}
    for s in SERIES:
        r = samples.get(s)
        if r is None or not len(r.values):
            continue
        scale = r.n / len(r.values)
        idx = np.clip(((r.values - lo) / step).astype(np.int64), 0, bins - 1)
        values[s] = [round(c * scale) for c in np.bincount(idx, minlength=bins).tolist()]
    return svg_columns(labels, values)


# --- the HTML page -------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1000px;
color:#1a202c;padding:0 16px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #e2e8f0}
h3{font-size:15px;margin:14px 0 4px}
.meta{color:#4a5568}.note{color:#4a5568;margin:2px 0 8px}.missing{color:#a0aec0;font-style:italic}
.partial{background:#fffbea;border:1px solid #f6e05e;padding:8px 12px;border-radius:6px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #e2e8f0;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}
svg .lbl{font-size:12px;fill:#2d3748}svg .val,svg .tick{font-size:11px;fill:#4a5568}
svg .axis{stroke:#a0aec0}svg .marker{stroke:#e53e3e;stroke-dasharray:4 3}svg .marker-text{font-size:11px;fill:#e53e3e}
svg rect.mark:hover{opacity:.75}
"""


# Marks the page with what the browser actually laid out: per plot section, the number of bar marks
# with a non-empty box (`data-drawn`). Optional for reading the page; tests check it in headless Chromium.
DRAWN_SCRIPT = """<script>
document.querySelectorAll("section.plot").forEach(function (s) {
  var n = 0;
  s.querySelectorAll("svg .mark").forEach(function (m) { var b = m.getBBox(); if (b.width > 0 && b.height > 0) n++; });
  s.setAttribute("data-drawn", String(n));
});
document.body.setAttribute("data-rendered", "1");
</script>"""


def _section(plot_id: str, title: str, body: str | None, missing: str, note: str = "") -> str:
    """A plot section: the plot when its data exists, else a short 'not in this run' line."""
    if body is None:
        return (f'<section class="plot missing-plot" data-plot="{plot_id}" id="{plot_id}"><h2>{_esc(title)}</h2>'
                f'<p class="missing">Not in this run: {_esc(missing)}</p></section>')
    note_html = f'<p class="note">{note}</p>' if note else ""
    head = f'<section class="plot" data-plot="{plot_id}" id="{plot_id}"><h2>{_esc(title)}</h2>'
    return f"{head}{note_html}{body}</section>"


def _funnel(s: Summary, rows: list[dict]) -> str | None:
    if not rows:
        return None
    bars = [(f"{rows[0]['block']} (HTML records)", [rows[0]["in"], 0])]
    for r in rows:
        bars.append((f"after {r['block']}", [r["out"], r["dropped"]]))
    return svg_hbars(bars, ["remaining", "dropped"])


def _drop_reasons(s: Summary, rows: list[dict]) -> str | None:
    items = [(f"{r['block']}: {reason}", n) for r in rows for reason, n in r["reasons"].items() if n]
    if not items and s.scan.reasons:
        items = [(f"{b}: {reason}", n) for (b, reason), n in s.scan.reasons.items()]
    if not items:
        return None
    items.sort(key=lambda kv: -kv[1])
    return svg_hbars([(label, [n]) for label, n in items[:30]], ["dropped"])


def _top_bars(counters: dict[str, Counter], top: int) -> str | None:
    total: Counter = Counter()
    for c in counters.values():
        total.update(c)
    if not total:
        return None
    rows = []
    for key, _ in total.most_common(top):
        rows.append((key, [counters.get(KEPT, Counter())[key], counters.get(REMOVED, Counter())[key]]))
    rest = [sum(c.values()) - sum(c[k] for k, _ in total.most_common(top)) for c in
            (counters.get(KEPT, Counter()), counters.get(REMOVED, Counter()))]
    if sum(rest) > 0:
        rows.append(("(all others)", rest))
    return svg_hbars(rows, [KEPT, REMOVED])


def _ai_threshold(s: Summary) -> float | None:
    for name, params in (s.run or {}).get("pipeline") or []:
        if name == "ai_text" and isinstance(params, dict) and isinstance(params.get("threshold"), (int, float)):
            return float(params["threshold"])
    return None


def render_html(s: Summary) -> str:
    """report.html: one self-contained page (inline CSS, SVG and a few lines of JS; nothing from the network)."""
    sc = s.scan
    rows = block_table(s)
    name = os.path.basename(s.run_dir.rstrip("/"))
    kept = kept_count(s)
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>thresher report — {_esc(name)}</title><style>{CSS}</style></head><body>",
        f"<h1>thresher report — {_esc(name)}</h1>",
    ]
    preset = (s.run or {}).get("preset") or (s.stats or {}).get("preset") or "(unknown)"
    version = (s.stats or {}).get("thresher_version", "")
    d = (s.stats or {}).get("documents")
    summary = f"preset <code>{_esc(preset)}</code>" + (f", thresher {_esc(version)}" if version else "")
    if d:
        summary += (f" — {d['html_records']:,} HTML records → <b>{d['kept']:,} kept</b> + "
                    f"{d['removed']:,} removed; {sc.words[KEPT]:,} words kept")
    else:
        summary += f" — {kept:,} documents kept so far"
    parts.append(f'<p class="meta">{summary}</p>')
    if not s.complete:
        prog = ", ".join(f"{st} {dn}/{t} tasks done" for st, (dn, t) in s.progress.items()) or "no task finished"
        parts.append(f'<p class="partial">Partial run ({_esc(prog)}): this page shows the shards and task '
                     "statistics that exist so far.</p>")
    if not glob.glob(os.path.join(s.run_dir, "removed", "*")):
        parts.append('<p class="note">Removed documents were not written (run with <code>--write-removed</code>): '
                     "plots compare kept documents only.</p>")

    parts.append(_section("funnel", "Funnel: documents after each block", _funnel(s, rows),
                          "no stats and no shards yet", "Bar length: documents left; red: dropped by that block."))
    parts.append(_section("drop_reasons", "Drop reasons", _drop_reasons(s, rows), "no document was dropped"))
    parts.append(_section(
        "languages", "Languages", _top_bars(sc.languages, TOP_LANGUAGES),
        "no `language` column (add the language block)", "Documents per language (kept / removed by later blocks)."))
    parts.append(_section("domains", f"Top {TOP_DOMAINS} domains", _top_bars(sc.domains, TOP_DOMAINS),
                          "no URLs in the shards", "Documents per host (leading www. dropped)."))
    # quality metrics
    q_parts = []
    for title, h in sc.text_metrics.items():
        if h.total():
            q_parts.append(f"<h3>{_esc(title)}</h3>" + _hist_svg(h))
    if sc.language_score.total():
        q_parts.append("<h3>language_score</h3>" + _hist_svg(sc.language_score, trim=False))
    for metric, samples in sorted(sc.extra.items()):
        if any(len(r.values) for r in samples.values()):
            q_parts.append(f"<h3>{_esc(metric)}</h3>" + _reservoir_svg(samples))
    parts.append(_section(
        "quality", "Quality metrics", "".join(q_parts) or None, "no document text in the shards",
        "Computed on the text of kept documents and of documents removed after <code>extract</code> "
        "(earlier ones hold HTML); other numeric columns and metadata as written by the blocks."))
    ai_body = None
    if sc.ai_score.total():
        th = _ai_threshold(s)
        marker = (th / 0.05, f"threshold {th:g}") if th is not None else None
        unscored = sum(sc.ai_score.missing.values())
        ai_body = _hist_svg(sc.ai_score, marker=marker, title_x="ai_score (P machine-generated)", trim=False)
        ai_body += f'<p class="note">{unscored:,} documents not scored (too short or a language the model lacks).</p>'
    parts.append(_section("ai_score", "AI-text score", ai_body, "no `ai_score` column (add the ai_text block)"))
    consent_body = None
    if sc.consent:
        crow = [(label, [c[KEPT], c[REMOVED]]) for label, c in sc.consent.items()]
        consent_body = svg_hbars(crow, [KEPT, REMOVED])
        consent_body += (f'<p class="note">Out of {sc.consent_rows[KEPT]:,} kept and {sc.consent_rows[REMOVED]:,} '
                         "removed documents with consent columns.</p>")
    parts.append(_section("consent", "Consent signals", consent_body, "no consent_* columns (add the consent block)"))
    dup_body = _hist_svg(sc.dup_size, title_x="duplicate-cluster size") if sc.dup_size.total() else None
    parts.append(_section("dup_clusters", "Duplicate-cluster sizes", dup_body,
                          "no `dup_cluster_size` column (add the minhash_dedup block)",
                          "Documents by the size of their near-duplicate cluster (1 = unique)."))
    # block table
    table = ["<table><tr><th>block</th><th>in</th><th>out</th><th>dropped</th><th>words in</th>"
             "<th>words out</th></tr>"]
    for r in rows:
        table.append(f"<tr><td>{_esc(r['block'])}</td><td>{r['in']:,}</td><td>{r['out']:,}</td>"
                     f"<td>{r['dropped']:,}</td><td>{_num(r['words_in'])}</td><td>{_num(r['words_out'])}</td></tr>")
    table.append("</table><p class=\"note\">Words: whitespace-separated tokens; — where not countable "
                 "(HTML before extract, or removed documents not written).</p>")
    parts.append(_section("blocks", "Blocks", "".join(table) if rows else None, "no stats yet"))
    parts.append(DRAWN_SCRIPT)
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run_dir: str) -> tuple[str, str]:
    """Write RUN_DIR/README.md and RUN_DIR/report.html; returns their paths."""
    s = summarize(run_dir)
    card = os.path.join(s.run_dir, "README.md")
    page = os.path.join(s.run_dir, "report.html")
    for path, text in ((card, render_card(s)), (page, render_html(s))):
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    return card, page
