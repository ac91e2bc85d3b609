"""Extraction quality: trafilatura (the fineweb preset's settings) and resiliparse (the fast preset's)
against the gold article text of the article-extraction-benchmark pages, word-level."""

from __future__ import annotations

import gzip
import json
import os
import re
import time
from collections import Counter

from . import SHARED
from .bench import table

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str | None) -> Counter:
    return Counter(w.lower() for w in _WORD.findall(text or ""))


def word_prf(predicted: str | None, gold: str) -> tuple[float, float, float]:
    """Bag-of-words precision, recall and F1 of `predicted` against `gold`."""
    p, g = words(predicted), words(gold)
    common = sum((p & g).values())
    precision = common / sum(p.values()) if p else 0.0
    recall = common / sum(g.values()) if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def default_aeb_dir() -> str:
    """shared/data/extraction/aeb beside the repo (THRESHER_AEB overrides)."""
    if os.environ.get("THRESHER_AEB"):
        return os.environ["THRESHER_AEB"]
    return str(SHARED / "data" / "extraction" / "aeb")


def load_aeb(folder: str, limit: int | None = None) -> list[tuple[str, str, str]]:
    """(page id, decoded html, gold text) for the pages of the article-extraction-benchmark."""
    from ..read.decode import decode_html

    with open(os.path.join(folder, "ground-truth.json"), encoding="utf-8") as f:
        truth = json.load(f)
    pages = []
    for page_id in sorted(truth):
        path = os.path.join(folder, "html", f"{page_id}.html.gz")
        if not os.path.exists(path):
            continue
        with gzip.open(path, "rb") as f:
            html, _ = decode_html(f.read())
        pages.append((page_id, html, truth[page_id].get("articleBody") or ""))
        if limit and len(pages) >= limit:
            break
    return pages


def extractors() -> dict[str, object]:
    """name -> callable(html) -> text, with the settings of the presets that use them."""
    from ..extract.resiliparse import ResiliparseExtractor
    from ..extract.trafilatura import TrafilaturaExtractor

    traf = TrafilaturaExtractor.from_preset("fineweb")
    resi = ResiliparseExtractor.from_preset("fast")
    return {"trafilatura (fineweb preset)": traf.extract, "resiliparse (fast preset)": resi.extract}


def run_extraction(folder: str, limit: int | None = None) -> list[dict]:
    """Per extractor: mean word precision / recall / F1 over the pages, and ms per page."""
    pages = load_aeb(folder, limit)
    if not pages:
        raise FileNotFoundError(f"no pages with gold text under {folder}")
    rows = []
    for name, extract in extractors().items():
        extract(pages[0][1])  # warm-up: imports and lazy initialisation are not per-page cost
        scores, times = [], []
        wall0 = time.perf_counter()
        for _, html, gold in pages:
            t0 = time.process_time()  # CPU time: a busy shared machine does not inflate it
            try:
                text = extract(html)
            except Exception:
                text = None
            times.append(time.process_time() - t0)
            scores.append(word_prf(text, gold))
        wall = time.perf_counter() - wall0
        n = len(pages)
        times.sort()
        rows.append(
            {
                "extractor": name,
                "pages": n,
                "precision": sum(s[0] for s in scores) / n,
                "recall": sum(s[1] for s in scores) / n,
                "f1": sum(s[2] for s in scores) / n,
                "ms_per_page": 1000 * sum(times) / n,
                "ms_p50": 1000 * times[n // 2],
                "ms_p99": 1000 * times[min(n - 1, int(n * 0.99))],
                "wall_ms_per_page": 1000 * wall / n,
            }
        )
    return rows


def format_extraction(rows: list[dict]) -> str:
    rows_out = [["extractor", "pages", "precision", "recall", "F1", "CPU ms/page", "p50", "p99", "wall ms/page"]]
    for r in rows:
        rows_out.append(
            [
                r["extractor"],
                str(r["pages"]),
                f"{r['precision']:.3f}",
                f"{r['recall']:.3f}",
                f"{r['f1']:.3f}",
                f"{r['ms_per_page']:.2f}",
                f"{r['ms_p50']:.2f}",
                f"{r['ms_p99']:.2f}",
                f"{r['wall_ms_per_page']:.2f}",
            ]
        )
    load = os.getloadavg()[0]
    return table(rows_out) + (
        "\n(word-level bag-of-words precision / recall / F1 against the gold article text, mean over pages;"
        f"\n one process, no sandbox; CPU ms per page; load average {load:.1f} on {os.cpu_count()} cores)"
    )
