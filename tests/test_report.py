"""Looking at a run: the dataset card and the HTML report (drawn in Chromium), on the bundled sample run."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from thresher.pipeline.cli import main as cli

SCREENSHOT_COPY = "/tmp/thresher-report.png"
ALL_PLOTS_COPY = "/tmp/thresher-report-all-plots.png"
PLOTS = ("funnel", "drop_reasons", "languages", "domains", "quality", "ai_score", "consent", "dup_clusters")


def all_rows(out: Path, columns: list[str] | None = None) -> list[dict]:
    rows = []
    for path in sorted(glob.glob(str(out / "data" / "*.parquet"))) + sorted(
        glob.glob(str(out / "removed" / "*" / "*.parquet"))
    ):
        rows += pq.read_table(path, columns=columns).to_pylist()
    return rows


def kept_rows(out: Path, columns: list[str]) -> list[dict]:
    paths = sorted(glob.glob(str(out / "data" / "*.parquet")))
    return [r for p in paths for r in pq.read_table(p, columns=columns).to_pylist()]


# --- the dataset card ----------------------------------------------------------------------------


def parse_card(text: str) -> tuple[dict, dict[str, dict]]:
    """(YAML header, rows of the per-block table by block name) of a dataset card."""
    assert text.startswith("---\n")
    header_text, body = text[4:].split("\n---\n", 1)
    header = yaml.safe_load(header_text)
    rows: dict[str, dict] = {}
    lines = body.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| block | documents in |"))
    cols = [c.strip() for c in lines[start].strip("|").split("|")]
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = dict(zip(cols, (c.strip() for c in line.strip("|").split("|")), strict=True))
        rows[cells["block"]] = cells
    return header, rows


def number(cell: str) -> int | None:
    return None if cell == "—" else int(cell.replace(",", ""))


def test_card_numbers_match_stats(sample_run):
    out, stats = sample_run
    assert cli(["report", str(out)]) == 0
    header, rows = parse_card((out / "README.md").read_text())
    docs = stats["documents"]
    assert header["thresher"]["documents_kept"] == docs["kept"]
    assert header["thresher"]["complete"] is True
    assert header["size_categories"] == ["n<1K"]
    assert header["configs"][0]["data_files"][0]["path"] == "data/*.parquet"
    crawls = {r["crawl"] for r in all_rows(out, ["crawl"]) if r["crawl"]}
    assert set(header["source_datasets"]) == crawls
    assert list(rows) == ["reader"] + [b["block"] for b in stats["blocks"]]
    reader = rows["reader"]
    assert number(reader["documents in"]) == docs["html_records"]
    assert number(reader["dropped"]) == docs["removed_by"]["reader"]
    for b in stats["blocks"]:
        row = rows[b["block"]]
        assert (number(row["documents in"]), number(row["documents out"]), number(row["dropped"])) == (
            b["in"],
            b["out"],
            b["dropped"],
        ), b["block"]
    # words: whitespace words of the kept text, counted independently here
    kept_words = sum(len((r["text"] or "").split()) for r in kept_rows(out, ["text"]))
    assert number(rows[stats["blocks"][-1]["block"]]["words out"]) == kept_words == header["thresher"]["words_kept"]
    pattern = r"Total: ([\d,]+) HTML records -> ([\d,]+) kept \+ ([\d,]+) removed"
    total = re.search(pattern, (out / "README.md").read_text())
    assert total and [number(g) for g in total.groups()] == [docs["html_records"], docs["kept"], docs["removed"]]
    langs = {r.get("language") for r in all_rows(out, None) if r.get("language")}
    if langs:
        assert header["language"] and set(header["language"]) <= {x.split("_")[0] for x in langs}
    else:
        assert "language" not in header


# --- the HTML report in a real browser -----------------------------------------------------------


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "no Chromium on PATH: install it (apt-get install -y --no-install-recommends chromium) "
        "to render report.html in a browser"
    )


def browser(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / "chromium-profile"
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)


def drawn_marks(dom: str) -> dict[str, int]:
    """plot -> bar marks the browser laid out with a non-empty box (the page's script counts them)."""
    out = {}
    for tag in re.findall(r"<section\b[^>]*>", dom):
        plot = re.search(r'data-plot="([^"]+)"', tag)
        drawn = re.search(r'data-drawn="(\d+)"', tag)
        if plot:
            out[plot.group(1)] = int(drawn.group(1)) if drawn else -1
    return out


def assert_self_contained(page_text: str) -> None:
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", page_text, re.I), "external resource"
    assert "@import" not in page_text and "url(" not in page_text


def test_report_html_draws_its_plots_in_chromium(sample_run, tmp_path):
    out, stats = sample_run
    assert cli(["report", str(out)]) == 0
    page = out / "report.html"
    assert_self_contained(page.read_text())
    dom = browser(page, tmp_path, "--dump-dom").stdout
    assert 'data-rendered="1"' in dom, "the page's script did not run"
    drawn = drawn_marks(dom)
    assert set(drawn) >= set(PLOTS)
    assert drawn["funnel"] >= 2 and drawn["domains"] > 0 and drawn["quality"] > 0
    if stats["documents"]["removed"]:
        assert drawn["drop_reasons"] > 0
    cols = set(pq.read_schema(sorted(glob.glob(str(out / "data" / "*.parquet")))[0]).names)
    for plot, column in (
        ("languages", "language"),
        ("ai_score", "ai_score"),
        ("dup_clusters", "dup_cluster_size"),
        ("consent", "consent_noai"),
    ):
        if column in cols:
            assert drawn[plot] > 0, plot
        else:  # column from a block not in this run: a note, not an empty plot
            assert drawn[plot] == 0
            assert re.search(rf'data-plot="{plot}"[^>]*>.*?Not in this run', dom, re.S), plot
    shot = tmp_path / "report.png"
    browser(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,4000", "--hide-scrollbars")
    assert shot.stat().st_size > 20_000
    shutil.copy(shot, SCREENSHOT_COPY)


def synthetic_run(src: Path, dst: Path) -> Path:
    """The sample run with every optional block column filled in (language, ai_score, consent, dedup), and
    documents removed by those blocks: the plots of blocks that may not exist yet, on real text."""
    run = json.loads((src / "run.json").read_text())
    run["pipeline"] = [p for p in run["pipeline"] if p[0] not in ("language", "ai_text", "consent", "minhash_dedup")]
    run["pipeline"] += [
        ["language", {"languages": None}],
        ["consent", {"tdm": "drop"}],
        ["ai_text", {"threshold": 0.8}],
        ["minhash_dedup", {}],
    ]
    (dst / "data").mkdir(parents=True)
    rows = []
    for p in sorted(glob.glob(str(src / "data" / "*.parquet"))):
        rows += pq.read_table(p).to_pylist()
    langs = ["en", "en", "de", "fr", "zh", "en"]
    for i, r in enumerate(rows):
        r.update(
            language=langs[i % len(langs)],
            language_score=0.5 + (i % 5) / 10,
            ai_score=(i * 0.37) % 1.0,
            consent_noai=i % 4 == 0,
            consent_tdm_reservation=i % 7 == 0,
            consent_robots="disallowed" if i % 3 == 0 else "allowed",
            dup_cluster_size=1 + (i % 6) ** 2,
            quality_score=float(i % 9),
        )
    kept, removed = [], {"consent": [], "ai_text": [], "minhash_dedup": []}
    for r in rows:
        if r["consent_tdm_reservation"]:
            removed["consent"].append({**r, "removed_by": "consent", "removed_reason": "tdm_reservation"})
        elif r["ai_score"] > 0.8:
            removed["ai_text"].append({**r, "removed_by": "ai_text", "removed_reason": "ai_generated"})
        elif r["dup_cluster_size"] > 10:
            removed["minhash_dedup"].append({**r, "removed_by": "minhash_dedup", "removed_reason": "duplicate"})
        else:
            kept.append(r)
    pq.write_table(pa.Table.from_pylist(kept), dst / "data" / "00000_0000.parquet")
    for block, brows in removed.items():
        (dst / "removed" / block).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(brows), dst / "removed" / block / "00000_0000.parquet")
    (dst / "run.json").write_text(json.dumps(run))
    return dst


def test_every_plot_draws_when_its_columns_exist(sample_run, tmp_path):
    out, _ = sample_run
    synth = synthetic_run(out, tmp_path / "synthetic")
    assert cli(["report", str(synth)]) == 0
    header, rows = parse_card((synth / "README.md").read_text())
    kept_langs = [r["language"] for r in kept_rows(synth, ["language"])]
    assert header["language"][0] == "en" and set(header["language"]) == set(kept_langs)
    assert header["thresher"]["complete"] is False  # no stats.json: counted from the shards
    kept = pq.ParquetFile(synth / "data" / "00000_0000.parquet").metadata.num_rows
    assert number(rows["minhash_dedup"]["documents out"]) == kept
    page = synth / "report.html"
    dom = browser(page, tmp_path, "--dump-dom").stdout
    drawn = drawn_marks(dom)
    assert all(drawn[p] > 0 for p in PLOTS), drawn
    assert "Not in this run" not in dom
    assert "threshold 0.8" in dom and "quality_score" in dom
    shot = tmp_path / "all-plots.png"
    browser(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,6000", "--hide-scrollbars")
    shutil.copy(shot, ALL_PLOTS_COPY)


def test_report_of_a_partial_run(sample_run, tmp_path):
    """An interrupted run: no stats.json, one task's stats and shards missing. The report shows what exists."""
    out, stats = sample_run
    part = tmp_path / "partial"
    shutil.copytree(out, part, ignore=shutil.ignore_patterns("README.md", "report.html"))
    (part / "stats.json").unlink()
    last_task = sorted(glob.glob(str(part / "logs" / "filter" / "stats" / "*.json")))[-1]
    rank = Path(last_task).stem
    os.remove(last_task)
    for p in glob.glob(str(part / "logs" / "filter" / "completions" / f"*{int(rank)}*")):
        os.remove(p)
    for p in glob.glob(str(part / "**" / f"{rank}_*.parquet"), recursive=True):
        os.remove(p)
    assert cli(["report", str(part)]) == 0
    text = (part / "README.md").read_text()
    header, rows = parse_card(text)
    assert header["thresher"]["complete"] is False and "Partial run" in text
    kept = sum(pq.ParquetFile(p).metadata.num_rows for p in glob.glob(str(part / "data" / "*.parquet")))
    assert header["thresher"]["documents_kept"] == kept < stats["documents"]["kept"]
    assert number(rows["reader"]["documents in"]) < stats["documents"]["html_records"]
    assert "Partial run" in (part / "report.html").read_text()


def test_report_without_removed_documents(sample_run, tmp_path):
    """write_removed off: documents still add up from stats, words in are unknown (—), words out of the
    last block are the kept words."""
    out, stats = sample_run
    bare = tmp_path / "bare"
    shutil.copytree(out, bare, ignore=shutil.ignore_patterns("removed", "README.md", "report.html"))
    assert cli(["report", str(bare)]) == 0
    _, rows = parse_card((bare / "README.md").read_text())
    assert all(r["words in"] == "—" for r in rows.values())
    last = rows[stats["blocks"][-1]["block"]]
    assert number(last["documents out"]) == stats["documents"]["kept"]
    assert number(last["words out"]) == sum(len((r["text"] or "").split()) for r in kept_rows(out, ["text"]))
    assert "Removed documents were not written" in (bare / "report.html").read_text()
