"""A run folder knows what made it: same making resumes, another is refused in one line, --overwrite
clears it; Ctrl-C stops the run and `status` calls the stopped tasks interrupted."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import read_docs, shared_path

THRESHER = [sys.executable, "-m", "thresher.pipeline.cli"]


def thresher(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*THRESHER, *args], capture_output=True, text=True, timeout=timeout)


def real_warcs() -> list[str]:
    return sorted(str(p) for p in shared_path("data", "warc", "real").glob("*.warc.gz"))


def one_error_line(r: subprocess.CompletedProcess, *words: str) -> str:
    """The command failed before any work with exactly one line on stderr, naming `words`."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("thresher: error:"), r.stderr
    assert "Traceback" not in r.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def finished_fineweb(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    r = thresher("run", "fineweb", "-i", "bundled-sample", "-o", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    return out


def test_the_record_holds_what_made_the_run(finished_fineweb):
    record = json.loads((finished_fineweb / "run.json").read_text())
    assert record["preset"].endswith("fineweb.yaml")
    assert [name for name, _ in record["preset_content"]["pipeline"]][0] == "url_filter"
    assert len(record["inputs"]) == 3 and record["tasks"] == 3 and record["write_removed"] is False
    assert record["thresher_version"] not in ("", None)


def test_another_preset_into_a_finished_run_is_refused(finished_fineweb):
    before = sorted(p.name for p in (finished_fineweb / "data").iterdir())
    stats = (finished_fineweb / "stats.json").read_text()
    r = thresher("run", "thresher", "-i", "bundled-sample", "-o", str(finished_fineweb))
    one_error_line(r, "another preset", "fineweb.yaml", "thresher.yaml", "--output", "--overwrite")
    assert sorted(p.name for p in (finished_fineweb / "data").iterdir()) == before
    assert (finished_fineweb / "stats.json").read_text() == stats  # still fineweb's, untouched


def test_other_inputs_into_a_used_folder_are_refused(finished_fineweb):
    r = thresher("run", "fineweb", "-i", real_warcs()[0], "-o", str(finished_fineweb))
    one_error_line(r, "other inputs", "--overwrite")


def test_the_same_command_resumes_and_does_nothing_more(finished_fineweb):
    ids = sorted(read_docs(finished_fineweb))
    r = thresher("run", "fineweb", "-i", "bundled-sample", "-o", str(finished_fineweb), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert sorted(read_docs(finished_fineweb)) == ids


def test_overwrite_clears_the_folder_and_runs_the_new_preset(tmp_path):
    out = tmp_path / "run"
    assert thresher("run", "fineweb", "-i", "bundled-sample", "-o", str(out), "--no-progress").returncode == 0
    r = thresher("run", "sample", "-o", str(out), "--overwrite", "--no-progress")
    assert r.returncode == 0, r.stderr
    record = json.loads((out / "run.json").read_text())
    assert record["preset"].endswith("sample.yaml")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["preset"].endswith("sample.yaml") and stats["documents"]["accounted"]
    assert (out / "removed").is_dir()  # the sample preset writes removed documents; fineweb's run did not


def test_a_folder_that_is_not_a_run_is_never_cleared(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    r = thresher("run", "sample", "-o", str(tmp_path), "--overwrite")
    one_error_line(r, "not a thresher run folder")
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_ctrl_c_stops_the_run_and_the_rerun_resumes_it(bench_corpus, tmp_path):
    """SIGINT to the process group, as a terminal sends it: no new task starts, the running ones end
    within seconds, one line says how to resume, `status` calls them interrupted; the rerun gives the
    documents of an uninterrupted run."""
    files = sorted(glob.glob(str(bench_corpus / "*.warc.gz")))
    out = tmp_path / "run"
    args = [*THRESHER, "run", "fineweb", "-o", str(out), "-w", "2", "--tasks", "8", "--no-progress", "-i", *files]
    proc = subprocess.Popen(
        args,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    logs = out / "logs" / "filter" / "logs"
    deadline = time.monotonic() + 120
    while not (logs.is_dir() and len(list(logs.glob("task_*.log"))) >= 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 15
    assert proc.returncode == 130, err
    said = [line for line in err.splitlines() if line.startswith("thresher: interrupted")]
    assert len(said) == 1 and "run the same command again" in said[0].lower()
    assert "Traceback" not in err
    started = set(logs.glob("task_*.log"))
    done = set((out / "logs" / "filter" / "completions").glob("*"))
    assert len(started) < 8 and len(done) < 8  # queued tasks did not run after the interrupt
    time.sleep(2)
    assert set(logs.glob("task_*.log")) == started  # and none starts later
    status = thresher("status", str(out))
    assert "interrupted" in status.stdout and "no SLURM record" not in status.stdout
    rows = {line.split()[0]: line.split() for line in status.stdout.splitlines()[2:6] if line.strip()}
    assert int(rows["filter"][6]) == len(started) - len(done)  # the `interrupted` column
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    whole = tmp_path / "whole"
    subprocess.run([*args[:5], "-o", str(whole), *args[7:]], capture_output=True, text=True, timeout=600, check=True)
    assert read_docs(out) == read_docs(whole)
