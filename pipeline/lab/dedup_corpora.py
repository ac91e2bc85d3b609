"""The corpora the dedup measurements run on: the bench corpus's documents, the near-duplicate
clusters, a synthetic corpus of any size; and the runs at scale and the signature speed."""

from __future__ import annotations

import glob
import json
import multiprocessing as mp
import os
import time
from collections.abc import Iterable

import numpy as np
from datatrove.data import Document

from ...filters.presets import block_params
from ..write.parquet import ParquetShardWriter
from . import SHARED

FINEWEB_PARAMS = block_params("fineweb", "minhash_dedup")  # the preset's, not a copy


def _extract_file(args: tuple[str, int, str, float]) -> int:
    """One WARC file -> English-ish trafilatura text, written as shard `rank` of `out_dir`."""
    path, rank, out_dir, min_score = args
    import fasttext
    import trafilatura

    from ...filters.language import bundled_model_path
    from ..read.warc import WarcReader

    model = fasttext.load_model(bundled_model_path())
    writer = ParquetShardWriter(out_dir)
    n = 0
    for doc in WarcReader([path]).read_file(path):
        text = trafilatura.extract(doc.text, favor_precision=True, include_comments=False, deduplicate=True)
        if not text:
            continue
        labels, scores = model.predict(text.replace("\n", " "))
        if labels[0] != "__label__en" or scores[0] < min_score:
            continue
        doc.text = text
        doc.metadata.pop("http_headers", None)
        writer.write(doc, rank)
        n += 1
    writer.close()
    return n


def bench_documents(bench_dir: str, out_dir: str, workers: int = 2, min_score: float = 0.65) -> str:
    """Stand-in for "documents that pass the filters": trafilatura (favour_precision) text of the
    bench records that fastText lid.176 calls English with score >= `min_score`; cached in out_dir."""
    if glob.glob(os.path.join(out_dir, "*.parquet")):
        return out_dir
    files = sorted(glob.glob(os.path.join(bench_dir, "*.warc.gz")))
    with mp.get_context("spawn").Pool(workers) as pool:
        pool.map(_extract_file, [(f, i, out_dir, min_score) for i, f in enumerate(files)])
    return out_dir


def write_docs(docs: Iterable[Document], out_dir: str, shards: int) -> str:
    """Documents -> `shards` parquet files (round robin), as the filter stage writes them."""
    writers = [ParquetShardWriter(out_dir) for _ in range(shards)]
    for i, doc in enumerate(docs):
        writers[i % shards].write(doc, i % shards)
    for w in writers:
        w.close()
    return out_dir


def neardup_documents(limit: int | None = None) -> list[Document]:
    """The truncation-cluster texts as documents (id = doc_id, cluster in metadata), dated by row."""
    path = SHARED / "data" / "dedup" / "neardup-truncation-clusters.jsonl"
    docs = []
    for i, line in enumerate(open(path)):
        if limit is not None and i >= limit:
            break
        r = json.loads(line)
        date = f"2024-05-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"
        docs.append(Document(text=r["text"], id=r["doc_id"], metadata={"warc_date": date, "cluster": r["cluster"]}))
    return docs


def synthetic_corpus(out_dir: str, n_docs: int, shards: int = 8, seed: int = 0) -> dict:
    """`n_docs` short documents (20-60 words): 70 % originals, 15 % exact and 15 % near copies
    (5 % of words replaced), written straight to parquet in the filter stage's schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..write.schema import build_schema

    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}{chr(97 + i % 26)}" for i in range(50_000)])
    n_orig = int(n_docs * 0.7)
    n_exact = int(n_docs * 0.15)
    n_near = n_docs - n_orig - n_exact
    lens = rng.integers(20, 61, n_orig)
    probs = 1.0 / np.arange(1, len(vocab) + 1) ** 0.9
    probs /= probs.sum()
    words = rng.choice(len(vocab), size=int(lens.sum()), p=probs)
    offs = np.concatenate([[0], np.cumsum(lens)])
    texts = [" ".join(vocab[words[offs[i] : offs[i + 1]]]) for i in range(n_orig)]
    src_exact = rng.integers(0, n_orig, n_exact)
    src_near = rng.integers(0, n_orig, n_near)
    near_texts = []
    for s in src_near:
        w = words[offs[s] : offs[s + 1]].copy()
        k = max(1, len(w) // 20)
        w[rng.choice(len(w), k, replace=False)] = rng.integers(0, len(vocab), k)
        near_texts.append(" ".join(vocab[w]))
    all_texts = texts + [texts[s] for s in src_exact] + near_texts
    order = rng.permutation(n_docs)
    schema = build_schema({})
    per = (n_docs + shards - 1) // shards
    os.makedirs(out_dir, exist_ok=True)
    for s in range(shards):
        idx = order[s * per : (s + 1) * per]
        table = pa.table(
            {
                "id": [f"syn-{i:08d}" for i in idx],
                "text": [all_texts[i] for i in idx],
                "warc_date": [f"2024-05-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z" for i in idx],
            }
        )
        full = {f.name: table[f.name] if f.name in table.column_names else pa.nulls(len(idx), f.type) for f in schema}
        pq.write_table(pa.table(full, schema=schema), os.path.join(out_dir, f"{s:05d}_0000.parquet"))
    return {"originals": n_orig, "exact_copies": n_exact, "near_copies": n_near}


def signature_speed(limit: int = 3000) -> dict:
    """ms/doc for 112-hash signatures on the near-duplicate texts: batched numpy vs datasketch per doc."""
    from datasketch import MinHash

    from ..dedup.minhash import MinHasher, normalised_words
    from ..dedup.params import MinhashParams

    texts = [d.text for d in neardup_documents(limit)]
    t = time.perf_counter()
    words = [normalised_words(x) for x in texts]
    split_ms = (time.perf_counter() - t) / len(texts) * 1e3
    hasher = MinHasher(MinhashParams.of(FINEWEB_PARAMS))
    t = time.perf_counter()
    for i in range(0, len(words), 1024):
        hasher.band_keys(hasher.signatures(words[i : i + 1024]))
    ours_ms = (time.perf_counter() - t) / len(texts) * 1e3
    t = time.perf_counter()
    for x in texts:
        w = x.split()
        m = MinHash(num_perm=112, seed=1)
        m.update_batch([" ".join(w[i : i + 5]).encode() for i in range(max(1, len(w) - 4))])
    ds_ms = (time.perf_counter() - t) / len(texts) * 1e3
    return {
        "docs": len(texts),
        "mean_words": round(float(np.mean([len(w) for w in words])), 1),
        "word_split_ms": round(split_ms, 3),
        "batched_signature_and_bands_ms": round(ours_ms, 3),
        "datasketch_per_doc_whitespace_ms": round(ds_ms, 3),
    }
