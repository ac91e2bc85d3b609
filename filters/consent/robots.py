"""robots.txt rules for a URL, from the per-host index of the crawl's own robots.txt captures.

`RobotsIndex` answers "which AI agents may fetch this URL?" for a worker, keeping only a small LRU of
parsed robots.txt files in memory. A host without a capture is `unknown`, never taken as consent.
The index is an SQLite file written once per run by `thresher.pipeline.read.robots` (schema below).
"""

from __future__ import annotations

import os
import sqlite3
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from protego import Protego

# AI crawlers and AI-use tokens that site owners address in robots.txt (shared/reference/field.md)
DEFAULT_AI_AGENTS: tuple[str, ...] = (
    "GPTBot",
    "CCBot",
    "Google-Extended",
    "ClaudeBot",
    "anthropic-ai",
    "Applebot-Extended",
    "Meta-ExternalAgent",
    "Bytespider",
    "cohere-training-data-crawler",
    "PerplexityBot",
)

# RFC 9309 asks parsers to read at least 500 KiB; Google stops there too. Longer bodies are cut.
MAX_ROBOTS_BYTES = 512 * 1024
MAX_REDIRECT_HOPS = 5  # RFC 9309 §2.3.1.2
# a parsed robots.txt (Protego) takes about 20 bytes of memory per byte of source (measured)
PARSED_BYTES_PER_SOURCE_BYTE = 20

ALLOWED, DISALLOWED, UNKNOWN, NOT_CHECKED = "allowed", "disallowed", "unknown", "not_checked"

SCHEMA = """
CREATE TABLE robots (
    host TEXT NOT NULL,
    captured TEXT NOT NULL,   -- WARC-Date, first 19 chars (YYYY-MM-DDTHH:MM:SS)
    status INTEGER NOT NULL,  -- HTTP status of the robots.txt fetch
    body BLOB,                -- zlib(robots.txt bytes) for 2xx, zlib(target URL) for 3xx, else NULL
    PRIMARY KEY (host, captured, status)
) WITHOUT ROWID;
CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT);
"""


def host_key(url: str | None) -> str | None:
    """Lowercased host (with a non-default port) of `url`: robots.txt rules apply per host."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return f"{host}:{port}" if port and port != default else host


def date_key(warc_date: str | None) -> str:
    return (warc_date or "")[:19]


@dataclass(frozen=True)
class RobotsVerdict:
    """What the host's robots.txt says about the AI agents at one URL.

    `disallowed` lists the agents that may not fetch the URL, plus `*` when a generic crawler may
    not either (so an AI-specific opt-out is one where `*` is absent).
    """

    status: str
    disallowed: tuple[str, ...] = ()
    captured: str | None = None


class _Rules:
    """A parsed capture: a Protego parser (2xx), allow-all (4xx), a redirect, or unknown (5xx, errors)."""

    __slots__ = ("captured", "status", "parser", "redirect", "cost")

    def __init__(self, captured: str, status: int, body: bytes | None):
        self.captured, self.status = captured, status
        self.parser: Protego | None = None
        self.redirect: str | None = None
        self.cost = 256 + (len(body) if body else 0)
        if body is None:
            return
        try:
            raw = zlib.decompress(body)
            if 200 <= status < 300:
                self.parser = Protego.parse(raw.decode("utf-8", "replace").lstrip("\ufeff"))
                self.cost = 256 + PARSED_BYTES_PER_SOURCE_BYTE * len(raw)
            elif 300 <= status < 400:
                self.redirect = raw.decode("utf-8", "replace")
        except Exception:  # malformed beyond what Protego tolerates: the site's rules are unknown
            self.status, self.parser, self.redirect = 599, None, None

    @property
    def definitive(self) -> bool:
        """2xx with rules or 4xx (RFC 9309: no robots.txt means no restriction)."""
        return self.parser is not None or 400 <= self.status < 500

    def verdict(self, url: str, agents: tuple[str, ...]) -> RobotsVerdict:
        if self.parser is None:
            return RobotsVerdict(ALLOWED if 400 <= self.status < 500 else UNKNOWN, (), self.captured)
        try:
            blocked = [a for a in agents if not self.parser.can_fetch(url, a)]
            if blocked and not self.parser.can_fetch(url, "*"):
                blocked.append("*")
        except Exception:
            return RobotsVerdict(UNKNOWN, (), self.captured)
        return RobotsVerdict(DISALLOWED if blocked else ALLOWED, tuple(blocked), self.captured)


class RobotsIndex:
    """Read-only lookups in an index built by `build_robots_index`, safe to create in every worker.

    Memory is bounded by the LRU of parsed hosts: at most `cache_hosts` hosts and about `cache_bytes`
    of parsed rules (estimated as 20x the robots.txt source), plus SQLite's page cache (~2 MiB).
    """

    def __init__(self, path: str, cache_hosts: int = 2048, cache_bytes: int = 64 << 20):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"robots index {path!r} does not exist; build it with --robots")
        self.path = path
        self.cache_hosts = cache_hosts
        self.cache_bytes = cache_bytes
        self._con = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
        self._cache: OrderedDict[str, tuple[_Rules, ...]] = OrderedDict()
        self._cached_bytes = 0

    def close(self) -> None:
        self._con.close()
        self._cache.clear()
        self._cached_bytes = 0

    def captures(self, host: str) -> tuple[_Rules, ...]:
        hit = self._cache.get(host)
        if hit is not None:
            self._cache.move_to_end(host)
            return hit
        rows = self._con.execute(
            "SELECT captured, status, body FROM robots WHERE host = ? ORDER BY captured", (host,)
        ).fetchall()
        rules = tuple(_Rules(*row) for row in rows)
        self._cache[host] = rules
        self._cached_bytes += sum(r.cost for r in rules) + 256
        while self._cache and (len(self._cache) > self.cache_hosts or self._cached_bytes > self.cache_bytes):
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= sum(r.cost for r in old) + 256
        return rules

    def verdict(self, url: str, agents: tuple[str, ...], warc_date: str | None = None) -> RobotsVerdict:
        """The verdict of the capture nearest before `warc_date` (else the first after), following
        redirects to other hosts' captures; `unknown` when the host has no usable capture."""
        host = host_key(url)
        when = date_key(warc_date)
        for _ in range(MAX_REDIRECT_HOPS + 1):
            if host is None:
                break
            chosen = _choose(self.captures(host), when)
            if chosen is None:
                break
            if chosen.redirect is None:
                return chosen.verdict(url, agents)
            target = host_key(chosen.redirect)
            if target == host:
                break
            host = target
        return RobotsVerdict(UNKNOWN)


def _choose(captures: tuple[_Rules, ...], when: str) -> _Rules | None:
    """Definitive captures first (rules or 4xx), then redirects, then the rest; by time nearest `when`."""
    for usable in (
        [c for c in captures if c.definitive],
        [c for c in captures if c.redirect is not None],
        list(captures),
    ):
        if not usable:
            continue
        if not when:
            return usable[-1]
        before = [c for c in usable if c.captured <= when]
        return before[-1] if before else usable[0]
    return None
