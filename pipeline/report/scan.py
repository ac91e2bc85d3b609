"""Look at a run: what its parquet shards and stats say, gathered for the dataset card and the HTML page.

Everything is read in one streaming pass over the shards, only the columns a plot needs, into bounded
aggregates (fixed-bin histograms, capped counters, small reservoirs), so a report of a large run
costs time, not memory. A run still in progress (or interrupted) is reported from what exists:
its complete shards and the stats files of its finished tasks.
"""

from __future__ import annotations

import glob
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..write.parquet import shard_files
from ..write.schema import PROVENANCE_COLUMNS

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
# plotted on their own; word_count (Gopher's count) would plot "words per document" a second time
HANDLED = {"ai_score", "language_score", "dup_cluster_size", "dup_cluster_id", "word_count"}
# of the LM block's 17 statistics, the page plots these (the others are columns for the AI-text model)
LM_PLOTTED = {"lm_mean_loglik", "lm_binoculars"}


def plotted(name: str) -> bool:
    """Is a numeric column plotted among the quality metrics?"""
    return name not in HANDLED and (not name.startswith("lm_") or name in LM_PLOTTED)


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
    Kept shards may be partitioned (`data/<language>/*.parquet`).
    """
    out: list[tuple[str | None, str]] = []
    if which in (None, KEPT):
        out += [(None, p) for p in shard_files(os.path.join(run_dir, "data"))]
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
    for stage, total in ((run or {}).get("stage_tasks") or {}).items():
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
    from ..run.plan import STAGE_BREAKS
    from ..run.stats import block_entry, merge_task_files, thresher_version

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
        merged = merge_task_files(os.path.join(run_dir, "logs", stage))
        for j, name in enumerate(stage_names):
            pos = first + j
            if pos >= len(merged):
                break
            found = True
            if name == "reader":
                reader += merged[pos]["counts"]
                prev_out = int(reader.get("forwarded", 0))
                continue
            entry = block_entry(name, stage, merged[pos]["counts"], merged[pos]["seconds"], prev_out)
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
    language_words: Counter = field(default_factory=Counter)  # language -> words of kept documents
    language_word_count: Counter = field(default_factory=Counter)  # language -> kept `word_count` (its tokenizer)
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
    wanted_fixed = {
        "text",
        "url",
        "crawl",
        "language",
        "language_score",
        "ai_score",
        "dup_cluster_size",
        "word_count",
        "removed_reason",
        "metadata",
    }
    for block, path in shard_paths(run_dir):
        series = KEPT if block is None else REMOVED
        try:
            pf = pq.ParquetFile(path)
        except (OSError, pa.ArrowInvalid):
            continue  # being replaced by a restarted task
        schema = pf.schema_arrow
        scan.columns.update(schema.names)
        extra_cols = [
            f.name for f in schema if _numeric(f.type) and f.name not in PROVENANCE_COLUMNS and plotted(f.name)
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


def _scan_batch(
    scan: Scan,
    batch: pa.RecordBatch,
    series: str,
    block: str | None,
    with_text: bool,
    extra_cols: list[str],
    consent_cols: list[str],
) -> None:
    col = {name: batch.column(name) for name in batch.schema.names}
    if "text" in col and with_text:
        valid = pc.is_valid(col["text"])
        words = _text_metrics(scan, col["text"].filter(valid), series)
        scan.words[KEPT if block is None else block] += int(words.sum())
        if block is None and "language" in col:
            for lang, n in zip(col["language"].filter(valid).to_pylist(), words.tolist(), strict=True):
                scan.language_words[lang or "(none)"] += int(n)
    if block is None and "language" in col and "word_count" in col:  # words as the language's tokenizer split them
        for lang, n in zip(col["language"].to_pylist(), col["word_count"].to_pylist(), strict=True):
            scan.language_word_count[lang or "(none)"] += int(n or 0)
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


def _text_metrics(scan: Scan, text: pa.Array, series: str) -> np.ndarray:
    """Adds the text metrics of a batch of documents (no nulls); returns the words of each
    (`len(text.split())`)."""
    if not len(text):
        return np.zeros(0)
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
    table = pa.table(
        {
            "doc": pc.list_parent_indices(lines),
            "punct": pc.match_substring_regex(flat, LINE_END_RE),
            "short": pc.less(length, 30),
        }
    ).filter(pc.greater(length, 0))
    per_doc = table.group_by("doc").aggregate([("punct", "sum"), ("short", "sum"), ("doc", "count")])
    n_lines = per_doc.column("doc_count").to_numpy().astype(np.float64)
    h[LINE_PUNCT].add(per_doc.column("punct_sum").to_numpy() / n_lines, series)
    h[SHORT_LINES].add(per_doc.column("short_sum").to_numpy() / n_lines, series)
    return words


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
            if isinstance(v, bool) or not isinstance(v, (int, float)) or k in PROVENANCE_COLUMNS or not plotted(k):
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
