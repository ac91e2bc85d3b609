"""The fast reader (fastwarc): the same documents, provenance and counts as the warcio reader."""

from __future__ import annotations

import pytest
from conftest import SHARED, needs_shared, read_record_at, shared_path

from thresher.pipeline.read.fastwarc import FastWarcReader
from thresher.pipeline.read.warc import WarcReader

REAL = SHARED / "data" / "warc" / "real"
pytestmark = needs_shared("data", "warc")


def real_files() -> list[str]:
    """The real crawl files (none when ../shared is absent: the tests using them skip)."""
    return sorted(str(p) for p in REAL.glob("*.warc*.gz"))


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.rsplit("/", 1)[-1])
def test_fast_reader_yields_the_same_documents_and_provenance(path):
    slow, fast = WarcReader([path]), FastWarcReader([path])
    expected, got = list(slow.read_file(path)), list(fast.read_file(path))
    assert [d.id for d in got] == [d.id for d in expected]
    for a, b in zip(expected, got, strict=True):
        assert b.text == a.text
        assert b.metadata == a.metadata
    for doc in got:
        meta = doc.metadata
        rec = read_record_at(meta["warc_path"], meta["warc_offset"], meta["warc_length"])
        assert rec.rec_headers.get_header("WARC-Record-ID") == meta["warc_record_id"]
        assert rec.rec_headers.get_header("WARC-Target-URI") == meta["url"]


def test_fast_reader_counts_records_like_warcio():
    shared_path("data", "warc", "real")
    for path in real_files():
        slow, fast = WarcReader([path]), FastWarcReader([path])
        list(slow.read_file(path))
        list(fast.read_file(path))
        assert _counts(fast) == _counts(slow), path


def _counts(step) -> dict:
    return {k: v.total if hasattr(v, "total") else v for k, v in step.stats.stats.items()}


def test_fast_reader_hands_a_single_member_gzip_to_warcio():
    # several records in one gzip member have no per-record offsets: same outcome as WarcReader
    path = str(shared_path("data", "warc", "edge-cases", "example-bad-non-chunked.warc.gz"))
    assert list(FastWarcReader([path]).read_file(path)) == list(WarcReader([path]).read_file(path)) == []
