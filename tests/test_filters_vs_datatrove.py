"""FineWeb filter blocks on real pages: they run in a datatrove pipeline, and they decide as
datatrove 0.10.1's own filters do (compared document by document; datatrove needs spaCy for that).

Pages come from ../shared (AEB articles and the trafilatura benchmark pages), extracted once per
session with trafilatura as the extract block does (the `pages` fixture of conftest); tests skip when
../shared is absent. The filters' decision on each drop reason, on small strings: test_drop_reasons.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED, Page, blocklist_sample
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep

from thresher.filters.c4 import C4QualityFilter
from thresher.filters.fineweb_quality import FineWebQualityFilter
from thresher.filters.gopher import GopherQualityFilter, GopherRepetitionFilter
from thresher.filters.language import LanguageFilter, bundled_model_path
from thresher.filters.presets import block_params
from thresher.filters.url import HashedBlocklist, URLFilter
from thresher.pipeline.format.pii import PIIFormatter

LINGUA = SHARED / "data" / "lid" / "lingua" / "sentences"
MIN_AGREEMENT = 0.99
MAX_COMPARED_PAGES = 180  # English pages compared with datatrove (spaCy costs ~30 ms a page)
pytestmark = pytest.mark.slow  # real pages extracted once per session (~1 min), spaCy for datatrove's side


def _docs(pages: list[Page]) -> list[Document]:
    return [Document(text=p.text, id=p.name, metadata={"url": p.url}) for p in pages]


# --- (a) every block runs in a plain datatrove pipeline ------------------------------------------


class DocumentsReader(PipelineStep):
    """Feeds a fixed list of documents into a pipeline."""

    name = "📄 documents"
    type = "📖 - READER"

    def __init__(self, docs: list[Document]):
        super().__init__()
        self.docs = docs

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        yield from self.docs


class JsonLinesCollector(PipelineStep):
    """Writes every document that reaches it to `<folder>/<rank>.jsonl` (stdlib json, no orjson)."""

    name = "🗃 collect"
    type = "💽 - WRITER"

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def run(self, data, rank: int = 0, world_size: int = 1):
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"{rank:05d}.jsonl", "w", encoding="utf-8") as f:
            for doc in data:
                f.write(json.dumps({"id": doc.id, "text": doc.text, "metadata": doc.metadata}) + "\n")
                yield doc


def _run_pipeline(block, docs: list[Document], tmp_path: Path) -> tuple[list[dict], dict]:
    out = tmp_path / "out"
    executor = LocalPipelineExecutor(
        pipeline=[DocumentsReader(docs), block, JsonLinesCollector(out)],
        tasks=1,
        workers=1,
        logging_dir=str(tmp_path / "logs"),
    )
    stats = executor.run()
    rows = [json.loads(line) for f in sorted(out.glob("*.jsonl")) for line in f.read_text().splitlines()]
    block_stats = next(s for s in stats.stats if s.name.endswith(block.name)).stats
    return rows, {k: v.total if hasattr(v, "total") else v for k, v in block_stats.items()}


@pytest.mark.parametrize(
    "cls",
    [LanguageFilter, GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter, FineWebQualityFilter],
)
def test_filter_runs_in_pipeline(cls, pages, tmp_path):
    docs = _docs(pages)
    rows, stats = _run_pipeline(cls.from_preset(), docs, tmp_path)
    assert 0 < len(rows) < len(docs), f"{cls.__name__} kept {len(rows)} of {len(docs)}"
    assert stats["dropped"] == len(docs) - len(rows)
    for name in getattr(cls, "output_columns", {}):
        assert all(name in row["metadata"] for row in rows)


def test_url_filter_runs_in_pipeline(pages, tmp_path):
    blocked = sorted(blocklist_sample()[0])[:20]
    docs = _docs(pages) + [
        Document(text="x", id=f"b{i}", metadata={"url": f"https://{d}/"}) for i, d in enumerate(blocked)
    ]
    rows, stats = _run_pipeline(URLFilter.from_preset(), docs, tmp_path)
    kept = {row["id"] for row in rows}
    assert not kept & {f"b{i}" for i in range(len(blocked))}, "blocklisted domains must be dropped"
    assert len(kept) > len(pages) * 0.9
    assert stats.get("dropped_domain", 0) + stats.get("dropped_subdomain", 0) >= len(blocked)


def test_pii_runs_in_pipeline(pages, tmp_path):
    from thresher.pipeline.format.pii import EMAIL_REGEX

    with_email = [p for p in pages if EMAIL_REGEX.search(p.text)]
    assert with_email, "the sample has real pages with e-mail addresses"
    rows, stats = _run_pipeline(PIIFormatter.from_preset(), _docs(with_email), tmp_path)
    replacement = block_params("fineweb", "pii")["email_replacement"]
    assert len(rows) == len(with_email)
    assert stats["emails_replaced"] >= len(with_email)
    for row in rows:
        assert all(m == replacement for m in EMAIL_REGEX.findall(row["text"]))


# --- (b) agreement with datatrove's own filters ---------------------------------------------------


def _keep(result) -> bool:
    return result if isinstance(result, bool) else result[0]


def _agreement(mine, theirs, pages: list[Page]) -> float:
    agree = 0
    for p in pages:
        a, b = Document(text=p.text, id=p.name), Document(text=p.text, id=p.name)
        agree += _keep(mine.filter(a)) == _keep(theirs.filter(b))
    return agree / len(pages)


QUALITY_FILTERS = [GopherRepetitionFilter, GopherQualityFilter, FineWebQualityFilter, C4QualityFilter]


@pytest.fixture(scope="session")
def quality_agreement(english) -> dict[type, float]:
    """Per filter, the share of English pages where ours and datatrove's decide alike (and, for C4,
    leave the same text). Page by page, so datatrove's own word cache is shared as in its pipeline."""
    pytest.importorskip("spacy", reason="datatrove's filters need spaCy for the comparison")
    from datatrove.pipeline import filters as dt

    rep = block_params("fineweb", "gopher_repetition")
    rep["top_n_grams"] = tuple(rep["top_n_grams"].items())
    rep["dup_n_grams"] = tuple(rep["dup_n_grams"].items())
    theirs = {
        GopherRepetitionFilter: dt.GopherRepetitionFilter(**rep),
        GopherQualityFilter: dt.GopherQualityFilter(**block_params("fineweb", "gopher_quality")),
        FineWebQualityFilter: dt.FineWebQualityFilter(**block_params("fineweb", "fineweb_quality")),
        C4QualityFilter: dt.C4QualityFilter(**block_params("fineweb", "c4_quality")),
    }
    mine = {cls: cls.from_preset() for cls in QUALITY_FILTERS}
    pages = english[:MAX_COMPARED_PAGES]
    agree = dict.fromkeys(QUALITY_FILTERS, 0)
    for p in pages:
        for cls in QUALITY_FILTERS:
            a, b = Document(text=p.text, id=p.name), Document(text=p.text, id=p.name)
            ka, kb = _keep(mine[cls].filter(a)), _keep(theirs[cls].filter(b))
            agree[cls] += ka == kb and (not ka or a.text == b.text)
    return {cls: n / len(pages) for cls, n in agree.items()}


@pytest.mark.parametrize("cls", QUALITY_FILTERS)
def test_quality_filters_agree_with_datatrove(cls, english, quality_agreement):
    assert len(english) >= 150
    assert quality_agreement[cls] >= MIN_AGREEMENT, f"{cls.__name__}: {quality_agreement[cls]:.3f}"


def _lingua_sentences(per_language: int = 25) -> list[Page]:
    if not LINGUA.is_dir():
        pytest.skip(f"shared data not found at {LINGUA}")
    out = []
    for path in sorted(LINGUA.glob("*.txt")):
        lines = [x for x in path.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
        out += [Page(f"{path.stem}-{i}", "", line) for i, line in enumerate(lines[:per_language])]
    return out


def test_language_filter_agrees_with_datatrove():
    pytest.importorskip("fasteners", reason="datatrove's LanguageFilter needs fasteners")
    from datatrove.pipeline.filters import LanguageFilter as DLF
    from fasttext.FastText import _FastText

    sentences = _lingua_sentences()
    params = block_params("fineweb", "language")
    for languages in (params["languages"], None):
        theirs = DLF(languages=languages, language_threshold=params["min_score"])
        theirs.model._model = _FastText(bundled_model_path())  # the same model file, no download
        mine = LanguageFilter(languages=languages, min_score=params["min_score"], model_path=None)
        assert _agreement(mine, theirs, sentences) >= MIN_AGREEMENT
        doc_a, doc_b = Document(text=sentences[0].text, id="a"), Document(text=sentences[0].text, id="b")
        mine.filter(doc_a), theirs.filter(doc_b)
        assert doc_a.metadata["language"] == doc_b.metadata["language"]


def test_url_filter_agrees_with_datatrove(pages):
    pytest.importorskip("tldextract", reason="datatrove's URLFilter needs tldextract")
    pytest.importorskip("ahocorasick", reason="datatrove's URLFilter needs pyahocorasick")
    from datatrove.pipeline.filters import URLFilter as DURL
    from datatrove.utils._import_utils import ASSETS_PATH

    domains, urls = blocklist_sample()
    words = {
        name: (Path(ASSETS_PATH) / f"{name}.txt").read_text().splitlines()
        for name in ("banned_words", "banned_subwords", "soft_banned_words")
    }
    # the same lists on both sides: datatrove's full sets cost ~700 MB and 12 s to load
    theirs = DURL(
        soft_word_threshold=block_params("fineweb", "url_filter")["soft_word_threshold"],
        extra_domains=domains,
        extra_urls=urls,
        use_integrated_lists=False,
        **words,
    )
    mine = URLFilter.from_preset()
    mine.blocklist = HashedBlocklist.from_lists(domains, urls)
    test_urls = [p.url for p in pages]
    test_urls += [f"https://{d}/" for d in domains[::97]] + [f"http://www.{d}/a/b.html?x=1" for d in domains[::89]]
    test_urls += urls[::50] + [f"http://{u}" for u in urls[::61]]
    test_urls += [f"https://news.example.com/{w}-story" for w in words["soft_banned_words"][::3]]
    test_urls += [
        f"https://shop.example.net/{a}/{b}"
        for a, b in zip(words["soft_banned_words"], words["soft_banned_words"][1:], strict=False)
    ]
    agree = 0
    for i, url in enumerate(test_urls):
        a, b = (Document(text="x", id=str(i), metadata={"url": url}) for _ in range(2))
        agree += mine.filter(a) == theirs.filter(b)
    assert agree / len(test_urls) >= MIN_AGREEMENT, f"{agree}/{len(test_urls)}"


def test_pii_matches_datatrove(pages):
    from datatrove.pipeline.formatters import PIIFormatter as DPII

    params = block_params("fineweb", "pii")
    theirs = DPII(email_replacement=params["email_replacement"], ip_replacement=params["ip_replacement"])
    mine = PIIFormatter.from_preset()
    assert all(mine.format(p.text)[0] == theirs.format(p.text) for p in pages)
