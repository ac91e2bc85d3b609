"""The README's Python code runs as printed: each ```python block is run as a script, in order, in a
folder holding what the README's own commands made (the sample run in sample-output/) and a small
my-data/ folder of jsonl documents, so the examples cannot rot."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_has_python_examples():
    assert len(python_blocks()) >= 3


@pytest.mark.slow
def test_every_python_block_of_the_readme_runs_as_printed(tmp_path):
    # the README's first command, run where a user runs it
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "thresher.pipeline.cli",
            "run",
            str(ROOT / "configs" / "sample.yaml"),
            "--output",
            "sample-output",
            "--no-progress",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    rows = pq.read_table(tmp_path / "sample-output" / "data").to_pylist()
    (tmp_path / "my-data").mkdir()
    with open(tmp_path / "my-data" / "part-0.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({"id": row["id"], "text": row["text"]}) + "\n")
    for i, code in enumerate(python_blocks()):
        script = tmp_path / f"readme_block_{i}.py"
        script.write_text(code, encoding="utf-8")
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"README python block {i} failed:\n{code}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr
