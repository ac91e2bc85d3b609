"""robots.txt captures from the crawl itself -> the per-host index the consent block queries.

Common Crawl publishes each crawl's robots.txt fetches as a separate WARC subset. `build_robots_index`
reads such files once and writes an SQLite file keyed by host (zlib-compressed body, HTTP status and
capture date per capture); `thresher.filters.consent.robots.RobotsIndex` reads it in the workers.
"""

from __future__ import annotations

import os
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import fsspec
from warcio.archiveiterator import ArchiveIterator

from ...filters.consent.robots import MAX_ROBOTS_BYTES, SCHEMA, date_key, host_key
from .inputs import expand_inputs


@dataclass(frozen=True)
class RobotsCapture:
    """One robots.txt fetch as stored: `body` is the (cut) robots.txt, or the redirect target URL."""

    host: str
    captured: str
    status: int
    body: bytes | None


class RobotsCaptureReader:
    """Yields the robots.txt responses of WARC files; a damaged file is read up to the damage."""

    def __init__(self, max_bytes: int = MAX_ROBOTS_BYTES):
        self.max_bytes = max_bytes
        self.counts: dict[str, int] = {
            "files": 0,
            "records": 0,
            "robots_records": 0,
            "skipped_records": 0,
            "truncated": 0,
            "record_errors": 0,
            "damaged_files": 0,
        }

    def read(self, path: str) -> Iterator[RobotsCapture]:
        self.counts["files"] += 1
        try:
            with fsspec.open(path, "rb") as fh:
                for record in ArchiveIterator(fh, arc2warc=True, check_digests=False):
                    self.counts["records"] += 1
                    capture = self._capture(record)
                    if capture is None:
                        self.counts["skipped_records"] += 1
                        continue
                    self.counts["robots_records"] += 1
                    yield capture
        except Exception:  # damaged archive (bad gzip, bad record): keep what was read, count the file
            self.counts["damaged_files"] += 1

    def _capture(self, record) -> RobotsCapture | None:
        if record.rec_type != "response" or record.http_headers is None:
            return None
        url = record.rec_headers.get_header("WARC-Target-URI") or ""
        host = host_key(url)
        try:
            is_robots = urlsplit(url).path == "/robots.txt"
            status = int(record.http_headers.get_statuscode())
        except (ValueError, TypeError):
            return None
        if host is None or not is_robots:
            return None
        captured = date_key(record.rec_headers.get_header("WARC-Date"))
        body: bytes | None = None
        try:
            if 200 <= status < 300:
                body = record.content_stream().read(self.max_bytes + 1)
                if len(body) > self.max_bytes:
                    body = body[: self.max_bytes]
                    self.counts["truncated"] += 1
            elif 300 <= status < 400:
                location = record.http_headers.get_header("Location")
                body = urljoin(url, location.strip()).encode() if location else None
        except Exception:  # a broken chunked/gzip body: the capture says nothing
            self.counts["record_errors"] += 1
            status, body = 599, None
        return RobotsCapture(host, captured, status, body)


def build_robots_index(warc_files: list[str], index_path: str, batch: int = 5000) -> dict:
    """Read robots.txt captures from `warc_files` (paths, globs, folders or URLs) into `index_path`.

    The file appears only once complete (written beside it, then renamed). Returns counts: files,
    records, robots_records, captures, hosts, truncated, record_errors, damaged_files.
    """
    reader = RobotsCaptureReader()
    tmp = f"{index_path}.{os.getpid()}.tmp"
    if os.path.exists(tmp):
        os.remove(tmp)
    os.makedirs(os.path.dirname(os.path.abspath(index_path)), exist_ok=True)
    con = sqlite3.connect(tmp)
    try:
        con.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
        rows: list[tuple] = []
        for path in expand_inputs(warc_files):
            for cap in reader.read(path):
                body = zlib.compress(cap.body, 6) if cap.body is not None else None
                rows.append((cap.host, cap.captured, cap.status, body))
                if len(rows) >= batch:
                    con.executemany("INSERT OR REPLACE INTO robots VALUES (?, ?, ?, ?)", rows)
                    rows = []
        con.executemany("INSERT OR REPLACE INTO robots VALUES (?, ?, ?, ?)", rows)
        captures, hosts = con.execute("SELECT COUNT(*), COUNT(DISTINCT host) FROM robots").fetchone()
        counts = {**reader.counts, "captures": captures, "hosts": hosts}
        con.executemany("INSERT INTO info VALUES (?, ?)", [(k, str(v)) for k, v in counts.items()])
        con.commit()
    except BaseException:
        con.close()
        os.remove(tmp)
        raise
    con.close()
    os.replace(tmp, index_path)
    return counts
