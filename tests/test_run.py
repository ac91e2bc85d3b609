"""Hostile input, crashes and bad configuration: nothing lost, nothing duplicated, nothing hung."""

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
from conftest import read_docs
from hostile import build_hostile_warc

from thresher.pipeline.run.local import execute
from thresher.pipeline.run.plan import build_plan
from thresher.pipeline.run.presets import ConfigError, load_preset

THRESHER = [sys.executable, "-m", "thresher.pipeline.cli"]


def _preset(tmp_path, body: str) -> str:
    path = tmp_path / "preset.yaml"
    path.write_text(body)
    return str(path)


def test_hostile_records_are_counted_and_the_run_completes(tmp_path):
    warc = tmp_path / "hostile.warc.gz"
    truth = build_hostile_warc(str(warc))
    # the good pages repeat one paragraph: Gopher repetition would drop them, and is not under test here
    preset = _preset(tmp_path, "extends: sample\ninput: []\nremove: [gopher_repetition]\n")
    plan = build_plan(preset, inputs=[str(warc)], output=str(tmp_path / "out"), workers=1)
    start = time.monotonic()
    stats = execute(plan, progress=False)
    assert time.monotonic() - start < 120, "a hostile record stalled the worker"
    reader = stats["reader"]
    assert reader["dropped_record_too_large"] == 2  # the 50 MB page and the gzip bomb
    assert reader["dropped_duplicate_record_id"] == 1
    assert reader["read_error"] >= 2 and reader["resync"] >= 2  # wrong length / garbage / truncated member
    assert stats["documents"]["accounted"]
    kept = {row_url for row_url in _urls(tmp_path / "out" / "data")}
    removed = _urls(tmp_path / "out" / "removed")
    # the good pages around every broken record are all read
    for url in ("http://good.example/1", "http://good.example/2", "http://good.example/3"):
        assert url in kept, url
    # binary, empty and 100,000-deep pages never become documents with text, and each has a reason
    for url in ("http://binary.example/", "http://empty.example/", "http://big.example/", "http://bomb.example/"):
        assert url in removed and url not in kept, (url, truth[url])
    assert "http://deep.example/" not in kept
    # a cap per record keeps memory bounded even for the 50 MB page and the 200 MB gzip bomb
    peak = psutil.Process().memory_info().rss
    assert peak < 1.5e9


def _urls(folder) -> set[str]:
    import pyarrow.parquet as pq

    files = glob.glob(os.path.join(str(folder), "**", "*.parquet"), recursive=True)
    return set(pq.read_table(files, columns=["url"]).column("url").to_pylist()) if files else set()


@pytest.mark.parametrize(
    "body, expected",
    [
        ("extends: fineweb\nworkerz: 2\n", "unknown key 'workerz'"),
        ("extends: fineweb\ninsert_after:\n  language: [{no_such_block: {}}]\n", "unknown block 'no_such_block'"),
        ("extends: fineweb\noverride:\n  gopher_quality: {min_doc_wordz: 3}\n", "has no parameter 'min_doc_wordz'"),
        ("extends: fineweb\noverride:\n  gopher_quality: {min_doc_words: many}\n", "parameter 'min_doc_words'"),
        ("extends: fineweb\noverride:\n  nope: {a: 1}\n", "no block 'nope'"),
        ("pipeline: [{extract: {timeout: soon}}]\n", "parameter 'timeout'"),
        ("just a string\n", "a preset is a YAML mapping"),
        ("extends: fineweb\ncrawl: !!python/object/apply:os.system ['echo pwned']\n", "not valid YAML"),
    ],
)
def test_bad_presets_get_one_clear_line(tmp_path, body, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_preset(_preset(tmp_path, body))


def test_cli_errors_before_any_work(tmp_path):
    missing_model = _preset(tmp_path, "extends: fineweb\noverride:\n  language: {model_path: /nonexistent/lid.bin}\n")
    cases = [
        (["run", str(tmp_path / "nope.yaml"), "--input", "x"], "no preset"),
        (["run", "fineweb", "--input", str(tmp_path / "missing*.warc.gz")], "matches no file"),
        (["run", missing_model, "--input", "bundled-sample", "-o", str(tmp_path / "o1")], "/nonexistent/lid.bin"),
    ]
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    cases.append((["run", "sample", "-o", str(not_a_dir / "out")], "not writable"))
    for args, expected in cases:
        proc = subprocess.run(THRESHER + args, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("thresher: error:") and expected in lines[0], (args, lines)
    assert not (tmp_path / "o1" / "data").exists()


def _run_cli(preset: str, corpus, out, workers: int, extra=()):
    return subprocess.Popen(
        THRESHER + ["run", preset, "--input", str(corpus), "-o", str(out), "-w", str(workers), "--no-progress", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
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


@pytest.mark.parametrize("workers", [1, 4])
def test_same_documents_with_any_number_of_workers(bench_corpus, reference_run, tmp_path, workers):
    out = tmp_path / f"w{workers}"
    proc = _run_cli("fineweb", bench_corpus, out, workers)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-2000:]
    assert read_docs(out) == reference_run[1]


def test_damage_never_hides_the_records_behind_it(tmp_path):
    """Whatever bytes a truncated or mislabelled member happens to hold, the good records after it
    are read and the damage is counted (warcio alone loses them in some byte layouts)."""
    from thresher.pipeline.read.warc import WarcReader

    for seed in range(10):
        path = str(tmp_path / f"hostile-{seed}.warc.gz")
        build_hostile_warc(path, big_page_mb=1, seed=seed)
        reader = WarcReader([path])
        urls = {d.metadata["url"] for d in reader.run()}
        assert {"http://good.example/1", "http://good.example/2", "http://good.example/3"} <= urls, seed
        assert reader.stats.stats["read_error"].total >= 2, seed
