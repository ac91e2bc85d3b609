from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the shared data beside the repository; THRESHER_TEST_SHARED names another place (a missing one: every
# test that needs it skips, which is how to check that the suite runs without it)
SHARED = Path(os.environ.get("THRESHER_TEST_SHARED") or ROOT.parent / "shared")


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test when the shared data is not beside the repo."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available (../shared beside the repository)")
    return path


def needs_shared(*parts: str) -> pytest.MarkDecorator:
    """Mark: skip the test (or module, as `pytestmark`) when ../shared/<parts> is absent."""
    path = SHARED.joinpath(*parts)
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not available (../shared beside the repository)")


def read_record_at(path: str, offset: int, length: int):
    """Parse the record stored at exactly [offset, offset + length) of `path`, and nothing else."""
    import io

    import fsspec
    from warcio.archiveiterator import ArchiveIterator

    with fsspec.open(path, "rb") as f:
        f.seek(offset)
        raw = f.read(length)
    assert len(raw) == length
    records = list(ArchiveIterator(io.BytesIO(raw), arc2warc=True))
    assert len(records) == 1, "the byte range must hold exactly one record"
    return records[0]


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """The bundled sample run through the real CLI, once per session: (output dir, stats)."""
    from thresher.pipeline.run.local import execute
    from thresher.pipeline.run.plan import build_plan

    out = tmp_path_factory.mktemp("sample-run")
    os.environ["THRESHER_TASK_LOG_LEVEL"] = "WARNING"
    plan = build_plan("sample", output=str(out), workers=2)
    stats = execute(plan, progress=False)
    return out, stats


@pytest.fixture(scope="session")
def bench_corpus(tmp_path_factory):
    """A small Common-Crawl-shaped corpus built by shared/bench: 4 files, 1,600 responses (~1,200
    real pages once, plus exact copies, near-duplicates, boilerplate copies and mixes for dedup)."""
    import subprocess
    import sys

    script = shared_path("bench", "build_bench_warc.py")
    out = tmp_path_factory.mktemp("bench")
    subprocess.run(
        [sys.executable, str(script), "--out", str(out), "--n", "1600", "--files", "4"], check=True, capture_output=True
    )
    return out


def read_docs(run_dir) -> dict[str, str]:
    """{id: text} of a run's final documents."""
    import glob

    import pyarrow.parquet as pq

    files = sorted(glob.glob(os.path.join(str(run_dir), "data", "*.parquet")))
    if not files:
        return {}
    table = pq.read_table(files, columns=["id", "text"])
    ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
    assert len(set(ids)) == len(ids), "duplicate documents in data/"
    return dict(zip(ids, texts, strict=True))


# --- real pages: AEB articles and the trafilatura benchmark pages, extracted as the extract block does ---

N_BENCH_PAGES = 80  # of ~1,030, spread over the archive (mostly German, some English, others)


@dataclass
class Page:
    name: str
    url: str
    text: str


def _extract(html: bytes) -> str | None:
    from trafilatura import extract

    from thresher.filters.presets import block_params

    p = block_params("fineweb", "extract")
    return extract(
        html.decode("utf-8", "replace"),
        favor_precision=p["favour_precision"],
        include_comments=p["include_comments"],
        deduplicate=p["deduplicate"],
    )


def _bench_html(tar_path: Path) -> list[tuple[str, bytes]]:
    """A spread of the benchmark pages, read in one forward pass over the .tar.xz stream."""
    import tarfile

    with tarfile.open(tar_path, "r|xz") as tar:
        html = {m.name: tar.extractfile(m).read() for m in tar if m.isfile() and m.name.endswith(".html")}
    names = sorted(html)[:: max(1, len(html) // N_BENCH_PAGES)][:N_BENCH_PAGES]
    return [(Path(name).name, html[name]) for name in names]


@pytest.fixture(scope="session")
def pages() -> list[Page]:
    """Real pages with their extracted text: all AEB articles plus a spread of benchmark pages."""
    import gzip
    import json

    aeb = shared_path("data", "extraction", "aeb")
    bench_tar = shared_path("bench", "trafilatura-pages.tar.xz")
    truth = json.loads((aeb / "ground-truth.json").read_text())
    out = []
    for path in sorted((aeb / "html").glob("*.html.gz")):
        key = path.name.removesuffix(".html.gz")
        text = _extract(gzip.decompress(path.read_bytes()))
        if text:
            out.append(Page(path.name, truth.get(key, {}).get("url") or f"https://aeb.example/{key}", text))
    for name, html in _bench_html(bench_tar):
        text = _extract(html)
        if text:
            out.append(Page(name, f"https://{name.removesuffix('.html').replace(' ', '-')}", text))
    return out


@pytest.fixture(scope="session")
def english(pages) -> list[Page]:
    """The English pages, as the fineweb preset's language block decides."""
    from datatrove.data import Document

    from thresher.filters.language import LanguageFilter

    lid = LanguageFilter.from_preset()
    return [p for p in pages if lid.filter(Document(text=p.text, id=p.name))]


def blocklist_sample(n_domains: int = 20_000) -> tuple[list[str], list[str]]:
    """The first `n_domains` domains and all URLs of datatrove's integrated blocklist."""
    import tarfile

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
