"""The fast path: fastwarc reading, resiliparse extraction and a cheap pre-extraction language guess.

`FastWarcReader` yields the same documents as `WarcReader` (same fields, same provenance, offsets
that read back the record) because it feeds fastwarc's records through `WarcReader._document`
behind a small warcio-shaped adapter; only the parsing of the archive is different (C++, about
2.5x faster). `ResiliparseExtractor` is the `extract` block with resiliparse's main-content
heuristics instead of trafilatura (~1 ms instead of ~14 ms a page). `LanguagePrefilter` runs before
trafilatura in the fineweb preset and drops only pages that are clearly not in the kept languages,
so trafilatura never sees most of them.
"""

from __future__ import annotations

import html
import io
import os
import re
from collections.abc import Iterator

import fsspec
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from thresher.filters.language import bundled_model_path, load_model
from thresher.pipeline.reader import (
    MAX_RESYNCS,
    READ_ERRORS,
    WarcReader,
    _error_reason,
    _FileState,
    _next_boundary,
    _Progress,
    file_size,
)

# what fastwarc raises on a damaged archive, on top of what warcio / gzip raise
FAST_READ_ERRORS = READ_ERRORS + (RuntimeError,)
# record types whose payload the reader looks at
_PAYLOAD_TYPES = ("warcinfo", "response", "conversion")
# resiliparse options of the prefilter's quick text; an extractor with the same options reuses it
PREFILTER_OPTIONS = {
    "main_content": True,
    "preserve_formatting": True,
    "list_bullets": False,
    "alt_texts": False,
    "links": False,
    "form_fields": False,
    "noscript": False,
    "comments": False,
}
# metadata key of that text (a leading `_`: never written to the output)
SHARED_TEXT_KEY = "_main_text"
# what a page says of itself, read without a parse: <html lang="..">, <title>, the meta description
# (og: or not; `name`/`property` before `content`), all in the first characters of the page
HEAD_SCAN_CHARS = 30_000
_HTML_LANG_RE = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?\s*([a-z]{2,3})(?![a-z])", re.IGNORECASE)
_TITLE_RE = re.compile(r"<title\b[^>]*>([^<]*)", re.IGNORECASE)
_DESCRIPTION_RE = re.compile(
    r"<meta\b[^>]*?\b(?:name|property)\s*=\s*[\"']?(?:og:)?description\b[^>]*?\bcontent\s*=\s*(?:\"([^\"]*)\"|'([^']*)')",
    re.IGNORECASE,
)


def declared_head(page: str) -> tuple[str | None, str]:
    """(the language the page declares in <html lang>, lowercased; its title and meta description)."""
    head = page[:HEAD_SCAN_CHARS]
    lang = _HTML_LANG_RE.search(head)
    title = _TITLE_RE.search(head)
    description = _DESCRIPTION_RE.search(head)
    words = (title[1] if title else "") + " " + ((description[1] or description[2] or "") if description else "")
    return (lang[1].lower() if lang else None), " ".join(html.unescape(words).split())


class _Headers:
    """warcio's `StatusAndHeaders` calls that `WarcReader._document` makes, over a fastwarc HeaderMap."""

    __slots__ = ("_map",)

    def __init__(self, header_map):
        self._map = header_map

    def get_header(self, name: str, default: str | None = None) -> str | None:
        return self._map.get(name, default)

    def get_statuscode(self) -> str | None:
        code = self._map.status_code
        return None if code is None else str(code)

    @property
    def headers(self) -> list[tuple[str, str]]:
        return list(self._map.astuples())


class _WarcHeaders(_Headers):
    """WARC headers, with WARC-Target-URI cleaned as warcio's record loader does (`<url>` from
    wget 1.19, spaces as %20), so both readers give the same `url`."""

    __slots__ = ()

    def get_header(self, name: str, default: str | None = None) -> str | None:
        value = self._map.get(name, default)
        if value and name.lower() == "warc-target-uri":
            if value.startswith("<") and value.endswith(">"):
                value = value[1:-1]
            value = value.replace(" ", "%20")
        return value


class _Record:
    """A fastwarc record with its payload head read before the iterator moves on (warcio-shaped)."""

    __slots__ = ("rec_type", "rec_headers", "http_headers", "_raw")

    def __init__(self, record, limit: int):
        self.rec_type = str(record.record_type)
        self.rec_headers = _WarcHeaders(record.headers)
        http = record.http_headers if record.is_http else None
        self.http_headers = _Headers(http) if http is not None else None
        self._raw = b""
        if self.rec_type in _PAYLOAD_TYPES:
            encoded = self._encoding() is not None or self._chunked()
            # an encoded body is decoded by warcio's readers below, which need all of it
            self._raw = record.reader.read() if encoded else record.reader.read(limit)

    def _encoding(self) -> str | None:
        if self.http_headers is None:
            return None
        value = self.http_headers.get_header("Content-Encoding")
        return value.lower() if value else None

    def _chunked(self) -> bool:
        return self.http_headers is not None and self.http_headers.get_header("Transfer-Encoding") == "chunked"

    def content_stream(self):
        """The payload as warcio's `content_stream()` gives it: de-chunked and decompressed."""
        encoding, chunked = self._encoding(), self._chunked()
        if encoding is None and not chunked:
            return io.BytesIO(self._raw)
        from warcio.bufferedreaders import BufferedReader, ChunkedDataReader  # noqa: PLC0415 (rare path)

        if encoding not in BufferedReader.get_supported_decompressors():
            encoding = None
        reader_cls = ChunkedDataReader if chunked else BufferedReader
        return reader_cls(io.BytesIO(self._raw), decomp_type=encoding)


class _Position:
    """warcio's `ArchiveIterator` offset calls, for one record whose end is already known."""

    __slots__ = ("offset", "length")

    def __init__(self, offset: int, length: int):
        self.offset = offset
        self.length = length

    def get_record_offset(self) -> int:
        return self.offset

    def get_record_length(self) -> int:
        return self.length


def _fastwarc_reads(path: str) -> bool:
    """Gzipped WARC/WET files; ARC and uncompressed files go to warcio (whose record lengths of
    uncompressed records leave out the trailing blank lines, which the next-offset rule cannot)."""
    name = os.path.basename(path).lower()
    return ".warc" in name and name.endswith(".gz")


class _NotMultiMember(OSError):
    """Several records in one gzip member: no per-record offsets; warcio reports it as damage."""


class FastWarcReader(WarcReader):
    """`WarcReader` with fastwarc parsing the archive; same documents, stats and provenance.

    A record's length is the distance to the next record's start (the file's end for the last one),
    so each record's head is buffered before the iterator moves on. ARC and uncompressed files, and
    everything from a damaged record on, are read by `WarcReader`'s warcio path, which resyncs past
    the damage.
    """

    name = "📖 WARC reader (fastwarc)"

    def read_file(self, path: str, progress: _Progress | None = None) -> Iterator[Document]:
        if not _fastwarc_reads(path):
            yield from super().read_file(path, progress)
            return
        from fastwarc.warc import ArchiveIterator  # noqa: PLC0415 (optional dependency)

        state = _FileState(crawl=self.crawl)
        limit = min(self.max_record_bytes + 1, 1 << 30)
        source = path if "://" not in path else fsspec.open(path, "rb").open()
        pending_pos = 0
        try:
            records = iter(ArchiveIterator(source, parse_http=True, auto_decode="none"))
            current = next(records, None)
            while current is not None:
                pending_pos = current.stream_pos
                buffered = _Record(current, limit)
                following = next(records, None)
                end = following.stream_pos if following is not None else file_size(path)
                if end <= pending_pos:
                    raise _NotMultiMember(path)
                doc = self._handle(buffered, _Position(pending_pos, end - pending_pos), path, state)
                if progress is not None:
                    progress.update(path, end)
                if doc is not None:
                    yield doc
                current = following
        except FAST_READ_ERRORS:
            # the pending record and the rest of the file go to warcio, which knows how to resync
            yield from self._read_with_warcio(path, pending_pos, state, progress)
        finally:
            if source is not path:
                source.close()

    def _read_with_warcio(
        self, path: str, position: int, state: _FileState, progress: _Progress | None
    ) -> Iterator[Document]:
        """`WarcReader.read_file`'s resync loop, starting at `position` instead of the file's start."""
        from datatrove.utils.logging import logger  # noqa: PLC0415

        attempts = 0
        next_pos: int | None = position
        while next_pos is not None:
            try:
                yield from self._read_from(path, next_pos, state, progress)
                next_pos = None
            except READ_ERRORS as e:
                self.stat_update("read_error", f"read_error_{_error_reason(e)}")
                logger.warning(f"{path}: damaged record near byte {state.failed_at} ({type(e).__name__})")
                attempts += 1
                next_pos = None if attempts > MAX_RESYNCS else _next_boundary(path, state.failed_at + 1)
                if next_pos is not None:
                    self.stat_update("resync")


class ResiliparseExtractor(BaseFilter):
    """HTML -> main text with resiliparse (the `extract` block of the fast preset).

    About 15x faster than trafilatura and robust enough to need no killable sandbox; its text is
    longer (more boilerplate kept). Drop reasons as in `TrafilaturaExtractor`: `too_large`,
    `extract_error`, `empty`. WET records arrive as text already and pass through unchanged.
    """

    name = "⛏ Resiliparse"
    block = "extract_resiliparse"

    def __init__(
        self,
        main_content: bool,
        preserve_formatting: bool,
        list_bullets: bool,
        alt_texts: bool,
        links: bool,
        form_fields: bool,
        noscript: bool,
        comments: bool,
        max_html_chars: int,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.main_content = main_content
        self.preserve_formatting = preserve_formatting
        self.list_bullets = list_bullets
        self.alt_texts = alt_texts
        self.links = links
        self.form_fields = form_fields
        self.noscript = noscript
        self.comments = comments
        self.max_html_chars = max_html_chars

    def options(self) -> dict[str, bool]:
        return {key: getattr(self, key) for key in PREFILTER_OPTIONS}

    def extract(self, html: str) -> str:
        from resiliparse.extract.html2text import extract_plain_text  # noqa: PLC0415

        return extract_plain_text(html, **self.options())

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        shared = doc.metadata.pop(SHARED_TEXT_KEY, None)
        if doc.metadata.get("source_format") == "wet":
            return True
        if len(doc.text) > self.max_html_chars:
            return False, "too_large"
        try:
            # the language prefilter already extracted this page with the same options
            text = (shared if shared is not None and self.options() == PREFILTER_OPTIONS else self.extract(doc.text))
            text = text.strip()
        except Exception:
            return False, "extract_error"
        if not text:
            return False, "empty"
        doc.text = text
        return True


class LanguagePrefilter(BaseFilter):
    """Before trafilatura: drop pages that are clearly not in `languages`, so they are never extracted.

    The guess is fastText lid.176 on resiliparse's main-content text (~1.5 ms a page, against
    ~14 ms for trafilatura). It drops a page only when the best score of every kept language is
    below `max_score` (far below the language filter's 0.65) and the text has at least
    `min_chars` characters; anything uncertain goes on to trafilatura and the real language
    filter, which still decides. `languages: null` keeps everything (as the language filter does).
    With `share_text`, the text of a page it keeps stays in the transient metadata key
    `_main_text`, and a later `extract_resiliparse` with the same options uses it instead of
    parsing the page again (the fast preset); leave it off before trafilatura.
    Only the first `max_lid_chars` characters are classified (the
    cost of fastText grows with the text). Drop reason: `not_<languages>` (e.g. `not_en`).

    With `head_max_score` set, a page whose <html lang> names another language first has its title
    and meta description classified (at least `head_min_chars` of them; ~0.1 ms, no parse); when no
    kept language scores `head_max_score` there, the page is dropped without extraction, reason
    `not_<languages>_by_head`. The page's own word and its headline both say "another language",
    but its body is not read: a page that declares German and carries English paragraphs is lost
    (the fast preset's trade; `null` turns the check off).
    """

    name = "🌍 Language prefilter"
    block = "language_prefilter"

    def __init__(
        self,
        languages: list[str] | None,
        max_score: float,
        min_chars: int,
        max_lid_chars: int,
        max_html_chars: int,
        share_text: bool,
        head_max_score: float | None = None,
        head_min_chars: int = 0,
        batch_size: int = 1,
        model_path: str | None = None,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer, batch_size=batch_size)
        self.share_text = share_text
        self.head_max_score = head_max_score
        self.head_min_chars = head_min_chars
        self.languages = [languages] if isinstance(languages, str) else list(languages or [])
        self.max_score = max_score
        self.min_chars = min_chars
        self.max_lid_chars = max_lid_chars
        self.max_html_chars = max_html_chars
        self.model_path = model_path or bundled_model_path()
        self.reason = "not_" + "_".join(self.languages or ["kept_languages"])

    @property
    def model(self):
        """lid.176, loaded once per process and shared with the language filter."""
        return load_model(self.model_path)

    def _judged(self, doc: Document) -> bool:
        """False when the page gets no guess: every language kept, text already (WET), or too large to
        parse; later blocks decide."""
        wet = doc.metadata.get("source_format") == "wet"
        return bool(self.languages) and not wet and len(doc.text) <= self.max_html_chars

    def _quick_text(self, doc: Document) -> tuple[str, str] | None:
        """(resiliparse's text, what fastText reads of it), or None when the page gets no guess."""
        from resiliparse.extract.html2text import extract_plain_text  # noqa: PLC0415

        if not self._judged(doc):
            return None
        try:
            raw = extract_plain_text(doc.text, **PREFILTER_OPTIONS)
        except Exception:
            return None
        text = " ".join(raw[: 4 * self.max_lid_chars].split())
        return raw, text[: self.max_lid_chars] if len(text) >= self.min_chars else ""

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        """All pages of the batch are extracted first, then classified in one fastText call: its
        tables stay in the CPU caches instead of being evicted by every page's parse (the same
        decisions as one page at a time, ~30 % less time in fastText)."""
        by_head = self._other_by_head(batch)
        quick = [None if i in by_head else self._quick_text(doc) for i, doc in enumerate(batch)]
        asked = {i: q[1] for i, q in enumerate(quick) if q is not None and q[1]}
        other = self._other(asked, self.max_score)
        results: list[bool | tuple[bool, str]] = []
        for i, (doc, q) in enumerate(zip(batch, quick, strict=True)):
            if i in by_head:
                results.append((False, self.reason + "_by_head"))
                continue
            if i in other:
                results.append((False, self.reason))
                continue
            if q is not None and self.share_text:  # for a resiliparse extractor later on (not written out)
                doc.metadata[SHARED_TEXT_KEY] = q[0]
            results.append(True)
        return results

    def _other_by_head(self, batch: list[Document]) -> set[int]:
        """The pages that declare a language not kept and whose title and description are not in one."""
        if self.head_max_score is None:
            return set()
        heads = {}
        for i, doc in enumerate(batch):
            if not self._judged(doc):
                continue
            declared, words = declared_head(doc.text)
            if declared is not None and declared not in self.languages and len(words) >= self.head_min_chars:
                heads[i] = words[: self.max_lid_chars]
        return self._other(heads, self.head_max_score)

    def _other(self, texts: dict[int, str], max_score: float) -> set[int]:
        """The keys of the texts in which no kept language scores max_score (one fastText call)."""
        if not texts:
            return set()
        # fastText leaves out the labels below the threshold (less work); a kept language that is
        # missing scored below max_score, which is all the decision needs
        labels = self._labels(list(texts.values()), max_score)
        kept = {f"__label__{lang}" for lang in self.languages}
        return {i for i, found in zip(texts, labels, strict=True) if kept.isdisjoint(found)}

    def _labels(self, texts: list[str], max_score: float) -> list[list[str]]:
        """fastText's labels at or above max_score for each text; a text it cannot read keeps its page."""
        try:
            return self.model.predict(texts, k=-1, threshold=max_score)[0]
        except Exception:
            out = []
            for text in texts:
                try:
                    out.append(self.model.predict(text, k=-1, threshold=max_score)[0])
                except Exception:
                    out.append([f"__label__{lang}" for lang in self.languages])  # no guess: kept
            return out

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]
