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


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """The bundled sample run through the real CLI, once per session: (output dir, stats)."""
    from thresher.pipeline.run import build_plan, execute

    out = tmp_path_factory.mktemp("sample-run")
    os.environ["THRESHER_TASK_LOG_LEVEL"] = "WARNING"
    plan = build_plan("sample", output=str(out), workers=2)
    stats = execute(plan, progress=False)
    return out, stats
