"""Builds WARC files full of hostile records, the way broken crawlers and adversaries write them."""

from __future__ import annotations

import gzip
import io
import random
import uuid
import zlib

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

_RNG = random.Random(0)


def _uuid() -> uuid.UUID:
    return uuid.UUID(int=_RNG.getrandbits(128), version=4)


GOOD_TEXT = (
    "The harbour town keeps its old stone quay, where fishing boats still land their catch each morning. "
    "Visitors walk along the sea wall to the lighthouse and watch the tide come in over the sand banks. "
)


def good_page(title: str) -> bytes:
    body = "".join(f"<p>{GOOD_TEXT} {title} paragraph {i}.</p>" for i in range(6))
    return f"<html><head><title>{title}</title></head><body><article>{body}</article></body></html>".encode()


def _record(
    writer: WARCWriter,
    url: str,
    payload: bytes,
    headers: list[tuple[str, str]] | None = None,
    record_id: str | None = None,
) -> None:
    http = StatusAndHeaders("200 OK", headers or [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    warc_headers = {"WARC-Record-ID": record_id or f"<urn:uuid:{_uuid()}>", "WARC-Date": "2024-05-01T00:00:00Z"}
    rec = writer.create_warc_record(
        url, "response", payload=io.BytesIO(payload), http_headers=http, warc_headers_dict=warc_headers
    )
    writer.write_record(rec)


def _gz_member(raw: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(raw) + c.flush()


def _raw_record(url: str, payload: bytes, declared_length: int | None = None) -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + payload
    length = len(http) if declared_length is None else declared_length
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Record-ID: <urn:uuid:{_uuid()}>\r\nWARC-Target-URI: {url}\r\n"
        "WARC-Date: 2024-05-01T00:00:00Z\r\nContent-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    return head + http + b"\r\n\r\n"


def build_hostile_warc(path: str, big_page_mb: int = 50, seed: int = 0) -> dict[str, str]:
    """Writes `path` (.warc.gz, one gzip member per record); returns {url: what is wrong with it}.
    Record ids come from `seed`, so the bytes (and where a cut member breaks) are reproducible."""
    _RNG.seed(seed)
    truth: dict[str, str] = {}
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)

    def add(url: str, what: str, payload: bytes, headers=None, record_id=None):
        truth[url] = what
        _record(w, url, payload, headers, record_id)

    add("http://good.example/1", "good", good_page("first"))
    add("http://binary.example/", "binary labelled text/html", bytes(range(256)) * 400)
    add(
        "http://latin1-declared-utf8.example/",
        "invalid encoding",
        "<html><body><p>Café crème brûlée à la façon de grand-mère, déjà servie.</p></body></html>".encode("latin-1"),
    )
    mixed = good_page("mixed").replace(b"</article>", "<p>Пример текста</p>".encode("cp1251") + b"</article>")
    add("http://mixed-encoding.example/", "mixed encodings", mixed)
    add("http://big.example/", "50 MB page", b"<html><body>" + b"<p>big page</p>" * (big_page_mb * 70_000) + b"</body>")
    deep = b"<html><body>" + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000
    add("http://deep.example/", "nested 100,000 levels", deep)
    bomb = gzip.compress(b"\0" * (200 << 20), compresslevel=1, mtime=0)
    add(
        "http://bomb.example/",
        "gzip bomb in Content-Encoding",
        bomb,
        headers=[("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
    )
    add("http://empty.example/", "empty record", b"")
    dup_id = f"<urn:uuid:{_uuid()}>"
    add("http://dup-first.example/", "good (first of a duplicated record id)", good_page("dup one"), record_id=dup_id)
    add("http://dup-second.example/", "duplicate record id", good_page("dup two"), record_id=dup_id)
    data = buf.getvalue()
    # a record whose Content-Length is wrong, a member of garbage, then good records again
    data += _gz_member(_raw_record("http://wrong-length.example/", good_page("wrong length"), declared_length=40))
    truth["http://wrong-length.example/"] = "wrong Content-Length"
    data += _gz_member(b"WARC/1.0\r\nthis is not a header\r\n\x00\x01garbage\r\n\r\n")
    buf2 = io.BytesIO()
    w2 = WARCWriter(buf2, gzip=True)
    _record(w2, "http://good.example/2", good_page("second"))
    truth["http://good.example/2"] = "good"
    # a truncated gzip member in the middle, then a good one
    cut = _gz_member(_raw_record("http://truncated.example/", good_page("truncated")))
    data += buf2.getvalue() + cut[: len(cut) // 2]
    truth["http://truncated.example/"] = "truncated gzip member"
    buf3 = io.BytesIO()
    _record(WARCWriter(buf3, gzip=True), "http://good.example/3", good_page("third"))
    truth["http://good.example/3"] = "good"
    data += buf3.getvalue()
    with open(path, "wb") as f:
        f.write(data)
    return truth
