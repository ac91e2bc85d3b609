"""`--crawl`: a Common Crawl snapshot's `warc.paths.gz` listing -> the WARC files of that snapshot.

A full snapshot is ~90,000 WARC files; nobody types those, and the listing is the one the crawl
publishes. The listing is read from the public bucket by name (CC-MAIN-2024-22), or from a local copy
(or any URL) when the nodes or the machine cannot reach the bucket.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import urllib.error
import urllib.request

from ...filters.presets import ConfigError

CC_BASE = "https://data.commoncrawl.org/"
CRAWL_NAME = re.compile(r"CC-MAIN-\d{4}-\d{2}")


def listing_url(crawl: str) -> str:
    """Where Common Crawl publishes the WARC listing of `crawl`."""
    return f"{CC_BASE}crawl-data/{crawl}/warc.paths.gz"


def _read_listing(source: str) -> bytes:
    """The listing's bytes from a local path or a URL (stdlib for https: no extra dependency)."""
    if os.path.exists(source):
        with open(source, "rb") as f:
            return f.read()
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=60) as response:
                return response.read()
        except (urllib.error.URLError, TimeoutError) as e:
            raise ConfigError(
                f"cannot download the crawl listing {source} ({getattr(e, 'reason', e)}); "
                "download it elsewhere and give its local path to --crawl"
            ) from None
    if "://" in source:
        import fsspec

        with fsspec.open(source, "rb") as f:
            return f.read()
    raise ConfigError(
        f"--crawl {source!r} is neither a crawl name like CC-MAIN-2024-22 nor an existing warc.paths(.gz) file"
    )


def parse_listing(data: bytes, base: str = CC_BASE) -> list[str]:
    """Listing lines (bucket-relative paths, gzip or plain) -> absolute URLs, in the listing's order."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.GzipFile(fileobj=io.BytesIO(data)).read()
    out: list[str] = []
    for raw in data.decode("utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        out.append(line if "://" in line or os.path.isabs(line) else base + line.lstrip("/"))
    return list(dict.fromkeys(out))


def expand_crawl(crawl: str, max_files: int | None = None) -> tuple[list[str], str | None]:
    """(WARC file URLs, crawl name) for a crawl name or a listing path/URL; the first `max_files` only."""
    if max_files is not None and max_files < 1:
        raise ConfigError(f"--max-files {max_files}: give a positive number of files")
    is_name = CRAWL_NAME.fullmatch(crawl) is not None and not os.path.exists(crawl)
    source = listing_url(crawl) if is_name else crawl
    files = parse_listing(_read_listing(source))
    if not files:
        raise ConfigError(f"the crawl listing {source} lists no file")
    if max_files is not None:
        files = files[:max_files]
    if any(f.startswith(("http://", "https://")) for f in files):
        _check_http_support()
    name = crawl if is_name else _crawl_name(source, files)
    return files, name


def _crawl_name(source: str, files: list[str]) -> str | None:
    """The snapshot name, from the listed paths (crawl-data/CC-MAIN-.../) or the listing's own path."""
    for text in (files[0], source):
        found = CRAWL_NAME.search(text)
        if found:
            return found.group(0)
    return None


def _check_http_support() -> None:
    """fsspec reads https:// inputs only with aiohttp; say so before any job is submitted."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise ConfigError(
            "reading WARC files over https needs aiohttp: pip install 'fsspec[http]' (in the environment "
            "the nodes use too)"
        ) from None
