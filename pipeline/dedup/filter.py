"""The last dedup stage: one document kept per duplicate cluster, looked up by id."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from ...filters.base import Block, register
from .arrays import ArrayFile, check_meta
from .minhash import U64, h64
from .params import MinhashParams
from .stages import KIND_EXACT, KIND_KEEPER, assign_path


@register("minhash_dedup")
class MinhashDedupFilter(BaseFilter, Block):
    """Final stage: keeps one document per duplicate cluster, looked up by id (never by position).

    Kept documents get `dup_cluster_id` (signed 64-bit hash of the keeper's id; equal for every
    member of a cluster, so kept and removed copies join on it) and `dup_cluster_size` (1 for a
    document without duplicates). Removed documents are dropped with reason `exact_duplicate` or
    `near_duplicate` and carry `duplicate_of` (the keeper's id) in their metadata.
    """

    name = "🎯 MinHash dedup"
    output_columns = {"dup_cluster_id": pa.int64(), "dup_cluster_size": pa.int32()}
    drop_reasons = {
        "exact_duplicate": "the same normalised text as the cluster's keeper",
        "near_duplicate": "a MinHash near-duplicate of the cluster's keeper",
    }

    def __init__(
        self,
        ngram: int,
        bands: int,
        rows: int,
        seed: int,
        exact_pass: bool,
        per_language: bool = False,
        words: Literal["quick", "language"] = "quick",
        work_dir: str | None = None,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer, batch_size=1024)
        self.work_dir = work_dir
        self.params = MinhashParams(ngram, bands, rows, seed, exact_pass, per_language, words)
        self._table: dict[str, np.ndarray] | None = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._table is None:
            if not self.work_dir:
                raise ValueError("MinhashDedupFilter needs work_dir (the folder of the dedup stages)")
            f = ArrayFile(assign_path(self.work_dir))
            check_meta(f, self.params.meta())
            self._table = {name: f.load(name) for name in f.sections}
        return self._table

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        t = self._load()
        keys = np.fromiter((h64(d.id) for d in batch), dtype=U64, count=len(batch))
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
