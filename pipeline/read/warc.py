"""Stream WARC/ARC/WET files into documents that know the exact bytes they came from."""

from __future__ import annotations

import contextlib
import os
import time
import zlib
from collections.abc import Iterator

import fsspec
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from .decode import decode_html
from .inputs import file_size

HTML_TYPES = ("text/html", "application/xhtml+xml")
# what a damaged archive raises inside warcio / gzip / zlib
READ_ERRORS = (ArchiveLoadFailed, EOFError, OSError, ValueError, KeyError, IndexError, zlib.error, UnicodeError)
MAX_RESYNCS = 1000
_BOUNDARY_CHUNK = 1 << 20
SKIPPED_TYPES = ("request", "metadata", "revisit", "warcinfo", "resource", "continuation")
WARC_TYPES = SKIPPED_TYPES + ("response", "conversion")


def _warcinfo_field(payload: bytes, key: str) -> str | None:
    for line in payload.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == key.lower():
            return value.strip() or None
    return None


def _record_id(raw: str | None) -> str | None:
    if not raw:
        return None
    return raw.strip("<>").removeprefix("urn:uuid:")


class WarcReader(PipelineStep):
    """One document per HTML response (or WET conversion) record, with its provenance.

    Task `rank` of `world_size` reads files[rank::world_size]. Request, metadata, revisit and
    non-HTML records are skipped and counted; a damaged file is read up to the damage and the rest
    is counted as `read_error_*`, never a crash of the run.
    """

    name = "📖 WARC reader"
    type = "📖 - READER"
    block = "reader"

    def __init__(
        self,
        files: list[str],
        crawl: str | None = None,
        max_record_bytes: int = 10_000_000,
        progress_dir: str | None = None,
    ):
        super().__init__()
        self.files = files
        self.crawl = crawl
        self.max_record_bytes = max_record_bytes
        self.progress_dir = progress_dir
        self.removed_writer = None  # set by the pipeline builder when removed output is on
        self._rank = 0
        self._file_records = 0

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        self._rank = rank
        progress = ReadProgress(self.progress_dir, rank)
        with self.removed_writer if self.removed_writer is not None else contextlib.nullcontext():
            for path in self.files[rank::world_size]:
                self._file_records = 0
                yield from self.read_file(path, progress)
                if self._file_records == 0:
                    self.stat_update("empty_files")
                    logger.warning(f"{path}: no record in it (empty, or not a WARC/ARC/WET file)")
                progress.file_done(path)
        progress.close()

    def read_file(self, path: str, progress: ReadProgress | None = None) -> Iterator[Document]:
        """Documents of one file. After a damaged record, reading resumes at the next record boundary
        (next gzip member or `WARC/` header), so one bad record costs that record, not the file."""
        state = FileState(crawl=self.crawl, path=path)
        position: int | None = 0
        attempts = 0
        while position is not None:
            try:
                yield from self._read_from(path, position, state, progress)
                position = None
            except READ_ERRORS as e:
                reason = error_reason(e)
                self.stat_update("read_error", f"read_error_{reason}")
                detail = f"{type(e).__name__}: {str(e)[:120]!r}"
                logger.warning(f"{path}: damaged record near byte {state.failed_at} ({detail})")
                attempts += 1
                position = None if attempts > MAX_RESYNCS else next_boundary(path, state.failed_at + 1)
                if position is not None:
                    self.stat_update("resync")

    def _read_from(self, path: str, position: int, state: FileState, progress: ReadProgress | None):
        with fsspec.open(path, "rb") as fh, _member_checker(path) as state.members:
            if position:
                fh.seek(position)
            it = ArchiveIterator(fh, arc2warc=True, check_digests=False)
            state.failed_at = position
            records = iter(it)
            while True:
                state.failed_at = max(state.failed_at, it.offset)
                record = next(records, None)
                if record is None:
                    size = file_size(path)
                    if size is not None and it.offset < size - 4:
                        # the iterator gave up inside the file: what follows was not read
                        state.failed_at = max(state.failed_at, it.offset)
                        raise StoppedEarly(f"reading stopped at byte {it.offset} of {size}")
                    return
                doc = self._handle(record, it, path, state)
                if progress is not None:
                    progress.update(path, it.offset)
                if doc is not None:
                    yield doc

    def _handle(self, record, it, path: str, state: FileState) -> Document | None:
        """Counts one record and turns it into a document when it is an HTML response or WET text.
        `it` tells the record's byte range (warcio's iterator, or fastwarc's position)."""
        self.stat_update("records")
        self._file_records += 1
        rec_type = record.rec_type
        if rec_type == "warcinfo":
            payload = record.content_stream().read(65536)
            self._verify(it, state)
            state.crawl = _warcinfo_field(payload, "isPartOf") or state.crawl
            self.stat_update("skipped_warcinfo")
            return None
        if rec_type not in WARC_TYPES:
            # not a record type at all: a corrupt header, whose made-up length may swallow the
            # records behind it; treat it as damage, so reading resyncs at the next boundary
            raise StoppedEarly(f"corrupt record header (type {str(rec_type)[:40]!r})")
        if rec_type not in ("response", "conversion"):
            self._verify(it, state)
            self.stat_update(f"skipped_{rec_type}")
            return None
        return self._document(it, record, path, state)

    @staticmethod
    def _verify(it, state: FileState) -> None:
        """In a .warc.gz, the record just read must be one whole gzip member (see _MemberChecker)."""
        if state.members is not None:
            state.members.verify(it.get_record_offset(), it.get_record_length())

    def _document(self, it: ArchiveIterator, record, path: str, state: FileState) -> Document | None:
        headers = record.rec_headers
        http = record.http_headers
        is_wet = record.rec_type == "conversion"
        content_type = http.get_header("Content-Type") if http is not None else None
        identified = headers.get_header("WARC-Identified-Payload-Type")
        mime = (identified or content_type or "").split(";")[0].strip().lower()
        if is_wet:
            mime = mime or "text/plain"
        stream = record.content_stream()
        head = stream.read(min(self.max_record_bytes + 1, 1 << 30))
        offset, length = it.get_record_offset(), it.get_record_length()  # reads the rest of the record
        self._verify(it, state)
        if not is_wet and mime not in HTML_TYPES:
            if mime or not _sniff_html(head):
                self.stat_update("skipped_non_html")
                return None
        self.stat_update("html_records")
        meta = {
            "warc_path": path,
            "warc_offset": offset,
            "warc_length": length,
            "warc_record_id": None if state.is_arc else headers.get_header("WARC-Record-ID"),
            "url": headers.get_header("WARC-Target-URI"),
            "warc_date": headers.get_header("WARC-Date"),
            "payload_digest": headers.get_header("WARC-Payload-Digest"),
            "http_status": int(http.get_statuscode()) if http is not None and _is_int(http.get_statuscode()) else None,
            "content_type": content_type or identified,
            "crawl": state.crawl,
            "http_headers": list(http.headers) if http is not None else [],
            "source_format": "wet" if is_wet else "html",
        }
        # a record without an id of its own (ARC, or a WARC record missing the header): file + offset
        doc_id = _record_id(meta["warc_record_id"]) or f"{os.path.basename(path)}:{offset}"
        if len(head) > self.max_record_bytes:
            return self._drop(Document(text="", id=doc_id, metadata={**meta, "charset": None}), "record_too_large")
        if doc_id in state.seen_ids:
            return self._drop(Document(text="", id=doc_id, metadata={**meta, "charset": None}), "duplicate_record_id")
        state.seen_ids.add(doc_id)
        if is_wet:
            text, charset = head.decode("utf-8", "replace"), "utf-8"
        else:
            text, charset = decode_html(head, content_type)
        meta["charset"] = charset
        self.stat_update("forwarded")
        return Document(text=text, id=doc_id, metadata=meta)

    def _drop(self, doc: Document, reason: str) -> None:
        """A record that is not turned into a document: counted, and kept in removed/reader/."""
        self.stat_update("dropped", f"dropped_{reason}")
        if self.removed_writer is not None:
            doc.metadata["filter_reason"] = reason
            self.removed_writer.write(doc, self._rank)


class StoppedEarly(ValueError):
    """The archive iterator ended before the end of the file (damage it did not report)."""


class _MemberChecker:
    """Checks that a record's byte range in a .warc.gz is exactly one complete gzip member.

    warcio inflates a truncated member straight into the next one without an error, so the record
    behind it would vanish inside the damaged one; a second, independent inflate of the range
    catches that (about 1 % of a run's CPU)."""

    def __init__(self, path: str):
        self.fh = fsspec.open(path, "rb").open()

    def verify(self, offset: int, length: int) -> None:
        self.fh.seek(offset)
        inflater = zlib.decompressobj(31)
        remaining = length
        while remaining > 0 and not inflater.eof:
            chunk = self.fh.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
            inflater.decompress(chunk, 1 << 16)  # bounded output: only the member's end matters
            while inflater.unconsumed_tail and not inflater.eof:
                inflater.decompress(inflater.unconsumed_tail, 1 << 16)
        if not inflater.eof or remaining > 0 or inflater.unused_data:
            raise StoppedEarly(f"record at byte {offset} is not one complete gzip member")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.fh.close()


def _member_checker(path: str):
    return _MemberChecker(path) if path.lower().endswith(".gz") else contextlib.nullcontext()


class FileState:
    """What reading one file has learnt so far (kept across resyncs)."""

    def __init__(self, crawl: str | None, path: str | None = None):
        self.crawl = crawl
        self.members: _MemberChecker | None = None
        self.failed_at = 0
        self.seen_ids: set[str] = set()
        self.records = 0
        # ARC has no record ids: warcio makes up a random one per read, so ids come from the position
        self.is_arc = path is not None and _is_arc(path)


def _is_arc(path: str) -> bool:
    """An ARC file starts with its `filedesc://` record (inside the gzip member for .arc.gz)."""
    try:
        with fsspec.open(path, "rb", compression="gzip" if path.lower().endswith(".gz") else None) as f:
            return f.read(11) == b"filedesc://"
    except (OSError, EOFError, ValueError, zlib.error):
        return False


def error_reason(e: Exception) -> str:
    if isinstance(e, StoppedEarly):
        return "bad_record_header" if "corrupt record header" in str(e) else "stopped_early"
    text = str(e).lower()
    if isinstance(e, EOFError) or "truncat" in text or "end of file" in text or "compressed file ended" in text:
        return "truncated"
    if isinstance(e, zlib.error) or "gzip" in text or "decompress" in text:
        return "bad_gzip"
    if isinstance(e, ArchiveLoadFailed) or "invalid" in text or "unknown archive" in text:
        return "bad_record_header"
    return type(e).__name__.lower()


def next_boundary(path: str, start: int) -> int | None:
    """Byte position of the next gzip member or `WARC/` header at or after `start` (None at EOF)."""
    gz = path.endswith(".gz")
    magic = b"\x1f\x8b\x08" if gz else b"WARC/"
    with fsspec.open(path, "rb") as fh:
        fh.seek(start)
        offset = start
        tail = b""
        while True:
            chunk = fh.read(_BOUNDARY_CHUNK)
            if not chunk:
                return None
            data = tail + chunk
            for i in _find_all(data, magic):
                pos = offset - len(tail) + i
                if pos >= start and (gz or i == 0 and pos == start or data[i - 1 : i] == b"\n"):
                    return pos
            tail = data[-(len(magic) - 1) :]
            offset += len(chunk)


def _find_all(data: bytes, needle: bytes):
    i = data.find(needle)
    while i != -1:
        yield i
        i = data.find(needle, i + 1)


def _is_int(value) -> bool:
    try:
        int(value)
        return True
    except (TypeError, ValueError):
        return False


def _sniff_html(head: bytes) -> bool:
    start = head[:1024].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")) or b"<html" in start


class ReadProgress:
    """Bytes read per task, written to a small file the CLI polls for its progress bar."""

    def __init__(self, folder: str | None, rank: int):
        self.path = os.path.join(folder, f"{rank:05d}") if folder else None
        self.done_bytes = 0
        self.current = 0
        self.last_write = 0.0
        if self.path:
            os.makedirs(folder, exist_ok=True)

    def update(self, path: str, offset: int) -> None:
        self.current = offset
        now = time.monotonic()
        if self.path and now - self.last_write > 0.5:
            self._write()
            self.last_write = now

    def file_done(self, path: str) -> None:
        self.done_bytes += file_size(path) or 0
        self.current = 0
        if self.path:
            self._write()

    def _write(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(self.done_bytes + self.current))
        os.replace(tmp, self.path)

    def close(self) -> None:
        if self.path:
            self._write()
