"""Extraction: trafilatura in its sandbox, the resiliparse extractor, and the language prefilter
that drops clearly non-English pages before either (and can hand its text to resiliparse)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import shared_path
from datatrove.data import Document

from thresher.pipeline.datatrove_compat import CpuTimedSandbox
from thresher.pipeline.extract.killable import DIED, ERROR, OK, TIMEOUT, KillableMap
from thresher.pipeline.extract.prefilter import LanguagePrefilter, declared_head
from thresher.pipeline.extract.resiliparse import ResiliparseExtractor
from thresher.pipeline.extract.trafilatura import TrafilaturaExtractor
from thresher.pipeline.read.inputs import bundled_sample_files
from thresher.pipeline.read.warc import WarcReader


def real_files() -> list[str]:
    """The real crawl files of ../shared (the test skips without them)."""
    return sorted(str(p) for p in shared_path("data", "warc", "real").glob("*.warc*.gz"))


def _page(name: str) -> Document:
    """The first page of a bundled sample file (the same files as ../shared/data/warc/real)."""
    path = next(p for p in bundled_sample_files() if p.endswith("/" + name))
    return next(iter(WarcReader([path]).read_file(path)))


def test_trafilatura_extractor_extracts_real_text_in_its_sandbox():
    extractor = TrafilaturaExtractor()  # FineWeb's settings, 1 CPU second per page
    doc = _page("wget-sample-0000.warc.gz")
    html = doc.text
    assert list(extractor.run([doc])) == [doc]
    assert len(doc.text.split()) > 30 and len(doc.text) < len(html)
    assert "<div" not in doc.text and "<script" not in doc.text
    assert extractor._sandbox is None  # the sandbox process is gone with the run


def test_resiliparse_extractor_extracts_real_text():
    extractor = ResiliparseExtractor(
        main_content=True,
        preserve_formatting=True,
        list_bullets=False,
        alt_texts=False,
        links=False,
        form_fields=False,
        noscript=False,
        comments=False,
        max_html_chars=5_000_000,
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
    keys = (
        "main_content",
        "preserve_formatting",
        "list_bullets",
        "alt_texts",
        "links",
        "form_fields",
        "noscript",
        "comments",
        "max_html_chars",
    )
    return {k: getattr(extractor, k) for k in keys}


def test_language_prefilter_drops_only_clear_non_english():
    pre = LanguagePrefilter(
        languages=["en"],
        max_score=0.05,
        min_chars=200,
        max_lid_chars=2000,
        max_html_chars=5_000_000,
        share_text=False,
    )
    path = next(p for p in bundled_sample_files() if p.endswith("cc-main-2020-34-sample.warc.gz"))
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
    params = dict(
        languages=["en"], max_score=0.02, min_chars=100, max_lid_chars=2000, max_html_chars=5_000_000, share_text=False
    )
    with_head = LanguagePrefilter(**params, head_max_score=0.005, head_min_chars=40)
    text_only = LanguagePrefilter(**params)
    pages = _real_pages()
    by_head = [doc for doc in pages if with_head.filter(doc) == (False, "not_en_by_head")]
    assert len(by_head) >= 2  # the zh and nl pages that declare their language
    assert all(text_only.filter(doc) == (False, "not_en") for doc in by_head)
    assert [with_head.filter(d) for d in pages if d not in by_head] == [
        text_only.filter(d) for d in pages if d not in by_head
    ]
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
    params = dict(
        languages=["en"],
        max_score=0.02,
        min_chars=100,
        max_lid_chars=2000,
        max_html_chars=5_000_000,
        share_text=True,
        head_max_score=head_max_score,
        head_min_chars=40,
    )
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


def test_prefilter_text_is_reused_by_the_resiliparse_extractor():
    pre = LanguagePrefilter(
        languages=["en"],
        max_score=0.02,
        min_chars=100,
        max_lid_chars=2000,
        max_html_chars=5_000_000,
        share_text=True,
    )
    extractor = ResiliparseExtractor(
        main_content=True,
        preserve_formatting=True,
        list_bullets=False,
        alt_texts=False,
        links=False,
        form_fields=False,
        noscript=False,
        comments=False,
        max_html_chars=5_000_000,
    )
    shared, alone = _page("wget-sample-0000.warc.gz"), _page("wget-sample-0000.warc.gz")
    assert pre.filter(shared) is True and "_main_text" in shared.metadata
    assert extractor.filter(shared) is True and extractor.filter(alone) is True
    assert shared.text == alone.text and "_main_text" not in shared.metadata


HOSTILE_DEEP_PAGE = "b'<html><body>' + b'<div>' * 100_000 + b'deep' + b'</div>' * 100_000"  # as hostile.py writes it


@pytest.mark.slow
@pytest.mark.parametrize(
    "block, verdict", [("language_prefilter", "True"), ("extract_resiliparse", "(False, 'timeout')")]
)
def test_a_deeply_nested_page_is_decided_in_seconds(block, verdict):
    """hostile.py's page of 100,000 nested <div>s is under max_html_chars; trafilatura gets 1 CPU second
    for it, and so do the resiliparse blocks (unbounded, the parse takes minutes): the prefilter keeps
    the page without a guess, the extractor drops it, both as a timeout."""
    code = (
        "import time\n"
        "from datatrove.data import Document\n"
        "from thresher.pipeline.run.presets import registry\n"
        f"html = ({HOSTILE_DEEP_PAGE}).decode()\n"
        f"block = registry()[{block!r}]()\n"
        "t0 = time.monotonic()\n"
        "print(block.filter(Document(text=html, id='deep')))\n"
        "print(time.monotonic() - t0)\n"
        "print(dict(block.stats.stats))\n"
    )
    try:
        run = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=30, text=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block} still parsing a 100,000-deep page after 30 s")
    decided, seconds, stats = run.stdout.splitlines()
    assert decided == verdict
    assert float(seconds) < 10  # 1 CPU second (~1.1 s on an idle machine), a fork, a few polls
    if block == "language_prefilter":
        assert "'timeout'" in stats


DEEP = "<html><body>" + "<div>" * 20_000 + "deep" + "</div>" * 20_000 + "</body></html>"  # ~15 CPU s to parse


def _prefilter(**params) -> LanguagePrefilter:
    base = dict(languages=["en"], max_score=0.02, min_chars=100, max_lid_chars=2000, max_html_chars=5_000_000)
    return LanguagePrefilter(**{**base, "share_text": False, **params})


def test_language_prefilter_keeps_a_page_it_cannot_parse_in_time_and_decides_the_rest_of_its_batch():
    pages = _real_pages()
    docs = [*pages[:3], Document(text=DEEP, id="deep"), *pages[3:]]
    alone = _prefilter(share_text=True).filter_batch(pages)
    pre = _prefilter(share_text=True, timeout=0.3, batch_size=len(docs))
    t0 = time.monotonic()
    decisions = pre.filter_batch(docs)
    assert time.monotonic() - t0 < 10  # 0.3 CPU seconds on the deep page, not ~15
    assert decisions[3] is True and pre.stats["timeout"].total == 1  # kept, no guess: later blocks decide
    assert decisions[:3] + decisions[4:] == alone  # the rest of the batch, in a new child
    # the fast preset's extractor does not parse it a second time: a timeout too
    assert docs[3].metadata == {"_main_text_timeout": 0.3}
    extractor = ResiliparseExtractor.from_preset("fast", timeout=0.3)
    assert extractor.filter(docs[3]) == (False, "timeout") and extractor._parser is None
    assert docs[3].metadata == {}
    # an extractor allowed more time than the prefilter had parses the page itself (here: a timeout too)
    again = Document(text=DEEP, id="deep", metadata={"_main_text_timeout": 0.3})
    assert ResiliparseExtractor.from_preset("fast", timeout=0.5).filter(again) == (False, "timeout")


def test_resiliparse_extractor_batch_goes_on_after_a_killed_page():
    extractor = ResiliparseExtractor.from_preset("fast", timeout=0.3, batch_size=8)
    page = _page("whirlwind.warc.gz")
    docs = [
        Document(text=page.text, id="a"),
        Document(text=DEEP, id="deep"),
        Document(text="<html><body></body></html>", id="empty"),
        Document(text=page.text, id="b"),
    ]
    kept = list(extractor.run(docs))
    assert [d.id for d in kept] == ["a", "b"] and kept[0].text == kept[1].text == extractor.extract(page.text).strip()
    assert extractor.stats["dropped_timeout"].total == 1 and extractor.stats["dropped_empty"].total == 1
    assert extractor._parser is None  # the child process is gone with the run


def test_killable_map_marks_the_item_it_killed_and_goes_on():
    def work(item):
        if item == "spin":
            while True:
                pass
        if item == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if item == "raise":
            raise UnpicklableError("bad", 1)
        return item.upper(), os.getpid()

    with KillableMap(work, timeout=0.1) as killable:
        outcomes = killable.map(["a", "spin", "b", "die", "c", "raise", "d"])
        statuses = [status for status, _ in outcomes]
        assert statuses == [OK, TIMEOUT, OK, DIED, OK, ERROR, OK]
        values = [value for _, value in outcomes]
        assert [v[0] for v in values if isinstance(v, tuple)] == ["A", "B", "C", "D"]
        assert values[1] is None and values[3] is None
        assert isinstance(values[5], RuntimeError) and "UnpicklableError: " in str(values[5])
        pids = [v[1] for v in values if isinstance(v, tuple)]
        assert pids[0] != pids[1] != pids[2] == pids[3]  # a new child after each kill, not after an error
        assert killable.map([]) == [] and killable.map(["e"])[0][1] == ("E", pids[3])


class UnpicklableError(Exception):
    def __init__(self, message, code):  # pickles, but does not unpickle (Exception.__reduce__ keeps one arg)
        super().__init__(message)
        self.code = code


def test_trafilatura_sandbox_returns_an_extractor_error_and_lives_on():
    extractor = TrafilaturaExtractor()
    page = _page("wget-sample-0000.warc.gz")

    def extract(html):
        if "bug" in html:
            raise ValueError("extractor bug")
        return "text"

    extractor.extract = extract
    docs = [Document(text="<p>bug</p>", id="bug"), Document(text=page.text, id="page")]
    with CpuTimedSandbox(1.0) as sandbox:
        extractor._sandbox = sandbox
        assert extractor.filter(docs[0]) == (False, "extract_error")
        pid = sandbox.process.pid
        assert extractor.filter(docs[1]) is True and sandbox.process.pid == pid
