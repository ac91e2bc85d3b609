"""The AI-text score's features: word frequencies against a pre-LLM reference, bigram likelihoods,
stylometry and a lexicon of chat-model vocabulary, from the shared token split of one document."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from itertools import repeat
from pathlib import Path

import numpy as np

from ..text import splits
from .symbols import (
    ALL_PUNCT,
    FUNCTION_WORDS,
    IS_END,
    N_SYM,
    PUNCT_GROUPS,
    SYM_WORDS,
    symbol_names,
)

_ZIPF_BINS = (2.0, 3.0, 4.0, 5.0, 6.0, 7.0)
_ZIPF_EDGES = np.asarray(_ZIPF_BINS)
_N_BINS = len(_ZIPF_BINS) + 1


def feature_names(sym_bigrams: np.ndarray | list[int] | None = None, lm: bool = False) -> list[str]:
    """Names of the feature vector, in order (the model file stores them and is checked against them).

    `sym_bigrams` are the ids of the symbol bigrams the model uses (chosen at training time); `lm`: the
    model has a reference bigram table (the pseudo-language-model features come last).
    """
    names = [
        "zipf_mean",
        "zipf_std",
        "oov_rate",
        *[f"zipf_bin_{i}" for i in range(len(_ZIPF_BINS) + 1)],
        "sent_len_log_mean",
        "sent_len_cv",
        "sent_len_log_std",
        "ttr_100",
        "trigram_repeat",
        "unigram_repeat_top",
        "word_len_mean",
        "word_len_std",
        "capitalised_rate",
        "allcaps_rate",
        "digit_rate",
        "contraction_rate",
        "other_punct_rate",
        *[f"punct_{g}" for g in PUNCT_GROUPS],
        *[f"fw_{w}" for w in FUNCTION_WORDS],
        "lex_words_rate",
        "lex_phrases_rate",
        "content_repeat_rate",
        "content_repeat_near",
        "sent_start_diversity",
    ]
    sym = symbol_names()
    chosen = [] if sym_bigrams is None else [int(b) for b in sym_bigrams]
    names += [f"sb_{sym[b // N_SYM]}_{sym[b % N_SYM]}" for b in chosen]
    return names + list(_LM_NAMES) if lm else names


@dataclass(frozen=True)
class Lexicon:
    """Chat-model marker vocabulary: single words, style phrases and strong boilerplate (lowercase)."""

    words: frozenset[str]
    phrases: tuple[str, ...]
    boilerplate: tuple[str, ...]

    @classmethod
    def from_dict(cls, d: dict) -> Lexicon:
        return cls(frozenset(d["words"]), tuple(d["phrases"]), tuple(d["boilerplate"]))

    def to_dict(self) -> dict:
        return {"words": sorted(self.words), "phrases": list(self.phrases), "boilerplate": list(self.boilerplate)}


def load_lexicon_file(path: str | Path | None = None) -> Lexicon:
    """The lexicon shipped in filters/data (used at training time; models carry their own copy)."""
    if path is None:
        text = resources.files("thresher.filters").joinpath("data/ai_lexicon.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return Lexicon.from_dict(json.loads(text))


@dataclass
class Extracted:
    """A document's feature vector plus the marker phrases that are its human-readable evidence."""

    x: np.ndarray
    n_words: int
    markers: list[str]
    boilerplate: list[str]
    english_share: float
    ft_text: str = ""


# the fastText classifier reads at most this many tokens (its cost grows with length; 95 % of the
# training texts are shorter)
FASTTEXT_MAX_TOKENS = 256


def fasttext_text(tokens: list[str]) -> str:
    """What the fastText classifier reads: the first FASTTEXT_MAX_TOKENS tokens of the word split,
    joined by single spaces, lowercased.

    Every run of whitespace becomes one space, so layout (newlines, which the training corpora kept
    for machine text only) can never be a signal.
    """
    return " ".join(tokens[:FASTTEXT_MAX_TOKENS]).lower()


# columns of the per-type property table
(
    _Z,
    _ALPHA,
    _UPPER,
    _ALLCAPS,
    _DIGIT,
    _CONTR,
    _OTHERP,
    _LEN,
    _PGROUP,
    _FW,
    _STOP,
    _MARK,
    _SYM,
    _VID,
    _PKEY,
    _BKEY,
    _CONTENT,
    _LU,
    _PUW,
) = range(19)
_N_PROPS = 19
# the per-process type table is cleared when it would pass this many types (~40 MB of float64)
_TYPE_CACHE_MAX = 300_000
# the features read the first MAX_TOKENS tokens of a document: they are rates, means and quantiles, settled
# by then (99 % of the training texts are shorter), and the cost grows with the tokens read
MAX_TOKENS = 512
# interpolation weight of the reference bigram model against the unigram one (per-token surprisal)
_LM_LAMBDA = 0.3
# unigram probability (log10) of a word outside the frequency table
_LM_UNK_LOG10 = -7.0


@dataclass(frozen=True)
class BigramTable:
    """Reference word-bigram model from pre-LLM text: P(w2 | w1) of frequent bigrams, and the rank of w2
    among the continuations of w1 (1 = most frequent). Word ids index the frequency table's vocabulary.

    Built from the bigram list shipped with symspellpy (Google Books n-gram counts of 242k common English
    bigrams, pre-2019 books); bundled inside the model file.
    """

    keys: np.ndarray  # int64, sorted: id1 * (vocab_size + 1) + id2 (so id vocab_size, "not a word", never hits)
    log10_p: np.ndarray  # float64: log10 P(w2 | w1)
    rank: np.ndarray  # int64
    vocab_size: int

    def __post_init__(self):
        # compact copies for inference (cache misses dominate the lookup): int32 keys (id1 * 40,001 + id2
        # fits), float32 terms, and per bigram 0.3 P(w2|w1) and the rank bucket (1 / 2-5 / 6-25 / more)
        fits = self.stride * self.stride < 2**31
        object.__setattr__(self, "keys_c", self.keys.astype(np.int32 if fits else np.int64))
        object.__setattr__(self, "log10_p_c", self.log10_p.astype(np.float32))
        object.__setattr__(self, "lam_p", (_LM_LAMBDA * np.power(10.0, self.log10_p)).astype(np.float32))
        bucket = np.searchsorted(np.array([1, 5, 25]), self.rank, side="left").astype(np.uint8)
        object.__setattr__(self, "bucket", bucket)

    @property
    def stride(self) -> int:
        return self.vocab_size + 1

    @classmethod
    def from_counts(cls, vocab: list[str], unigram: dict[str, int], bigrams: list[tuple[str, str, int]]) -> BigramTable:
        """`unigram`/`bigrams`: counts from one reference corpus; only bigrams of two `vocab` words are kept
        (ranks are taken over every continuation in `bigrams`)."""
        by_first: dict[str, list[tuple[int, str]]] = {}
        for a, b, c in bigrams:
            by_first.setdefault(a, []).append((c, b))
        scored = []
        for a, conts in by_first.items():
            if a in unigram:
                conts.sort(key=lambda cb: (-cb[0], cb[1]))
                scored += [(a, b, math.log10(c) - math.log10(unigram[a]), r) for r, (c, b) in enumerate(conts, 1)]
        return cls.from_scored(vocab, scored)

    @classmethod
    def from_scored(cls, vocab: list[str], scored: list[tuple[str, str, float, int]]) -> BigramTable:
        """From (w1, w2, log10 P(w2|w1), rank) entries; those with a word outside `vocab` are dropped."""
        vid = {w: i for i, w in enumerate(vocab)}
        kept = [(vid[a] * (len(vocab) + 1) + vid[b], lp, r) for a, b, lp, r in scored if a in vid and b in vid]
        keys = np.asarray([k for k, _, _ in kept], dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        return cls(
            keys[order],
            np.minimum(np.asarray([lp for _, lp, _ in kept], dtype=np.float64), 0.0)[order],
            np.asarray([r for _, _, r in kept], dtype=np.int64)[order],
            len(vocab),
        )

    def scored(self, vocab: list[str]) -> list[tuple[str, str, float, int]]:
        """The entries back as words (`vocab`: the vocabulary the ids index)."""
        a, b = self.keys // self.stride, self.keys % self.stride
        return [
            (vocab[i], vocab[j], lp, r)
            for i, j, lp, r in zip(a.tolist(), b.tolist(), self.log10_p.tolist(), self.rank.tolist(), strict=True)
        ]

    def to_arrays(self) -> dict[str, np.ndarray]:
        ids = np.uint16 if self.vocab_size <= 65536 else np.uint32
        return {
            "bg_id1": (self.keys // self.stride).astype(ids),
            "bg_id2": (self.keys % self.stride).astype(ids),
            "bg_lp_x100": np.round(-self.log10_p * 100).astype(np.uint16),
            "bg_rank": np.minimum(self.rank, 65535).astype(np.uint16),
        }

    @classmethod
    def from_arrays(cls, z, vocab_size: int) -> BigramTable:
        keys = z["bg_id1"].astype(np.int64) * (vocab_size + 1) + z["bg_id2"].astype(np.int64)
        return cls(keys, -z["bg_lp_x100"].astype(np.float64) / 100, z["bg_rank"].astype(np.int64), vocab_size)


class Featurizer:
    """Turns a text into the feature vector; needs the frequency table, the lexicon and the bigram table.

    Cost matters (web scale, 1 ms per 1,000 words): the properties of each token *type* (frequency,
    shape, punctuation group, function word, marker, vocabulary id) are computed once per process and
    kept in a table, so a document costs one dict lookup per token plus vectorised numpy work.
    """

    def __init__(
        self,
        zipf: dict[str, float],
        lexicon: Lexicon,
        stopwords: frozenset[str],
        sym_bigrams=None,
        bigrams: BigramTable | None = None,
    ):
        self.zipf = zipf
        self.sym_bigrams = np.asarray(sym_bigrams if sym_bigrams is not None else [], dtype=np.int64)
        self.bigrams = bigrams
        self._vid = {w: i for i, w in enumerate(zipf)}
        self._symw = {w: i for i, w in enumerate(SYM_WORDS)}
        self.lexicon = lexicon
        self.stopwords = stopwords
        self._pgroup = {p: i for i, g in enumerate(PUNCT_GROUPS.values()) for p in g}
        self._fw = {w: i for i, w in enumerate(FUNCTION_WORDS)}
        self._phrases = _phrase_index(lexicon.phrases, self.zipf)
        self._boiler = _phrase_index(lexicon.boilerplate, self.zipf)
        self._reset_cache()

    def _reset_cache(self) -> None:
        self._ids: dict[str, int] = {}
        self._types: list[str] = []
        self._props = np.zeros((1024, _N_PROPS), dtype=np.float64)

    def _type_props(self, t: str) -> tuple:
        low = t.lower()
        norm = low.replace("\u2019", "'")
        c = t[0]
        alpha = c.isalpha()
        z = self.zipf.get(low, -1.0) if alpha else -1.0
        lu = z - 9.0 if z >= 0 else _LM_UNK_LOG10  # log10 unigram probability
        return (
            z,
            alpha,
            c.isupper(),
            len(t) > 1 and t.isupper(),
            c.isdigit(),
            alpha and ("'" in t or "\u2019" in t),
            not c.isalnum() and c != "_" and t not in ALL_PUNCT,
            len(t),
            self._pgroup.get(t, -1),
            self._fw.get(low, -1),
            low in self.stopwords,
            low in self.lexicon.words,
            self._symbol(t, low),
            self._vid.get(low, len(self._vid)) if alpha else len(self._vid),
            norm in self._phrases,
            norm in self._boiler,
            alpha and z < 5.0,
            lu,
            (1.0 - _LM_LAMBDA) * 10.0**lu,
        )

    def _symbol(self, t: str, low: str) -> int:
        i = self._symw.get(low)
        if i is not None:
            return i
        g = self._pgroup.get(t)
        base = len(SYM_WORDS)
        if g is not None:
            return base + g
        c = t[0]
        k = 0 if c.isupper() else 1 if c.isalpha() else 2 if c.isdigit() else 3
        return base + 13 + k

    def token_ids(self, toks: list[str]) -> np.ndarray:
        """Row of every token in the per-process type table (new types are added)."""
        get = self._ids.get
        tid = np.fromiter(map(get, toks, repeat(-1)), dtype=np.int64, count=len(toks))
        if len(tid) and tid.min() < 0:
            new = dict.fromkeys(toks[k] for k in np.flatnonzero(tid < 0).tolist())  # in order of arrival
            if len(self._ids) + len(new) > _TYPE_CACHE_MAX:
                self._reset_cache()
                new = dict.fromkeys(toks)
            for t in new:
                self._add(t)
            tid = np.fromiter(map(self._ids.__getitem__, toks), dtype=np.int64, count=len(toks))
        return tid

    def symbol_bigram_counts(self, toks: list[str]) -> np.ndarray:
        """Counts of all symbol bigrams of `toks` (length N_SYM**2)."""
        tid = self.token_ids(toks)  # first: it may grow (replace) the table
        sym = self._props[tid, _SYM].astype(np.int64)
        return np.bincount(sym[:-1] * N_SYM + sym[1:], minlength=N_SYM * N_SYM)

    def _add(self, t: str) -> int:
        i = len(self._ids)
        if i >= len(self._props):
            self._props = np.vstack([self._props, np.zeros_like(self._props)])
        self._props[i] = self._type_props(t)
        self._ids[t] = i
        self._types.append(t)
        return i

    def _found(self, index: dict, flag: int, tid: np.ndarray, col: np.ndarray, toks: list[str]) -> list[str]:
        """Phrases of `index` in the token sequence (one hit per occurrence, sorted): looked for only where
        a token is the phrase's rarest word, and compared token by token (lowercased, ’ as '), so
        neither layout nor word boundaries can fool it."""
        hits: list[str] = []
        pos = np.flatnonzero(col[:, flag] > 0)
        if not len(pos):
            return hits
        n = len(toks)
        for p in pos.tolist():
            for phrase, ptoks, off in index[self._types[tid[p]].lower().replace("\u2019", "'")]:
                s = p - off
                if (
                    s >= 0
                    and s + len(ptoks) <= n
                    and all(toks[s + j].lower().replace("\u2019", "'") == w for j, w in enumerate(ptoks))
                ):
                    hits.append(phrase)
        return hits

    def extract(self, text: str, tokens: list[str] | None = None) -> Extracted:
        toks = splits(text).first_words(MAX_TOKENS) if tokens is None else tokens[:MAX_TOKENS]
        tid = self.token_ids(toks)
        uniq, first, cnt_i = np.unique(tid, return_index=True, return_counts=True)
        # types in order of first occurrence, not of table id: the sums below then add in the same order
        # however the table was filled (its ids depend on earlier documents and on set order)
        order = np.argsort(first)
        uniq, cnt_i = uniq[order], cnt_i[order]
        cnt = cnt_i.astype(np.float64)
        P = self._props[uniq]
        T = self._props[tid]  # per-token properties
        alpha = P[:, _ALPHA] > 0
        nw = max(float(cnt[alpha].sum()), 1.0)
        ntok = max(float(cnt.sum()), 1.0)
        sym = T[:, _SYM].astype(np.int64)
        x: list[float] = []
        x += _zipf_stats(P, cnt, alpha, nw)
        x += _sentence_stats(sym)
        x += _lexical_stats(tid, cnt, alpha, nw)
        x += _shape_stats(P, cnt, alpha, nw, ntok)
        x += np.sqrt(_grouped(P[:, _PGROUP], cnt, len(PUNCT_GROUPS)) / ntok).tolist()
        x += np.sqrt(_grouped(P[:, _FW], cnt, len(FUNCTION_WORDS)) / nw).tolist()
        mark = P[:, _MARK] > 0
        markers = sorted({self._types[i].lower() for i in uniq[mark].tolist()})
        phrase_hits = self._found(self._phrases, _PKEY, tid, T, toks)
        x += [math.log1p(1000.0 * float(cnt[mark].sum()) / nw), math.log1p(1000.0 * len(phrase_hits) / nw)]
        x += _burstiness(T, tid, sym, nw)
        english = float(cnt[P[:, _STOP] > 0].sum()) / nw
        boiler = sorted(set(self._found(self._boiler, _BKEY, tid, T, toks)))
        if len(self.sym_bigrams):
            bc = np.bincount(sym[:-1] * N_SYM + sym[1:], minlength=N_SYM * N_SYM)
            x += np.sqrt(bc[self.sym_bigrams] / max(len(toks) - 1, 1)).tolist()
        if self.bigrams is not None:
            x += _lm_stats(self.bigrams, T, IS_END[sym])
        return Extracted(
            np.asarray(x, dtype=np.float64),
            int(nw),
            markers + sorted(set(phrase_hits)),
            boiler,
            english,
            fasttext_text(toks),
        )


def _phrase_index(phrases: tuple[str, ...], zipf: dict[str, float]) -> dict[str, list[tuple[str, tuple, int]]]:
    """Rarest word of each phrase (lowercase, ’ as ') -> [(phrase, its tokens, position of that word)]."""
    out: dict[str, list[tuple[str, tuple, int]]] = {}
    for p in phrases:
        ptoks = tuple(w.lower().replace("\u2019", "'") for w in splits(p).words)
        words = [(i, w) for i, w in enumerate(ptoks) if w[0].isalpha()] or list(enumerate(ptoks))
        off, key = min(words, key=lambda iw: zipf.get(iw[1], -1.0))
        out.setdefault(key, []).append((p, ptoks, off))
    return out


def _grouped(ids: np.ndarray, cnt: np.ndarray, n: int) -> np.ndarray:
    m = ids >= 0
    return np.bincount(ids[m].astype(np.int64), weights=cnt[m], minlength=n)


def _zipf_stats(P: np.ndarray, cnt: np.ndarray, alpha: np.ndarray, nw: float) -> list[float]:
    z = P[:, _Z]
    known = alpha & (z >= 0)
    oov = float(cnt[alpha & (z < 0)].sum())
    kc = cnt[known]
    kz = z[known]
    tot = max(float(kc.sum()), 1.0)
    mean = float((kz * kc).sum() / tot)
    std = math.sqrt(max(float((kz * kz * kc).sum() / tot) - mean * mean, 0.0))
    bins = np.bincount(np.searchsorted(_ZIPF_EDGES, kz, side="right"), weights=kc, minlength=_N_BINS)
    bins[0] += oov
    return [mean, std, oov / nw, *(bins / nw).tolist()]


def _sentence_stats(sym: np.ndarray) -> list[float]:
    """Sentence lengths (tokens between . ! ? …), from the per-token symbol ids."""
    ends = np.flatnonzero(IS_END[sym]).tolist()
    if not ends or ends[-1] != len(sym) - 1:
        ends.append(len(sym))
    lengths = np.diff(np.asarray([-1, *ends], dtype=np.float64)) - 1
    lengths = lengths[lengths > 0]
    if len(lengths) == 0:
        return [0.0, 0.0, 0.0]
    logs = np.log(lengths)
    return [float(_mean(logs)), float(_std(lengths) / _mean(lengths)), float(_std(logs))]


def _burstiness(T: np.ndarray, tid: np.ndarray, sym: np.ndarray, nw: float) -> list[float]:
    """Repetition of content words (alphabetic, Zipf < 5 or unknown): repeated occurrences per word,
    the share of repeats within 20 tokens of the previous occurrence, and how varied the first tokens
    of sentences are (distinct first tokens / sentences)."""
    content = np.flatnonzero(T[:, _CONTENT] > 0)
    t = tid[content]
    order = np.argsort(t, kind="stable")
    same = t[order][1:] == t[order][:-1]
    gaps = np.diff(content[order])[same]
    n_rep = len(gaps)
    near = float((gaps <= 20).sum()) / n_rep if n_rep else 0.0
    ends = np.flatnonzero(IS_END[sym]) + 1
    starts = np.concatenate(([0], ends[ends < len(sym)])) if len(sym) else ends[:0]
    div = len(set(tid[starts].tolist())) / len(starts) if len(starts) else 0.0
    return [n_rep / nw, near, div]


def _lm_stats(bg: BigramTable, T: np.ndarray, isend: np.ndarray) -> list[float]:
    """Pseudo-language-model features against the pre-LLM reference (bigram table + unigram frequencies).

    Over adjacent word pairs: share found among common bigrams, their mean log10 P(w2|w1) and PMI, and
    the share whose second word is the 1st / top-5 / top-25 continuation of the first (GLTR's rank
    buckets). Per word: surprisal -log10(0.3 P(w|prev) + 0.7 P(w)), its mean, std, quartiles, mean
    absolute change between neighbours, and the spread of its per-sentence means (burstiness)."""
    n = len(T)
    if n < 3:
        return [0.0] * len(_LM_NAMES)
    vid = T[:, _VID]
    keys = bg.keys_c
    k = (vid[:-1] * bg.stride + vid[1:]).astype(keys.dtype)
    pos = np.searchsorted(keys, k)
    pos[pos == len(keys)] = 0
    hit = keys[pos] == k
    al = T[:, _ALPHA] > 0
    m = al[1:]
    ne = max(float(np.count_nonzero(al[:-1] & m)), 1.0)
    ph = pos[hit]
    nh = len(ph)
    pb = T[1:, _PUW].copy()
    if nh:
        lp = float(bg.log10_p_c[ph].mean(dtype=np.float64))
        out = [nh / ne, lp, lp - _mean(T[1:, _LU][hit]), *(np.bincount(bg.bucket[ph], minlength=4)[:3].cumsum() / ne)]
        pb[hit] += bg.lam_p[ph]
    else:
        out = [0.0] * 6
    s = -np.log10(pb[m])
    ns = len(s)
    if ns < 2:
        return out + [0.0] * (len(_LM_NAMES) - len(out))
    srt = np.sort(s)
    q = [float(srt[int(round(f * (ns - 1)))]) for f in (0.1, 0.25, 0.5, 0.75)]
    sid = np.cumsum(isend[:-1])[m]
    c = np.bincount(sid)
    ok = c >= 3
    sm = np.bincount(sid, weights=s)[ok] / c[ok]
    spread = [_std(sm), float(sm.max() - sm.min())] if len(sm) > 1 else [0.0, 0.0]
    return out + [_mean(s), _std(s), *q, float(np.abs(np.diff(s)).mean()), *spread]


_LM_NAMES = (
    "lm_bigram_hit",
    "lm_bigram_log10p",
    "lm_bigram_pmi",
    "lm_rank1",
    "lm_rank5",
    "lm_rank25",
    "lm_surprisal_mean",
    "lm_surprisal_std",
    "lm_surprisal_q10",
    "lm_surprisal_q25",
    "lm_surprisal_q50",
    "lm_surprisal_q75",
    "lm_surprisal_absdiff",
    "lm_sentence_std",
    "lm_sentence_range",
)


def _mean(a: np.ndarray) -> float:
    return float(np.add.reduce(a)) / len(a)


def _std(a: np.ndarray) -> float:
    """Population std like np.std, without its per-call overhead."""
    d = a - _mean(a)
    return math.sqrt(float(np.dot(d, d)) / len(a))


def _lexical_stats(tid: np.ndarray, cnt: np.ndarray, alpha: np.ndarray, nw: float) -> list[float]:
    # type-token ratio on up to 5 windows of 100 tokens and trigram repetition in the first 400 tokens:
    # fixed sizes, so neither depends on document length (nor does the cost)
    n = len(tid)
    head = tid[:500].tolist()
    windows = [head[i : i + 100] for i in range(0, min(max(n - 99, 1), 500), 100)]
    ttr = sum(len(set(w)) / max(len(w), 1) for w in windows) / len(windows)
    h = tid[:400]
    m = len(h)
    k = _TYPE_CACHE_MAX + 1
    rep = 1.0 - len(set(((h[:-2] * k + h[1:-1]) * k + h[2:]).tolist())) / (m - 2) if m > 2 else 0.0
    top = float(cnt[alpha].max()) / nw if alpha.any() else 0.0
    return [ttr, rep, top]


def _shape_stats(P: np.ndarray, cnt: np.ndarray, alpha: np.ndarray, nw: float, ntok: float) -> list[float]:
    ac = cnt[alpha]
    al = P[alpha, _LEN]
    tot = max(float(ac.sum()), 1.0)
    lmean = float((al * ac).sum() / tot)
    lstd = math.sqrt(max(float((al * al * ac).sum() / tot) - lmean * lmean, 0.0))

    def share(col: int) -> float:
        return float(cnt[P[:, col] > 0].sum())

    return [
        lmean,
        lstd,
        share(_UPPER) / nw,
        math.sqrt(share(_ALLCAPS) / nw),
        math.sqrt(share(_DIGIT) / ntok),
        math.sqrt(share(_CONTR) / nw),
        math.sqrt(share(_OTHERP) / ntok),
    ]
