"""MinHash signatures of a batch of documents, with numpy: datasketch's values at a fraction of the cost.

Shingles are word n-grams of the shared word splits (lower-cased, punctuation dropped), hashed to
32 bits; the permutations are datasketch's `affine32` for the seed; each band of rows becomes one
64-bit band key. Documents are keyed by a stable 64-bit hash of their id, never by position.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np

from ...filters.text import splits
from .params import MinhashParams

U64 = np.uint64
_M64 = (1 << 64) - 1
# odd 64-bit multipliers for the position of a word inside its shingle (from splitmix64 / xxh64)
_POS_MULT = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5]
    + [(0x9E3779B97F4A7C15 * (2 * i + 11)) & _M64 | 1 for i in range(59)],
    dtype=U64,
)
DATE_MISSING = np.iinfo(np.int64).max


def h64(text: str) -> int:
    """Stable 64-bit hash of a string (blake2b), the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


_word_hash = lru_cache(maxsize=1 << 20)(h64)


def _fmix64(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> U64(33))
    x = x * U64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> U64(33))
    x = x * U64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> U64(33))


def _fmix32(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, exactly as datasketch's affine32 scheme pre-mixes."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x85EBCA6B)
    x = x ^ (x >> np.uint32(13))
    x = x * np.uint32(0xC2B2AE35)
    return x ^ (x >> np.uint32(16))


def normalised_words(text: str) -> list[str]:
    """Lower-cased words of the shared word splits, punctuation tokens dropped."""
    return [w.lower() for w in splits(text).words if w[0].isalnum() or w[0] == "_"]


def fineweb2_words(text: str, label: str | None) -> list[str]:
    """FineWeb-2's MinHash words: the language's tokenizer on datatrove's simplify_text (lower case, digits
    to 0, punctuation to spaces, accents dropped), as its MinhashDedupSignature(language=...) splits them;
    the quick split for a document without a known language."""
    from datatrove.utils.text import simplify_text

    from ...filters.fineweb2.words import assignments, language_words

    if label not in assignments():
        return normalised_words(text)
    return language_words(simplify_text(text), label).words


def language_salt(labels: list[str | None]) -> np.ndarray:
    """A 64-bit key per document's language: mixed into its band keys, it keeps languages apart."""
    return np.fromiter((h64(f"language:{label}") for label in labels), dtype=U64, count=len(labels))


def salted(band_keys: np.ndarray, salt: np.ndarray) -> np.ndarray:
    """Band keys (documents x bands) made distinct per language."""
    return _fmix64(band_keys ^ salt[:, None])


def date_key(value) -> int:
    """warc_date -> microseconds since the epoch (UTC); missing or unparsable dates sort last."""
    if not value:
        return int(DATE_MISSING)
    try:
        dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return int(DATE_MISSING)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's `MinHash(num_perm, seed, scheme="affine32").permutations` (a odd, b any, as
    uint32), drawn here because importing datasketch pulls in scipy: 0.3 s in every run's start.
    tests/test_dedup.py checks that both are equal."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


class MinHasher:
    """Batched MinHash signatures equal to datasketch's `MinHash(num_perm, seed, scheme="affine32")`
    fed the same 32-bit shingle hashes (see `shingle_hashes`), at a fraction of the cost."""

    def __init__(self, params: MinhashParams):
        self.ngram, self.bands, self.rows = params.ngram, params.bands, params.rows
        self.num_perm = params.num_perm
        a, b = affine32_permutations(self.num_perm, params.seed)
        self.a = a[:, None]
        self.b = b[:, None]
        rng = np.random.RandomState(params.seed)
        self.band_seeds = rng.randint(0, 1 << 63, size=params.bands + 1, dtype=np.int64).astype(U64)

    def shingle_hashes(self, words: list[str]) -> np.ndarray:
        """32-bit hashes of the word n-grams of one document (a shorter document is one shingle)."""
        return self.batch_shingles([words])[0]

    def batch_shingles(self, docs_words: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """All shingle hashes of a batch (uint32) and the index of each document's first shingle."""
        n = self.ngram
        lens = np.fromiter((len(w) for w in docs_words), dtype=np.int64, count=len(docs_words))
        flat = [w for words in docs_words for w in words]
        wh = np.fromiter(map(_word_hash, flat), dtype=U64, count=len(flat))
        starts_word = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=starts_word[1:])
        # documents with >= n words: every window of n words; shorter (non-empty) ones: one window
        # over all their words, padded with zero hashes (never crosses into the next document)
        counts = np.where(lens >= n, lens - n + 1, np.minimum(lens, 1))
        total = int(counts.sum())
        first = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(counts, out=first[1:])
        win_start = np.repeat(starts_word[:-1] - first[:-1], counts) + np.arange(total, dtype=np.int64)
        win_len = np.repeat(np.minimum(lens, n), counts)
        padded = np.concatenate([wh, np.zeros(n, dtype=U64)])
        acc = np.zeros(total, dtype=U64)
        for k in range(n):
            part = padded[win_start + k] * _POS_MULT[k]
            acc += np.where(win_len > k, part, U64(0))
        acc = _fmix64(acc ^ (win_len.astype(U64) * U64(0x9E3779B97F4A7C15)))
        return (acc >> U64(32)).astype(np.uint32), first

    def signatures(self, docs_words: list[list[str]], chunk: int = 32768) -> np.ndarray:
        """(n_docs, bands*rows) uint32 signatures; documents without words get all-max values."""
        sh, first = self.batch_shingles(docs_words)
        out = np.full((len(docs_words), self.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        has = first[1:] > first[:-1]
        doc_idx = np.nonzero(has)[0]
        if not len(doc_idx):
            return out
        hv = _fmix32(sh)
        # process whole documents in chunks of ~`chunk` shingles to bound the temporary matrix
        seg_starts = first[doc_idx]
        seg_ends = first[doc_idx + 1]
        i = 0
        while i < len(doc_idx):
            j = int(np.searchsorted(seg_ends, seg_starts[i] + chunk, "right"))
            j = max(j, i + 1)
            lo, hi = int(seg_starts[i]), int(seg_ends[j - 1])
            phv = self.a * hv[None, lo:hi] + self.b  # (num_perm, shingles): reduce along rows
            out[doc_idx[i:j]] = np.minimum.reduceat(phv, seg_starts[i:j] - lo, axis=1).T
            i = j
        return out

    def band_keys(self, sigs: np.ndarray) -> np.ndarray:
        """(n_docs, bands) 64-bit keys: a hash of each band's rows and of the band's index."""
        v = sigs.reshape(len(sigs), self.bands, self.rows).astype(U64)
        h = np.broadcast_to(self.band_seeds[: self.bands], (len(sigs), self.bands)).copy()
        for r in range(self.rows):
            h = _fmix64(h ^ (v[:, :, r] * _POS_MULT[r % len(_POS_MULT)]))
        return h

    def exact_keys(self, exact: np.ndarray) -> np.ndarray:
        return _fmix64(exact.astype(U64) ^ self.band_seeds[self.bands])
