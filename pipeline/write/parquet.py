"""Sharded parquet output that appears only complete, and never duplicates after a restart."""

from __future__ import annotations

import glob
import json
import os
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from .schema import TRANSIENT_KEYS, build_schema


class ParquetShardWriter(PipelineStep):
    """Writes documents to `folder/{rank:05d}_{shard:04d}.parquet` (zstd).

    Each shard is written to a hidden temporary file and renamed when complete. When a task starts
    it deletes what an earlier, interrupted attempt of the same task left in `folder`, so a rerun
    never duplicates documents. Used both as the final step (`data/`) and as a filter's exclusion
    writer (`removed/<block>/`, with `removed_by` and `removed_reason`).
    """

    name = "💾 Parquet"
    type = "💽 - WRITER"

    def __init__(
        self,
        folder: str,
        columns: dict[str, pa.DataType] | None = None,
        removed_by: str | None = None,
        max_rows_per_shard: int = 50_000,
        max_bytes_per_shard: int = 256 << 20,
    ):
        super().__init__()
        self.folder = folder
        self.columns = columns or {}
        self.removed_by = removed_by
        self.max_rows = max_rows_per_shard
        self.max_bytes = max_bytes_per_shard
        self._schema = build_schema(self.columns, removed=removed_by is not None)
        self._rows: list[dict] = []
        self._bytes = 0
        self._shard = 0
        self._rank: int | None = None

    # --- datatrove DiskWriter-compatible interface (used as exclusion_writer) ---
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()

    def write(self, document: Document, rank: int = 0, **kwargs) -> None:
        if self._rank is None:
            self._start(rank)
        row = self._row(document)
        self._rows.append(row)
        self._bytes += len(document.text)
        if len(self._rows) >= self.max_rows or self._bytes >= self.max_bytes:
            self._flush()

    def close(self) -> None:
        if self._rank is not None:
            self._flush()

    # --- pipeline step ---
    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._start(rank)
        for doc in data:
            with self.track_time():
                self.write(doc, rank)
                self.stat_update("written")
            yield doc
        self.close()

    def _start(self, rank: int) -> None:
        self._rank = rank
        self._shard = 0
        os.makedirs(self.folder, exist_ok=True)
        for stale in glob.glob(os.path.join(self.folder, f"{rank:05d}_*.parquet")) + glob.glob(
            os.path.join(self.folder, f".{rank:05d}_*.tmp")
        ):
            os.remove(stale)

    def _row(self, doc: Document) -> dict:
        meta = doc.metadata
        row = {"id": doc.id, "text": doc.text}
        extra = {}
        for key, value in meta.items():
            if key in self._schema.names:
                row[key] = value
            elif key not in TRANSIENT_KEYS and not key.startswith("_"):
                extra[key] = value
        if self.removed_by is not None:
            row["removed_by"] = self.removed_by
            row["removed_reason"] = meta.get("filter_reason")
        row["metadata"] = json.dumps(extra, default=str, ensure_ascii=False) if extra else None
        return row

    def _flush(self) -> None:
        if not self._rows:
            return
        table = pa.Table.from_pylist(self._rows, schema=self._schema)
        name = f"{self._rank:05d}_{self._shard:04d}.parquet"
        tmp = os.path.join(self.folder, f".{self._rank:05d}_{uuid.uuid4().hex[:8]}.tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, os.path.join(self.folder, name))
        self._shard += 1
        self._rows = []
        self._bytes = 0


class ParquetDocReader(PipelineStep):
    """Reads documents back from `ParquetShardWriter` shards; task `rank` reads files[rank::world_size].

    Typed columns come back as metadata keys and the `metadata` JSON column is merged in, so a
    document read back equals the document written (less its transient keys).
    """

    name = "📖 Parquet"
    type = "📖 - READER"

    def __init__(self, folder: str, batch_rows: int = 2048):
        super().__init__()
        self.folder = folder
        self.batch_rows = batch_rows

    def files(self) -> list[str]:
        return sorted(glob.glob(os.path.join(self.folder, "*.parquet")))

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for path in self.files()[rank::world_size]:
            yield from read_documents(path, self.batch_rows)


def read_documents(path: str, batch_rows: int = 2048):
    """Documents of one shard, streamed in batches (bounded memory)."""
    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(batch_size=batch_rows):
        for row in batch.to_pylist():
            extra = row.pop("metadata", None)
            doc_id, text = row.pop("id"), row.pop("text")
            meta = {k: v for k, v in row.items() if v is not None}
            if extra:
                meta.update(json.loads(extra))
            yield Document(text=text, id=doc_id, metadata=meta)
