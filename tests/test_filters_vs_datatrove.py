"""FineWeb filter blocks on real pages: they run in a datatrove pipeline, and they decide as
datatrove 0.10.1's own filters do (compared document by document; datatrove needs spaCy for that).

Pages come from ../shared (AEB articles and the trafilatura benchmark pages), extracted once per
session with trafilatura as the extract block does; tests skip when ../shared is absent.
"""

from __future__ import annotations

import gzip
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep

from thresher.filters.c4 import C4QualityFilter
from thresher.filters.fineweb_quality import FineWebQualityFilter
from thresher.filters.gopher import GopherQualityFilter, GopherRepetitionFilter
from thresher.filters.language import LanguageFilter, bundled_model_path
from thresher.filters.presets import block_params
from thresher.filters.url import HashedBlocklist, URLFilter, integrated_blocklist
from thresher.pipeline.format.pii import PIIFormatter

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
AEB = SHARED / "data" / "extraction" / "aeb"
BENCH_TAR = SHARED / "bench" / "trafilatura-pages.tar.xz"
LINGUA = SHARED / "data" / "lid" / "lingua" / "sentences"
N_BENCH_PAGES = 80  # of ~1,030, spread over the archive (mostly German, some English, others)
MIN_AGREEMENT = 0.99
MAX_COMPARED_PAGES = 180  # English pages compared with datatrove (spaCy costs ~30 ms a page)


@dataclass
class Page:
    name: str
    url: str
    text: str


def _extract(html: bytes) -> str | None:
    from trafilatura import extract

    p = block_params("fineweb", "extract")
    return extract(
        html.decode("utf-8", "replace"),
        favor_precision=p["favour_precision"],
        include_comments=p["include_comments"],
        deduplicate=p["deduplicate"],
    )


def _bench_html() -> list[tuple[str, bytes]]:
    """A spread of the benchmark pages, read in one forward pass over the .tar.xz stream."""
    with tarfile.open(BENCH_TAR, "r|xz") as tar:
        html = {m.name: tar.extractfile(m).read() for m in tar if m.isfile() and m.name.endswith(".html")}
    names = sorted(html)[:: max(1, len(html) // N_BENCH_PAGES)][:N_BENCH_PAGES]
    return [(Path(name).name, html[name]) for name in names]


@pytest.fixture(scope="session")
def pages() -> list[Page]:
    """Real pages with their extracted text: all AEB articles plus a spread of benchmark pages."""
    if not AEB.is_dir() or not BENCH_TAR.is_file():
        pytest.skip(f"shared data not found at {SHARED}")
    truth = json.loads((AEB / "ground-truth.json").read_text())
    out = []
    for path in sorted((AEB / "html").glob("*.html.gz")):
        key = path.name.removesuffix(".html.gz")
        text = _extract(gzip.decompress(path.read_bytes()))
        if text:
            out.append(Page(path.name, truth.get(key, {}).get("url") or f"https://aeb.example/{key}", text))
    for name, html in _bench_html():
        text = _extract(html)
        if text:
            out.append(Page(name, f"https://{name.removesuffix('.html').replace(' ', '-')}", text))
    return out


@pytest.fixture(scope="session")
def english(pages) -> list[Page]:
    lid = LanguageFilter.from_preset()
    return [p for p in pages if lid.filter(Document(text=p.text, id=p.name))]


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
    blocked = sorted(_blocklist_sample()[0])[:20]
    docs = _docs(pages) + [Document(text="x", id=f"b{i}", metadata={"url": f"https://{d}/"}) for i, d in
                           enumerate(blocked)]
    rows, stats = _run_pipeline(URLFilter.from_preset(), docs, tmp_path)
    kept = {row["id"] for row in rows}
    assert not kept & {f"b{i}" for i in range(len(blocked))}, "blocklisted domains must be dropped"
    assert len(kept) > len(pages) * 0.9
    assert stats.get("dropped_domain", 0) + stats.get("dropped_subdomain", 0) >= len(blocked)


def test_pii_runs_in_pipeline(pages, tmp_path):
    from thresher.pipeline.format.pii import EMAIL_REGEX, is_public_ip

    with_email = [p for p in pages if EMAIL_REGEX.search(p.text)]
    assert with_email, "the sample has real pages with e-mail addresses"
    rows, stats = _run_pipeline(PIIFormatter.from_preset(), _docs(with_email), tmp_path)
    replacement = block_params("fineweb", "pii")["email_replacement"]
    assert len(rows) == len(with_email)
    assert stats["emails_replaced"] >= len(with_email)
    for row in rows:
        assert all(m == replacement for m in EMAIL_REGEX.findall(row["text"]))
    assert not is_public_ip("192.168.0.2")


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


def test_language_filter_batches_give_the_scores_of_single_calls():
    # the batched fastText call must be a pure speed-up: same label, same score, same decision
    sentences = _lingua_sentences()
    for min_score in (0.65, 0.3):  # k=1 and k=-1
        f = LanguageFilter(languages=["en"], min_score=min_score, model_path=None, batch_size=64)
        batch = [Document(text=p.text, id=p.name) for p in sentences]
        single = [Document(text=p.text, id=p.name) for p in sentences]
        assert f.filter_batch(batch) == [f.filter(d) for d in single]
        assert [d.metadata for d in batch] == [d.metadata for d in single]
        assert len({d.metadata["language"] for d in batch}) > 5


def test_language_filter_missing_model_names_path():
    f = LanguageFilter(languages=["en"], min_score=0.65, model_path="/nonexistent/lid.176.bin")
    with pytest.raises(FileNotFoundError, match="/nonexistent/lid.176.bin"):
        f.filter(Document(text="hello world", id="x"))


def _blocklist_sample(n_domains: int = 20_000) -> tuple[list[str], list[str]]:
    """The first `n_domains` domains and all URLs of datatrove's integrated blocklist."""
    from datatrove.utils._import_utils import ASSETS_PATH

    domains: list[str] = []
    urls: list[str] = []
    with tarfile.open(Path(ASSETS_PATH) / "url_filterblacklistsv0_3_0.tar.gz", "r:gz") as tar:
        for member in tar:
            target = {"domains": domains, "urls": urls}.get(member.name)
            if target is None:
                continue
            for line in tar.extractfile(member):
                line = line.decode("utf-8", "replace").strip()
                if line and not line.startswith("#"):
                    target.append(line)
                if target is domains and len(domains) >= n_domains:
                    break
            if len(domains) >= n_domains and urls:
                break
    return domains, urls


def test_url_filter_agrees_with_datatrove(pages):
    pytest.importorskip("tldextract", reason="datatrove's URLFilter needs tldextract")
    pytest.importorskip("ahocorasick", reason="datatrove's URLFilter needs pyahocorasick")
    from datatrove.pipeline.filters import URLFilter as DURL
    from datatrove.utils._import_utils import ASSETS_PATH

    domains, urls = _blocklist_sample()
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
    test_urls += [f"https://shop.example.net/{a}/{b}" for a, b in zip(words["soft_banned_words"],
                                                                       words["soft_banned_words"][1:], strict=False)]
    agree = 0
    for i, url in enumerate(test_urls):
        a, b = (Document(text="x", id=str(i), metadata={"url": url}) for _ in range(2))
        agree += mine.filter(a) == theirs.filter(b)
    assert agree / len(test_urls) >= MIN_AGREEMENT, f"{agree}/{len(test_urls)}"


def test_integrated_blocklist_holds_datatrove_lists():
    domains, urls = _blocklist_sample(2_000)
    blocklist = integrated_blocklist()
    assert all(blocklist.has_domain(d) for d in domains)
    assert all(blocklist.has_url(u) for u in urls)
    assert not blocklist.has_domain("wikipedia.org")


# --- (c) PII ---------------------------------------------------------------------------------------


def test_pii_replaces_public_addresses_only():
    params = block_params("fineweb", "pii")
    text = (
        "Write to maria.gonzalez@universidad-ejemplo.es or press@acme-corp.co.uk for details. "
        "The mirror at 151.101.1.69 answered, as did 8.8.8.8; the router 192.168.0.2, "
        "loopback 127.0.0.1, LAN host 10.1.2.3 and 172.16.5.4 are private."
    )
    doc = Document(text=text, id="pii")
    [out] = list(PIIFormatter.from_preset().run([doc]))
    assert "maria.gonzalez@" not in out.text and "press@acme" not in out.text
    assert out.text.count(params["email_replacement"]) == 2
    assert "151.101.1.69" not in out.text and "8.8.8.8" not in out.text
    assert out.text.count(params["ip_replacement"]) == 2
    for private in ("192.168.0.2", "127.0.0.1", "10.1.2.3", "172.16.5.4"):
        assert private in out.text


def test_pii_matches_datatrove(pages):
    from datatrove.pipeline.formatters import PIIFormatter as DPII

    params = block_params("fineweb", "pii")
    theirs = DPII(email_replacement=params["email_replacement"], ip_replacement=params["ip_replacement"])
    mine = PIIFormatter.from_preset()
    assert all(mine.format(p.text)[0] == theirs.format(p.text) for p in pages)


def test_sentence_splits_match_datatrove(english):
    """C4 with split_paragraph=False cuts documents into sentences; ours must cut where spaCy does."""
    pytest.importorskip("spacy", reason="datatrove's sentence splitter needs spaCy")
    from datatrove.utils.text import split_into_sentences

    from thresher.filters.text import split_sentences

    sample = english[:40]
    same = sum(split_sentences(p.text) == split_into_sentences(p.text) for p in sample)
    assert same / len(sample) >= MIN_AGREEMENT


def test_duplicated_ngram_measure_matches_datatrove(english):
    """The repeat measure behind duplicated_{n}_n_grams, exact and with the bound the filter uses,
    against datatrove's find_all_duplicate on every English page (n as in FineWeb, then backwards)."""
    from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate

    from thresher.filters.gopher_repetition import RepeatedNgrams, word_ids
    from thresher.filters.text import splits

    ns = [int(n) for n in block_params("fineweb", "gopher_repetition")["dup_n_grams"]]
    checked = bounded = 0
    for p in english:
        words = splits(p.text).tokens
        expected = {n: find_all_duplicate(words, n) for n in ns}
        for order in (ns, ns[::-1]):
            exact = RepeatedNgrams(words, word_ids(words))
            assert [exact.chars(n, ceiling=-1) for n in order] == [expected[n] for n in order], p.name
            limited = RepeatedNgrams(words, word_ids(words))
            for n in order:
                ceiling = 0.1 * len(p.text)
                got = limited.chars(n, ceiling)
                assert got >= expected[n] and (got > ceiling) == (expected[n] > ceiling), (p.name, n)
                bounded += got != expected[n]
        checked += 1
    assert checked >= 150 and bounded > 0  # the bound was taken, and never changed a verdict


def test_quoted_word_shortcut_matches_full_split(english):
    """`_split_quoted` (a word between quotes, brackets, punctuation) must split exactly as the full
    spaCy-rule `_split_chunk` does: every chunk of the English pages, then openers x words x closers."""
    from thresher.filters.text import _split_chunk, _split_quoted

    chunks = {c for p in english for c in p.text.split()}
    words = sorted({c for c in chunks if c.isalpha()})[::25]
    words += ["I", "A", "i", "e", "s", "S", "Mr", "dont", "USA", "x-ray", "I-95", "a--b", "2018", "½"]
    openers = ["", "(", "[", "“", "‘", '"', "'", "((", "''", "“("]
    closers = ["", ",", ".", ";", ":", "!", "?", ")", "”", "’", "'", '"', ".”", "”.", ").", "),", "..", "’s", "'s"]
    closers += ["’s,", "’s.”", ".’”", "?!", ".”)", "...", "-"]
    generated = {o + w + c for w in words for o in openers for c in closers}
    taken = 0
    for chunk in chunks | generated:
        quick = _split_quoted(chunk)
        if quick is not None:
            taken += 1
            assert quick == _split_chunk(chunk), chunk
    assert taken > len(generated) // 2  # the shortcut is taken, not skipped
