"""LM statistics of training texts, computed once and kept on disk (they cost ~0.15 s of CPU a text).

Training and evaluating the AI-text model reads the statistics of tens of thousands of texts, again
for every variant tried; the cache keys each text's statistics by the hash of the text, the model
file and the token window, in a jsonl file that grows as texts are scored (an interrupted run
keeps what it scored).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from ...filters.lm_likelihood import STAT_NAMES, default_model_path, engine_for


def cache_dir() -> Path:
    return Path(os.environ.get("THRESHER_CACHE") or Path.home() / ".cache" / "thresher") / "lm-stats"


def _file_id(path: str) -> str:
    """A cheap identity of a model file: size, and the hash of its first and last MiB."""
    h = hashlib.sha256(str(os.path.getsize(path)).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, os.path.getsize(path) - (1 << 20)))
        h.update(f.read())
    return h.hexdigest()[:16]


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def lm_stats(
    texts: list[str],
    max_tokens: int,
    model_path: str | None = None,
    folder: Path | None = None,
    batch: int = 64,
    log=print,
) -> np.ndarray:
    """(len(texts), len(STAT_NAMES)) statistics, from the cache where present, scored (and cached) otherwise."""
    model_path = model_path or str(default_model_path())
    folder = folder or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_file_id(model_path)}-{max_tokens}.jsonl"
    known: dict[str, list[float]] = {}
    if path.exists():
        with path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut by an interrupted run
                known[row["k"]] = row["v"]
    keys = [text_key(t) for t in texts]
    todo = sorted({k: i for i, k in enumerate(keys) if k not in known}.values())
    if todo:
        log(f"  LM statistics: {len(texts) - len(todo)} cached, scoring {len(todo)} texts ({path})")
        engine = engine_for(model_path)
        t0 = time.time()
        with path.open("a", encoding="utf-8") as out:
            for s in range(0, len(todo), batch):
                idx = todo[s : s + batch]
                for i, st in zip(idx, engine.score([texts[i] for i in idx], max_tokens), strict=True):
                    known[keys[i]] = [st[name] for name in STAT_NAMES]
                    out.write(json.dumps({"k": keys[i], "v": known[keys[i]]}) + "\n")
                out.flush()
                done = min(s + batch, len(todo))
                if done % (batch * 20) == 0 or done == len(todo):
                    rate = (time.time() - t0) / done
                    log(
                        f"  LM statistics: {done}/{len(todo)} ({rate * 1000:.0f} ms a text, "
                        f"{rate * (len(todo) - done) / 60:.0f} min left)"
                    )
    return np.array([known[k] for k in keys], dtype=np.float64)
