"""report.html of a run: one self-contained page (inline CSS, SVG and a few lines of JS; nothing from
the network), its style and script in templates/."""

from __future__ import annotations

import glob
import html
import math
import os
from collections import Counter
from functools import cache
from importlib import resources

import numpy as np

from .card import count_text
from .scan import COLORS, KEPT, REMOVED, SERIES, TOP_DOMAINS, TOP_LANGUAGES, Hist, Reservoir
from .summary import Summary, block_table, kept_count

W = 960


def _esc(v) -> str:
    return html.escape(str(v), quote=True)


def _short(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e4:
        return f"{n / 1e3:.1f}k"
    if float(n).is_integer():
        return f"{n:,.0f}"
    return f"{n:,.0f}" if abs(n) >= 100 else f"{n:.3g}"  # never 1.08e+03 on an axis


def svg_hbars(rows: list[tuple[str, list[float]]], series: list[str], label_w: int | None = None) -> str:
    """Horizontal stacked bars, one row per label; every bar segment is a `rect.mark`."""
    bar_h, gap, top = 18, 6, 8
    if label_w is None:  # room for the longest label (12 px text: ~7 px a character), up to 60 characters
        label_w = max(160, min(7 * max((len(label) for label, _ in rows), default=0) + 16, 436))
    height = top + len(rows) * (bar_h + gap) + 24
    plot_w = W - label_w - 110
    vmax = max((sum(v) for _, v in rows), default=0) or 1
    out = [
        f'<svg class="chart" width="{W}" height="{height}" viewBox="0 0 {W} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img">'
    ]
    for i, (label, values) in enumerate(rows):
        y = top + i * (bar_h + gap)
        out.append(
            f'<text x="{label_w - 8}" y="{y + bar_h - 5}" text-anchor="end" class="lbl">'
            f"{_esc(label[:60])}<title>{_esc(label)}</title></text>"
        )
        x = label_w
        for name, v in zip(series, values, strict=True):
            w = plot_w * v / vmax
            if v > 0:
                out.append(
                    f'<rect class="mark" data-series="{_esc(name)}" data-value="{v}" x="{x:.1f}" y="{y}" '
                    f'width="{max(w, 1):.1f}" height="{bar_h}" fill="{COLORS.get(name, "#888")}">'
                    f"<title>{_esc(label)} — {_esc(name)}: {v:,}</title></rect>"
                )
            x += w
        total = " / ".join(_short(v) for v in values) if len(values) > 1 else _short(values[0])
        out.append(f'<text x="{x + 6:.1f}" y="{y + bar_h - 5}" class="val">{_esc(total)}</text>')
    out.append(_legend(series, 8, height - 8) if len(series) > 1 else "")
    out.append("</svg>")
    return "".join(out)


def _legend(series: list[str], x: int, y: int) -> str:
    parts = []
    for name in series:
        parts.append(
            f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{COLORS.get(name, "#888")}"/>'
            f'<text x="{x + 16}" y="{y}" class="lbl">{_esc(name)}</text>'
        )
        x += 24 + 8 * len(name)
    return "".join(parts)


def svg_columns(
    labels: list[str],
    values: dict[str, list[float]],
    marker: tuple[float, str] | None = None,
    title_x: str = "",
    title_y: str = "documents",
) -> str:
    """Vertical stacked columns over bins; `marker` = (bin position, text) draws a threshold line."""
    left, right, top, bottom = 60, 20, 30 if len(values) > 1 else 14, 70
    height = 256 if len(values) > 1 else 240
    plot_w, plot_h = W - left - right, height - top - bottom
    n = len(labels)
    series = list(values)
    totals = [sum(values[s][i] for s in series) for i in range(n)]
    vmax = max(totals, default=0) or 1
    bw = plot_w / max(n, 1)
    out = [
        f'<svg class="chart" width="{W}" height="{height}" viewBox="0 0 {W} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img">'
    ]
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" class="axis"/>')
    out.append(f'<text x="{left - 6}" y="{top + 8}" text-anchor="end" class="val">{_short(vmax)}</text>')
    out.append(f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="val">0</text>')
    out.append(
        f'<text x="14" y="{top + plot_h / 2}" class="val" transform="rotate(-90 14 {top + plot_h / 2})" '
        f'text-anchor="middle">{_esc(title_y)}</text>'
    )
    every = max(1, math.ceil(n / 24))
    for i, label in enumerate(labels):
        x = left + i * bw
        y = top + plot_h
        for s in series:
            v = values[s][i]
            if v <= 0:
                continue
            h = plot_h * v / vmax
            y -= h
            out.append(
                f'<rect class="mark" data-series="{_esc(s)}" data-value="{v}" x="{x + 1:.1f}" y="{y:.1f}" '
                f'width="{max(bw - 2, 1):.1f}" height="{max(h, 0.5):.1f}" fill="{COLORS.get(s, "#888")}">'
                f"<title>{_esc(label)} — {_esc(s)}: {_short(v)}</title></rect>"
            )
        if i % every == 0:
            tx, ty = x + bw / 2, top + plot_h + 12
            out.append(
                f'<text x="{tx:.1f}" y="{ty}" class="tick" text-anchor="end" '
                f'transform="rotate(-45 {tx:.1f} {ty})">{_esc(label)}</text>'
            )
    if marker is not None:
        pos, text = marker
        mx = left + pos * bw
        out.append(
            f'<line x1="{mx:.1f}" y1="{top}" x2="{mx:.1f}" y2="{top + plot_h}" class="marker"/>'
            f'<text x="{mx + 4:.1f}" y="{top + 10}" class="marker-text">{_esc(text)}</text>'
        )
    if title_x:
        out.append(
            f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle" class="val">{_esc(title_x)}</text>'
        )
    out.append(_legend(series, W - 200, 16) if len(series) > 1 else "")
    out.append("</svg>")
    return "".join(out)


def _hist_svg(h: Hist, marker: tuple[float, str] | None = None, title_x: str = "", trim: bool = True) -> str:
    """Columns of a histogram; with `trim`, empty bins at either end are left out (log bins go far)."""
    series = [s for s in SERIES if s in h.counts]
    lo, hi = 0, len(h.labels)
    if trim:
        used = [i for i in range(len(h.labels)) if any(h.counts[s][i] for s in series)]
        if used:
            lo, hi = used[0], used[-1] + 1
    if marker is not None:
        marker = (marker[0] - lo, marker[1])
    return svg_columns(h.labels[lo:hi], {s: h.counts[s][lo:hi] for s in series}, marker=marker, title_x=title_x)


def _reservoir_svg(samples: dict[str, Reservoir], bins: int = 30) -> str:
    """A histogram of sampled values, scaled to the true counts."""
    lo = min(r.lo for r in samples.values())
    hi = max(r.hi for r in samples.values())
    if hi <= lo:
        hi = lo + 1
    step = (hi - lo) / bins
    labels = [_short(lo + i * step) for i in range(bins)]
    values = {}
    for s in SERIES:
        r = samples.get(s)
        if r is None or not len(r.values):
            continue
        scale = r.n / len(r.values)
        idx = np.clip(((r.values - lo) / step).astype(np.int64), 0, bins - 1)
        values[s] = [round(c * scale) for c in np.bincount(idx, minlength=bins).tolist()]
    return svg_columns(labels, values)


@cache
def _template(name: str) -> str:
    return resources.files("thresher.pipeline.report").joinpath("templates", name).read_text("utf-8")


def _section(plot_id: str, title: str, body: str | None, missing: str, note: str = "") -> str:
    """A plot section: the plot when its data exists, else a short 'not in this run' line."""
    if body is None:
        return (
            f'<section class="plot missing-plot" data-plot="{plot_id}" id="{plot_id}"><h2>{_esc(title)}</h2>'
            f'<p class="missing">Not in this run: {_esc(missing)}</p></section>'
        )
    note_html = f'<p class="note">{note}</p>' if note else ""
    head = f'<section class="plot" data-plot="{plot_id}" id="{plot_id}"><h2>{_esc(title)}</h2>'
    return f"{head}{note_html}{body}</section>"


def _funnel(s: Summary, rows: list[dict]) -> str | None:
    if not rows:
        return None
    bars = [(f"{rows[0]['block']} (HTML records)", [rows[0]["in"], 0])]
    for r in rows:
        bars.append((f"after {r['block']}", [r["out"], r["dropped"]]))
    return svg_hbars(bars, ["remaining", "dropped"])


def _drop_reasons(s: Summary, rows: list[dict]) -> str | None:
    items = [(f"{r['block']}: {reason}", n) for r in rows for reason, n in r["reasons"].items() if n]
    if not items and s.scan.reasons:
        items = [(f"{b}: {reason}", n) for (b, reason), n in s.scan.reasons.items()]
    if not items:
        return None
    items.sort(key=lambda kv: -kv[1])
    return svg_hbars([(label, [n]) for label, n in items[:30]], ["dropped"])


def _languages(sc) -> str | None:
    """The top languages as bars, then every kept language's documents and words as a table."""
    bars = _top_bars(sc.languages, TOP_LANGUAGES)
    kept = sc.languages.get(KEPT)
    if bars is None or not kept:
        return bars
    rows = "".join(
        f"<tr><td>{_esc(lang)}</td><td>{n:,}</td><td>{sc.language_words.get(lang, 0):,}</td></tr>"
        for lang, n in kept.most_common()
    )
    return bars + f"<table><tr><th>language</th><th>kept documents</th><th>kept words</th></tr>{rows}</table>"


def _top_bars(counters: dict[str, Counter], top: int) -> str | None:
    total: Counter = Counter()
    for c in counters.values():
        total.update(c)
    if not total:
        return None
    rows = []
    for key, _ in total.most_common(top):
        rows.append((key, [counters.get(KEPT, Counter())[key], counters.get(REMOVED, Counter())[key]]))
    rest = [
        sum(c.values()) - sum(c[k] for k, _ in total.most_common(top))
        for c in (counters.get(KEPT, Counter()), counters.get(REMOVED, Counter()))
    ]
    if sum(rest) > 0:
        rows.append(("(all others)", rest))
    return svg_hbars(rows, [KEPT, REMOVED])


def _ai_threshold(s: Summary) -> float | None:
    for name, params in (s.run or {}).get("pipeline") or []:
        if name == "ai_text" and isinstance(params, dict) and isinstance(params.get("threshold"), (int, float)):
            return float(params["threshold"])
    return None


def render_html(s: Summary) -> str:
    """report.html: one self-contained page (inline CSS, SVG and a few lines of JS; nothing from the network)."""
    sc = s.scan
    rows = block_table(s)
    name = os.path.basename(s.run_dir.rstrip("/"))
    kept = kept_count(s)
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>thresher report — {_esc(name)}</title><style>{_template('report.css')}</style></head><body>",
        f"<h1>thresher report — {_esc(name)}</h1>",
    ]
    preset = (s.run or {}).get("preset") or (s.stats or {}).get("preset") or "(unknown)"
    version = (s.stats or {}).get("thresher_version", "")
    d = (s.stats or {}).get("documents")
    summary = f"preset <code>{_esc(preset)}</code>" + (f", thresher {_esc(version)}" if version else "")
    if d:
        summary += (
            f" — {d['html_records']:,} HTML records → <b>{d['kept']:,} kept</b> + "
            f"{d['removed']:,} removed; {sc.words[KEPT]:,} words kept"
        )
    else:
        summary += f" — {kept:,} documents kept so far"
    parts.append(f'<p class="meta">{summary}</p>')
    if not s.complete:
        prog = ", ".join(f"{st} {dn}/{t} tasks done" for st, (dn, t) in s.progress.items()) or "no task finished"
        parts.append(
            f'<p class="partial">Partial run ({_esc(prog)}): this page shows the shards and task '
            "statistics that exist so far.</p>"
        )
    if not glob.glob(os.path.join(s.run_dir, "removed", "*")):
        parts.append(
            '<p class="note">Removed documents were not written (run with <code>--write-removed</code>): '
            "plots compare kept documents only.</p>"
        )

    parts.append(
        _section(
            "funnel",
            "Funnel: documents after each block",
            _funnel(s, rows),
            "no stats and no shards yet",
            "Bar length: documents left; red: dropped by that block.",
        )
    )
    parts.append(_section("drop_reasons", "Drop reasons", _drop_reasons(s, rows), "no document was dropped"))
    parts.append(
        _section(
            "languages",
            "Languages",
            _languages(sc),
            "no `language` column (add the language block)",
            "Documents per language (kept / removed by later blocks); kept documents and words per language.",
        )
    )
    parts.append(
        _section(
            "domains",
            f"Top {TOP_DOMAINS} domains",
            _top_bars(sc.domains, TOP_DOMAINS),
            "no URLs in the shards",
            "Documents per host (leading www. dropped).",
        )
    )
    # quality metrics
    q_parts = []
    for title, h in sc.text_metrics.items():
        if h.total():
            q_parts.append(f"<h3>{_esc(title)}</h3>" + _hist_svg(h))
    if sc.language_score.total():
        q_parts.append("<h3>language_score</h3>" + _hist_svg(sc.language_score, trim=False))
    for metric, samples in sorted(sc.extra.items()):
        if any(len(r.values) for r in samples.values()):
            q_parts.append(f"<h3>{_esc(metric)}</h3>" + _reservoir_svg(samples))
    parts.append(
        _section(
            "quality",
            "Quality metrics",
            "".join(q_parts) or None,
            "no document text in the shards",
            "Computed on the text of kept documents and of documents removed after <code>extract</code> "
            "(earlier ones hold HTML); other numeric columns and metadata as written by the blocks.",
        )
    )
    ai_body = None
    if sc.ai_score.total():
        th = _ai_threshold(s)
        marker = (th / 0.05, f"threshold {th:g}") if th is not None else None
        unscored = sum(sc.ai_score.missing.values())
        ai_body = _hist_svg(sc.ai_score, marker=marker, title_x="ai_score (P machine-generated)", trim=False)
        ai_body += f'<p class="note">{unscored:,} documents not scored (too short or a language the model lacks).</p>'
    parts.append(_section("ai_score", "AI-text score", ai_body, "no `ai_score` column (add the ai_text block)"))
    consent_body = None
    if sc.consent:
        crow = [(label, [c[KEPT], c[REMOVED]]) for label, c in sc.consent.items()]
        consent_body = svg_hbars(crow, [KEPT, REMOVED])
        consent_body += (
            f'<p class="note">Out of {sc.consent_rows[KEPT]:,} kept and {sc.consent_rows[REMOVED]:,} '
            "removed documents with consent columns.</p>"
        )
    parts.append(_section("consent", "Consent signals", consent_body, "no consent_* columns (add the consent block)"))
    dup_body = _hist_svg(sc.dup_size, title_x="duplicate-cluster size") if sc.dup_size.total() else None
    parts.append(
        _section(
            "dup_clusters",
            "Duplicate-cluster sizes",
            dup_body,
            "no `dup_cluster_size` column (add the minhash_dedup block)",
            "Documents by the size of their near-duplicate cluster (1 = unique).",
        )
    )
    # block table
    table = ["<table><tr><th>block</th><th>in</th><th>out</th><th>dropped</th><th>words in</th><th>words out</th></tr>"]
    for r in rows:
        table.append(
            f"<tr><td>{_esc(r['block'])}</td><td>{r['in']:,}</td><td>{r['out']:,}</td>"
            f"<td>{r['dropped']:,}</td><td>{count_text(r['words_in'])}</td><td>{count_text(r['words_out'])}</td></tr>"
        )
    table.append(
        '</table><p class="note">Words: whitespace-separated tokens; — where not countable '
        "(HTML before extract, or removed documents not written).</p>"
    )
    parts.append(_section("blocks", "Blocks", "".join(table) if rows else None, "no stats yet"))
    parts.append(_template("drawn.html"))
    parts.append("</body></html>")
    return "\n".join(parts)
