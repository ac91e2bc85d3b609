from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test when the shared data is not beside the repo."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


def read_record_at(path: str, offset: int, length: int):
    """Parse the record stored at exactly [offset, offset + length) of `path`, and nothing else."""
    import io

    import fsspec
    from warcio.archiveiterator import ArchiveIterator

    with fsspec.open(path, "rb") as f:
        f.seek(offset)
        raw = f.read(length)
    assert len(raw) == length
    records = list(ArchiveIterator(io.BytesIO(raw), arc2warc=True))
    assert len(records) == 1, "the byte range must hold exactly one record"
    return records[0]


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """The bundled sample run through the real CLI, once per session: (output dir, stats)."""
    from thresher.pipeline.run.local import execute
    from thresher.pipeline.run.plan import build_plan

    out = tmp_path_factory.mktemp("sample-run")
    os.environ["THRESHER_TASK_LOG_LEVEL"] = "WARNING"
    plan = build_plan("sample", output=str(out), workers=2)
    stats = execute(plan, progress=False)
    return out, stats


@pytest.fixture(scope="session")
def bench_corpus(tmp_path_factory):
    """A small Common-Crawl-shaped corpus built by shared/bench: 4 files, 1,600 responses (~1,200
    real pages once, plus exact copies, near-duplicates, boilerplate copies and mixes for dedup)."""
    import subprocess
    import sys

    script = shared_path("bench", "build_bench_warc.py")
    out = tmp_path_factory.mktemp("bench")
    subprocess.run([sys.executable, str(script), "--out", str(out), "--n", "1600", "--files", "4"],
                   check=True, capture_output=True)
    return out


def read_docs(run_dir) -> dict[str, str]:
    """{id: text} of a run's final documents."""
    import glob

    import pyarrow.parquet as pq

    files = sorted(glob.glob(os.path.join(str(run_dir), "data", "*.parquet")))
    if not files:
        return {}
    table = pq.read_table(files, columns=["id", "text"])
    ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
    assert len(set(ids)) == len(ids), "duplicate documents in data/"
    return dict(zip(ids, texts, strict=True))
