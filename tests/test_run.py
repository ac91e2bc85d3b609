"""Whole runs: hostile input, a killed run or worker resumed, any number of workers; nothing lost,
nothing duplicated, nothing hung. The bench-corpus runs (full fineweb runs) are the slow tier."""

from __future__ import annotations

import glob
import os
import random
import signal
import subprocess
import sys
import time

import psutil
import pytest
from conftest import needs_shared, read_docs, shared_path
from hostile import build_hostile_warc

from thresher.pipeline.read.inputs import bundled_sample_files

THRESHER = [sys.executable, "-m", "thresher.pipeline.cli"]


def _preset(tmp_path, body: str) -> str:
    path = tmp_path / "preset.yaml"
    path.write_text(body)
    return str(path)


def _peak_rss(pid: int) -> int:
    """The kernel's high-water mark of a process's resident memory since it started (VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def run_measured(argv: list[str], log: str, timeout: float) -> dict:
    """Run `argv` to its end: exit code, wall seconds, the peak RSS of its largest process (each process's
    own high-water mark, read while it runs) and the peak RSS of its whole process tree (sampled every
    50 ms; trafilatura's sandboxes included)."""
    with open(log, "w") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT)
    root, start = psutil.Process(proc.pid), time.monotonic()
    peak_proc = peak_tree = 0
    while proc.poll() is None:
        if time.monotonic() - start > timeout:
            proc.kill()
            raise AssertionError(f"{argv} still running after {timeout} s")
        total = 0
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            tree = []
        for p in tree:
            try:
                total += p.memory_info().rss
                peak_proc = max(peak_proc, _peak_rss(p.pid))
            except (psutil.Error, OSError, StopIteration):
                pass
        peak_tree = max(peak_tree, total)
        time.sleep(0.05)
    return {
        "returncode": proc.returncode,
        "wall_s": time.monotonic() - start,
        "peak_rss": peak_proc,
        "peak_tree_rss": peak_tree,
    }


def test_hostile_records_are_counted_and_the_run_completes(tmp_path):
    import json

    warc = tmp_path / "hostile.warc.gz"
    truth = build_hostile_warc(str(warc))
    # the good pages repeat one paragraph: Gopher repetition would drop them, and is not under test here
    preset = _preset(tmp_path, "extends: sample\ninput: []\nremove: [gopher_repetition]\n")
    # the same run on a good page gives the memory a run takes anyway (the models, the libraries)
    good = str(next(p for p in bundled_sample_files() if p.endswith("whirlwind.warc.gz")))
    runs = {}
    for name, warc_path in (("good", good), ("hostile", str(warc))):
        argv = THRESHER + ["run", preset, "--input", warc_path, "-o", str(tmp_path / name), "-w", "1", "--no-progress"]
        runs[name] = run = run_measured(argv, str(tmp_path / f"{name}.log"), timeout=300)
        assert run["returncode"] == 0, (tmp_path / f"{name}.log").read_text()[-2000:]
    run, out = runs["hostile"], tmp_path / "hostile"
    assert run["wall_s"] < 120, "a hostile record stalled the worker"
    stats = json.loads((out / "stats.json").read_text())
    reader = stats["reader"]
    assert reader["dropped_record_too_large"] == 2  # the 50 MB page and the gzip bomb
    assert reader["dropped_duplicate_record_id"] == 1
    assert reader["read_error"] >= 2 and reader["resync"] >= 2  # wrong length / garbage / truncated member
    assert stats["documents"]["accounted"]
    kept = {row_url for row_url in _urls(out / "data")}
    removed = _urls(out / "removed")
    # the good pages around every broken record are all read
    for url in ("http://good.example/1", "http://good.example/2", "http://good.example/3"):
        assert url in kept, url
    # binary, empty and 100,000-deep pages never become documents with text, and each has a reason
    for url in ("http://binary.example/", "http://empty.example/", "http://big.example/", "http://bomb.example/"):
        assert url in removed and url not in kept, (url, truth[url])
    assert "http://deep.example/" not in kept
    # a cap per record keeps memory bounded even for the 50 MB page and the 200 MB gzip bomb: no process
    # of the run grows by what either would take (200 MB decompressed; 50 MB as bytes, again as text, parsed)
    assert run["peak_rss"] < runs["good"]["peak_rss"] + 150e6, runs
    assert run["peak_tree_rss"] < 1.5e9, runs


def _urls(folder) -> set[str]:
    import pyarrow.parquet as pq

    files = glob.glob(os.path.join(str(folder), "**", "*.parquet"), recursive=True)
    return set(pq.read_table(files, columns=["url"]).column("url").to_pylist()) if files else set()


def _run_cli(preset: str, corpus, out, workers: int, extra=()):
    return subprocess.Popen(
        THRESHER + ["run", preset, "--input", str(corpus), "-o", str(out), "-w", str(workers), "--no-progress", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def reference_run(bench_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    proc = _run_cli("fineweb", bench_corpus, out, 2, extra=["--write-removed"])
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-2000:]
    docs = read_docs(out)
    assert docs
    return out, docs


@pytest.mark.slow
def test_every_html_record_of_the_bench_corpus_is_accounted_for(reference_run):
    import json

    import pyarrow.parquet as pq

    out, docs = reference_run
    stats = json.loads((out / "stats.json").read_text())
    removed_ids = []
    for path in glob.glob(str(out / "removed" / "*" / "*.parquet")):
        removed_ids += pq.read_table(path, columns=["id"]).column("id").to_pylist()
    assert len(removed_ids) == len(set(removed_ids)), "a document removed twice"
    assert not set(removed_ids) & set(docs), "a document both kept and removed"
    html = stats["documents"]["html_records"]
    assert html == len(docs) + len(removed_ids) == stats["reader"]["html_records"] > 1000
    assert stats["documents"]["accounted"]


def _wait_for_shard(out, proc, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if glob.glob(str(out / "**" / "0000*_0000.parquet"), recursive=True):
            return
        time.sleep(0.2)


@pytest.mark.slow
def test_killed_run_resumes_with_the_same_documents(bench_corpus, reference_run, tmp_path):
    out = tmp_path / "killed"
    proc = _run_cli("fineweb", bench_corpus, out, 2)
    _wait_for_shard(out, proc)
    time.sleep(random.uniform(0, 2))
    os.killpg(proc.pid, signal.SIGKILL)  # the whole run: main process, workers, sandboxes
    proc.wait()
    again = _run_cli("fineweb", bench_corpus, out, 2)
    _, err = again.communicate(timeout=900)
    assert again.returncode == 0, err[-2000:]
    assert read_docs(out) == reference_run[1]
    assert not glob.glob(str(out / "**" / ".*.tmp"), recursive=True), "partial shard left behind"


@pytest.mark.slow
def test_killed_worker_fails_the_run_and_a_rerun_completes_it(bench_corpus, reference_run, tmp_path):
    out = tmp_path / "worker-killed"
    proc = _run_cli("fineweb", bench_corpus, out, 2)
    _wait_for_shard(out, proc)
    servers = [c for c in psutil.Process(proc.pid).children() if "forkserver" in " ".join(c.cmdline())]
    workers = [w for s in servers for w in s.children()]  # pool workers (their children: sandboxes)
    if proc.poll() is None and workers:
        random.choice(workers).kill()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode != 0 and "run the same command again" in err
    else:
        proc.communicate(timeout=300)
    again = _run_cli("fineweb", bench_corpus, out, 2)
    _, err = again.communicate(timeout=900)
    assert again.returncode == 0, err[-2000:]
    assert read_docs(out) == reference_run[1]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 4])
def test_same_documents_with_any_number_of_workers(bench_corpus, reference_run, tmp_path, workers):
    out = tmp_path / f"w{workers}"
    proc = _run_cli("fineweb", bench_corpus, out, workers)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-2000:]
    assert read_docs(out) == reference_run[1]


@pytest.mark.slow
@needs_shared("data", "warc", "real")
def test_batched_blocks_write_what_one_document_at_a_time_writes(tmp_path):
    # batch_size is speed only: the fast preset (batches of 64-256) and the same preset with every
    # batch at 1 must keep the same documents with the same text, language and AI scores
    import pyarrow.parquet as pq

    from thresher.pipeline.run.local import execute
    from thresher.pipeline.run.plan import build_plan

    real_files = sorted(glob.glob(str(shared_path("data", "warc", "real") / "*.warc*.gz")))
    single = tmp_path / "single.yaml"
    single.write_text(
        "extends: fast\noverride:\n"
        + "".join(f"  {b}: {{batch_size: 1}}\n" for b in ("url_filter", "language_prefilter", "language", "ai_text"))
    )
    columns = ["id", "text", "language", "language_score", "ai_score", "ai_evidence"]
    outputs = []
    for preset in ("fast", str(single)):
        plan = build_plan(preset, inputs=real_files, output=str(tmp_path / f"out{len(outputs)}"), workers=1)
        execute(plan, progress=False)
        rows = []
        for path in sorted((tmp_path / f"out{len(outputs)}" / "data").rglob("*.parquet")):
            rows += pq.read_table(path, columns=columns).to_pylist()
        outputs.append(sorted(rows, key=lambda r: r["id"]))
    batched = [step for _, step in build_plan("fast", inputs=real_files, output=str(tmp_path / "x")).stages[0].blocks]
    assert max(getattr(step, "batch_size", 1) for step in batched) > 1
    assert outputs[0] == outputs[1] and len(outputs[0]) >= 5
