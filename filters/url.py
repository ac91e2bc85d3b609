"""URL blocklist filter with datatrove 0.10.1's decisions and a fraction of its memory.

datatrove keeps the UT1 blocklist (millions of domains) as a Python set of strings: about 675 MB
in every worker. Here the domains and URLs are 64-bit hashes in one sorted numpy array (8 bytes
each), built once from the tarball inside the installed datatrove and cached on disk
(`$THRESHER_CACHE` or ~/.cache/thresher); workers memory-map the cache, so they share its pages.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import tempfile
from functools import lru_cache
from importlib import resources
from itertools import islice
from pathlib import Path

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from .base import Block, register

CACHE_VERSION = 2
_NORMALIZER = re.compile(r"[^a-zA-Z0-9]+")


def normalize(text: str) -> str:
    return _NORMALIZER.sub("", text).lower()


def hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _assets() -> Path:
    return Path(str(resources.files("datatrove").joinpath("assets")))


def _word_list(name: str) -> frozenset[str]:
    """datatrove's parse_list(normalize=True): '#' lines skipped, blank lines kept as ''."""
    with open(_assets() / name, encoding="utf-8") as f:
        return frozenset(normalize(line) for line in f if line[0] != "#")


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


def cache_dir() -> Path:
    return Path(os.environ.get("THRESHER_CACHE") or Path.home() / ".cache" / "thresher")


class HashedBlocklist:
    """Sorted 64-bit hashes of the blocklisted domains and URLs; membership by binary search."""

    def __init__(self, domains: np.ndarray, urls: np.ndarray):
        self.domains = domains
        self.urls = urls

    @staticmethod
    def _contains(array: np.ndarray, text: str) -> bool:
        h = np.uint64(hash64(text))
        i = int(np.searchsorted(array, h))
        return i < len(array) and array[i] == h

    @classmethod
    def from_lists(cls, domains, urls) -> HashedBlocklist:
        """From in-memory lists (tests, custom lists)."""

        def hashed(items) -> np.ndarray:
            return _sorted_unique(np.fromiter((hash64(x) for x in items), dtype=np.uint64))

        return cls(hashed(domains), hashed(urls))

    def has_domain(self, domain: str) -> bool:
        return self._contains(self.domains, domain)

    def has_url(self, url: str) -> bool:
        return self._contains(self.urls, url)

    # --- building and caching ---

    @classmethod
    def load(cls, tar_path: Path | None = None, directory: Path | None = None) -> HashedBlocklist:
        """From the on-disk cache when it matches the tarball, else built from it and cached."""
        tar_path = tar_path or _assets() / "url_filterblacklistsv0_3_0.tar.gz"
        directory = directory or cache_dir()
        meta_path, data_path, signature = cls._cache_paths(tar_path, directory)
        cached = cls._read_cache(meta_path, data_path, signature)
        if cached is not None:
            return cached
        domains, urls = cls._build(tar_path)
        cls._write_cache(directory, meta_path, data_path, signature, domains, urls)
        # map the cache just written, so this process holds the same shared pages as later ones
        return cls._read_cache(meta_path, data_path, signature) or cls(domains, urls)

    @staticmethod
    def is_cached(tar_path: Path | None = None, directory: Path | None = None) -> bool:
        """Is the cache of the integrated blocklist built (and current)?"""
        tar_path = tar_path or _assets() / "url_filterblacklistsv0_3_0.tar.gz"
        meta_path, data_path, signature = HashedBlocklist._cache_paths(tar_path, directory or cache_dir())
        return HashedBlocklist._read_cache(meta_path, data_path, signature) is not None

    @staticmethod
    def _cache_paths(tar_path: Path, directory: Path) -> tuple[Path, Path, dict]:
        signature = {
            "version": CACHE_VERSION,
            "source": str(tar_path),
            "size": tar_path.stat().st_size,
            "mtime": int(tar_path.stat().st_mtime),
        }
        # one cache per tarball, so environments with different datatrove installs do not evict each other
        tag = hashlib.sha256(json.dumps(signature, sort_keys=True).encode()).hexdigest()[:12]
        return directory / f"url_blocklist-{tag}.json", directory / f"url_blocklist-{tag}.npy", signature

    @classmethod
    def _read_cache(cls, meta_path: Path, data_path: Path, signature: dict) -> HashedBlocklist | None:
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("signature") != signature:
                return None
            data = np.load(data_path, mmap_mode="r")
            if data.dtype != np.uint64 or len(data) != meta["n_domains"] + meta["n_urls"]:
                return None
        except (OSError, ValueError, KeyError):
            return None
        n = meta["n_domains"]
        data = np.asarray(data)  # plain ndarray over the mapping: no memmap overhead per lookup
        return cls(data[:n], data[n:])

    @staticmethod
    def _build(tar_path: Path) -> tuple[np.ndarray, np.ndarray]:
        """datatrove's parse_list(normalize=False) of `domains` and `urls`, hashed and sorted."""
        arrays: dict[str, np.ndarray] = {}
        blake2b = hashlib.blake2b
        with tarfile.open(tar_path, "r:gz") as tar:
            for member in tar:
                if member.name not in ("domains", "urls"):
                    continue
                lines = tar.extractfile(member)  # streamed in batches: a low memory peak while building
                parts = []
                while batch := list(islice(lines, 200_000)):
                    digests = b"".join(blake2b(x.strip(), digest_size=8).digest() for x in batch if x[:1] != b"#")
                    parts.append(np.frombuffer(digests, dtype="<u8").astype(np.uint64))
                arrays[member.name] = _sorted_unique(np.concatenate(parts) if parts else np.zeros(0, np.uint64))
        return arrays["domains"], arrays["urls"]

    @staticmethod
    def _write_cache(
        directory: Path, meta_path: Path, data_path: Path, signature: dict, domains: np.ndarray, urls: np.ndarray
    ) -> None:
        """Data first, then the metadata that validates it, each by atomic rename."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=directory, suffix=".npy.tmp", delete=False) as f:
                np.save(f, np.concatenate([domains, urls]))
            os.chmod(f.name, 0o644)
            os.replace(f.name, data_path)
            meta = {"signature": signature, "n_domains": len(domains), "n_urls": len(urls)}
            with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".json.tmp", delete=False) as f:
                json.dump(meta, f)
            os.chmod(f.name, 0o644)
            os.replace(f.name, meta_path)
        except OSError:
            pass  # an unwritable cache only costs a rebuild next time


@lru_cache(maxsize=1)
def integrated_blocklist() -> HashedBlocklist:
    """One blocklist per process, shared by every URLFilter."""
    return HashedBlocklist.load()


@lru_cache(maxsize=1)
def _public_suffixes() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """ICANN section of the Public Suffix List (as tldextract uses by default): rules, wildcards, exceptions."""
    import tld

    path = Path(tld.__file__).parent / "res" / "effective_tld_names.dat.txt"
    rules, wildcards, exceptions = set(), set(), set()
    in_icann = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if "===BEGIN ICANN DOMAINS===" in line:
                in_icann = True
            elif "===END ICANN DOMAINS===" in line:
                break
            elif in_icann and line and not line.startswith("//"):
                rule = line.split()[0].lower()
                if rule.startswith("!"):
                    exceptions.add(rule[1:])
                elif rule.startswith("*."):
                    wildcards.add(rule[2:])
                else:
                    rules.add(rule)
    return frozenset(rules), frozenset(wildcards), frozenset(exceptions)


_SCHEME = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//")


def host_of(url: str) -> str:
    """The host of `url`, as tldextract finds it: no scheme, credentials, port or trailing dot."""
    rest = _SCHEME.sub("", url.strip())
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    if host.startswith("["):
        return ""
    host = host.split(":")[0].replace("\u3002", ".").replace("\uff0e", ".").replace("\uff61", ".")
    return host.strip(".").lower()


def domain_parts(url: str) -> tuple[str, str]:
    """(registered domain, fully qualified domain), both "" when the host has no public suffix."""
    host = host_of(url)
    labels = host.split(".") if host else []
    rules, wildcards, exceptions = _public_suffixes()
    suffix_len = 0
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        if candidate in exceptions:
            suffix_len = len(labels) - i - 1
            break
        if candidate in rules:
            suffix_len = len(labels) - i
            break
        if i + 1 < len(labels) and ".".join(labels[i + 1 :]) in wildcards:
            suffix_len = len(labels) - i
            break
    if suffix_len == 0 or suffix_len >= len(labels) or not labels[-suffix_len - 1]:
        return "", ""
    return ".".join(labels[-suffix_len - 1 :]), host


@register("url_filter")
class URLFilter(BaseFilter, Block):
    """Drops documents whose URL is on the UT1 adult blocklist or contains banned words."""

    name = "😈 Url-filter"
    drop_reasons = {
        "domain": "the URL's registered domain is on the UT1 adult blocklist",
        "subdomain": "the URL's full host is on the blocklist",
        "url": "the URL itself is on the blocklist",
        "hard_blacklisted": "a banned word is a word of the URL",
        "soft_blacklisted": "soft_word_threshold or more soft-banned words are words of the URL",
        "blacklisted_subword": "a banned sub-word appears anywhere in the normalised URL",
    }

    def __init__(
        self, soft_word_threshold: int, use_integrated_lists: bool, batch_size: int = 1, exclusion_writer=None
    ):
        super().__init__(exclusion_writer)
        # datatrove's filter_batch decides one URL after another; batches only keep the blocklist in
        # the CPU caches (set after the base's init, which warns about batches without a filter_batch)
        self.batch_size = batch_size
        self.soft_word_threshold = soft_word_threshold
        self.use_integrated_lists = use_integrated_lists
        self.blocklist: HashedBlocklist | None = None  # None: the integrated list, loaded on first use
        self.banned_words = _word_list("banned_words.txt") if use_integrated_lists else frozenset()
        self.soft_banned_words = _word_list("soft_banned_words.txt") if use_integrated_lists else frozenset()
        subwords = sorted(_word_list("banned_subwords.txt") - {""}) if use_integrated_lists else []
        # one regex for all sub-words (datatrove uses an Aho-Corasick automaton: same matches)
        self.banned_subwords = re.compile("|".join(map(re.escape, subwords))) if subwords else None

    def setup_needed(self) -> str | None:
        if self.use_integrated_lists and self.blocklist is None and not HashedBlocklist.is_cached():
            return "building the URL blocklist cache (once per machine and datatrove install, ~40 s)"
        return None

    def setup(self) -> None:
        if self.use_integrated_lists:
            integrated_blocklist()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        url = doc.metadata.get("url")
        if not url:
            raise ValueError("URLFilter: document has no url in its metadata")
        if self.use_integrated_lists:
            blocklist = self.blocklist or integrated_blocklist()
            registered, fqdn = domain_parts(url)
            if blocklist.has_domain(registered):
                return False, "domain"
            if blocklist.has_domain(fqdn):
                return False, "subdomain"
            if blocklist.has_url(url):
                return False, "url"
        url_words = set(_NORMALIZER.split(url))
        if not url_words.isdisjoint(self.banned_words):
            return False, "hard_blacklisted"
        if len(url_words & self.soft_banned_words) >= self.soft_word_threshold:
            return False, "soft_blacklisted"
        if self.banned_subwords is not None and self.banned_subwords.search(normalize(url)):
            return False, "blacklisted_subword"
        return True
