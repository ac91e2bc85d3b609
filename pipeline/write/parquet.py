"""Sharded parquet output that appears only complete, and never duplicates after a restart."""

from __future__ import annotations

import glob
import json
import os
import re
import uuid
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from .schema import TRANSIENT_KEYS, build_schema

UNKNOWN_PARTITION = "unknown"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def partition_name(value: object) -> str:
    """A metadata value as a folder name (`deu_Latn` stays as it is; a missing value is `unknown`)."""
    name = _UNSAFE.sub("_", str(value)) if value not in (None, "") else UNKNOWN_PARTITION
    return name if name.strip(".") else UNKNOWN_PARTITION


def task_files(folder: str, rank: int) -> list[str]:
    """Every shard and temporary file task `rank` wrote in `folder` or in its partition subfolders."""
    out: list[str] = []
    for base in (folder, os.path.join(folder, "*")):
        out += glob.glob(os.path.join(base, f"{rank:05d}_*.parquet")) + glob.glob(
            os.path.join(base, f".{rank:05d}_*.tmp")
        )
    return out


def shard_files(folder: str) -> list[str]:
    """The complete shards in `folder` and in its partition subfolders, in a stable order."""
    return sorted(glob.glob(os.path.join(folder, "*.parquet")) + glob.glob(os.path.join(folder, "*", "*.parquet")))


@dataclass
class _Buffer:
    """Rows waiting to become the next shard of one folder."""

    folder: str
    rows: list[dict] = field(default_factory=list)
    bytes: int = 0
    shard: int = 0


class ParquetShardWriter(PipelineStep):
    """Writes documents to `folder/{rank:05d}_{shard:04d}.parquet` (zstd), or, with `partition_by`, to
    `folder/<value of that metadata key>/{rank:05d}_{shard:04d}.parquet` (FineWeb-2's `data/deu_Latn/...`).

    Each shard is written to a hidden temporary file and renamed when complete. When a task starts
    it deletes what an earlier, interrupted attempt of the same task left in `folder` (and its partition
    subfolders), so a rerun never duplicates documents. Used both as the final step (`data/`) and as a
    filter's exclusion writer (`removed/<block>/`, with `removed_by` and `removed_reason`). Partitions
    share one memory budget: past `max_bytes_per_shard` of buffered text, the largest buffer is written.
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
        partition_by: str | None = None,
    ):
        super().__init__()
        self.folder = folder
        self.columns = columns or {}
        self.removed_by = removed_by
        self.max_rows = max_rows_per_shard
        self.max_bytes = max_bytes_per_shard
        self.partition_by = partition_by
        self._schema = build_schema(self.columns, removed=removed_by is not None)
        self._buffers: dict[str, _Buffer] = {}
        self._buffered = 0
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
        buf = self._buffer(document)
        buf.rows.append(self._row(document))
        size = len(document.text)
        buf.bytes += size
        self._buffered += size
        if len(buf.rows) >= self.max_rows or buf.bytes >= self.max_bytes:
            self._flush(buf)
        elif self._buffered >= self.max_bytes:
            self._flush(max(self._buffers.values(), key=lambda b: b.bytes))

    def close(self) -> None:
        if self._rank is not None:
            for buf in self._buffers.values():
                self._flush(buf)

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
        self._buffers = {}
        self._buffered = 0
        os.makedirs(self.folder, exist_ok=True)
        for stale in task_files(self.folder, rank):
            os.remove(stale)

    def _buffer(self, doc: Document) -> _Buffer:
        if self.partition_by is None:
            key = ""
        else:
            key = partition_name(doc.metadata.get(self.partition_by))
            self.stat_update(f"partition_{key}")
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = _Buffer(os.path.join(self.folder, key) if key else self.folder)
        return buf

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

    def _flush(self, buf: _Buffer) -> None:
        if not buf.rows:
            return
        table = pa.Table.from_pylist(buf.rows, schema=self._schema)
        os.makedirs(buf.folder, exist_ok=True)
        name = f"{self._rank:05d}_{buf.shard:04d}.parquet"
        tmp = os.path.join(buf.folder, f".{self._rank:05d}_{uuid.uuid4().hex[:8]}.tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, os.path.join(buf.folder, name))
        buf.shard += 1
        self._buffered -= buf.bytes
        buf.rows = []
        buf.bytes = 0


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
        return shard_files(self.folder)

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
