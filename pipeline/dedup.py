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
4. filter (`MinhashDedupFilter`, in the final stage): looks each document up by id.

Every intermediate file is written to a temporary name and renamed when complete, and carries a
footer (section digests, lengths, an end magic) that readers check, so a crashed task can never
leave a half file that a later stage misreads.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import struct
import uuid
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np
import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from thresher.filters.text import splits
from thresher.pipeline.config import FromPreset
from thresher.pipeline.writer import ParquetDocReader

# --------------------------------------------------------------------------------------------
# Intermediate file format: MAGIC | 8-byte-aligned sections | footer JSON | u64 footer length |
# 16-byte blake2b of the footer | END. The footer names each section's offset, dtype, length and
# blake2b digest; readers check both magics, the footer digest and every section they load.
# --------------------------------------------------------------------------------------------

MAGIC = b"THRDDUP1"
END_MAGIC = b"THRDEND1"
_TRAILER = struct.Struct("<Q16s8s")
FORMAT_VERSION = 1


class CorruptFileError(ValueError):
    """An intermediate file is truncated, altered or from another format: rerun the stage that wrote it."""


def _digest(buf) -> str:
    return hashlib.blake2b(buf, digest_size=16).hexdigest()


def write_arrays(path: str, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
    """Write named 1-d arrays atomically: a temporary file, fsync, then rename."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    sections = {}
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC)
            pos = len(MAGIC)
            for name, arr in arrays.items():
                arr = np.ascontiguousarray(arr)
                if arr.ndim != 1:
                    raise ValueError(f"section {name!r} must be 1-d")
                pad = (-pos) % 8
                f.write(b"\0" * pad)
                pos += pad
                data = memoryview(arr).cast("B") if arr.size else b""
                f.write(data)
                sections[name] = {
                    "offset": pos,
                    "nbytes": arr.nbytes,
                    "dtype": arr.dtype.str,
                    "count": int(arr.size),
                    "digest": _digest(data),
                }
                pos += arr.nbytes
            footer = json.dumps(
                {"version": FORMAT_VERSION, "meta": meta or {}, "sections": sections}, sort_keys=True
            ).encode()
            f.write(footer)
            f.write(_TRAILER.pack(len(footer), hashlib.blake2b(footer, digest_size=16).digest(), END_MAGIC))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class ArrayFile:
    """Reader of `write_arrays` files; the footer is checked on open, each section on load."""

    def __init__(self, path: str):
        self.path = path
        try:
            size = os.path.getsize(path)
        except OSError as e:
            raise FileNotFoundError(f"{path}: missing; run the stage that writes it") from e
        if size < len(MAGIC) + _TRAILER.size:
            raise CorruptFileError(f"{path}: truncated ({size} bytes)")
        with open(path, "rb") as f:
            head = f.read(len(MAGIC))
            f.seek(size - _TRAILER.size)
            footer_len, footer_digest, end = _TRAILER.unpack(f.read(_TRAILER.size))
            if head != MAGIC or end != END_MAGIC:
                raise CorruptFileError(f"{path}: bad magic (truncated or not a dedup file)")
            if footer_len > size - len(MAGIC) - _TRAILER.size:
                raise CorruptFileError(f"{path}: bad footer length")
            f.seek(size - _TRAILER.size - footer_len)
            footer = f.read(footer_len)
        if hashlib.blake2b(footer, digest_size=16).digest() != footer_digest:
            raise CorruptFileError(f"{path}: footer checksum mismatch")
        info = json.loads(footer)
        self.meta: dict = info["meta"]
        self.sections: dict = info["sections"]
        body_end = size - _TRAILER.size - footer_len
        for name, s in self.sections.items():
            if s["offset"] + s["nbytes"] > body_end:
                raise CorruptFileError(f"{path}: section {name!r} runs past the end of the data")

    def load(self, name: str) -> np.ndarray:
        if name not in self.sections:
            raise CorruptFileError(f"{self.path}: no section {name!r}")
        s = self.sections[name]
        arr = np.fromfile(self.path, dtype=np.dtype(s["dtype"]), count=s["count"], offset=s["offset"])
        if arr.nbytes != s["nbytes"] or _digest(memoryview(arr).cast("B") if arr.size else b"") != s["digest"]:
            raise CorruptFileError(f"{self.path}: section {name!r} checksum mismatch")
        return arr


def _check_meta(f: ArrayFile, expected: dict) -> None:
    got = {k: f.meta.get(k) for k in expected}
    if got != expected:
        raise ValueError(f"{f.path} was written with {got}, this run uses {expected}; clear the dedup work folder")


# --------------------------------------------------------------------------------------------
# Hashing
# --------------------------------------------------------------------------------------------

_U64 = np.uint64
_M64 = (1 << 64) - 1
# odd 64-bit multipliers for the position of a word inside its shingle (from splitmix64 / xxh64)
_POS_MULT = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5]
    + [(0x9E3779B97F4A7C15 * (2 * i + 11)) & _M64 | 1 for i in range(59)],
    dtype=_U64,
)
DATE_MISSING = np.iinfo(np.int64).max
KIND_KEEPER, KIND_EXACT, KIND_NEAR = 0, 1, 2


def h64(text: str) -> int:
    """Stable 64-bit hash of a string (blake2b), the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


_word_hash = lru_cache(maxsize=1 << 20)(h64)


def _fmix64(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> _U64(33))
    x = x * _U64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> _U64(33))
    x = x * _U64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> _U64(33))


def _fmix32(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, exactly as datasketch's affine32 scheme pre-mixes."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x85EBCA6B)
    x = x ^ (x >> np.uint32(13))
    x = x * np.uint32(0xC2B2AE35)
    return x ^ (x >> np.uint32(16))


def normalised_words(text: str) -> list[str]:
    """Lower-cased words of the shared word splits, punctuation tokens dropped."""
    return [w.lower() for w in splits(text).words if w[0].isalnum() or w[0] == "_"]


def date_key(value) -> int:
    """warc_date -> microseconds since the epoch (UTC); missing or unparsable dates sort last."""
    if not value:
        return int(DATE_MISSING)
    try:
        dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return int(DATE_MISSING)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's `MinHash(num_perm, seed, scheme="affine32").permutations` (a odd, b any, as
    uint32), drawn here because importing datasketch pulls in scipy: 0.3 s in every run's start.
    tests/test_dedup.py checks that both are equal."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


class MinHasher:
    """Batched MinHash signatures equal to datasketch's `MinHash(num_perm, seed, scheme="affine32")`
    fed the same 32-bit shingle hashes (see `shingle_hashes`), at a fraction of the cost."""

    def __init__(self, ngram: int, bands: int, rows: int, seed: int):
        self.ngram, self.bands, self.rows, self.seed = ngram, bands, rows, seed
        self.num_perm = bands * rows
        a, b = affine32_permutations(self.num_perm, seed)
        self.a = a[:, None]
        self.b = b[:, None]
        rng = np.random.RandomState(seed)
        self.band_seeds = rng.randint(0, 1 << 63, size=bands + 1, dtype=np.int64).astype(_U64)

    def shingle_hashes(self, words: list[str]) -> np.ndarray:
        """32-bit hashes of the word n-grams of one document (a shorter document is one shingle)."""
        return self.batch_shingles([words])[0]

    def batch_shingles(self, docs_words: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """All shingle hashes of a batch (uint32) and the index of each document's first shingle."""
        n = self.ngram
        lens = np.fromiter((len(w) for w in docs_words), dtype=np.int64, count=len(docs_words))
        flat = [w for words in docs_words for w in words]
        wh = np.fromiter(map(_word_hash, flat), dtype=_U64, count=len(flat))
        starts_word = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=starts_word[1:])
        # documents with >= n words: every window of n words; shorter (non-empty) ones: one window
        # over all their words, padded with zero hashes (never crosses into the next document)
        counts = np.where(lens >= n, lens - n + 1, np.minimum(lens, 1))
        total = int(counts.sum())
        first = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(counts, out=first[1:])
        win_start = np.repeat(starts_word[:-1] - first[:-1], counts) + np.arange(total, dtype=np.int64)
        win_len = np.repeat(np.minimum(lens, n), counts)
        padded = np.concatenate([wh, np.zeros(n, dtype=_U64)])
        acc = np.zeros(total, dtype=_U64)
        for k in range(n):
            part = padded[win_start + k] * _POS_MULT[k]
            acc += np.where(win_len > k, part, _U64(0))
        acc = _fmix64(acc ^ (win_len.astype(_U64) * _U64(0x9E3779B97F4A7C15)))
        return (acc >> _U64(32)).astype(np.uint32), first

    def signatures(self, docs_words: list[list[str]], chunk: int = 32768) -> np.ndarray:
        """(n_docs, bands*rows) uint32 signatures; documents without words get all-max values."""
        sh, first = self.batch_shingles(docs_words)
        out = np.full((len(docs_words), self.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        has = first[1:] > first[:-1]
        doc_idx = np.nonzero(has)[0]
        if not len(doc_idx):
            return out
        hv = _fmix32(sh)
        # process whole documents in chunks of ~`chunk` shingles to bound the temporary matrix
        seg_starts = first[doc_idx]
        seg_ends = first[doc_idx + 1]
        i = 0
        while i < len(doc_idx):
            j = int(np.searchsorted(seg_ends, seg_starts[i] + chunk, "right"))
            j = max(j, i + 1)
            lo, hi = int(seg_starts[i]), int(seg_ends[j - 1])
            phv = self.a * hv[None, lo:hi] + self.b  # (num_perm, shingles): reduce along rows
            out[doc_idx[i:j]] = np.minimum.reduceat(phv, seg_starts[i:j] - lo, axis=1).T
            i = j
        return out

    def band_keys(self, sigs: np.ndarray) -> np.ndarray:
        """(n_docs, bands) 64-bit keys: a hash of each band's rows and of the band's index."""
        v = sigs.reshape(len(sigs), self.bands, self.rows).astype(_U64)
        h = np.broadcast_to(self.band_seeds[: self.bands], (len(sigs), self.bands)).copy()
        for r in range(self.rows):
            h = _fmix64(h ^ (v[:, :, r] * _POS_MULT[r % len(_POS_MULT)]))
        return h

    def exact_keys(self, exact: np.ndarray) -> np.ndarray:
        return _fmix64(exact.astype(_U64) ^ self.band_seeds[self.bands])


# --------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------


def _stage_meta(ngram: int, bands: int, rows: int, seed: int, exact_pass: bool) -> dict:
    return {"ngram": ngram, "bands": bands, "rows": rows, "seed": seed, "exact_pass": exact_pass}


def sig_path(work_dir: str, rank: int, tasks: int) -> str:
    return os.path.join(work_dir, "sig", f"{rank:05d}-of-{tasks:05d}.tdd")


def edges_path(work_dir: str, part: int, parts: int) -> str:
    return os.path.join(work_dir, "edges", f"{part:05d}-of-{parts:05d}.tdd")


def assign_path(work_dir: str) -> str:
    return os.path.join(work_dir, "clusters", "assign.tdd")


def _strings_to_blob(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [v.encode("utf-8", "surrogatepass") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def _blob_strings(blob: np.ndarray, offsets: np.ndarray, idx: np.ndarray) -> list[str]:
    raw = blob.tobytes()
    return [raw[offsets[i] : offsets[i + 1]].decode("utf-8", "surrogatepass") for i in idx]


class MinhashSignatures(PipelineStep):
    """Stage 1: band keys of every document of this task, partitioned and sorted, plus its doc table."""

    type = "🫂 - DEDUP"
    name = "🎯 MinHash signatures"
    stats_name = "dedup_signatures"  # its entry under `stages` in stats.json, wherever it runs

    def __init__(
        self,
        work_dir: str,
        partitions: int,
        ngram: int,
        bands: int,
        rows: int,
        seed: int,
        exact_pass: bool,
        batch_docs: int = 1024,
    ):
        super().__init__()
        self.work_dir = work_dir
        self.partitions = partitions
        self.meta = _stage_meta(ngram, bands, rows, seed, exact_pass)
        self.batch_docs = batch_docs

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        hasher = MinHasher(self.meta["ngram"], self.meta["bands"], self.meta["rows"], self.meta["seed"])
        keys: list[np.ndarray] = []
        dates: list[int] = []
        exacts: list[np.ndarray] = []
        ids: list[str] = []
        band_chunks: list[np.ndarray] = []
        batch: list[Document] = []

        def flush() -> None:
            words = [normalised_words(d.text) for d in batch]
            exact = np.fromiter((h64(" ".join(w)) for w in words), dtype=_U64, count=len(words))
            # exact pass: a document whose normalised text was already seen in this batch reuses
            # its signature instead of recomputing it
            _, first_idx, inverse = np.unique(exact, return_index=True, return_inverse=True)
            uniq_words = [words[i] for i in first_idx]
            with self.track_time():
                sigs = hasher.signatures(uniq_words)[inverse]
            bk = hasher.band_keys(sigs)
            empty = np.array([len(w) == 0 for w in words])
            cols = [bk]
            if self.meta["exact_pass"]:
                cols.append(hasher.exact_keys(exact)[:, None])
            bk = np.concatenate(cols, axis=1)
            dk = np.fromiter((h64(d.id) for d in batch), dtype=_U64, count=len(batch))
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

        recs = np.concatenate(band_chunks) if band_chunks else np.zeros((0, 2), dtype=_U64)
        band_chunks.clear()
        part = (recs[:, 0] % _U64(self.partitions)).astype(np.int64)
        order = np.lexsort((recs[:, 1], recs[:, 0], part))
        recs, part = recs[order], part[order]
        bounds = np.searchsorted(part, np.arange(self.partitions + 1))
        arrays: dict[str, np.ndarray] = {}
        for j in range(self.partitions):
            arrays[f"band_key_{j}"] = recs[bounds[j] : bounds[j + 1], 0]
            arrays[f"doc_key_{j}"] = recs[bounds[j] : bounds[j + 1], 1]
        dk = np.concatenate(keys) if keys else np.zeros(0, dtype=_U64)
        order = np.argsort(dk, kind="stable")
        blob, offsets = _strings_to_blob([ids[i] for i in order])
        arrays.update(
            docs_key=dk[order],
            docs_date=np.asarray(dates, dtype=np.int64)[order] if dates else np.zeros(0, np.int64),
            docs_exact=(np.concatenate(exacts) if exacts else np.zeros(0, dtype=_U64))[order],
            docs_id_offsets=offsets,
            docs_id_blob=blob,
        )
        write_arrays(sig_path(self.work_dir, rank, world_size), arrays, {**self.meta, "partitions": self.partitions})


class MinhashBuckets(PipelineStep):
    """Stage 2: task j joins the documents that share a band key in partition j of every signature file."""

    type = "🫂 - DEDUP"
    name = "🎯 MinHash buckets"

    def __init__(self, work_dir: str, sig_tasks: int, ngram: int, bands: int, rows: int, seed: int, exact_pass: bool):
        super().__init__()
        self.work_dir = work_dir
        self.sig_tasks = sig_tasks
        self.meta = _stage_meta(ngram, bands, rows, seed, exact_pass)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        bks, dks = [], []
        for r in range(self.sig_tasks):
            f = ArrayFile(sig_path(self.work_dir, r, self.sig_tasks))
            _check_meta(f, {**self.meta, "partitions": world_size})
            bks.append(f.load(f"band_key_{rank}"))
            dks.append(f.load(f"doc_key_{rank}"))
        with self.track_time():
            bk = np.concatenate(bks) if bks else np.zeros(0, _U64)
            dk = np.concatenate(dks) if dks else np.zeros(0, _U64)
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
        write_arrays(edges_path(self.work_dir, rank, world_size), {"a": a, "b": b}, self.meta)


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
        ngram: int,
        bands: int,
        rows: int,
        seed: int,
        exact_pass: bool,
    ):
        super().__init__()
        self.work_dir = work_dir
        self.sig_tasks = sig_tasks
        self.partitions = partitions
        self.meta = _stage_meta(ngram, bands, rows, seed, exact_pass)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if world_size != 1:
            raise ValueError("the cluster stage runs as exactly one task")
        a_parts, b_parts = [], []
        for j in range(self.partitions):
            f = ArrayFile(edges_path(self.work_dir, j, self.partitions))
            _check_meta(f, self.meta)
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
            exact = np.zeros(len(nodes), dtype=_U64)
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
                ids[hit] = _blob_strings(f.load("docs_id_blob"), f.load("docs_id_offsets"), where)
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
            blob, offsets = _strings_to_blob(list(ids[keeper_nodes]))
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
            self.meta,
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


class MinhashDedupFilter(FromPreset, BaseFilter):
    """Final stage: keeps one document per duplicate cluster, looked up by id (never by position).

    Kept documents get `dup_cluster_id` (signed 64-bit hash of the keeper's id; equal for every
    member of a cluster, so kept and removed copies join on it) and `dup_cluster_size` (1 for a
    document without duplicates). Removed documents are dropped with reason `exact_duplicate` or
    `near_duplicate` and carry `duplicate_of` (the keeper's id) in their metadata.
    """

    name = "🎯 MinHash dedup"
    block = "minhash_dedup"
    output_columns = {"dup_cluster_id": pa.int64(), "dup_cluster_size": pa.int32()}

    def __init__(
        self,
        ngram: int,
        bands: int,
        rows: int,
        seed: int,
        exact_pass: bool,
        work_dir: str | None = None,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer, batch_size=1024)
        self.work_dir = work_dir
        self.meta = _stage_meta(ngram, bands, rows, seed, exact_pass)
        self._table: dict[str, np.ndarray] | None = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._table is None:
            if not self.work_dir:
                raise ValueError("MinhashDedupFilter needs work_dir (the folder of the dedup stages)")
            f = ArrayFile(assign_path(self.work_dir))
            _check_meta(f, self.meta)
            self._table = {name: f.load(name) for name in f.sections}
        return self._table

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        t = self._load()
        keys = np.fromiter((h64(d.id) for d in batch), dtype=_U64, count=len(batch))
        table_keys = t["key"]
        if len(table_keys):
            pos = np.minimum(np.searchsorted(table_keys, keys), len(table_keys) - 1)
            hit = table_keys[pos] == keys
        else:
            pos = np.zeros(len(keys), dtype=np.int64)
            hit = np.zeros(len(keys), dtype=bool)
        results: list[bool | tuple[bool, str]] = []
        for i, doc in enumerate(batch):
            if not hit[i]:
                doc.metadata["dup_cluster_id"] = int(keys[i : i + 1].view(np.int64)[0])
                doc.metadata["dup_cluster_size"] = 1
                results.append(True)
                continue
            p = pos[i]
            doc.metadata["dup_cluster_id"] = int(t["cluster"][p : p + 1].view(np.int64)[0])
            doc.metadata["dup_cluster_size"] = int(t["size"][p])
            kind = int(t["kind"][p])
            if kind == KIND_KEEPER:
                results.append(True)
                continue
            k = int(t["keeper_index"][p])
            off = t["keeper_id_offsets"]
            doc.metadata["duplicate_of"] = (
                t["keeper_id_blob"][off[k] : off[k + 1]].tobytes().decode("utf-8", "surrogatepass")
            )
            results.append((False, "exact_duplicate" if kind == KIND_EXACT else "near_duplicate"))
        return results


def _checked_params(params: dict) -> dict:
    required = ("ngram", "bands", "rows", "seed", "exact_pass")
    missing = [k for k in required if k not in params]
    unknown = sorted(set(params) - set(required))
    if missing or unknown:
        raise ValueError(f"minhash_dedup parameters: missing {missing}, unknown {unknown}; need {required}")
    return {k: params[k] for k in required}


def signatures_step(params: dict, work_dir: str, tasks: int) -> MinhashSignatures:
    """Stage 1 as a step: a run puts it after the filter stage's writer, so each task hashes the
    documents it has just written instead of a separate stage reading them back."""
    return MinhashSignatures(work_dir, max(1, int(tasks)), **_checked_params(params))


def build_dedup_stages(
    params: dict, filtered_dir: str, work_dir: str, tasks: int, with_signatures: bool = True
) -> list[tuple[str, list[PipelineStep], int]]:
    """The dedup stages to run, in order, between the filter stage and the final stage.

    `tasks` signature tasks read `filtered_dir` (left out with `with_signatures=False`, when the
    filter stage runs `signatures_step` itself); band keys are split into `tasks` partitions, one
    bucket task each; clustering is one task over the duplicate edges only. Leftover files of a
    run with another task count are removed here, so a later stage can never read them.
    """
    p = _checked_params(params)
    tasks = max(1, int(tasks))
    for sub, keep in (("sig", f"-of-{tasks:05d}.tdd"), ("edges", f"-of-{tasks:05d}.tdd")):
        for stale in glob.glob(os.path.join(work_dir, sub, "*.tdd")):
            if not stale.endswith(keep):
                os.remove(stale)
    stage_1 = [ParquetDocReader(filtered_dir), signatures_step(params, work_dir, tasks)]
    return ([("dedup_signatures", stage_1, tasks)] if with_signatures else []) + [
        ("dedup_buckets", [MinhashBuckets(work_dir, tasks, **p)], tasks),
        ("dedup_clusters", [MinhashClusters(work_dir, tasks, tasks, **p)], 1),
    ]
