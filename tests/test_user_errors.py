"""A user's mistakes get one line before any work (exit 2, no traceback, no output folder), and the
CLI behaves as a careful user expects: several --input values, warnings on the console, stable ids,
quiet logs in files, pipes closed early."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_path

from thresher.filters.url import URLFilter
from thresher.pipeline.read.warc import WarcReader

THRESHER = [sys.executable, "-m", "thresher.pipeline.cli"]


def thresher(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*THRESHER, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def refused(r: subprocess.CompletedProcess, out: Path, *words: str) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("thresher: error:"), r.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert not out.exists(), "the output folder was created before the refusal"


def test_a_missing_input_file_is_one_line_and_no_folder(tmp_path):
    out = tmp_path / "out"
    refused(
        thresher("run", "fineweb", "-i", str(tmp_path / "missing.warc.gz"), "-o", str(out)),
        out,
        "missing.warc.gz",
        "no such file",
    )


@pytest.mark.parametrize(
    "override, words",
    [
        ("consent: {robots: dorp}", ["robots", "dorp", "one of ignore, annotate, drop"]),
        ("ai_text: {threshold: 1pct_fp}", ["threshold", "1pct_fp", "1pct_fpr"]),
        ("language: {languages: [english]}", ["english", "not a label", "lid.176"]),
        ("language_prefilter: {languages: [eng]}", ["eng", "not a label"]),
        ("gopher_quality: {min_doc_words: many}", ["min_doc_words", "whole number"]),
    ],
)
def test_bad_preset_values_are_one_line_before_any_work(tmp_path, override, words):
    preset = tmp_path / "mine.yaml"
    preset.write_text(f"extends: thresher\noverride:\n  {override}\n")
    out = tmp_path / "out"
    refused(thresher("run", str(preset), "-i", "bundled-sample", "-o", str(out)), out, "mine.yaml", *words)


def test_input_takes_several_values_as_a_shell_glob_gives_them(tmp_path):
    files = sorted(str(p) for p in shared_path("data", "warc", "real").glob("wget-sample-*.warc.gz"))
    assert len(files) == 2
    out = tmp_path / "out"
    r = thresher("run", "sample", "--input", *files, "-o", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "run.json").read_text())["inputs"] == files


def test_an_empty_input_is_said_and_counted(tmp_path):
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(gzip.compress(b""))
    out = tmp_path / "out"
    r = thresher("run", "sample", "-i", str(empty), "-o", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "1 input file(s) held no record" in r.stderr
    assert json.loads((out / "stats.json").read_text())["reader"]["empty_files"] == 1


def test_robots_drop_without_robots_files_warns_on_the_console(tmp_path):
    out = tmp_path / "out"
    r = thresher("run", "thresher", "-i", "bundled-sample", "-o", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    warning = [line for line in r.stderr.splitlines() if line.startswith("thresher: warning:")]
    assert any("robots: drop" in line and "--robots" in line for line in warning), r.stderr


def test_a_log_file_gets_one_line_per_stage_not_a_redrawn_bar(tmp_path):
    out = tmp_path / "out"
    r = thresher("run", "sample", "-o", str(out))  # stderr is a pipe, as in a log file
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr
    for stage in ("filter", "dedup_buckets", "dedup_clusters", "final"):
        assert sum(line.startswith(f"{stage}: ") for line in r.stderr.splitlines()) == 1, r.stderr


def test_arc_records_get_the_same_id_on_every_run():
    arc = str(shared_path("data", "warc", "edge-cases", "example.arc"))
    first = [(d.id, d.metadata["warc_record_id"]) for d in WarcReader([arc]).run()]
    second = [d.id for d in WarcReader([arc]).run()]
    assert first and [i for i, _ in first] == second
    offsets = [d.metadata["warc_offset"] for d in WarcReader([arc]).run()]
    assert [i for i, _ in first] == [f"example.arc:{o}" for o in offsets]
    assert all(record_id is None for _, record_id in first)  # ARC has no record ids to report


def test_status_piped_into_head_ends_quietly(tmp_path):
    out = tmp_path / "out"
    assert thresher("run", "sample", "-o", str(out), "--no-progress").returncode == 0
    r = subprocess.run(f"{' '.join(THRESHER)} status {out} | head -1", shell=True, capture_output=True, text=True)
    assert r.stdout.startswith("run: ")
    assert "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr, r.stderr


def test_building_the_url_blocklist_cache_is_announced(tmp_path, monkeypatch):
    monkeypatch.setenv("THRESHER_CACHE", str(tmp_path / "empty-cache"))
    message = URLFilter().setup_needed()
    assert message is not None and "URL blocklist cache" in message
    assert URLFilter(use_integrated_lists=False).setup_needed() is None


def test_sample_of_removed_documents_names_the_option_that_writes_them(tmp_path, capsys):
    from thresher.pipeline.cli import main

    out = tmp_path / "out"
    assert thresher("run", "fineweb", "-i", "bundled-sample", "-o", str(out), "--no-progress").returncode == 0
    assert main(["sample", str(out), "--removed"]) == 1
    assert "--write-removed" in capsys.readouterr().err
