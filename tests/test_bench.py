"""The lab's bench harness (`thresher bench`): word scores, agreement, the extraction table,
measuring a process tree, the median of repeated runs, the timeout preset.

No timed assertions here: speed is measured only by `thresher bench`.
"""

from __future__ import annotations

import sys

import pytest
from conftest import shared_path

from thresher.pipeline.lab import bench, extraction_eval


def test_word_scores_and_agreement():
    assert extraction_eval.word_prf("the cat sat", "the cat sat") == (1.0, 1.0, 1.0)
    p, r, f = extraction_eval.word_prf("the cat", "the cat sat on the mat")
    assert p == 1.0 and r == pytest.approx(2 / 6) and f == pytest.approx(0.5)
    assert extraction_eval.word_prf(None, "gold") == (0.0, 0.0, 0.0)
    assert bench.agreement(["a", "b", "c"], ["b", "c", "d"]) == pytest.approx(0.5)
    assert bench.agreement([], []) == 1.0
    assert bench.agreement(None, ["a"]) is None


def test_bench_extraction_prints_a_table(capsys):
    from thresher.pipeline.cli import main

    folder = str(shared_path("data", "extraction", "aeb"))
    assert main(["bench", "--extraction", "--aeb", folder, "--limit", "4"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["extractor", "pages", "precision"]
    rows = [line for line in lines if line.startswith(("trafilatura", "resiliparse"))]
    assert len(rows) == 2
    for row in rows:
        f1 = float(row.split()[-5])
        assert 0.0 < f1 <= 1.0


def test_measure_command_sees_the_whole_process_tree(tmp_path):
    # a child that starts a grandchild holding ~200 MB: the tree's peak must include it
    code = (
        "import subprocess, sys, time\n"
        "g = subprocess.Popen([sys.executable, '-c', 'b = bytearray(200 << 20); import time; time.sleep(1.5)'])\n"
        "g.wait()\n"
    )
    r = bench.measure_command([sys.executable, "-c", code], str(tmp_path / "log"))
    assert r["returncode"] == 0
    assert r["peak_tree_rss"] >= 200 << 20
    assert r["processes"] >= 2
    assert r["cpu_s"] > 0


def test_timeout_preset_changes_only_trafilaturas_limit(tmp_path):
    from thresher.pipeline.run.presets import load_preset

    path = bench.timeout_preset("fineweb", 7.5, str(tmp_path / "p.yaml"))
    changed, original = load_preset(path)["pipeline"], load_preset("fineweb")["pipeline"]
    assert [n for n, _ in changed] == [n for n, _ in original]
    for (name, params), (_, before) in zip(changed, original, strict=True):
        assert params == ({**before, "timeout": 7.5} if name == "extract" else before)
    assert bench.timeout_preset("fast", 7.5, str(tmp_path / "q.yaml")) == "fast"  # no trafilatura in it


def test_median_run_reports_the_middle_run_and_every_wall_time():
    walls = iter([14.0, 12.5, 13.1])

    def measure() -> bench.Measurement:
        return bench.Measurement("fast", "preset", True, 2, 5000, wall_s=next(walls))

    m = bench.median_run(measure, 3)
    assert m.wall_s == 13.1 and m.wall_runs == [14.0, 12.5, 13.1]
    failed = bench.median_run(lambda: bench.Measurement("fast", "preset", False, 2, 5000), 3)
    assert not failed.ok and failed.wall_runs == []
