"""`thresher sample RUN_DIR`: random kept or removed documents, to eyeball what a filter keeps or drops.

Rows are picked by position from the shards' parquet footers (no data read), then only the batches
holding the picks are kept, so sampling a large run is quick and small in memory. The same seed and
the same run give the same documents.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from bisect import bisect_right

import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..report.scan import KEPT, REMOVED, read_positions, shard_paths

SHOWN_COLUMNS = (
    "url",
    "language",
    "language_score",
    "ai_score",
    "dup_cluster_size",
    "consent_noai",
    "consent_tdm_reservation",
    "consent_robots",
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="output folder of a run")
    p.add_argument("--n", "-n", type=int, default=20, help="documents to print (default: %(default)s)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--removed-by", metavar="BLOCK", help="sample documents removed by BLOCK (removed/BLOCK)")
    which.add_argument("--removed", action="store_true", help="sample documents removed by any block")
    p.add_argument("--reason", help="with --removed-by/--removed: only documents removed for this reason")
    p.add_argument("--seed", type=int, help="random seed (default: a new one, printed so it can be repeated)")
    p.add_argument("--chars", type=int, default=600, help="characters of text per document, 0 for all (%(default)s)")
    p.add_argument("--json", action="store_true", help="one JSON object per line (every column)")


def sample_rows(run_dir: str, n: int, which: str = KEPT, seed: int = 0, reason: str | None = None) -> list[dict]:
    """`n` rows drawn uniformly without replacement from the shards of `which` (kept, removed, a block).

    With `reason`, only the `removed_reason` column is scanned to find the candidates first.
    """
    shards = shard_paths(run_dir, which)
    rng = random.Random(seed)
    if reason is None:
        sizes = [pq.ParquetFile(path).metadata.num_rows for _, path in shards]
        starts, total = [], 0
        for size in sizes:
            starts.append(total)
            total += size
        picks = sorted(rng.sample(range(total), min(n, total)))
        wanted: dict[int, list[int]] = {}
        for g in picks:
            i = bisect_right(starts, g) - 1
            wanted.setdefault(i, []).append(g - starts[i])
    else:
        wanted = _reason_candidates(shards, reason, n, rng)
    rows: list[dict] = []
    for i, local in sorted(wanted.items()):
        rows += read_positions(shards[i][1], local)
    rng2 = random.Random(seed)
    rng2.shuffle(rows)  # print order does not follow shard order
    return rows


def _reason_candidates(shards: list, reason: str, n: int, rng: random.Random) -> dict[int, list[int]]:
    """Reservoir sample of (shard, row) positions whose removed_reason is `reason`."""
    reservoir: list[tuple[int, int]] = []
    seen = 0
    for i, (_, path) in enumerate(shards):
        pf = pq.ParquetFile(path)
        if "removed_reason" not in pf.schema_arrow.names:
            continue
        col = pf.read(columns=["removed_reason"]).column("removed_reason")
        for row in pc.indices_nonzero(pc.fill_null(pc.equal(col, reason), False)).to_pylist():
            seen += 1
            if len(reservoir) < n:
                reservoir.append((i, row))
            else:
                j = rng.randrange(seen)
                if j < n:
                    reservoir[j] = (i, row)
    out: dict[int, list[int]] = {}
    for i, row in sorted(reservoir):
        out.setdefault(i, []).append(row)
    return out


def main(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    which = args.removed_by or (REMOVED if args.removed or args.reason else KEPT)
    if args.removed_by and not shard_paths(args.run_dir, args.removed_by):
        blocks = sorted({b for b, _ in shard_paths(args.run_dir, REMOVED)})
        print(
            f"thresher: no removed/{args.removed_by} shards in {args.run_dir}; blocks with removed documents: "
            f"{', '.join(blocks) or 'none (run with --write-removed)'}",
            file=sys.stderr,
        )
        return 1
    if not shard_paths(args.run_dir, which):
        if which == KEPT:
            why = "not a run, or nothing written yet"
        else:  # removed documents are written only when asked for
            why = "removed documents are written only with --write-removed (or output: {write_removed: true})"
        where = "data/" if which == KEPT else "removed/"
        print(f"thresher: no {where} shards in {args.run_dir} ({why})", file=sys.stderr)
        return 1
    rows = sample_rows(args.run_dir, args.n, which, seed, args.reason)
    what = "kept" if which == KEPT else ("removed" if which == REMOVED else f"removed by {which}")
    print(f"thresher sample: {len(rows)} {what} document(s), seed {seed} (repeat with --seed {seed})", file=sys.stderr)
    for i, row in enumerate(rows, 1):
        if args.json:
            print(json.dumps(row, ensure_ascii=False, default=str))
            continue
        print_row(i, len(rows), row, args.chars)
    return 0


def print_row(i: int, n: int, row: dict, chars: int) -> None:
    status = f"removed by {row['removed_by']}: {row.get('removed_reason')}" if row.get("removed_by") else "kept"
    print(f"=== [{i}/{n}] {row.get('id')}  [{status}]")
    shown = [f"{c}={row[c]}" for c in SHOWN_COLUMNS if row.get(c) is not None]
    if shown:
        print("  ".join(shown))
    text = row.get("text") or ""
    clipped = text if not chars or len(text) <= chars else text[:chars] + f" [... {len(text) - chars:,} more]"
    print(clipped)
    print()
