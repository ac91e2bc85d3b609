"""Machine-generated-text score: a small calibrated logistic model over signals that transfer.

Detectors trained on one generator's text break on the next one. The signals here are chosen because
they describe *how* text is written rather than *what* it is about, so they carry over to unseen
generators and domains better than n-gram classifiers: word-frequency statistics against a pre-LLM
reference (wordfreq's English table, bundled inside the model file), stylometry (sentence-length
variation, type-token ratio, punctuation and function-word rates, repetition) and a lexicon of
chat-model-overused vocabulary and boilerplate (Kobak et al. 2024). Everything runs on the shared
token split of `thresher.filters.text`; inference is plain Python + numpy.

The model file is an `.npz` (no pickle): standardisation, weights, Platt calibration, the threshold
that keeps 1 % false positives on held-out human text, the frequency table and the lexicon.
`thresher train ai-detector` (thresher.pipeline.ai_train) rebuilds it from labelled jsonl.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from thresher.filters.text import splits
from thresher.pipeline.config import FromPreset

BUNDLED_MODEL = "ai_detector.npz"
# strong chat boilerplate: a text containing one is scored at least this high (see the model card)
BOILERPLATE_FLOOR = 0.9

_SENT_END = frozenset({".", "!", "?", "…"})
_QUOTES = frozenset({'"', "“", "”", "«", "»", "„"})
_PUNCT_GROUPS: dict[str, frozenset[str]] = {
    "comma": frozenset({","}),
    "period": frozenset({"."}),
    "semicolon": frozenset({";"}),
    "colon": frozenset({":"}),
    "exclaim": frozenset({"!"}),
    "question": frozenset({"?"}),
    "quote": _QUOTES,
    "apostrophe": frozenset({"'", "’", "‘"}),
    "paren": frozenset({"(", ")", "[", "]"}),
    "hyphen": frozenset({"-"}),
    "dash": frozenset({"–", "—"}),
    "ellipsis": frozenset({"…"}),
    "slash": frozenset({"/"}),
}
_FUNCTION_WORDS = (
    "the", "of", "and", "to", "a", "in", "is", "that", "it", "for", "was", "on", "with", "as", "i",
    "he", "you", "this", "be", "by", "are", "at", "we", "they", "have", "not", "but", "or", "from",
    "his", "her", "she", "which", "their", "also", "can", "will", "would", "these", "its", "such",
    "more", "however", "there", "my", "an", "were", "has", "been",
)
_ZIPF_BINS = (2.0, 3.0, 4.0, 5.0, 6.0, 7.0)


def feature_names() -> list[str]:
    """Names of the feature vector, in order (the model file stores them and is checked against them)."""
    names = [
        "zipf_mean", "zipf_std", "oov_rate",
        *[f"zipf_bin_{i}" for i in range(len(_ZIPF_BINS) + 1)],
        "sentence_sent_std_zipf",
        "sent_len_log_mean", "sent_len_cv", "sent_len_log_std",
        "ttr_100", "trigram_repeat", "unigram_repeat_top",
        "word_len_mean", "word_len_std", "capitalised_rate", "allcaps_rate", "digit_rate",
        "contraction_rate", "newline_rate", "other_punct_rate",
        *[f"punct_{g}" for g in _PUNCT_GROUPS],
        *[f"fw_{w}" for w in _FUNCTION_WORDS],
        "lex_words_rate", "lex_phrases_rate",
    ]
    return names


@dataclass
class Lexicon:
    """Chat-model marker vocabulary: single words, style phrases and strong boilerplate."""

    words: frozenset[str]
    phrases: tuple[str, ...]
    boilerplate: tuple[str, ...]
    _phrase_re: re.Pattern | None = field(default=None, repr=False)
    _boiler_re: re.Pattern | None = field(default=None, repr=False)

    @classmethod
    def from_dict(cls, d: dict) -> Lexicon:
        lex = cls(frozenset(d["words"]), tuple(d["phrases"]), tuple(d["boilerplate"]))
        lex._phrase_re = _alternation(lex.phrases)
        lex._boiler_re = _alternation(lex.boilerplate)
        return lex

    def to_dict(self) -> dict:
        return {"words": sorted(self.words), "phrases": list(self.phrases), "boilerplate": list(self.boilerplate)}

    def find_phrases(self, lower_text: str) -> list[str]:
        return self._phrase_re.findall(lower_text) if self._phrase_re else []

    def find_boilerplate(self, lower_text: str) -> list[str]:
        return self._boiler_re.findall(lower_text) if self._boiler_re else []


def _alternation(phrases: tuple[str, ...]) -> re.Pattern | None:
    if not phrases:
        return None
    alts = sorted((re.escape(p).replace("'", "['’]") for p in phrases), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)")


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


class Featurizer:
    """Turns a text into the feature vector; needs the frequency table and the lexicon."""

    def __init__(self, zipf: dict[str, float], lexicon: Lexicon, stopwords: frozenset[str]):
        self.zipf = zipf
        self.lexicon = lexicon
        self.stopwords = stopwords
        self.n_features = len(feature_names())

    def extract(self, text: str, tokens: list[str] | None = None) -> Extracted:
        toks = splits(text).words if tokens is None else tokens
        counts = Counter(toks)
        words = [t.lower() for t in toks if t[0].isalpha()]
        nw = max(len(words), 1)
        ntok = max(len(toks), 1)
        wcounts = Counter(words)
        zget = self.zipf.get
        x: list[float] = []
        x += self._zipf_stats(wcounts, nw)
        x += self._sentence_stats(toks, zget)
        x += self._lexical_stats(words, wcounts, nw)
        x += self._shape_stats(toks, counts, wcounts, nw, ntok, text)
        x += [math.sqrt(sum(counts.get(p, 0) for p in g) / ntok) for g in _PUNCT_GROUPS.values()]
        x += [math.sqrt(wcounts.get(w, 0) / nw) for w in _FUNCTION_WORDS]
        lower = text.lower()
        markers = sorted(w for w in wcounts if w in self.lexicon.words)
        phrases = self.lexicon.find_phrases(lower)
        n_mark = sum(wcounts[w] for w in markers)
        x += [math.log1p(1000.0 * n_mark / nw), math.log1p(1000.0 * len(phrases) / nw)]
        english = sum(wcounts.get(w, 0) for w in self.stopwords) / nw
        evidence = markers + sorted(set(p.replace("’", "'") for p in phrases))
        boiler = sorted(set(b.replace("’", "'") for b in self.lexicon.find_boilerplate(lower)))
        return Extracted(np.asarray(x, dtype=np.float64), len(words), evidence, boiler, english)

    def _zipf_stats(self, wcounts: Counter, nw: int) -> list[float]:
        zget = self.zipf.get
        s = s2 = 0.0
        oov = 0
        bins = [0] * (len(_ZIPF_BINS) + 1)
        for w, c in wcounts.items():
            z = zget(w)
            if z is None:
                oov += c
                bins[0] += c
                continue
            s += z * c
            s2 += z * z * c
            bins[_bin(z)] += c
        known = max(nw - oov, 1)
        mean = s / known
        std = math.sqrt(max(s2 / known - mean * mean, 0.0))
        return [mean, std, oov / nw, *[b / nw for b in bins]]

    @staticmethod
    def _sentence_stats(toks: list[str], zget) -> list[float]:
        lengths: list[int] = []
        sent_means: list[float] = []
        n = 0
        zs = 0.0
        zn = 0
        for t in toks:
            if t in _SENT_END:
                if n:
                    lengths.append(n)
                    if zn:
                        sent_means.append(zs / zn)
                n = 0
                zs = 0.0
                zn = 0
            else:
                n += 1
                z = zget(t.lower())
                if z is not None:
                    zs += z
                    zn += 1
        if n:
            lengths.append(n)
        if not lengths:
            return [0.0, 0.0, 0.0, 0.0]
        arr = np.asarray(lengths, dtype=np.float64)
        logs = np.log(arr)
        mean = arr.mean()
        zstd = float(np.std(sent_means)) if len(sent_means) > 1 else 0.0
        return [zstd, float(logs.mean()), float(arr.std() / mean), float(logs.std())]

    @staticmethod
    def _lexical_stats(words: list[str], wcounts: Counter, nw: int) -> list[float]:
        # type-token ratio on fixed 100-word windows, so it does not depend on document length
        windows = [words[i : i + 100] for i in range(0, max(len(words) - 99, 1), 100)]
        ttr = sum(len(set(w)) / max(len(w), 1) for w in windows) / len(windows)
        trigrams = list(zip(words, words[1:], words[2:]))
        rep = 1.0 - len(set(trigrams)) / len(trigrams) if trigrams else 0.0
        top = max(wcounts.values()) / nw if wcounts else 0.0
        return [ttr, rep, top]

    @staticmethod
    def _shape_stats(toks, counts: Counter, wcounts: Counter, nw: int, ntok: int, text: str) -> list[float]:
        alpha = [t for t in counts if t[0].isalpha()]
        lens = np.fromiter((len(t) for t in alpha), dtype=np.float64, count=len(alpha))
        cnt = np.fromiter((counts[t] for t in alpha), dtype=np.float64, count=len(alpha))
        tot = max(cnt.sum(), 1.0)
        lmean = float((lens * cnt).sum() / tot) if len(alpha) else 0.0
        lstd = float(math.sqrt(max((lens * lens * cnt).sum() / tot - lmean * lmean, 0.0))) if len(alpha) else 0.0
        cap = sum(c for t, c in counts.items() if t[0].isupper()) / nw
        allcaps = sum(c for t, c in counts.items() if len(t) > 1 and t.isupper()) / nw
        digits = sum(c for t, c in counts.items() if t[0].isdigit()) / ntok
        contr = sum(c for w, c in wcounts.items() if "'" in w or "’" in w) / nw
        newline = text.count("\n") / nw
        other = sum(c for t, c in counts.items() if not t[0].isalnum() and t not in _ALL_PUNCT) / ntok
        return [
            lmean, lstd, cap, math.sqrt(allcaps), math.sqrt(digits), math.sqrt(contr),
            math.sqrt(newline), math.sqrt(other),
        ]


_ALL_PUNCT = frozenset().union(*_PUNCT_GROUPS.values())


def _bin(z: float) -> int:
    for i, edge in enumerate(_ZIPF_BINS):
        if z < edge:
            return i
    return len(_ZIPF_BINS)


@dataclass
class AIDetectorModel:
    """Standardised logistic model + Platt calibration + the stored 1 %-FPR threshold."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    platt_a: float
    platt_b: float
    featurizer: Featurizer
    meta: dict

    @property
    def languages(self) -> list[str]:
        return list(self.meta.get("languages", ["en"]))

    @property
    def threshold_1pct_fpr(self) -> float | None:
        return self.meta.get("threshold_1pct_fpr")

    def decision(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated log-odds for a (n, d) or (d,) feature array."""
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def calibrate(self, d: np.ndarray | float) -> np.ndarray | float:
        return 1.0 / (1.0 + np.exp(-(self.platt_a * d + self.platt_b)))

    def score_extracted(self, ex: Extracted) -> float:
        p = float(self.calibrate(float(self.decision(ex.x))))
        if ex.boilerplate:
            p = max(p, BOILERPLATE_FLOOR)
        return p

    def contributions(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale * self.coef

    def save(self, path: str | Path) -> None:
        fz = self.featurizer
        vocab = np.array(list(fz.zipf), dtype=np.str_)
        zipf = np.round(np.array(list(fz.zipf.values()), dtype=np.float32) * 100).astype(np.uint16)
        meta = dict(self.meta)
        meta["feature_names"] = feature_names()
        meta["lexicon"] = fz.lexicon.to_dict()
        meta["stopwords"] = sorted(fz.stopwords)
        np.savez_compressed(
            path, mean=self.mean, scale=self.scale, coef=self.coef,
            scalars=np.array([self.intercept, self.platt_a, self.platt_b]),
            vocab=vocab, zipf_x100=zipf, meta=np.array(json.dumps(meta, sort_keys=True)),
        )

    @classmethod
    def load(cls, path: str | Path | None = None) -> AIDetectorModel:
        if path is None:
            with resources.as_file(resources.files("thresher.filters").joinpath("models", BUNDLED_MODEL)) as p:
                return cls.load(p)
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("feature_names") != feature_names():
                raise ValueError(f"{path}: model was trained with other features; retrain it with this version")
            zipf = dict(zip(z["vocab"].tolist(), (z["zipf_x100"].astype(np.float64) / 100).tolist()))
            fz = Featurizer(zipf, Lexicon.from_dict(meta["lexicon"]), frozenset(meta["stopwords"]))
            intercept, a, b = z["scalars"].tolist()
            return cls(z["mean"], z["scale"], z["coef"], intercept, a, b, fz, meta)


_MODELS: dict[str | None, AIDetectorModel] = {}


def load_model(path: str | None = None) -> AIDetectorModel:
    """Load once per process (blocks are pickled to workers; the model is loaded lazily there)."""
    if path not in _MODELS:
        _MODELS[path] = AIDetectorModel.load(path)
    return _MODELS[path]


class AIGeneratedTextFilter(BaseFilter, FromPreset):
    """Writes `ai_score` (calibrated P(machine), null when not scorable) and `ai_evidence`; may drop.

    A document is scored only when its language is one the model was trained for (and one of
    `languages`): the language block's `language` metadata decides when present, otherwise a cheap
    stopword share. Documents shorter than `min_words` words get no score: too little evidence.
    `threshold` null annotates only; otherwise documents scoring above it are dropped.
    """

    name = "🤖 AI-text score"
    block = "ai_text"
    output_columns = {"ai_score": pa.float32(), "ai_evidence": pa.list_(pa.string())}

    def __init__(
        self,
        threshold: float | None,
        languages: list[str],
        min_words: int,
        model_path: str | None = None,
        min_english_share: float = 0.12,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.threshold = threshold
        self.languages = list(languages)
        self.min_words = min_words
        self.model_path = model_path
        self.min_english_share = min_english_share
        self._model: AIDetectorModel | None = None

    @property
    def model(self) -> AIDetectorModel:
        if self._model is None:
            self._model = load_model(self.model_path)
        return self._model

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    def _language_ok(self, doc: Document, ex: Extracted) -> bool:
        allowed = set(self.languages) & set(self.model.languages)
        lang = doc.metadata.get("language")
        if lang is not None:
            return str(lang).split("_")[0] in allowed
        # no language block ran: the bundled model is English-only, so a stopword share decides
        return "en" in allowed and ex.english_share >= self.min_english_share

    def annotate(self, doc: Document) -> float | None:
        """Score `doc` and write ai_score / ai_evidence into its metadata; returns the score."""
        model = self.model
        ex = model.featurizer.extract(doc.text)
        score: float | None = None
        evidence: list[str] = []
        if ex.n_words >= self.min_words and self._language_ok(doc, ex):
            score = model.score_extracted(ex)
            evidence = ex.boilerplate + ex.markers
        doc.metadata["ai_score"] = score
        doc.metadata["ai_evidence"] = evidence
        return score

    def score(self, text: str) -> float:
        """Calibrated probability that `text` is machine-generated (no language or length check)."""
        return self.model.score_extracted(self.model.featurizer.extract(text))

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        score = self.annotate(doc)
        if self.threshold is not None and score is not None and score > self.threshold:
            return False, "ai_generated"
        return True


def score(text: str, model_path: str | None = None) -> float:
    """Module-level convenience: calibrated P(machine-generated) of `text` with the given model."""
    model = load_model(model_path)
    return model.score_extracted(model.featurizer.extract(text))


def benchmark(n_docs: int = 200, model_path: str | None = None) -> dict:
    """CPU milliseconds per 1,000-word document, tokenisation included (`thresher bench` calls this).

    Documents are synthetic (words drawn from the model's frequency table by their frequency, in
    sentences of varied length), so the figure does not depend on `../shared`.
    """
    model = load_model(model_path)
    docs = _synthetic_docs(model, n_docs, 1000)
    fz = model.featurizer
    t0 = time.process_time()
    for d in docs:
        model.score_extracted(fz.extract(d, tokens=_fresh_tokens(d)))
    full = time.process_time() - t0
    toks = [splits(d).words for d in docs]
    t0 = time.process_time()
    for d, tk in zip(docs, toks):
        model.score_extracted(fz.extract(d, tokens=tk))
    shared = time.process_time() - t0
    return {
        "ms_per_1000_words": 1000.0 * full / len(docs),
        "ms_per_1000_words_tokens_shared": 1000.0 * shared / len(docs),
        "n_docs": len(docs),
    }


def _fresh_tokens(text: str) -> list[str]:
    from thresher.filters.text import TextSplits

    return TextSplits(text).words


def _synthetic_docs(model: AIDetectorModel, n_docs: int, n_words: int) -> list[str]:
    rng = np.random.default_rng(0)
    vocab = list(model.featurizer.zipf)[:20000]
    p = np.power(10.0, np.array([model.featurizer.zipf[w] for w in vocab]))
    p /= p.sum()
    docs = []
    for _ in range(n_docs):
        idx = rng.choice(len(vocab), size=n_words, p=p)
        out, k = [], 0
        while k < n_words:
            n = int(rng.integers(5, 35))
            sent = [vocab[i] for i in idx[k : k + n]]
            sent[0] = sent[0].capitalize()
            out.append(" ".join(sent) + rng.choice([".", ".", ".", "?", "!"]))
            k += n
        docs.append(" ".join(out))
    return docs
