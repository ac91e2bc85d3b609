"""Labelled texts for the AI-text detector: every corpus in ../shared/data/aitext, read the same way.

Each source has its own shape (prompt continuations that share their prompt with a human pair,
rewrites of human texts, answers with no human side, human-only web text), so reading normalises
them into `Row`s: label, generator, domain, source and a cluster that keeps a text and its
rewrites or continuations on the same side of every split. Shared prompts are cut, and lengths
are matched within pairs, so neither the prompt nor the length gives a text away.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from . import SHARED

MACHINE_LABELS = {"machine", "ai", "1", "generated", "llm"}
HUMAN_LABELS = {"human", "0"}
# a `source` of the form owner/repo:path -> the corpus's short name (domains are prefixed with it)
SOURCE_NAMES = {
    "scott-matkosky/AI_Text_Detector": "l2r",
    "Weixin-Liang/ChatGPT-Detector-Bias": "bias",
    "sherbold/chatgpt-student-essay-study": "herbold",
    "tatsu-lab/alpaca_eval": "alpaca",
}
# model name (lower case, by prefix) -> family: a held-out "generator" is a family, so that a model's
# other versions are not in training when it is held out
FAMILIES = (
    ("gpt-4o", "gpt-4o"),
    ("gpt-4", "gpt-4"),
    ("gpt-3.5", "gpt-3.5"),
    ("chatgpt-gpt4", "gpt-4"),
    ("chatgpt", "gpt-3.5"),
    ("text-davinci", "gpt-3 (davinci)"),
    ("davinci", "gpt-3 (davinci)"),
    ("gpt3", "gpt-3 (davinci)"),
    ("gpt-3", "gpt-3 (davinci)"),
    ("gpt2", "gpt-2"),
    ("gpt-2", "gpt-2"),
    ("gpt-neox", "gpt-neox"),
    ("neox", "gpt-neox"),
    ("gpt-neo", "gpt-neo"),
    ("gptneo", "gpt-neo"),
    ("gpt-j", "gpt-j"),
    ("gptj", "gpt-j"),
    ("opt", "opt"),
    ("claude", "claude"),
    ("gemini", "google"),
    ("gemma", "google"),
    ("llama-3", "llama-3"),
    ("llama-2", "llama-2"),
    ("llama", "llama-1"),
    ("mistral", "mistral"),
    ("mixtral", "mistral"),
    ("qwen", "qwen"),
    ("yi-", "yi"),
)


@dataclass
class Row:
    """One labelled text after prefix stripping; `y` is 1 for machine-generated."""

    text: str
    y: int
    generator: str
    domain: str
    source: str
    cluster: str
    pair_key: str | None

    @property
    def family(self) -> str:
        return generator_family(self.generator)


def generator_family(name: str) -> str:
    low = name.lower()
    if low == "human":
        return "human"
    for prefix, family in FAMILIES:
        if low.startswith(prefix):
            return family
    return "other open chat models"


def _label(raw) -> tuple[int, str | None]:
    s = str(raw).strip().lower()
    if s in HUMAN_LABELS:
        return 0, None
    if s in MACHINE_LABELS:
        return 1, None
    return 1, s  # SeqXGPT style: the label is the generator's name


def _read_jsonl(path: Path, source: str | None) -> list[dict]:
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                d.setdefault("source", source or path.stem)
                out.append(d)
    return out


def load_rows(
    paths: list[str], min_words: int, match_pair_length: bool = True, cap_per_generator: int | None = None
) -> list[Row]:
    """Read, label, strip shared prompts, assign clusters; drops texts shorter than `min_words`.

    `match_pair_length`: take length out of the data (see `_match_pair_lengths`).
    `cap_per_generator`: in a source without human texts, at most this many texts per generator, drawn
    by a hash of the text (the chat-model answers are 58 models x 260 answers: breadth matters more
    than depth, and there is no human side to pair them with).
    """
    raw: list[dict] = []
    for p in map(Path, paths):
        if str(p).startswith(WEB_PREFIX):
            raw += human_web_texts(str(p).removeprefix(WEB_PREFIX))
            continue
        files = sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
        for f in files:
            raw += _read_jsonl(f, p.name if p.is_dir() else None)
    rows = []
    for d in raw:
        y, gen_from_label = _label(d["label"])
        gen = "human" if y == 0 else str(d.get("generator") or gen_from_label or "unknown")
        source = _short_source(str(d["source"]))
        domain = str(d.get("domain") or source)
        if source in SOURCE_NAMES.values() or source == "web":
            domain = f"{source}:{domain}"
        rows.append(Row(d["text"], y, gen, domain, source, str(d.get("src_cluster") or ""), d.get("pair_key")))
    if cap_per_generator:
        rows = _capped(rows, cap_per_generator)
    _pair_by_prefix(rows)
    _strip_shared_prefixes(rows)
    _cluster_rewrites(rows)
    if match_pair_length:
        _match_pair_lengths(rows, min_words)
    for r in rows:
        if not r.cluster:
            r.cluster = r.pair_key or hashlib.sha1(r.text.encode()).hexdigest()[:12]
    return [r for r in rows if len(r.text.split()) >= min_words]


def _short_source(source: str) -> str:
    return SOURCE_NAMES.get(source.split(":", 1)[0], source)


def _capped(rows: list[Row], cap: int) -> list[Row]:
    """At most `cap` rows per (source, generator) in machine-only sources, the same ones on every run."""
    with_humans = {r.source for r in rows if r.y == 0}
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        if r.y == 1 and r.source not in with_humans:
            groups[(r.source, r.generator)].append(r)
    drop: set[int] = set()
    for members in groups.values():
        if len(members) > cap:
            members.sort(key=lambda r: hashlib.sha1(r.text.encode()).hexdigest())
            drop.update(id(r) for r in members[cap:])
    return [r for r in rows if id(r) not in drop]


_WORD = re.compile(r"[a-z]{4,}")


def _cluster_rewrites(rows: list[Row], min_jaccard: float = 0.15) -> None:
    """A machine text without a cluster that rewrites, polishes or answers about a human text of its
    domain (most word types shared) joins that human text's cluster, so the two never sit on opposite
    sides of a split (the rewrite corpora carry no pair key)."""
    humans: dict[tuple[str, str], list[tuple[Row, frozenset[str]]]] = defaultdict(list)
    for r in rows:
        if r.y == 0 and not r.pair_key and not r.cluster:
            humans[(r.source, r.domain)].append((r, frozenset(_WORD.findall(r.text.lower()))))
    for r in rows:
        if r.y == 0 or r.cluster or r.pair_key or not humans.get((r.source, r.domain)):
            continue
        words = frozenset(_WORD.findall(r.text.lower()))
        best, score = None, 0.0
        for h, hw in humans[(r.source, r.domain)]:
            j = len(words & hw) / max(len(words | hw), 1)
            if j > score:
                best, score = h, j
        if best is not None and score >= min_jaccard:
            if not best.cluster:
                best.cluster = "rw-" + hashlib.sha1(best.text.encode()).hexdigest()[:12]
            best.pair_key = best.pair_key or best.cluster  # a pair, for length matching
            r.cluster, r.pair_key = best.cluster, best.pair_key


# human text by date: web pages written before chat models existed (`--data web:aeb` etc.)
WEB_PREFIX = "web:"


def human_web_texts(which: str) -> list[dict]:
    """Pre-2022 human web text from ../shared: `aeb` (the 181 articles of the article-extraction
    benchmark, gold text) or `bench` (the English pages of trafilatura's test pages, extracted with
    the fineweb preset's trafilatura settings)."""
    if which == "aeb":
        truth = json.loads((SHARED / "data" / "extraction" / "aeb" / "ground-truth.json").read_text("utf-8"))
        return [
            {
                "text": v["articleBody"],
                "label": "human",
                "domain": "news_articles",
                "source": "web",
                "src_cluster": "aeb-" + k[:12],
            }
            for k, v in sorted(truth.items())
            if v.get("articleBody")
        ]
    if which == "bench":
        return _bench_page_texts()
    raise ValueError(f"unknown human web text {which!r}: use {WEB_PREFIX}aeb or {WEB_PREFIX}bench")


def _bench_page_texts() -> list[dict]:
    import tarfile

    from trafilatura import extract

    from ...filters.language import bundled_model_path, load_model
    from ...filters.presets import block_params

    params = block_params("fineweb", "extract")
    lid = load_model(bundled_model_path())
    out: list[dict] = []
    pages = []
    with tarfile.open(SHARED / "bench" / "trafilatura-pages.tar.xz") as tar:
        for member in tar:  # in archive order: an xz stream cannot seek back cheaply
            if member.isfile() and member.name.endswith((".html", ".htm", ".html.gz")):
                pages.append((member.name, tar.extractfile(member).read()))
    for name, raw in sorted(pages):
        if name.endswith(".gz"):
            raw = gzip.decompress(raw)
        text = extract(
            raw.decode("utf-8", "replace"),
            favor_precision=params["favour_precision"],
            include_comments=params["include_comments"],
        )
        if not text:
            continue
        labels, scores = lid.predict(text.replace("\n", " "), k=1)
        if labels[0] == "__label__en" and scores[0] > 0.65:
            cluster = "bench-" + hashlib.sha1(name.encode()).hexdigest()[:12]
            out.append(
                {"text": text, "label": "human", "domain": "bench_pages", "source": "web", "src_cluster": cluster}
            )
    return out


def _pair_by_prefix(rows: list[Row], n_chars: int = 40) -> None:
    """Rows without pair_key: a machine text starting like a human text of its source is its pair."""
    humans = {(r.source, r.text[:n_chars]): r for r in rows if r.y == 0 and r.pair_key is None}
    for r in rows:
        if r.pair_key is None and r.y == 1:
            h = humans.get((r.source, r.text[:n_chars]))
            if h is not None:
                key = "px-" + hashlib.sha1(h.text[:n_chars].encode()).hexdigest()[:12]
                h.pair_key = r.pair_key = key


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for ca, cb in zip(a, b, strict=False):
        if ca != cb:
            break
        n += 1
    if n < min(len(a), len(b)):  # back off to a word boundary
        cut = a.rfind(" ", 0, n)
        n = cut + 1 if cut >= 0 else 0
    return n


def _cut_words(text: str, n: int) -> str:
    """`text` up to the end of its n-th whitespace-separated word (the characters kept as they were)."""
    if n <= 0:
        return ""
    ends = [m.end() for m in itertools.islice(re.finditer(r"\S+", text), n)]
    return text[: ends[-1]] if len(ends) == n else text


def _match_pair_lengths(rows: list[Row], min_words: int) -> None:
    """Take text length out of the data: the corpora's lengths differ by construction (SeqXGPT's machine
    texts run to ~570 words against ~220 for its human ones, so length alone separates them at AUROC
    0.73), and longer texts give the features more evidence, so unmatched lengths would flatter the
    figures. Within a prompt pair, each machine text is cut to at most its human pair's length in words
    and the human text to at most the longest of its machine texts. A machine text without a human pair
    (SeqXGPT's are prompted differently) is cut to at most the length of a human text of its source
    drawn by a hash of the text (so its source's machine lengths follow the human ones)."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        if r.pair_key:
            groups[(r.source, r.pair_key)].append(r)
    paired: set[int] = set()
    for members in groups.values():
        humans = [r for r in members if r.y == 0]
        machines = [r for r in members if r.y == 1]
        if not humans or not machines:
            continue
        n_h = min(len(h.text.split()) for h in humans)
        longest = 0
        for m in machines:
            m.text = _cut_words(m.text, n_h)
            longest = max(longest, len(m.text.split()))
            paired.add(id(m))
        for h in humans:
            h.text = _cut_words(h.text, longest)
    human_lengths: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        n = len(r.text.split())
        if r.y == 0 and n >= min_words:
            human_lengths[r.source].append(n)
    for lengths in human_lengths.values():
        lengths.sort()
    for r in rows:
        lengths = human_lengths.get(r.source, [])
        if r.y == 1 and id(r) not in paired and lengths:
            pick = int(hashlib.sha1(r.text.encode()).hexdigest(), 16) % len(lengths)
            r.text = _cut_words(r.text, lengths[pick])


def _strip_shared_prefixes(rows: list[Row]) -> None:
    """Remove the prompt a machine text shares with its human pair, from both (same cut point)."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        if r.pair_key:
            groups[(r.source, r.pair_key)].append(r)
    for members in groups.values():
        humans = [r for r in members if r.y == 0]
        if not humans:
            continue
        human = humans[0]
        cut_h = 0
        for m in (r for r in members if r.y == 1):
            k = _common_prefix(m.text, human.text)
            m.text = m.text[k:].lstrip()
            cut_h = max(cut_h, k)
        for h in humans:
            h.text = h.text[cut_h:].lstrip()
