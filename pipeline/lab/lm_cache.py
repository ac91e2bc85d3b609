"""LM statistics of training texts, computed once and kept on disk (they cost ~0.15-0.5 s of CPU a text).

Training and evaluating the AI-text model reads the statistics of tens of thousands of texts, again
for every variant tried. The cache keeps each text's per-token quantities (log p, entropy, variance
of log p, rank), keyed by the hash of the text, the model file and the token window, so that any
document statistic can be derived again without scoring (`stats.doc_stats`, the block's own), in a
jsonl file that grows as texts are scored (an interrupted run keeps what it scored; several
processes may fill one file).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from ...filters.lm_likelihood import STAT_NAMES, default_model_path, engine_for
from ...filters.lm_likelihood.stats import doc_stats


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
    quantities = lm_token_quantities(texts, max_tokens, model_path, folder, batch, log)
    return np.array([[doc_stats(q)[name] for name in STAT_NAMES] for q in quantities], dtype=np.float64)


def lm_token_quantities(
    texts: list[str],
    max_tokens: int,
    model_path: str | None = None,
    folder: Path | None = None,
    batch: int = 64,
    log=print,
) -> list[np.ndarray]:
    """Each text's [n - 1, 4] per-token quantities, from the cache where present, scored otherwise."""
    model_path = model_path or str(default_model_path())
    folder = folder or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_file_id(model_path)}-{max_tokens}-tokens.jsonl"
    keys = [text_key(t) for t in texts]
    wanted = set(keys)
    known: dict[str, np.ndarray] = {}
    if path.exists():
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line[6:46] not in wanted:  # {"k":"<40 hex>",...: skip other texts without parsing
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut by an interrupted run
                known[row["k"]] = np.array(row["q"], dtype=np.float64).reshape(-1, 4)
    todo = sorted({k: i for i, k in enumerate(keys) if k not in known}.values())
    if todo:
        log(f"  LM statistics: {len(texts) - len(todo)} cached, scoring {len(todo)} texts ({path})")
        engine = engine_for(model_path)
        t0 = time.time()
        with path.open("a", encoding="utf-8") as out:
            for s in range(0, len(todo), batch):
                idx = todo[s : s + batch]
                lines = []
                for i, q in zip(
                    idx, engine.token_quantities(engine.tokenize([texts[i] for i in idx], max_tokens)), strict=True
                ):
                    flat = [round(float(v), 5) for v in q.reshape(-1)]
                    known[keys[i]] = np.array(flat, dtype=np.float64).reshape(-1, 4)  # as a later read gives
                    lines.append(json.dumps({"k": keys[i], "q": flat}, separators=(",", ":")) + "\n")
                fcntl.flock(out, fcntl.LOCK_EX)  # several processes may fill one cache
                out.write("".join(lines))
                out.flush()
                fcntl.flock(out, fcntl.LOCK_UN)
                done = min(s + batch, len(todo))
                if done % (batch * 20) == 0 or done == len(todo):
                    rate = (time.time() - t0) / done
                    log(
                        f"  LM statistics: {done}/{len(todo)} ({rate * 1000:.0f} ms a text, "
                        f"{rate * (len(todo) - done) / 60:.0f} min left)"
                    )
    return [known[k] for k in keys]
