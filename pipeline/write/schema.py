"""The output schema: provenance columns every document has, plus columns declared by blocks.

A block that wants a typed column in the output declares it in its `output_columns` class attribute
(name -> pyarrow type) and writes the value into `doc.metadata[name]`. Metadata keys that are not
columns go, as JSON, into the `metadata` column, except the transient ones below.
"""

from __future__ import annotations

import pyarrow as pa

PROVENANCE_COLUMNS: dict[str, pa.DataType] = {
    "id": pa.string(),
    "text": pa.string(),
    "url": pa.string(),
    "crawl": pa.string(),
    "warc_path": pa.string(),
    "warc_offset": pa.int64(),
    "warc_length": pa.int64(),
    "warc_record_id": pa.string(),
    "warc_date": pa.string(),
    "payload_digest": pa.string(),
    "http_status": pa.int32(),
    "content_type": pa.string(),
    "charset": pa.string(),
}

REMOVED_COLUMNS: dict[str, pa.DataType] = {
    "removed_by": pa.string(),
    "removed_reason": pa.string(),
}

# kept in memory while a document flows through the pipeline, never written
TRANSIENT_KEYS = frozenset({"http_headers", "filter_reason"})


def build_schema(block_columns: dict[str, pa.DataType], removed: bool = False) -> pa.Schema:
    fields = dict(PROVENANCE_COLUMNS)
    fields.update(block_columns)
    if removed:
        fields.update(REMOVED_COLUMNS)
    fields["metadata"] = pa.string()
    return pa.schema([pa.field(name, dtype) for name, dtype in fields.items()])


def columns_of(blocks) -> dict[str, pa.DataType]:
    """Union of the `output_columns` of `blocks`, in pipeline order."""
    out: dict[str, pa.DataType] = {}
    for block in blocks:
        out.update(getattr(block, "output_columns", {}) or {})
    return out
