"""README.md of a run in the Hugging Face dataset-card format: YAML metadata, then how the data was made."""

from __future__ import annotations

import glob
import json
import os

import yaml

from ..write.schema import PROVENANCE_COLUMNS, REMOVED_COLUMNS
from .scan import KEPT, REMOVED, TOP_LANGUAGES
from .summary import Summary, block_table, kept_count, language_codes, size_category


def _fmt_params(params: dict) -> str:
    if not params:
        return "(defaults)"
    return ", ".join(f"`{k}={json.dumps(v, default=str)}`" for k, v in params.items())


def count_text(v: int | None) -> str:
    return "—" if v is None else f"{v:,}"


def partitions(s: Summary) -> list[str]:
    """The data/ subfolders holding shards (a run written with `output: partition_by`), sorted."""
    data = os.path.join(s.run_dir, "data")
    if not os.path.isdir(data):
        return []
    return sorted(
        d
        for d in os.listdir(data)
        if os.path.isdir(os.path.join(data, d)) and glob.glob(os.path.join(data, d, "*.parquet"))
    )


def data_configs(s: Summary) -> list[dict]:
    """The card's `configs`: all of data/, and one config per partition (FineWeb-2's `deu_Latn` ...)."""
    parts = partitions(s)
    every = {
        "config_name": "default",
        "data_files": [{"split": "train", "path": "data/*/*.parquet" if parts else "data/*.parquet"}],
    }
    return [every] + [
        {"config_name": p, "data_files": [{"split": "train", "path": f"data/{p}/*.parquet"}]} for p in parts
    ]


def language_table(s: Summary, kept_langs) -> list[str]:
    """Kept documents and words per language (every language of a partitioned run, else the top ones)."""
    sc = s.scan
    total = sum(kept_langs.values())
    total_words = sum(sc.language_words.values()) or 1
    shown = kept_langs.most_common() if partitions(s) else kept_langs.most_common(TOP_LANGUAGES)
    tokenized = bool(sc.language_word_count)  # word_count: words of the language's own tokenizer (Gopher's count)
    head = "| language | documents | share | words | share of words |" + (" word_count |" if tokenized else "")
    lines = [head, "|---|---:|---:|---:|---:|" + ("---:|" if tokenized else "")]
    for lang, n in shown:
        words = sc.language_words.get(lang, 0)
        row = f"| {lang} | {n:,} | {100 * n / total:.1f}% | {words:,} | {100 * words / total_words:.1f}% |"
        lines.append(row + (f" {sc.language_word_count.get(lang, 0):,} |" if tokenized else ""))
    if tokenized:
        lines += [
            "",
            "words: whitespace-separated; word_count: non-punctuation words as the language's tokenizer splits "
            "them (jieba, Sudachi, spaCy, ...), the count Gopher's quality rule reads.",
        ]
    return lines


def render_card(s: Summary) -> str:
    """README.md in the Hugging Face dataset-card format: YAML metadata, then how the data was made."""
    from ..run.stats import thresher_version

    sc = s.scan
    kept = kept_count(s)
    langs = language_codes(s)
    crawls = sorted(sc.crawls)
    inputs = (s.run or {}).get("inputs") or []
    version = (s.stats or {}).get("thresher_version") or thresher_version()
    name = os.path.basename(s.run_dir.rstrip("/"))
    header: dict = {}
    if langs:
        header["language"] = langs
    header.update(
        {
            "license": "other",
            "license_name": "web-crawl-mixed",
            "license_details": (
                "Text extracted from public web pages; each page stays under its authors' copyright and terms. "
                "Crawl data is subject to the crawler's terms of use (e.g. https://commoncrawl.org/terms-of-use). "
                "Check the consent_* columns for AI opt-out signals before training."
            ),
            "size_categories": [size_category(kept)],
            "task_categories": ["text-generation"],
            "pretty_name": name,
            "source_datasets": crawls or ["original"],
            "tags": ["thresher", "web-crawl", "warc"],
            "configs": data_configs(s),
            "thresher": {
                "version": version,
                "preset": (s.run or {}).get("preset") or (s.stats or {}).get("preset"),
                "complete": s.complete,
                "documents_kept": kept,
                "words_kept": int(sc.words[KEPT]),
            },
        }
    )
    lines = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=100).rstrip(), "---", ""]
    lines.append(f"# {name}")
    lines.append("")
    lines.append(
        f"Web text made by thresher {version} from {len(inputs) or '?'} WARC file(s)"
        + (f" of {', '.join(crawls)}" if crawls else "")
        + f": {kept:,} documents, {sc.words[KEPT]:,} words (whitespace-separated), kept in "
        + ("`data/<language>/*.parquet`." if partitions(s) else "`data/*.parquet`.")
    )
    if not s.complete:
        prog = ", ".join(f"{st} {d}/{t} tasks" for st, (d, t) in s.progress.items()) or "no task finished"
        lines += ["", f"> **Partial run** ({prog}): the numbers below are what exists so far."]
    lines += ["", "## How it was made", ""]
    preset = (s.run or {}).get("preset") or (s.stats or {}).get("preset") or "(unknown)"
    lines.append(f"- Preset: `{preset}`" + (f" — {s.description}" if s.description else ""))
    lines.append(f"- thresher version: {version}")
    if inputs:
        shown = ", ".join(f"`{os.path.basename(p)}`" for p in inputs[:10])
        more = f" and {len(inputs) - 10} more" if len(inputs) > 10 else ""
        lines.append(f"- Inputs: {len(inputs)} WARC file(s): {shown}{more}")
    if crawls:
        lines.append(f"- Source crawls: {', '.join(crawls)}")
    lines += ["", "### Blocks and thresholds", "", "| block | parameters |", "|---|---|"]
    lines.append("| reader | " + _fmt_params((s.run or {}).get("reader") or {}) + " |")
    for block, params in (s.run or {}).get("pipeline") or []:
        lines.append(f"| {block} | {_fmt_params(params)} |")
    lines += [
        "",
        "### Documents and words per block",
        "",
        "Words are whitespace-separated tokens (Python `str.split()`), not a model tokenizer's "
        "tokens (expect roughly 1.3 tokens per word for English). They are counted on each document's "
        "text as it left the pipeline; documents removed before or by `extract` still hold HTML and are "
        "not counted (—), and words in are known only when removed documents were written "
        "(`write_removed`).",
        "",
        "| block | documents in | documents out | dropped | words in | words out | top drop reasons |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in block_table(s):
        top = ", ".join(f"{k} {v:,}" for k, v in sorted(row["reasons"].items(), key=lambda kv: -kv[1])[:4])
        lines.append(
            f"| {row['block']} | {row['in']:,} | {row['out']:,} | {row['dropped']:,} | "
            f"{count_text(row['words_in'])} | {count_text(row['words_out'])} | {top} |"
        )
    if s.stats is not None:
        d = s.stats["documents"]
        lines += [
            "",
            f"Total: {d['html_records']:,} HTML records -> {d['kept']:,} kept + {d['removed']:,} removed"
            + ("" if d.get("accounted", True) else " (counts do not add up)")
            + ".",
        ]
    lines += ["", "## Languages", ""]
    kept_langs = sc.languages.get(KEPT)
    if kept_langs:
        lines += language_table(s, kept_langs)
    else:
        lines.append("No language column in this run (no `language` block).")
    lines += [
        "",
        "## Dataset structure",
        "",
        "One row per document, with its provenance (WARC file, offset and length of the original record, "
        "record id, URL, date, payload digest) so any row can be traced back to its bytes "
        "(`thresher show RUN_DIR ID`). Columns:",
        "",
    ]
    block_cols = sorted(
        c for c in sc.columns if c not in PROVENANCE_COLUMNS and c not in REMOVED_COLUMNS and c != "metadata"
    )
    lines.append("- provenance: " + ", ".join(f"`{c}`" for c in PROVENANCE_COLUMNS))
    if block_cols:
        lines.append("- from blocks: " + ", ".join(f"`{c}`" for c in block_cols))
    lines.append("- `metadata`: the other annotations, as JSON")
    lines += ["", "## Licence and consent notes", ""]
    lines.append(
        "The text comes from web pages crawled without asking their authors; it is not licensed by them. "
        "Use it under the rules that apply to you (e.g. text-and-data-mining exceptions) and honour opt-outs."
    )
    if sc.consent:
        lines += ["", "| consent signal | kept documents | removed documents |", "|---|---:|---:|"]
        for label, c in sc.consent.items():
            lines.append(f"| {label} | {c[KEPT]:,} | {c[REMOVED]:,} |")
    else:
        lines += ["", "No consent signals were recorded in this run (no `consent` block)."]
    lines += [
        "",
        "## Report",
        "",
        "Plots of this run (funnel, drop reasons, languages, domains, metrics): `report.html` beside this file.",
        "",
    ]
    return "\n".join(lines)
