"""Training, benchmark and evaluation code: `thresher bench`, `thresher train`, the dedup evaluation.

A run never imports this package; it measures and rebuilds what a run uses.
"""

import os
from pathlib import Path

# ../shared beside the repository (the data the measurements read); THRESHER_SHARED names another place
SHARED = Path(os.environ.get("THRESHER_SHARED") or Path(__file__).resolve().parents[3] / "shared")
