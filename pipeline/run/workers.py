"""How local worker processes start: forked from a forkserver that has imported the blocks once.

A worker that imported datatrove, pyarrow, fastText and the blocks itself would spend about a
second of CPU on it, in every stage; the forkserver pays that once per run, and `thresher run`
starts it before its own imports so that the two happen side by side.
"""

from __future__ import annotations

import multiprocessing
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


def fork_children() -> None:
    """Workers start by forkserver, and a forkserver child inherits that start method; the
    extraction sandbox must instead fork (instant, modules already loaded) to start within its timeout."""
    multiprocessing.set_start_method("fork", force=True)
