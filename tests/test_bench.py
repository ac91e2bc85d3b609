"""The fast path (fastwarc reader, resiliparse extractor, language prefilter) and the bench harness.

No timed assertions here: speed is measured only by `thresher bench`.
"""

from __future__ import annotations

import glob
import sys

import pytest
from conftest import read_record_at, shared_path
from datatrove.data import Document

from thresher.pipeline.extract.prefilter import LanguagePrefilter, declared_head
from thresher.pipeline.extract.resiliparse import ResiliparseExtractor
from thresher.pipeline.lab import bench
from thresher.pipeline.read.fastwarc import FastWarcReader
from thresher.pipeline.read.warc import WarcReader


def real_files() -> list[str]:
    return sorted(glob.glob(str(shared_path("data", "warc", "real") / "*.warc*.gz")))


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


def _page(name: str) -> Document:
    path = str(shared_path("data", "warc", "real", name))
    return next(iter(WarcReader([path]).read_file(path)))


def test_resiliparse_extractor_extracts_real_text():
    extractor = ResiliparseExtractor(
        main_content=True, preserve_formatting=True, list_bullets=False, alt_texts=False, links=False,
        form_fields=False, noscript=False, comments=False, max_html_chars=5_000_000,
    )
    doc = _page("whirlwind.warc.gz")  # a Wikipedia article (Aragonese)
    assert extractor.filter(doc) is True
    assert len(doc.text.split()) > 30
    assert "<div" not in doc.text and "<script" not in doc.text
    assert "\n" in doc.text  # line structure kept for the line-based filters
    assert extractor.filter(Document(text="<html><body></body></html>", id="e")) == (False, "empty")
    small = ResiliparseExtractor(**{**_params(extractor), "max_html_chars": 10})
    assert small.filter(Document(text="<p>" + "x" * 100 + "</p>", id="big")) == (False, "too_large")
    wet = Document(text="already text", id="w", metadata={"source_format": "wet"})
    assert extractor.filter(wet) is True and wet.text == "already text"


def _params(extractor: ResiliparseExtractor) -> dict:
    keys = ("main_content", "preserve_formatting", "list_bullets", "alt_texts", "links", "form_fields",
            "noscript", "comments", "max_html_chars")
    return {k: getattr(extractor, k) for k in keys}


def test_language_prefilter_drops_only_clear_non_english():
    pre = LanguagePrefilter(
        languages=["en"], max_score=0.05, min_chars=200, max_lid_chars=2000, max_html_chars=5_000_000,
        share_text=False,
    )
    path = str(shared_path("data", "warc", "real", "cc-main-2020-34-sample.warc.gz"))
    docs = list(WarcReader([path]).read_file(path))  # zh, ru, de, nl pages
    decisions = [pre.filter(d) for d in docs]
    assert sum(1 for d in decisions if d == (False, "not_en")) >= len(docs) // 2
    english = _page("wget-sample-0000.warc.gz")
    assert pre.filter(english) is True
    assert pre.filter(Document(text="<p>bonjour</p>", id="short")) is True  # too little text to judge


def _real_pages() -> list[Document]:
    return [doc for path in real_files() for doc in WarcReader([path]).read_file(path)]


def test_declared_head_reads_the_pages_lang_title_and_description():
    pages = {doc.metadata["url"]: doc.text for doc in _real_pages()}
    dutch = next(text for text in pages.values() if "Hovenier in Oosterbeek" in text)
    lang, words = declared_head(dutch)
    assert lang == "nl" and words.startswith("Hovenier in Oosterbeek nodig? Hovenier in Oosterbeek Bent u")
    lang, words = declared_head(pages["https://commoncrawl.org/faq"])
    assert (lang, words) == ("en", "Common Crawl - FAQ")
    lang, words = declared_head(dutch.replace('lang="nl', 'data-x="nl', 1))
    assert lang is None and words.startswith("Hovenier")
    assert declared_head("<p>no head</p>") == (None, "")


def test_language_prefilter_head_check_drops_only_pages_the_text_drops():
    params = dict(languages=["en"], max_score=0.02, min_chars=100, max_lid_chars=2000,
                  max_html_chars=5_000_000, share_text=False)
    with_head = LanguagePrefilter(**params, head_max_score=0.005, head_min_chars=40)
    text_only = LanguagePrefilter(**params)
    pages = _real_pages()
    by_head = [doc for doc in pages if with_head.filter(doc) == (False, "not_en_by_head")]
    assert len(by_head) >= 2  # the zh and nl pages that declare their language
    assert all(text_only.filter(doc) == (False, "not_en") for doc in by_head)
    assert [with_head.filter(d) for d in pages if d not in by_head] == [text_only.filter(d) for d in pages
                                                                         if d not in by_head]
    # an English page that claims German keeps going: its English title is not "another language"
    english = next(doc for doc in pages if doc.metadata["url"] == "https://commoncrawl.org/faq")
    english.text = english.text.replace('lang="en', 'lang="de', 1)
    assert declared_head(english.text)[0] == "de" and with_head.filter(english) is True
    # a Dutch page that claims English is left to its text
    dutch = by_head[-1]
    dutch.text = dutch.text.replace('lang="nl', 'lang="en', 1)
    assert with_head.filter(dutch) == (False, "not_en")


@pytest.mark.parametrize("head_max_score", [None, 0.005])
def test_language_prefilter_batch_decides_as_one_page_at_a_time(head_max_score):
    params = dict(languages=["en"], max_score=0.02, min_chars=100, max_lid_chars=2000,
                  max_html_chars=5_000_000, share_text=True, head_max_score=head_max_score, head_min_chars=40)
    batched, single = LanguagePrefilter(**params, batch_size=64), LanguagePrefilter(**params)
    docs_a, docs_b = [], []
    for path in real_files():
        docs_a += list(WarcReader([path]).read_file(path))
        docs_b += list(WarcReader([path]).read_file(path))
    docs_a.append(Document(text="<p>bonjour</p>", id="short"))
    docs_b.append(Document(text="<p>bonjour</p>", id="short"))
    decisions = batched.filter_batch(docs_a)
    assert decisions == [single.filter(d) for d in docs_b]
    assert [d.metadata.get("_main_text") for d in docs_a] == [d.metadata.get("_main_text") for d in docs_b]
    assert (False, "not_en") in decisions and True in decisions


def test_word_scores_and_agreement():
    assert bench.word_prf("the cat sat", "the cat sat") == (1.0, 1.0, 1.0)
    p, r, f = bench.word_prf("the cat", "the cat sat on the mat")
    assert p == 1.0 and r == pytest.approx(2 / 6) and f == pytest.approx(0.5)
    assert bench.word_prf(None, "gold") == (0.0, 0.0, 0.0)
    assert bench.agreement(["a", "b", "c"], ["b", "c", "d"]) == pytest.approx(0.5)
    assert bench.agreement([], []) == 1.0
    assert bench.agreement(None, ["a"]) is None


def test_bench_extraction_prints_a_table(capsys):
    from thresher.pipeline.cli import main

    folder = str(shared_path("data", "extraction", "aeb"))
    assert main(["bench", "--extraction", "--aeb", folder, "--limit", "4"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["extractor", "pages", "precision"]
    rows = [line for line in lines if line.startswith(("trafilatura", "resiliparse"))]
    assert len(rows) == 2
    for row in rows:
        f1 = float(row.split()[-5])
        assert 0.0 < f1 <= 1.0


def test_measure_command_sees_the_whole_process_tree(tmp_path):
    # a child that starts a grandchild holding ~200 MB: the tree's peak must include it
    code = (
        "import subprocess, sys, time\n"
        "g = subprocess.Popen([sys.executable, '-c', 'b = bytearray(200 << 20); import time; time.sleep(1.5)'])\n"
        "g.wait()\n"
    )
    r = bench.measure_command([sys.executable, "-c", code], str(tmp_path / "log"))
    assert r["returncode"] == 0
    assert r["peak_tree_rss"] >= 200 << 20
    assert r["processes"] >= 2
    assert r["cpu_s"] > 0


def test_fast_preset_uses_the_fast_engines(tmp_path):
    from thresher.pipeline.run.plan import build_plan

    path = str(shared_path("data", "warc", "real", "whirlwind.warc.gz"))
    plan = build_plan("fast", inputs=[path], output=str(tmp_path / "out"), workers=1)
    names = [name for name, _ in plan.stages[0].blocks]
    assert isinstance(plan.stages[0].blocks[0][1], FastWarcReader)
    assert "extract_resiliparse" in names and "extract" not in names


def test_batched_blocks_write_what_one_document_at_a_time_writes(tmp_path):
    # batch_size is speed only: the fast preset (batches of 64-256) and the same preset with every
    # batch at 1 must keep the same documents with the same text, language and AI scores
    import pyarrow.parquet as pq

    from thresher.pipeline.run.local import execute
    from thresher.pipeline.run.plan import build_plan

    single = tmp_path / "single.yaml"
    single.write_text(
        "extends: fast\noverride:\n"
        + "".join(f"  {b}: {{batch_size: 1}}\n" for b in ("url_filter", "language_prefilter", "language", "ai_text"))
    )
    columns = ["id", "text", "language", "language_score", "ai_score", "ai_evidence"]
    outputs = []
    for preset in ("fast", str(single)):
        plan = build_plan(preset, inputs=real_files(), output=str(tmp_path / f"out{len(outputs)}"), workers=1)
        execute(plan, progress=False)
        rows = []
        for path in sorted((tmp_path / f"out{len(outputs)}" / "data").rglob("*.parquet")):
            rows += pq.read_table(path, columns=columns).to_pylist()
        outputs.append(sorted(rows, key=lambda r: r["id"]))
    batched = [step for _, step in build_plan("fast", inputs=real_files(), output=str(tmp_path / "x")).stages[0].blocks]
    assert max(getattr(step, "batch_size", 1) for step in batched) > 1
    assert outputs[0] == outputs[1] and len(outputs[0]) >= 5


def test_timeout_preset_changes_only_trafilaturas_limit(tmp_path):
    from thresher.pipeline.run.presets import load_preset

    path = bench.timeout_preset("fineweb", 7.5, str(tmp_path / "p.yaml"))
    changed, original = load_preset(path)["pipeline"], load_preset("fineweb")["pipeline"]
    assert [n for n, _ in changed] == [n for n, _ in original]
    for (name, params), (_, before) in zip(changed, original, strict=True):
        assert params == ({**before, "timeout": 7.5} if name == "extract" else before)
    assert bench.timeout_preset("fast", 7.5, str(tmp_path / "q.yaml")) == "fast"  # no trafilatura in it


def test_prefilter_text_is_reused_by_the_resiliparse_extractor():
    pre = LanguagePrefilter(
        languages=["en"], max_score=0.02, min_chars=100, max_lid_chars=2000, max_html_chars=5_000_000,
        share_text=True,
    )
    extractor = ResiliparseExtractor(
        main_content=True, preserve_formatting=True, list_bullets=False, alt_texts=False, links=False,
        form_fields=False, noscript=False, comments=False, max_html_chars=5_000_000,
    )
    shared, alone = _page("wget-sample-0000.warc.gz"), _page("wget-sample-0000.warc.gz")
    assert pre.filter(shared) is True and "_main_text" in shared.metadata
    assert extractor.filter(shared) is True and extractor.filter(alone) is True
    assert shared.text == alone.text and "_main_text" not in shared.metadata


def test_median_run_reports_the_middle_run_and_every_wall_time():
    walls = iter([14.0, 12.5, 13.1])

    def measure() -> bench.Measurement:
        return bench.Measurement("fast", "preset", True, 2, 5000, wall_s=next(walls))

    m = bench.median_run(measure, 3)
    assert m.wall_s == 13.1 and m.wall_runs == [14.0, 12.5, 13.1]
    failed = bench.median_run(lambda: bench.Measurement("fast", "preset", False, 2, 5000), 3)
    assert not failed.ok and failed.wall_runs == []
