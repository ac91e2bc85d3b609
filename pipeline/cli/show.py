"""`thresher show RUN_DIR DOC_ID`: one document with its provenance and, when reachable, its original record.

The row says exactly which bytes it came from (WARC file, offset, length), so the record is read
by one seek and one read of `warc_length` bytes, never by scanning the WARC file.
"""

from __future__ import annotations

import argparse
import io
import json
import sys

import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..report.scan import read_positions, shard_paths
from ..write.schema import PROVENANCE_COLUMNS, REMOVED_COLUMNS


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="output folder of a run")
    p.add_argument("doc_id", help="document id (the WARC-Record-ID, with or without <urn:uuid:...>)")
    p.add_argument("--text-chars", type=int, default=3000, help="characters of text to print, 0 for all (%(default)s)")
    p.add_argument("--html-chars", type=int, default=3000, help="characters of HTML to print, 0 for all (%(default)s)")
    p.add_argument("--no-warc", action="store_true", help="do not read the original record")
    p.add_argument("--json", action="store_true", help="print one JSON object (row, record headers, full HTML)")


def normalise_id(doc_id: str) -> str:
    """Ids are WARC-Record-IDs without `<urn:uuid:` and `>`; accept either spelling."""
    return doc_id.strip().strip("<>").removeprefix("urn:uuid:")


def find_document(run_dir: str, doc_id: str) -> tuple[dict, str, str | None] | None:
    """(row, shard path, removed_by block or None) of `doc_id` in data/ or removed/, else None.

    Reads only the `id` column of each shard until the id is found, then the one batch holding its row.
    """
    wanted = normalise_id(doc_id).lower()  # UUIDs are case-insensitive; ids of ours are lower-case
    for block, path in shard_paths(run_dir):
        pf = pq.ParquetFile(path)
        if "id" not in pf.schema_arrow.names:
            continue
        ids = pc.utf8_lower(pf.read(columns=["id"]).column("id"))
        hits = pc.indices_nonzero(pc.fill_null(pc.equal(ids, wanted), False))
        if len(hits):
            return read_positions(path, [hits[0].as_py()])[0], path, block
    return None


def read_record(warc_path: str, offset: int, length: int) -> dict:
    """The WARC record at exactly [offset, offset+length): its headers, HTTP headers and payload."""
    import fsspec
    from warcio.archiveiterator import ArchiveIterator

    with fsspec.open(warc_path, "rb") as f:
        f.seek(offset)
        raw = f.read(length)
    if len(raw) != length:
        raise OSError(f"{warc_path}: read {len(raw)} of {length} bytes at offset {offset} (file truncated?)")
    record = next(iter(ArchiveIterator(io.BytesIO(raw), arc2warc=True, check_digests=False)), None)
    if record is None:
        raise OSError(f"{warc_path}: no WARC record at offset {offset}")
    http = record.http_headers
    return {
        "warc_headers": list(record.rec_headers.headers),
        "http_status_line": f"{http.protocol} {http.statusline}".strip() if http is not None else None,
        "http_headers": list(http.headers) if http is not None else [],
        "payload": record.content_stream().read(),
    }


def _clip(text: str, limit: int) -> str:
    if limit and len(text) > limit:
        return text[:limit] + f"\n[... {len(text) - limit:,} more characters; --text-chars/--html-chars 0 for all]"
    return text


def _header(records: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in records if k.lower() == name.lower()), None)


def main(args: argparse.Namespace) -> int:
    found = find_document(args.run_dir, args.doc_id)
    if found is None:
        print(
            f"thresher: no document {args.doc_id!r} in {args.run_dir}/data or {args.run_dir}/removed", file=sys.stderr
        )
        return 1
    row, shard, block = found
    record, record_error = None, None
    if not args.no_warc and row.get("warc_path") and row.get("warc_offset") is not None and row.get("warc_length"):
        try:
            record = read_record(row["warc_path"], int(row["warc_offset"]), int(row["warc_length"]))
        except Exception as e:  # unreachable file, bad offsets: the row is still worth printing
            record_error = f"{type(e).__name__}: {e}"
    if args.json:
        out = {"status": "kept" if block is None else "removed", "shard": shard, "row": row}
        if record is not None:
            from ..read.decode import decode_html

            html, charset = decode_html(record["payload"], row.get("content_type"))
            out["record"] = {k: v for k, v in record.items() if k != "payload"} | {"html": html, "charset": charset}
        if record_error:
            out["record_error"] = record_error
        print(json.dumps(out, ensure_ascii=False, indent=2, default=str))
        return 0
    print_document(row, shard, block, args.text_chars)
    if args.no_warc:
        return 0
    if record is None:
        print(f"\n== original record: not reachable ({record_error or 'no warc_path/offset/length in the row'})")
        return 0
    print_record(row, record, args.html_chars)
    return 0


def print_document(row: dict, shard: str, block: str | None, text_chars: int) -> None:
    status = "kept" if block is None else f"removed by {block}: {row.get('removed_reason') or '(no reason)'}"
    print(f"== document {row.get('id')}  [{status}]")
    print(f"shard: {shard}")
    print("\n== provenance")
    for name in PROVENANCE_COLUMNS:
        if name not in ("id", "text"):
            print(f"{name}: {row.get(name)}")
    extra = [k for k in row if k not in PROVENANCE_COLUMNS and k not in REMOVED_COLUMNS and k != "metadata"]
    if extra:
        print("\n== block columns")
        for name in extra:
            print(f"{name}: {row[name]}")
    if row.get("metadata"):
        print("\n== metadata")
        try:
            print(json.dumps(json.loads(row["metadata"]), ensure_ascii=False, indent=2))
        except ValueError:
            print(row["metadata"])
    text = row.get("text") or ""
    if row.get("word_count") is not None:  # the same count as the column, not a second one
        words = f"{row['word_count']:,} words as word_count counts them"
    else:
        words = f"{len(text.split()):,} whitespace-separated words"
    print(f"\n== text ({len(text):,} characters, {words})")
    print(_clip(text, text_chars))


def print_record(row: dict, record: dict, html_chars: int) -> None:
    from ..read.decode import decode_html

    print(f"\n== original WARC record ({row['warc_path']} @ {row['warc_offset']} +{row['warc_length']} bytes)")
    for k, v in record["warc_headers"]:
        print(f"{k}: {v}")
    if record["http_status_line"] is not None:
        print("\n== HTTP headers")
        print(record["http_status_line"])
        for k, v in record["http_headers"]:
            print(f"{k}: {v}")
    html, charset = decode_html(record["payload"], row.get("content_type"))
    print(f"\n== HTML ({len(record['payload']):,} bytes, decoded as {charset})")
    print(_clip(html, html_chars))
    rec_id = _header(record["warc_headers"], "WARC-Record-ID")
    url = _header(record["warc_headers"], "WARC-Target-URI")
    ok = rec_id == row.get("warc_record_id") and url == row.get("url")
    print(f"\n== check: record id and URL {'match the row' if ok else 'DO NOT match the row'}")
