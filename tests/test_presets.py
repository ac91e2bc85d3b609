"""Presets: a bad preset or input stops the run before any work, with one line naming the problem;
the bundled presets build the pipelines they describe."""

from __future__ import annotations

import subprocess
import sys

import pytest

from thresher.pipeline.run.presets import ConfigError, load_preset

THRESHER = [sys.executable, "-m", "thresher.pipeline.cli"]


def _preset(tmp_path, body: str) -> str:
    path = tmp_path / "preset.yaml"
    path.write_text(body)
    return str(path)


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


@pytest.mark.slow
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


def test_fast_preset_uses_the_fast_engines(tmp_path):
    from thresher.pipeline.read.fastwarc import FastWarcReader
    from thresher.pipeline.read.inputs import bundled_sample_files
    from thresher.pipeline.run.plan import build_plan

    path = next(p for p in bundled_sample_files() if p.endswith("whirlwind.warc.gz"))
    plan = build_plan("fast", inputs=[path], output=str(tmp_path / "out"), workers=1)
    names = [name for name, _ in plan.stages[0].blocks]
    assert isinstance(plan.stages[0].blocks[0][1], FastWarcReader)
    assert "extract_resiliparse" in names and "extract" not in names
