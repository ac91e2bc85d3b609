"""How local worker processes start: forked from a forkserver that has imported the blocks once.

A worker that imported datatrove, pyarrow, fastText and the blocks itself would spend about a
second of CPU on it, in every stage; the forkserver pays that once per run, and `thresher run`
starts it before its own imports so that the two happen side by side.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Iterable
from importlib.util import find_spec

# libraries that blocks import lazily (optional, or heavy for a run that does not need them)
LAZY_IMPORTS = (
    "fasttext.FastText",
    "fastwarc.warc",
    "resiliparse.extract.html2text",
    "pyarrow.parquet",
    "tld",
)


def preload_modules(modules: Iterable[str]) -> list[str]:
    """The run module, `modules` (those of the blocks) and the installed lazy imports."""
    lazy = [name for name in LAZY_IMPORTS if find_spec(name.split(".")[0]) is not None]
    return ["thresher.pipeline.run.local", *sorted(set(modules)), *lazy]


def start_forkserver(modules: Iterable[str]) -> multiprocessing.context.BaseContext:
    """The forkserver context, its server started (if it was not) with `modules` preloaded."""
    from multiprocessing import forkserver

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(preload_modules(modules))
    forkserver.ensure_running()
    return ctx


def init_worker() -> None:
    """A worker leaves Ctrl-C to the main process, which stops the run as a whole (a worker that took
    SIGINT itself would fail its task and take the next one). Workers start by forkserver, and a
    forkserver child inherits that start method; the extraction sandbox must instead fork (instant,
    modules already loaded) to start within its timeout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    multiprocessing.set_start_method("fork", force=True)


def stop_workers() -> None:
    """Ends the workers and their extraction sandboxes: the processes below this one's own children
    (workers are children of the forkserver, which itself stays up for the next run in this process)."""
    import psutil

    doomed = [p for child in psutil.Process().children() for p in child.children(recursive=True)]
    for proc in doomed:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(doomed, timeout=5)
