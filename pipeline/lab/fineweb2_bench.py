"""`thresher bench --fineweb2`: the fineweb2 preset's per-language filtering against datatrove's own.

Both sides get the same documents: the inputs' pages, extracted and labelled once by the preset's own
first blocks (url_filter, extract, fineweb2_language with every score kept), plus, for languages with
fewer than `min_docs` pages, documents made of lingua's test sentences (3-30 sentences each, labelled
with their file's language, score 1.0). Per language, datatrove's FineWeb-2 steps
(`fineweb2_datatrove`) and the preset's blocks (the language-score decision, the three quality blocks,
ftfy, pii, symbol_lines, built from the preset as a run builds them) run in this process one after the
other, `repeat` times each, on copies of the documents; CPU time of the fastest run of each, thresher's
caches emptied before each of its runs (every run starts cold). Reported per language: same keep/drop,
same step and reason, same final text, documents/s of each and the ratio. Extraction, language ID and
dedup are the same work on both sides (or corpus-level) and are not in the comparison.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import random
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from ...filters.fineweb2 import tokenizers as fw2_tokenizers
from ...filters.fineweb2 import words as fw2_words
from ...filters.fineweb2.configs import open_configs
from ...filters.fineweb2.labels import LID176_TO_ISO3, dominant_script
from ...filters.presets import block_params, preset_path, read_preset
from . import SHARED
from .fineweb2_datatrove import DropRecorder, run_datatrove, run_steps

TARGETS = {"agreement": 0.99, "speedup": 2.0, "min_docs": 50}
CACHE_VERSION = 1
# lingua files whose code is not a lid.176 label
LINGUA_EXTRA = {"nb": "nob", "lg": "lug", "mi": "mri", "sn": "sna", "st": "sot", "tn": "tsn", "ts": "tso"}
LINGUA_EXTRA |= {"xh": "xho", "zu": "zul"}
# the preset's blocks after dedup that decide or rewrite a document, and the reference step each matches
COMPARED = {
    "fineweb2_gopher_repetition": "gopher_repetition",
    "fineweb2_fineweb_quality": "fineweb_quality",
    "fineweb2_gopher_quality": "gopher_quality",
    "ftfy": None,
    "pii": None,
    "symbol_lines": None,
}


# --- the documents ----------------------------------------------------------------------------------


def extraction_preset(path: str, preset: str = "fineweb2") -> str:
    """A preset file: `preset`'s blocks up to its language block, every language score kept."""
    steps = [name for name, _ in read_preset(preset)["pipeline"]]
    after = steps[steps.index("fineweb2_language") + 1 :]
    spec = {
        "extends": os.path.abspath(preset_path(preset)),
        "remove": ["consent"] + after,
        "override": {"fineweb2_language": {"min_score": 0.0}},
        "output": {"write_removed": False},
    }
    with open(path, "w") as f:
        json.dump(spec, f)
    return path


def page_documents(files: list[str], cache_dir: str, workers: int, log: Callable[[str], None]) -> list[Document]:
    """The inputs' pages as text with a FineWeb-2 label and score (cached by the inputs and versions)."""
    from ..run.local import execute
    from ..run.plan import build_plan

    key = _cache_key(files)
    cached = os.path.join(cache_dir, f"fineweb2-docs-{key}.jsonl.gz")
    if not os.path.exists(cached):
        log(f"extracting and labelling {len(files)} input file(s) with the preset's first blocks (cached once)")
        work = tempfile.mkdtemp(prefix="fw2-bench-", dir=cache_dir)
        preset = extraction_preset(os.path.join(work, "preset.json"))
        plan = build_plan(preset, inputs=files, output=os.path.join(work, "run"), workers=workers)
        execute(plan, progress=False)
        docs = read_run(os.path.join(work, "run"))
        shutil.rmtree(work, ignore_errors=True)
        tmp = cached + ".tmp"
        with gzip.open(tmp, "wt", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps({"id": d.id, "text": d.text, "metadata": d.metadata}, ensure_ascii=False) + "\n")
        os.replace(tmp, cached)
    with gzip.open(cached, "rt", encoding="utf-8") as f:
        return [Document(**json.loads(line)) for line in f]


def read_run(run_dir: str) -> list[Document]:
    import pyarrow.parquet as pq

    docs = []
    for path in sorted(glob.glob(os.path.join(run_dir, "data", "*", "*.parquet"))):
        for row in pq.read_table(path, columns=["id", "text", "language", "language_score", "url"]).to_pylist():
            meta = {"language": row["language"], "language_score": row["language_score"], "url": row["url"]}
            docs.append(Document(text=row["text"], id=row["id"], metadata=meta))
    return docs


def _cache_key(files: list[str]) -> str:
    from importlib.metadata import version

    parts: list = [CACHE_VERSION, version("trafilatura"), version("thresher")]
    for path in files:
        st = os.stat(path)
        parts.append((os.path.abspath(path), st.st_size, int(st.st_mtime)))
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:16]


def lingua_texts(path: str, seed: int = 0) -> list[str]:
    """One lingua file's sentences joined into texts of 3-30 sentences (the same for a file and seed)."""
    rng = random.Random(f"{seed}-{os.path.basename(path)}")
    with open(path, encoding="utf-8") as f:
        sentences = [s.strip() for s in f if s.strip()]
    texts, i = [], 0
    while i < len(sentences):
        j = i + rng.randint(3, 30)
        texts.append("\n".join(sentences[i:j]))
        i = j
    return texts


def lingua_documents(folder: str, wanted: Callable[[str], bool], seed: int = 0) -> list[Document]:
    """lingua's sentences as documents (`lingua_texts`) labelled with their file's language, for the
    labels `wanted` accepts."""
    configs = open_configs()
    scripts: dict[str, list[str]] = defaultdict(list)
    for label in sorted(configs.labels):
        scripts[label.split("_")[0]].append(label.split("_")[1])
    docs = []
    for path in sorted(glob.glob(os.path.join(folder, "*.txt"))):
        code = os.path.basename(path)[:-4]
        iso3 = LINGUA_EXTRA.get(code) or LID176_TO_ISO3.get(code)
        if not iso3 or iso3 not in scripts:
            continue
        for k, text in enumerate(lingua_texts(path, seed), start=1):
            label = f"{iso3}_{dominant_script(text, tuple(scripts[iso3]))}"
            if wanted(label):
                meta = {"language": label, "language_score": 1.0, "source": "lingua"}
                docs.append(Document(text=text, id=f"lingua-{code}-{k}", metadata=meta))
    return docs


# --- the preset's side ------------------------------------------------------------------------------


class ScoreGate(BaseFilter):
    """The fineweb2_language block's decision on an existing label and score (no language ID)."""

    name = "language score"

    def __init__(self, block, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.block = block

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.block.decide(doc.metadata["language"], doc.metadata["language_score"])


def preset_steps(sink: dict, substitutes: tuple[str, ...] = (), preset: str = "fineweb2") -> list:
    """The preset's score decision, quality blocks and formatters, built as a run builds them."""
    from ..run.presets import block_class

    params = dict(block_params(preset, "fineweb2_language"))
    steps: list = [ScoreGate(block_class("fineweb2_language")(**params), DropRecorder("language_score", sink))]
    for name, reference in COMPARED.items():
        kwargs = dict(block_params(preset, name))
        if "tokenizer_substitutes" in kwargs:
            kwargs["tokenizer_substitutes"] = list(substitutes)
        block = block_class(name)(**kwargs)
        if reference:
            block.exclusion_writer = DropRecorder(reference, sink)
        steps.append(block)
    return steps


def cold_caches() -> None:
    """Empty every cache thresher's blocks fill while they work, so that a run starts as a worker does."""
    fw2_words._CACHE.clear()
    fw2_words._WORD_INFO.clear()
    for splitter in fw2_words._SPLITTERS.values():
        if hasattr(splitter, "cache"):
            splitter.cache.clear()


@contextmanager
def approximate_words() -> Iterator[None]:
    """Every language split by spaCy `xx`, the stand-in for the tokenizers that cannot run offline (Stanza,
    botok): what that stand-in changes where the real tokenizer is known estimates what it changes there."""
    original = fw2_words.splitter_for
    fw2_words.splitter_for = lambda *args, **kwargs: fw2_words._built(("approx",), fw2_tokenizers.ApproximateWords)
    try:
        yield
    finally:
        fw2_words.splitter_for = original
        cold_caches()


def run_preset(label: str, docs: list[Document], substitutes: tuple[str, ...] = ()) -> tuple[dict, dict, float]:
    sink: dict = {}
    steps = preset_steps(sink, substitutes)
    # the tokenizer loaded before timing, as datatrove's is (fineweb2_datatrove.warm_up)
    fw2_words.splitter_for(label, substitutes).words(docs[0].text if docs else "warm up")
    cold_caches()
    copies = [Document(text=d.text, id=d.id, metadata=dict(d.metadata)) for d in docs]
    kept, seconds = run_steps(steps, copies)
    return sink, kept, seconds


# --- comparing ------------------------------------------------------------------------------------


@dataclass
class LanguageResult:
    label: str
    docs: int
    pages: int
    kept_datatrove: int = 0
    kept_thresher: int = 0
    same_keep: int = 0
    same_reason: int = 0
    same_text: int = 0
    both_kept: int = 0
    datatrove_s: float = 0.0
    thresher_s: float = 0.0
    error: str | None = None
    diffs: list = field(default_factory=list)
    substitute_changed: int | None = None  # decisions a tokenizer substitute changes (against exact words)
    approximate_changed: int | None = None  # decisions spaCy xx words would change (against exact words)

    @property
    def agreement(self) -> float:
        return self.same_keep / self.docs if self.docs else 1.0


def decisions(docs: list[Document], dropped: dict, kept: dict) -> dict[str, tuple]:
    """id -> (kept, step, reason); the language-score step has no reason on datatrove's side (a LambdaFilter)."""
    out = {}
    for d in docs:
        step, reason = dropped.get(d.id, ("?", None))
        out[d.id] = (True, None, None) if d.id in kept else (False, step, None if step == "language_score" else reason)
    return out


def compare_language(
    label: str, docs: list[Document], repeat: int, substitutes: tuple[str, ...], approximate: bool = False
) -> LanguageResult:
    pages = sum(1 for d in docs if d.metadata.get("source") != "lingua")
    r = LanguageResult(label, len(docs), pages)
    config = open_configs().get(label)
    try:
        best_dt = best_th = float("inf")
        for _ in range(max(1, repeat)):
            dt_dropped, dt_kept, dt_s = run_datatrove(label, config, docs)
            th_dropped, th_kept, th_s = run_preset(label, docs)
            best_dt, best_th = min(best_dt, dt_s), min(best_th, th_s)
    except ImportError as e:  # a tokenizer datatrove cannot load here (Stanza, botok)
        r.error = f"datatrove: {str(e).splitlines()[0][:120]}"
        return r
    r.datatrove_s, r.thresher_s = best_dt, best_th
    ref, ours = decisions(docs, dt_dropped, dt_kept), decisions(docs, th_dropped, th_kept)
    for d in docs:
        r.same_keep += ref[d.id][0] == ours[d.id][0]
        r.same_reason += ref[d.id] == ours[d.id]
        if ref[d.id][0] and ours[d.id][0]:
            r.both_kept += 1
            r.same_text += dt_kept[d.id] == th_kept[d.id]
        if ref[d.id][0] != ours[d.id][0] and len(r.diffs) < 5:
            r.diffs.append({"id": d.id, "datatrove": ref[d.id], "thresher": ours[d.id]})
    r.kept_datatrove, r.kept_thresher = len(dt_kept), len(th_kept)
    if substitutes and fw2_words.splitter_for(label, substitutes) is not fw2_words.splitter_for(label):
        sub_dropped, sub_kept, _ = run_preset(label, docs, substitutes)
        sub = decisions(docs, sub_dropped, sub_kept)
        r.substitute_changed = sum(sub[d.id][0] != ours[d.id][0] for d in docs)
    if approximate:
        with approximate_words():
            approx = decisions(docs, *run_preset(label, docs)[:2])
        r.approximate_changed = sum(approx[d.id][0] != ours[d.id][0] for d in docs)
    return r


def run_fineweb2_bench(
    files: list[str],
    out: str,
    workers: int = 2,
    lingua: str | None = None,
    min_docs: int = TARGETS["min_docs"],
    repeat: int = 1,
    substitutes: tuple[str, ...] = (),
    cache_dir: str | None = None,
    languages: list[str] | None = None,
    approximate: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    """Agreement and speed per language; writes OUT/fineweb2-bench.json and returns what it holds."""
    cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), "thresher-bench-cache")
    os.makedirs(cache_dir, exist_ok=True)
    os.makedirs(out, exist_ok=True)
    docs = page_documents(files, cache_dir, workers, log) if files else []
    counts = Counter(d.metadata["language"] for d in docs)
    if lingua:
        docs += lingua_documents(lingua, lambda label: counts[label] < min_docs)
    by_label: dict[str, list[Document]] = defaultdict(list)
    for d in docs:
        if not languages or d.metadata["language"] in languages:
            by_label[d.metadata["language"]].append(d)
    fw2_words.check_installed(sorted(by_label), substitutes)
    results = []
    for label in sorted(by_label, key=lambda k: (-len(by_label[k]), k)):
        log(f"{label}: {len(by_label[label])} documents")
        results.append(compare_language(label, by_label[label], repeat, substitutes, approximate))
    report = summarize(results, min_docs)
    report["inputs"] = files
    report["lingua"] = lingua
    report["substitutes"] = list(substitutes)
    with open(os.path.join(out, "fineweb2-bench.json"), "w") as f:
        json.dump(report, f, indent=1, ensure_ascii=False, default=str)
    return report


def summarize(results: list[LanguageResult], min_docs: int) -> dict:
    ran = [r for r in results if r.error is None]
    dt_s, th_s = sum(r.datatrove_s for r in ran), sum(r.thresher_s for r in ran)
    n = sum(r.docs for r in ran)
    judged = [r for r in ran if r.docs >= min_docs]
    return {
        "languages": [asdict(r) | {"agreement": r.agreement} for r in results],
        "documents": n,
        "agreement": sum(r.same_keep for r in ran) / n if n else None,
        "datatrove_docs_per_s": n / dt_s if dt_s else None,
        "thresher_docs_per_s": n / th_s if th_s else None,
        "speedup": dt_s / th_s if th_s else None,
        "judged_languages": [r.label for r in judged],
        "agreement_met": all(r.agreement >= TARGETS["agreement"] for r in judged),
        "min_docs": min_docs,
    }


def format_report(report: dict) -> str:
    """The per-language table and the two verdicts."""
    rows = [
        ("language", "docs", "pages", "kept dt/th", "agree", "same reason", "same text", "dt docs/s", "th docs/s", "x")
    ]
    for r in report["languages"]:
        if r["error"]:
            rows.append((r["label"], str(r["docs"]), str(r["pages"]), "", "", "", "", "", "", r["error"]))
            continue
        speed = r["datatrove_s"] / r["thresher_s"] if r["thresher_s"] else 0.0
        sub = "" if r["substitute_changed"] is None else f"  (substitute changes {r['substitute_changed']})"
        if r["approximate_changed"] is not None:
            sub += f"  (spaCy xx words change {r['approximate_changed']})"
        rows.append(
            (
                r["label"],
                str(r["docs"]),
                str(r["pages"]),
                f"{r['kept_datatrove']}/{r['kept_thresher']}",
                f"{100 * r['agreement']:.2f}%",
                f"{r['same_reason']}/{r['docs']}",
                f"{r['same_text']}/{r['both_kept']}",
                f"{r['docs'] / r['datatrove_s']:.0f}" if r["datatrove_s"] else "-",
                f"{r['docs'] / r['thresher_s']:.0f}" if r["thresher_s"] else "-",
                f"{speed:.2f}{sub}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(9)]
    lines = [
        "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row[:9])) + "  " + row[9]
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    judged = report["judged_languages"]
    if report["documents"]:
        lines.append(
            f"all: {report['documents']} documents, same keep/drop {100 * report['agreement']:.2f}%, "
            f"datatrove {report['datatrove_docs_per_s']:.1f} docs/s, thresher {report['thresher_docs_per_s']:.1f} "
            f"docs/s (CPU time, one process)"
        )
        worst = min(
            (r for r in report["languages"] if r["label"] in judged), key=lambda r: r["agreement"], default=None
        )
        worst_text = f"; lowest {worst['label']} {100 * worst['agreement']:.2f}%" if worst else ""
        verdict = "MET" if report["agreement_met"] else "MISSED"
        lines.append(
            f"  {verdict} same keep/drop >= {100 * TARGETS['agreement']:.0f}% in each of the {len(judged)} languages "
            f"with >= {report['min_docs']} documents{worst_text}"
        )
        verdict = "MET" if report["speedup"] >= TARGETS["speedup"] else "MISSED"
        lines.append(f"  {verdict} docs/s >= {TARGETS['speedup']:.0f}x datatrove's: x{report['speedup']:.2f}")
    return "\n".join(lines)


def default_lingua() -> str | None:

    folder = SHARED / "data" / "lid" / "lingua" / "sentences"
    return str(folder) if folder.is_dir() else None


def main(args, files: list[str]) -> int:
    """`thresher bench --fineweb2`: print the table and verdicts; 0 when both targets are met."""
    import sys

    lingua = args.lingua or default_lingua()
    if lingua and os.path.isdir(os.path.join(lingua, "sentences")):
        lingua = os.path.join(lingua, "sentences")
    report = run_fineweb2_bench(
        files,
        args.out,
        workers=args.workers,
        lingua=lingua,
        repeat=args.repeat,
        substitutes=tuple(args.substitute),
        cache_dir=args.cache_dir,
        languages=args.language,
        approximate=args.approximate,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    print(format_report(report))
    print(f"\nfineweb2-bench.json: {os.path.abspath(os.path.join(args.out, 'fineweb2-bench.json'))}")
    ok = report["documents"] and report["agreement_met"] and report["speedup"] >= TARGETS["speedup"]
    return 0 if ok else 1
