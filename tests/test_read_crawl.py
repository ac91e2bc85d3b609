"""Common Crawl listings: a snapshot's warc.paths.gz (fetched, or a local copy) turned into inputs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from conftest import read_docs

from thresher.pipeline import cli
from thresher.pipeline.read.crawl import expand_crawl, listing_url, parse_listing
from thresher.pipeline.read.inputs import bundled_sample_files


def _write_listing(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return path


def test_crawl_listing_expands_to_urls(tmp_path: Path, monkeypatch):
    from thresher.pipeline.read import crawl

    monkeypatch.setattr(crawl, "_check_http_support", lambda: None)  # reading them needs aiohttp; listing not
    lines = [
        f"crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/warc/"
        f"CC-MAIN-20240517233122-20240518023122-{i:05d}.warc.gz"
        for i in range(5)
    ]
    listing = _write_listing(tmp_path / "warc.paths.gz", lines)
    files, name = expand_crawl(str(listing), max_files=3)
    assert name == "CC-MAIN-2024-22"
    assert files == [f"https://data.commoncrawl.org/{line}" for line in lines[:3]]
    assert len(expand_crawl(str(listing))[0]) == 5
    assert listing_url("CC-MAIN-2024-22") == "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-22/warc.paths.gz"
    assert parse_listing(b"a/b.warc.gz\n\n# comment\na/b.warc.gz\n") == ["https://data.commoncrawl.org/a/b.warc.gz"]


@pytest.mark.slow
def test_crawl_listing_of_local_files_feeds_a_run(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("THRESHER_TASK_LOG_LEVEL", "WARNING")  # the CLI sets it; keep it to this test
    sample = bundled_sample_files()
    listing = _write_listing(tmp_path / "CC-MAIN-2020-34.warc.paths.gz", sample)
    files, name = expand_crawl(str(listing), max_files=2)
    assert files == sample[:2] and name == "CC-MAIN-2020-34"
    out = tmp_path / "out"
    argv = ["run", "sample", "-o", str(out), "--crawl", str(listing), "--max-files", "2", "--no-progress"]
    assert cli.main(argv) == 0
    assert json.loads((out / "run.json").read_text())["inputs"] == sorted(sample[:2])
    assert read_docs(out)


def test_crawl_errors_say_what_to_do(tmp_path: Path):
    from thresher.pipeline.run.errors import ConfigError

    with pytest.raises(ConfigError, match="positive"):
        expand_crawl("CC-MAIN-2024-22", max_files=0)
    with pytest.raises(ConfigError, match="crawl name like"):
        expand_crawl(str(tmp_path / "missing.paths.gz"))
    with pytest.raises(ConfigError, match="lists no file"):
        expand_crawl(str(_write_listing(tmp_path / "empty.paths.gz", [])))
