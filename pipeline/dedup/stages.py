"""Global MinHash deduplication: the same kept set whatever the number of tasks or workers.

datatrove's MinHash marks documents by their position in each task's input, so its last stage
needs the same input order and task count as the first, and its cluster stage is one process
holding every document. Here documents are keyed by a 64-bit hash of their id, and the work is
four stages, each a set of parallel tasks reading and writing only files under `work_dir`:

1. signatures (T tasks): word 5-gram shingles of the shared word splits, 112 MinHash values
   (datasketch's `affine32` permutations for `seed`, computed for a batch of documents at once
   with numpy) cut into 14 bands of 8 rows; each band becomes a 64-bit band key, and the hash of
   the normalised text is one more "band" (the exact pass). Records (band key, doc key) are split
   into P partitions by band key and written sorted, with a table of (doc key, warc_date, id).
2. buckets (P tasks): partition j of every signature file; documents sharing a band key are
   joined to the smallest doc key of the bucket; the edges are written sorted and unique.
3. clusters (1 task): connected components of the edges only (memory grows with the number of
   duplicate pairs, not of documents); the keeper of each cluster is the document with the
   earliest warc_date, ties broken by the smallest id (documents without a date come last).
4. filter (`MinhashDedupFilter` in `filter.py`, in the final stage): looks each document up by id.

With `per_language` (FineWeb-2) each band key is mixed with the document's `language` label, so
documents of different languages never share a bucket: one pass deduplicates every language apart.

Every intermediate file is written to a temporary name and renamed when complete, and carries a
footer (section digests, lengths, an end magic) that readers check, so a crashed task can never
leave a half file that a later stage misreads.
"""

from __future__ import annotations

import os

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from ..write.parquet import ParquetDocReader
from .arrays import ArrayFile, blob_strings, check_meta, strings_to_blob, write_arrays
from .minhash import (
    DATE_MISSING,
    U64,
    MinHasher,
    date_key,
    fineweb2_words,
    h64,
    language_salt,
    normalised_words,
    salted,
)
from .params import MinhashParams

KIND_KEEPER, KIND_EXACT, KIND_NEAR = 0, 1, 2


def sig_path(work_dir: str, rank: int, tasks: int) -> str:
    return os.path.join(work_dir, "sig", f"{rank:05d}-of-{tasks:05d}.tdd")


def edges_path(work_dir: str, part: int, parts: int) -> str:
    return os.path.join(work_dir, "edges", f"{part:05d}-of-{parts:05d}.tdd")


def assign_path(work_dir: str) -> str:
    return os.path.join(work_dir, "clusters", "assign.tdd")


class MinhashSignatures(PipelineStep):
    """Stage 1: band keys of every document of this task, partitioned and sorted, plus its doc table."""

    type = "🫂 - DEDUP"
    name = "🎯 MinHash signatures"
    stats_name = "dedup_signatures"  # its entry under `stages` in stats.json, wherever it runs

    def __init__(
        self,
        work_dir: str,
        partitions: int,
        params: MinhashParams,
        batch_docs: int = 1024,
    ):
        super().__init__()
        self.work_dir = work_dir
        self.partitions = partitions
        self.params = params
        self.batch_docs = batch_docs

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        hasher = MinHasher(self.params)
        keys: list[np.ndarray] = []
        dates: list[int] = []
        exacts: list[np.ndarray] = []
        ids: list[str] = []
        band_chunks: list[np.ndarray] = []
        batch: list[Document] = []

        def flush() -> None:
            if self.params.words == "language":
                words = [fineweb2_words(d.text, d.metadata.get("language")) for d in batch]
            else:
                words = [normalised_words(d.text) for d in batch]
            exact = np.fromiter((h64(" ".join(w)) for w in words), dtype=U64, count=len(words))
            # exact pass: a document whose normalised text was already seen in this batch reuses
            # its signature instead of recomputing it
            _, first_idx, inverse = np.unique(exact, return_index=True, return_inverse=True)
            uniq_words = [words[i] for i in first_idx]
            with self.track_time():
                sigs = hasher.signatures(uniq_words)[inverse]
            bk = hasher.band_keys(sigs)
            empty = np.array([len(w) == 0 for w in words])
            cols = [bk]
            if self.params.exact_pass:
                cols.append(hasher.exact_keys(exact)[:, None])
            bk = np.concatenate(cols, axis=1)
            if self.params.per_language:
                bk = salted(bk, language_salt([d.metadata.get("language") for d in batch]))
            dk = np.fromiter((h64(d.id) for d in batch), dtype=U64, count=len(batch))
            keep = ~empty
            band_chunks.append(np.stack([bk[keep].ravel(), np.repeat(dk[keep], bk.shape[1])], axis=1))
            keys.append(dk)
            exacts.append(exact)
            dates.extend(date_key(d.metadata.get("warc_date")) for d in batch)
            ids.extend(d.id for d in batch)
            self.stat_update("documents", value=len(batch))
            self.stat_update("exact_reused", value=len(batch) - len(first_idx))
            self.stat_update("no_words", value=int(empty.sum()))
            batch.clear()

        for doc in data or []:
            batch.append(doc)
            if len(batch) >= self.batch_docs:
                flush()
        if batch:
            flush()

        recs = np.concatenate(band_chunks) if band_chunks else np.zeros((0, 2), dtype=U64)
        band_chunks.clear()
        part = (recs[:, 0] % U64(self.partitions)).astype(np.int64)
        order = np.lexsort((recs[:, 1], recs[:, 0], part))
        recs, part = recs[order], part[order]
        bounds = np.searchsorted(part, np.arange(self.partitions + 1))
        arrays: dict[str, np.ndarray] = {}
        for j in range(self.partitions):
            arrays[f"band_key_{j}"] = recs[bounds[j] : bounds[j + 1], 0]
            arrays[f"doc_key_{j}"] = recs[bounds[j] : bounds[j + 1], 1]
        dk = np.concatenate(keys) if keys else np.zeros(0, dtype=U64)
        order = np.argsort(dk, kind="stable")
        blob, offsets = strings_to_blob([ids[i] for i in order])
        arrays.update(
            docs_key=dk[order],
            docs_date=np.asarray(dates, dtype=np.int64)[order] if dates else np.zeros(0, np.int64),
            docs_exact=(np.concatenate(exacts) if exacts else np.zeros(0, dtype=U64))[order],
            docs_id_offsets=offsets,
            docs_id_blob=blob,
        )
        meta = {**self.params.meta(), "partitions": self.partitions}
        write_arrays(sig_path(self.work_dir, rank, world_size), arrays, meta)


class MinhashBuckets(PipelineStep):
    """Stage 2: task j joins the documents that share a band key in partition j of every signature file."""

    type = "🫂 - DEDUP"
    name = "🎯 MinHash buckets"

    def __init__(self, work_dir: str, sig_tasks: int, params: MinhashParams):
        super().__init__()
        self.work_dir = work_dir
        self.sig_tasks = sig_tasks
        self.params = params

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        bks, dks = [], []
        for r in range(self.sig_tasks):
            f = ArrayFile(sig_path(self.work_dir, r, self.sig_tasks))
            check_meta(f, {**self.params.meta(), "partitions": world_size})
            bks.append(f.load(f"band_key_{rank}"))
            dks.append(f.load(f"doc_key_{rank}"))
        with self.track_time():
            bk = np.concatenate(bks) if bks else np.zeros(0, U64)
            dk = np.concatenate(dks) if dks else np.zeros(0, U64)
            del bks, dks
            order = np.lexsort((dk, bk))
            bk, dk = bk[order], dk[order]
            n = len(bk)
            is_start = np.ones(n, dtype=bool)
            if n:
                is_start[1:] = bk[1:] != bk[:-1]
            run_first = np.maximum.accumulate(np.where(is_start, np.arange(n), 0)) if n else np.zeros(0, int)
            a, b = dk[run_first], dk
            sel = a != b
            a, b = a[sel], b[sel]
            if len(a):
                order = np.lexsort((b, a))
                a, b = a[order], b[order]
                uniq = np.ones(len(a), dtype=bool)
                uniq[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
                a, b = a[uniq], b[uniq]
        self.stat_update("band_records", value=n)
        self.stat_update("edges", value=len(a))
        write_arrays(edges_path(self.work_dir, rank, world_size), {"a": a, "b": b}, self.params.meta())


class MinhashClusters(PipelineStep):
    """Stage 3 (one task): connected components of the edges, one keeper per component.

    Memory grows with the number of duplicate pairs: only documents that have a partner are
    looked up in the signature files' doc tables (one file at a time).
    """

    type = "🫂 - DEDUP"
    name = "🎯 MinHash clusters"

    def __init__(
        self,
        work_dir: str,
        sig_tasks: int,
        partitions: int,
        params: MinhashParams,
    ):
        super().__init__()
        self.work_dir = work_dir
        self.sig_tasks = sig_tasks
        self.partitions = partitions
        self.params = params

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if world_size != 1:
            raise ValueError("the cluster stage runs as exactly one task")
        a_parts, b_parts = [], []
        for j in range(self.partitions):
            f = ArrayFile(edges_path(self.work_dir, j, self.partitions))
            check_meta(f, self.params.meta())
            a_parts.append(f.load("a"))
            b_parts.append(f.load("b"))
        with self.track_time():
            a = np.concatenate(a_parts)
            b = np.concatenate(b_parts)
            del a_parts, b_parts
            nodes = np.unique(np.concatenate([a, b]))
            comp = connected_components(np.searchsorted(nodes, a), np.searchsorted(nodes, b), len(nodes))
            del a, b
            date = np.full(len(nodes), DATE_MISSING, dtype=np.int64)
            exact = np.zeros(len(nodes), dtype=U64)
            ids = np.empty(len(nodes), dtype=object)
            found_any = np.zeros(len(nodes), dtype=bool)
            for r in range(self.sig_tasks):
                f = ArrayFile(sig_path(self.work_dir, r, self.sig_tasks))
                keys = f.load("docs_key")
                if not len(keys) or not len(nodes):
                    continue
                pos = np.minimum(np.searchsorted(keys, nodes), len(keys) - 1)
                hit = (keys[pos] == nodes) & ~found_any
                if not hit.any():
                    continue
                where = pos[hit]
                date[hit] = f.load("docs_date")[where]
                exact[hit] = f.load("docs_exact")[where]
                ids[hit] = blob_strings(f.load("docs_id_blob"), f.load("docs_id_offsets"), where)
                found_any |= hit
            if not found_any.all():
                raise ValueError(f"{(~found_any).sum()} documents of the edges are in no signature file")
            id_bytes = np.array([s.encode("utf-8", "surrogatepass") for s in ids], dtype=bytes)
            # keeper: earliest warc_date, then smallest id; first in this order within its component
            order = np.lexsort((id_bytes, date, comp))
            is_first = np.ones(len(order), dtype=bool)
            is_first[1:] = comp[order][1:] != comp[order][:-1]
            keeper_of_comp = np.empty(comp.max() + 1 if len(comp) else 0, dtype=np.int64)
            keeper_of_comp[comp[order][is_first]] = order[is_first]
            keeper = keeper_of_comp[comp]
            size = np.bincount(comp).astype(np.uint32)[comp]
            kind = np.where(
                keeper == np.arange(len(nodes)),
                KIND_KEEPER,
                np.where(exact == exact[keeper], KIND_EXACT, KIND_NEAR),
            ).astype(np.uint8)
            keeper_nodes = keeper_of_comp
            blob, offsets = strings_to_blob(list(ids[keeper_nodes]))
        n_clusters = len(keeper_of_comp)
        self.stat_update("duplicate_docs", value=len(nodes))
        self.stat_update("clusters", value=n_clusters)
        self.stat_update("removed", value=len(nodes) - n_clusters)
        write_arrays(
            assign_path(self.work_dir),
            {
                "key": nodes,
                "cluster": nodes[keeper],
                "size": size,
                "kind": kind,
                "keeper_index": comp.astype(np.int64),
                "keeper_id_offsets": offsets,
                "keeper_id_blob": blob,
            },
            self.params.meta(),
        )


def connected_components(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Component label (0..k-1) of each of `n` nodes given edges (a[i], b[i]).

    Vectorised min-label hooking with pointer jumping: O(edges) memory, a few passes over them.
    """
    labels = np.arange(n, dtype=np.int64)
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    while len(a):
        la, lb = labels[a], labels[b]
        differ = la != lb
        if not differ.any():
            break
        la, lb = la[differ], lb[differ]
        lo, hi = np.minimum(la, lb), np.maximum(la, lb)
        np.minimum.at(labels, hi, lo)  # hook the larger root under the smaller
        while True:  # pointer jumping until every node points at its root
            nxt = labels[labels]
            if np.array_equal(nxt, labels):
                break
            labels = nxt
        a, b = a[differ], b[differ]
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def signatures_step(params: MinhashParams | dict, work_dir: str, tasks: int) -> MinhashSignatures:
    """Stage 1 as a step: a run puts it after the filter stage's writer, so each task hashes the
    documents it has just written instead of a separate stage reading them back."""
    return MinhashSignatures(work_dir, max(1, int(tasks)), MinhashParams.of(params))


def build_dedup_stages(
    params: MinhashParams | dict, filtered_dir: str, work_dir: str, tasks: int, with_signatures: bool = True
) -> list[tuple[str, list[PipelineStep], int]]:
    """The dedup stages to run, in order, between the filter stage and the final stage.

    `tasks` signature tasks read `filtered_dir` (left out with `with_signatures=False`, when the
    filter stage runs `signatures_step` itself); band keys are split into `tasks` partitions, one
    bucket task each; clustering is one task over the duplicate edges only. File names carry the task
    count, so a stage never reads files written with another one.
    """
    p = MinhashParams.of(params)
    tasks = max(1, int(tasks))
    stage_1 = [ParquetDocReader(filtered_dir), signatures_step(params, work_dir, tasks)]
    return ([("dedup_signatures", stage_1, tasks)] if with_signatures else []) + [
        ("dedup_buckets", [MinhashBuckets(work_dir, tasks, p)], tasks),
        ("dedup_clusters", [MinhashClusters(work_dir, tasks, tasks, p)], 1),
    ]
