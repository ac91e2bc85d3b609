"""WARC reading (warcio): provenance round-trips, damaged files, charsets, on real crawl data."""

from __future__ import annotations

import glob

import pyarrow.parquet as pq
import pytest
from conftest import read_record_at, shared_path
from hostile import build_hostile_warc

from thresher.pipeline.read.decode import decode_html
from thresher.pipeline.read.inputs import bundled_sample_files, expand_inputs
from thresher.pipeline.read.warc import WarcReader


def test_sample_run_rows_read_back_their_own_record(sample_run):
    out, stats = sample_run
    rows = pq.read_table(sorted(glob.glob(str(out / "data" / "*.parquet")))).to_pylist()
    removed = glob.glob(str(out / "removed" / "*" / "*.parquet"))
    rows += pq.read_table(removed).drop_columns(["removed_by", "removed_reason"]).to_pylist() if removed else []
    assert len(rows) == stats["documents"]["html_records"] > 0
    for row in rows:
        rec = read_record_at(row["warc_path"], row["warc_offset"], row["warc_length"])
        assert rec.rec_headers.get_header("WARC-Record-ID") == row["warc_record_id"]
        assert rec.rec_headers.get_header("WARC-Target-URI") == row["url"]


def test_every_html_record_is_accounted_for(sample_run):
    out, stats = sample_run
    kept = sum(pq.ParquetFile(p).metadata.num_rows for p in glob.glob(str(out / "data" / "*.parquet")))
    removed = sum(pq.ParquetFile(p).metadata.num_rows for p in glob.glob(str(out / "removed" / "*" / "*.parquet")))
    docs = stats["documents"]
    assert docs["accounted"]
    assert kept == docs["kept"] and removed == docs["removed"]
    assert kept + removed == docs["html_records"]
    # the sample holds request and metadata records: they are counted as skipped, not documents
    assert stats["reader"]["skipped_request"] > 0 and stats["reader"]["skipped_metadata"] > 0


def test_crawl_comes_from_warcinfo():
    cc = [p for p in bundled_sample_files() if "cc-main-2020-34" in p]
    docs = list(WarcReader(cc).run())
    assert len(docs) == 16
    assert {d.metadata["crawl"] for d in docs} == {"CC-MAIN-2020-34"}
    assert all(d.metadata["http_status"] == 200 and d.metadata["payload_digest"] for d in docs)


def test_edge_cases_do_not_crash_and_are_counted():
    files = expand_inputs([str(shared_path("data", "warc", "edge-cases"))])
    reader = WarcReader(files)
    docs = list(reader.run())
    counts = reader.stats.stats
    assert docs, "the readable records of damaged files are still read"
    assert counts["read_error"].total >= 1
    assert any(k.startswith("read_error_") for k in counts)
    assert counts["skipped_revisit"].total >= 1
    assert counts["skipped_request"].total >= 1
    # ARC files are read as well (arc2warc)
    assert any(d.metadata["warc_path"].endswith((".arc", ".arc.gz")) for d in docs)
    # every document still reads back from its byte range, ARC and chunked files included
    for d in docs:
        if "truncated" in d.metadata["warc_path"] or "trunc" in d.metadata["warc_path"]:
            continue
        rec = read_record_at(d.metadata["warc_path"], d.metadata["warc_offset"], d.metadata["warc_length"])
        assert rec.rec_headers.get_header("WARC-Target-URI") == d.metadata["url"]


def test_wet_conversion_records_are_documents():
    path = str(shared_path("data", "warc", "real", "whirlwind.warc.wet.gz"))
    docs = list(WarcReader([path]).run())
    assert docs and all(d.metadata["source_format"] == "wet" for d in docs)
    assert all(d.text.strip() for d in docs)


def test_multilingual_pages_decode_with_the_right_charset():
    cc = [p for p in bundled_sample_files() if "cc-main-2020-34" in p]
    by_url = {d.metadata["url"]: d for d in WarcReader(cc).run()}
    ru = by_url["http://01spb.ru/company/"]
    assert ru.metadata["charset"] == "cp1251" and "О компании" in ru.text
    zh = by_url["http://041696.com/15477/list_6_4.html"]
    assert zh.metadata["charset"] == "gb18030" and "发布时间" in zh.text
    nl = by_url["http://0900-hovenier.nl/gelderland/oosterbeek/"]
    assert "Hovenier in Oosterbeek" in nl.text
    de = next(d for u, d in by_url.items() if u.startswith("http://06.live-radsport.ch/tippspiel/"))
    assert de.metadata["charset"] == "cp1252" and "Spielregeln" in de.text
    for d in by_url.values():
        assert "\ufffd" not in d.text[:2000] or d.metadata["charset"] == "utf-8-replace"


def test_decoding_order_header_then_meta_then_detection():
    text = "Приём заявок на участие в конкурсе начинается завтра"
    body = f"<html><head><meta charset='windows-1251'></head><body>{text}</body></html>".encode("cp1251")
    # a wrong header charset that cannot decode the bytes falls through to <meta>
    decoded, used = decode_html(body, "text/html; charset=utf-8")
    assert used == "cp1251" and text in decoded
    # no declaration at all: detection
    decoded, used = decode_html(f"<p>{text} {text}</p>".encode("cp1251"), "text/html")
    assert text in decoded
    # undecodable garbage is never dropped
    decoded, used = decode_html(b"\xfa\xfb\x81\xc0" * 50 + b"<p>x</p>", None)
    assert "<p>x</p>" in decoded


@pytest.mark.slow
def test_damage_never_hides_the_records_behind_it(tmp_path):
    """Whatever bytes a truncated or mislabelled member happens to hold, the good records after it
    are read and the damage is counted (warcio alone loses them in some byte layouts)."""
    for seed in range(10):
        path = str(tmp_path / f"hostile-{seed}.warc.gz")
        build_hostile_warc(path, big_page_mb=1, seed=seed)
        reader = WarcReader([path])
        urls = {d.metadata["url"] for d in reader.run()}
        assert {"http://good.example/1", "http://good.example/2", "http://good.example/3"} <= urls, seed
        assert reader.stats.stats["read_error"].total >= 2, seed
