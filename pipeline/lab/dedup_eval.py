"""Measuring the MinHash dedup: against exact 5-gram truth, against datatrove, and at scale.

`evaluate_dedup(docs, manifest, kept_ids)` is the reusable part (the bench command can call it
with the documents that passed the filters and the ids found in `data/`); the rest reproduces the
figures of the dedup report:

    python -m thresher.pipeline.lab.dedup_eval bench --bench /tmp/bench5k --work /tmp/dedup-bench
    python -m thresher.pipeline.lab.dedup_eval neardup --work /tmp/dedup-neardup
    python -m thresher.pipeline.lab.dedup_eval scale --n 1000000 --tasks 4 --workers 2 --work /tmp/dedup-scale
    python -m thresher.pipeline.lab.dedup_eval speed
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import multiprocessing as mp
import os
import shutil
import time
from collections import defaultdict
from collections.abc import Iterable

from datatrove.data import Document, DocumentsPipeline
from datatrove.executor.local import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep

from ..dedup.filter import MinhashDedupFilter
from ..dedup.stages import build_dedup_stages
from ..write.parquet import ParquetDocReader, ParquetShardWriter
from .dedup_corpora import (
    FINEWEB_PARAMS,
    bench_documents,
    neardup_documents,
    signature_speed,
    synthetic_corpus,
    write_docs,
)

# --------------------------------------------------------------------------------------------
# Truth and scores
# --------------------------------------------------------------------------------------------


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """Word n-grams of lower-cased whitespace words: the truth uses its own, independent split."""
    words = text.lower().split()
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _manifest_base(manifest: str | Iterable[dict]) -> dict[str, object]:
    rows = (json.loads(line) for line in open(manifest)) if isinstance(manifest, str) else manifest
    return {str(r["id"]).strip("<>").removeprefix("urn:uuid:"): r["base"] for r in rows}


def _components(nodes: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    parent = {n: n for n in nodes}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for n in nodes:
        groups[find(n)].append(n)
    return list(groups.values())


def evaluate_dedup(
    docs: Iterable[Document],
    manifest: str | Iterable[dict],
    kept_ids: Iterable[str],
    duplicate_of: dict[str, str] | None = None,
    dup_threshold: float = 0.8,
    unique_threshold: float = 0.5,
) -> dict:
    """Score a kept set against exact truth built from the bench manifest.

    `docs` are the documents that passed the filters (before dedup), `manifest` the bench's
    manifest.jsonl (names each record's base page), `kept_ids` the ids left after dedup. Among
    documents of the same base page, pairs with word 5-gram Jaccard >= `dup_threshold` are joined
    into true duplicate clusters; a document with no partner above `unique_threshold` is unique.
    Documents of different base pages are taken as unrelated (not compared). With `duplicate_of`
    (removed id -> keeper id), true clusters left with no copy are explained: the share whose
    members all point to a kept copy of the same base page with Jaccard >= `unique_threshold`.
    """
    base_of = _manifest_base(manifest)
    kept = set(kept_ids)
    by_base: dict[object, list[tuple[str, set]]] = defaultdict(list)
    n_docs = 0
    ids = set()
    for doc in docs:
        n_docs += 1
        ids.add(doc.id)
        by_base[base_of.get(doc.id, ("unknown", doc.id))].append((doc.id, shingles(doc.text)))
    sh = {doc_id: s for members in by_base.values() for doc_id, s in members}
    clusters: list[list[str]] = []
    unique: list[str] = []
    for members in by_base.values():
        best = {doc_id: 0.0 for doc_id, _ in members}
        edges = []
        for (ia, sa), (ib, sb) in itertools.combinations(members, 2):
            j = jaccard(sa, sb)
            best[ia], best[ib] = max(best[ia], j), max(best[ib], j)
            if j >= dup_threshold:
                edges.append((ia, ib))
        clusters.extend(c for c in _components([m for m, _ in members], edges) if len(c) > 1)
        unique.extend(m for m, score in best.items() if score <= unique_threshold)
    copies = [sum(m in kept for m in c) for c in clusters]
    n_clusters = len(clusters)
    explained = None
    if duplicate_of is not None:
        no_copy = [c for c, k in zip(clusters, copies, strict=True) if k == 0]
        ok = 0
        for c in no_copy:
            keepers = {duplicate_of.get(m) for m in c}
            ok += all(
                k in sh
                and base_of.get(k) == base_of.get(c[0])
                and max(jaccard(sh[k], sh[m]) for m in c) >= unique_threshold
                for k in keepers
            )
        explained = ok / len(no_copy) if no_copy else None
    return {
        "documents": n_docs,
        "kept": len(kept & ids),
        "true_clusters": n_clusters,
        "true_cluster_docs": sum(len(c) for c in clusters),
        "clusters_one_copy": sum(c == 1 for c in copies) / n_clusters if n_clusters else None,
        "clusters_no_copy": sum(c == 0 for c in copies) / n_clusters if n_clusters else None,
        "no_copy_kept_as_similar_copy_of_same_page": explained,
        "clusters_several_copies": sum(c > 1 for c in copies) / n_clusters if n_clusters else None,
        "unique_docs": len(unique),
        "unique_kept": sum(m in kept for m in unique) / len(unique) if unique else None,
    }


def pairwise_scores(predicted: dict[str, object], truth: dict[str, object]) -> dict:
    """Pairwise precision and recall of a clustering (doc -> cluster label) against the truth."""

    def pairs(labels: dict[str, object]) -> set[tuple[str, str]]:
        groups: dict[object, list[str]] = defaultdict(list)
        for doc, label in labels.items():
            groups[label].append(doc)
        return {tuple(sorted(p)) for g in groups.values() for p in itertools.combinations(g, 2)}

    pred, true = pairs(predicted), pairs(truth)
    tp = len(pred & true)
    return {
        "true_pairs": len(true),
        "predicted_pairs": len(pred),
        "precision": tp / len(pred) if pred else 1.0,
        "recall": tp / len(true) if true else 1.0,
    }


# --------------------------------------------------------------------------------------------
# Running the stages
# --------------------------------------------------------------------------------------------


class _Collect(PipelineStep):
    """Writes `id<TAB>cluster id` of every document reaching it to `folder/{rank}.tsv`."""

    name = "collect ids"

    def __init__(self, folder: str, key: str | None = None):
        super().__init__()
        self.folder = folder
        self.key = key

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        os.makedirs(self.folder, exist_ok=True)
        with open(os.path.join(self.folder, f"{rank:05d}.tsv"), "w") as f:
            for doc in data:
                f.write(f"{doc.id}\t{doc.metadata.get(self.key, '') if self.key else ''}\n")
                yield doc


def read_collected(folder: str) -> dict[str, str]:
    out = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.tsv"))):
        for line in open(path):
            doc_id, _, cluster = line.rstrip("\n").partition("\t")
            out[doc_id] = cluster
    return out


def _execute(pipeline: list, tasks: int, workers: int, logs: str) -> None:
    LocalPipelineExecutor(
        pipeline=pipeline, tasks=tasks, workers=min(workers, tasks), logging_dir=logs, skip_completed=False
    ).run()


def run_dedup(
    filtered_dir: str,
    work_dir: str,
    params: dict,
    tasks: int,
    workers: int = 1,
    final_tasks: int | None = None,
    measure: bool = False,
) -> dict:
    """All dedup stages then the final filter; returns kept ids -> cluster id, removed docs, timings."""
    shutil.rmtree(work_dir, ignore_errors=True)
    dedup_dir = os.path.join(work_dir, "dedup")
    timings = []
    for name, pipeline, n in build_dedup_stages(params, filtered_dir, dedup_dir, tasks):
        timings.append(_run_measured(name, pipeline, n, workers, os.path.join(work_dir, "logs", name), measure))
    final_tasks = final_tasks or tasks
    final = [
        ParquetDocReader(filtered_dir),
        MinhashDedupFilter(
            work_dir=dedup_dir,
            **params,
            exclusion_writer=ParquetShardWriter(os.path.join(work_dir, "removed"), removed_by="minhash_dedup"),
        ),
        _Collect(os.path.join(work_dir, "kept"), key="dup_cluster_id"),
        ParquetShardWriter(os.path.join(work_dir, "data"), columns=MinhashDedupFilter.output_columns),
    ]
    timings.append(
        _run_measured("dedup_filter", final, final_tasks, workers, os.path.join(work_dir, "logs", "final"), measure)
    )
    removed = {}
    for path in sorted(glob.glob(os.path.join(work_dir, "removed", "*.parquet"))):
        import pyarrow.parquet as pq

        for row in pq.read_table(path, columns=["id", "removed_reason", "metadata"]).to_pylist():
            meta = json.loads(row["metadata"] or "{}")
            removed[row["id"]] = (meta.get("duplicate_of"), row["removed_reason"])
    return {"kept": read_collected(os.path.join(work_dir, "kept")), "removed": removed, "timings": timings}


def run_datatrove_minhash(filtered_dir: str, work_dir: str, tasks: int = 1, workers: int = 1) -> dict:
    """datatrove's own 4-stage MinHash (FineWeb's config) on the same input.

    Returns kept ids -> cluster id and removed ids -> cluster id (datatrove's cluster ids; -1 for
    a document without duplicates)."""
    import pyarrow.parquet as pq

    dtm = _datatrove_minhash()
    MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster = (
        dtm.MinhashConfig,
        dtm.MinhashDedupBuckets,
        dtm.MinhashDedupCluster,
    )
    MinhashDedupSignature, DTFilter = dtm.MinhashDedupSignature, dtm.MinhashDedupFilter
    workers = 1  # in-process: worker processes would re-import the package __init__ (see below)
    shutil.rmtree(work_dir, ignore_errors=True)
    from datatrove.utils.hashing import HashConfig

    # FineWeb's configuration: 5-grams, 14 x 8, 64-bit sha1 hashes
    cfg = MinhashConfig(
        n_grams=5, num_buckets=14, hashes_per_bucket=8, seed=1, hash_config=HashConfig(precision=64, hash_fc="sha1")
    )
    w = lambda *p: os.path.join(work_dir, *p)  # noqa: E731
    _execute(
        [ParquetDocReader(filtered_dir), MinhashDedupSignature(w("sigs"), config=cfg)], tasks, workers, w("logs", "1")
    )
    _execute([MinhashDedupBuckets(w("sigs"), w("buckets"), config=cfg)], cfg.num_buckets, workers, w("logs", "2"))
    _execute(
        [MinhashDedupCluster(w("buckets"), w("remove_ids"), config=cfg, save_cluster_id=True)], 1, 1, w("logs", "3")
    )
    dt_filter = DTFilter(
        w("remove_ids"),
        load_cluster_ids=True,
        exclusion_writer=ParquetShardWriter(w("removed"), removed_by="datatrove"),
    )
    _execute(
        [ParquetDocReader(filtered_dir), dt_filter, _Collect(w("kept"), key="minhash_cluster_id")],
        tasks,
        workers,
        w("logs", "4"),
    )
    removed = {}
    for path in sorted(glob.glob(w("removed", "*.parquet"))):
        for row in pq.read_table(path, columns=["id", "metadata"]).to_pylist():
            removed[row["id"]] = str(json.loads(row["metadata"] or "{}").get("minhash_cluster_id"))
    return {"kept": read_collected(w("kept")), "removed": removed}


def _datatrove_minhash():
    """datatrove's minhash module; its package __init__ imports exact_substrings, which needs
    `tokenizers` (not installed), so the package is stubbed when that import fails."""
    import sys
    import types

    try:
        import datatrove.pipeline.dedup.minhash as dtm
    except ModuleNotFoundError:
        import datatrove.pipeline as dp

        pkg = types.ModuleType("datatrove.pipeline.dedup")
        pkg.__path__ = [os.path.join(dp.__path__[0], "dedup")]
        sys.modules["datatrove.pipeline.dedup"] = pkg
        import datatrove.pipeline.dedup.minhash as dtm
    return dtm


def _clusters_of(kept: dict[str, str], removed: dict[str, str]) -> dict[str, str]:
    """datatrove output -> doc -> cluster label (singletons get their own label)."""
    out = {}
    for doc_id, cluster in {**kept, **removed}.items():
        out[doc_id] = doc_id if cluster in ("", "-1", "None") else f"c{cluster}"
    return out


# --------------------------------------------------------------------------------------------
# Per-stage wall time and peak memory (whole process tree, sampled)
# --------------------------------------------------------------------------------------------


def _stage_child(pipeline: list, tasks: int, workers: int, logs: str) -> None:
    _execute(pipeline, tasks, workers, logs)


def _run_measured(name: str, pipeline: list, tasks: int, workers: int, logs: str, measure: bool) -> dict:
    """Runs a stage (in a fresh process when measuring, so its peak RSS is its own)."""
    start = time.perf_counter()
    if not measure:
        _execute(pipeline, tasks, workers, logs)
        return {"stage": name, "tasks": tasks, "wall_s": round(time.perf_counter() - start, 2)}
    import psutil

    proc = mp.get_context("spawn").Process(target=_stage_child, args=(pipeline, tasks, workers, logs))
    proc.start()
    ps = psutil.Process(proc.pid)
    peak_total = peak_one = 0
    cpu: dict[int, float] = {}  # last CPU seconds seen per process of the tree (misses < 50 ms each)
    while proc.is_alive():
        rss = []
        try:
            tree = [ps, *ps.children(recursive=True)]
        except psutil.Error:
            tree = []
        for p in tree:
            try:
                with p.oneshot():
                    rss.append(p.memory_info().rss)
                    t = p.cpu_times()
                    cpu[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        if rss:
            peak_total, peak_one = max(peak_total, sum(rss)), max(peak_one, max(rss))
        time.sleep(0.05)
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"stage {name} failed (exit code {proc.exitcode}); see {logs}")
    return {
        "stage": name,
        "tasks": tasks,
        "wall_s": round(time.perf_counter() - start, 2),
        "cpu_s": round(sum(cpu.values()), 1),
        "peak_rss_tree_mb": round(peak_total / 2**20),
        "peak_rss_process_mb": round(peak_one / 2**20),
        "load_avg_1m_after": round(os.getloadavg()[0], 1),
    }


def scale_run(n_docs: int, tasks: int, workers: int, work_dir: str = "/tmp/dedup-scale") -> dict:
    """Synthetic run of `n_docs` short documents through every stage: wall time and peak RSS per stage."""
    filtered = os.path.join(work_dir, "filtered")
    shutil.rmtree(work_dir, ignore_errors=True)
    t0 = time.perf_counter()
    corpus = synthetic_corpus(filtered, n_docs, shards=max(8, tasks))
    gen_s = time.perf_counter() - t0
    res = run_dedup(filtered, os.path.join(work_dir, "run"), FINEWEB_PARAMS, tasks, workers, measure=True)
    kept = len(res["kept"])
    reasons: dict[str, int] = defaultdict(int)
    for _, reason in res["removed"].values():
        reasons[reason] += 1
    return {
        "n_docs": n_docs,
        "tasks": tasks,
        "workers": workers,
        "corpus": corpus,
        "generate_s": round(gen_s, 1),
        "kept": kept,
        "removed": dict(reasons),
        "expected_kept_at_most": corpus["originals"],
        "stages": res["timings"],
        "total_wall_s": round(sum(t["wall_s"] for t in res["timings"]), 1),
    }


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _bench(args: argparse.Namespace) -> dict:
    filtered = bench_documents(args.bench, os.path.join(args.work, "filtered"))
    docs = [d for p in sorted(glob.glob(os.path.join(filtered, "*.parquet"))) for d in _read(p)]
    manifest = os.path.join(args.bench, "manifest.jsonl")
    out = {"documents_passing": len(docs)}
    for tasks in (1, 2, 4):
        t = time.perf_counter()
        res = run_dedup(filtered, os.path.join(args.work, f"ours-{tasks}"), FINEWEB_PARAMS, tasks, args.workers)
        dup_of = {doc_id: keeper for doc_id, (keeper, _) in res["removed"].items()}
        out[f"thresher_tasks{tasks}"] = {
            **evaluate_dedup(docs, manifest, res["kept"], dup_of),
            "wall_s": round(time.perf_counter() - t, 1),
        }
        if tasks == 1:
            first = res["kept"]
        out[f"thresher_tasks{tasks}"]["same_kept_and_cluster_ids_as_1_task"] = res["kept"] == first
    for tasks in (1, 2):
        t = time.perf_counter()
        kept = run_datatrove_minhash(filtered, os.path.join(args.work, f"datatrove-{tasks}"), tasks, args.workers)[
            "kept"
        ]
        if tasks == 1:
            first_dt = set(kept)
        out[f"datatrove_tasks{tasks}"] = {
            **evaluate_dedup(docs, manifest, kept),
            "same_kept_as_1_task": set(kept) == first_dt,
            "wall_s": round(time.perf_counter() - t, 1),
        }
    return out


def _read(path: str):
    from ..write.parquet import read_documents

    return read_documents(path)


def _neardup(args: argparse.Namespace) -> dict:
    docs = neardup_documents()
    truth = {d.id: d.metadata["cluster"] for d in docs}
    filtered = write_docs(docs, os.path.join(args.work, "filtered"), 4)
    out = {"documents": len(docs), "true_clusters": len(set(truth.values()))}
    res = run_dedup(filtered, os.path.join(args.work, "ours"), FINEWEB_PARAMS, 2, args.workers)
    pred = {d: c for d, c in res["kept"].items()}
    keeper_cluster = dict(pred)
    for doc_id, (keeper, _) in res["removed"].items():
        pred[doc_id] = keeper_cluster[keeper]
    out["thresher"] = pairwise_scores(pred, truth)
    out["thresher"]["kept"] = len(res["kept"])
    out["thresher"]["unlabelled_pairs_with_jaccard"] = _unlabelled_pairs(pred, truth, docs)
    dt = run_datatrove_minhash(filtered, os.path.join(args.work, "datatrove"), 2, args.workers)
    dt_pred = _clusters_of(dt["kept"], dt["removed"])
    out["datatrove"] = pairwise_scores(dt_pred, truth)
    out["datatrove"]["kept"] = len(dt["kept"])
    out["datatrove"]["unlabelled_pairs_with_jaccard"] = _unlabelled_pairs(dt_pred, truth, docs)
    out["one_kept_per_true_cluster"] = {
        "thresher": _one_per_cluster(truth, set(res["kept"])),
        "datatrove": _one_per_cluster(truth, set(dt["kept"])),
    }
    return out


def evaluate_run(run_dir: str, manifest: str, work_dir: str) -> dict:
    """Dedup of a finished `thresher run` on a bench corpus, against exact truth, next to datatrove's
    MinHash on the very same documents (those that passed the run's filters, `work/filtered/`)."""
    import pyarrow.parquet as pq

    filtered = os.path.join(run_dir, "work", "filtered")
    docs = [d for p in sorted(glob.glob(os.path.join(filtered, "*.parquet"))) for d in _read(p)]
    data = sorted(glob.glob(os.path.join(run_dir, "data", "*.parquet")))
    kept = pq.read_table(data, columns=["id"]).column("id").to_pylist() if data else []
    duplicate_of = None
    removed = sorted(glob.glob(os.path.join(run_dir, "removed", "minhash_dedup", "*.parquet")))
    if removed:
        duplicate_of = {}
        for row in pq.read_table(removed, columns=["id", "metadata"]).to_pylist():
            duplicate_of[row["id"]] = json.loads(row["metadata"] or "{}").get("duplicate_of")
    # kept ids after PII etc. equal the dedup filter's output ids: later blocks do not drop
    out = {"documents_passing_filters": len(docs), "thresher": evaluate_dedup(docs, manifest, kept, duplicate_of)}
    for tasks in (1, 2):
        dt = run_datatrove_minhash(filtered, os.path.join(work_dir, f"datatrove-{tasks}"), tasks)
        out[f"datatrove_tasks{tasks}"] = evaluate_dedup(docs, manifest, dt["kept"])
    out["datatrove_same_kept_with_1_and_2_tasks"] = set(out["datatrove_tasks1"]) == set(out["datatrove_tasks2"]) and (
        out["datatrove_tasks1"]["kept"] == out["datatrove_tasks2"]["kept"]
    )
    out["neardup_truncation_clusters"] = _neardup(argparse.Namespace(work=os.path.join(work_dir, "neardup"), workers=2))
    return out


def format_run_evaluation(res: dict) -> str:
    """The dedup table printed by `thresher bench --dedup`."""

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f} %"

    rows = [("", "true clusters with exactly one copy", "no copy", "unique docs kept", "kept")]
    for name in ("thresher", "datatrove_tasks1", "datatrove_tasks2"):
        r = res[name]
        rows.append(
            (name, pct(r["clusters_one_copy"]), pct(r["clusters_no_copy"]), pct(r["unique_kept"]), str(r["kept"]))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)) for row in rows]
    t = res["thresher"]
    lines.insert(
        0,
        f"{res['documents_passing_filters']} documents passed the filters; {t['true_clusters']} true "
        f"clusters (word 5-gram Jaccard >= 0.8 within a base page), {t['unique_docs']} documents "
        "with no partner above 0.5",
    )
    nd = res["neardup_truncation_clusters"]
    lines.append("")
    lines.append(
        f"neardup-truncation-clusters.jsonl ({nd['documents']} texts, {nd['true_clusters']} clusters): "
        f"thresher precision {nd['thresher']['precision']:.4f} recall {nd['thresher']['recall']:.4f}; "
        f"datatrove precision {nd['datatrove']['precision']:.4f} recall {nd['datatrove']['recall']:.4f}"
    )
    return "\n".join(lines)


def _unlabelled_pairs(pred: dict[str, object], truth: dict[str, object], docs: list[Document]) -> dict:
    """Predicted pairs the labels call wrong, by their direct word 5-gram Jaccard (label noise check)."""
    sh = {d.id: shingles(d.text) for d in docs}
    groups: dict[object, list[str]] = defaultdict(list)
    for doc, label in pred.items():
        groups[label].append(doc)
    js = [
        jaccard(sh[a], sh[b]) for g in groups.values() for a, b in itertools.combinations(g, 2) if truth[a] != truth[b]
    ]
    return {"count": len(js), "jaccard_ge_0.5": sum(j >= 0.5 for j in js), "jaccard_ge_0.8": sum(j >= 0.8 for j in js)}


def _one_per_cluster(truth: dict[str, object], kept: set[str]) -> float:
    per: dict[object, int] = defaultdict(int)
    for doc, cluster in truth.items():
        per[cluster] += doc in kept
    return sum(v == 1 for v in per.values()) / len(per)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--bench", required=True, help="folder made by build_bench_warc.py")
    b.add_argument("--work", default="/tmp/dedup-bench")
    b.add_argument("--workers", type=int, default=2)
    nd = sub.add_parser("neardup")
    nd.add_argument("--work", default="/tmp/dedup-neardup")
    nd.add_argument("--workers", type=int, default=2)
    sc = sub.add_parser("scale")
    sc.add_argument("--n", type=int, default=1_000_000)
    sc.add_argument("--tasks", type=int, default=4)
    sc.add_argument("--workers", type=int, default=2)
    sc.add_argument("--work", default="/tmp/dedup-scale")
    sub.add_parser("speed")
    args = ap.parse_args(argv)
    if args.cmd == "bench":
        out = _bench(args)
    elif args.cmd == "neardup":
        out = _neardup(args)
    elif args.cmd == "speed":
        out = signature_speed()
    else:
        out = scale_run(args.n, args.tasks, args.workers, args.work)
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
