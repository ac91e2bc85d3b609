"""Every use of datatrove's internals, in one place.

thresher builds on datatrove's public API (PipelineStep, BaseFilter, the executors); where it needs
more, this module is the only one that reaches below it, so that a datatrove upgrade is checked
here (datatrove>=0.10,<0.11 in pyproject):

- the task logger the executors install (module-level functions of `datatrove.executor.base`);
- a local executor's single rank (`_run_for_rank`), so a pool of our own can run the ranks;
- the extraction sandbox's process and pipe (`ExtractorSandbox._worker`, `_ensure_process`, ...);
- the SLURM executor's sbatch options (`_sbatch_args`) and its stats-merge job.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from copy import deepcopy

from datatrove.executor import LocalPipelineExecutor
from datatrove.executor import base as _executor_base
from datatrove.executor.slurm import SlurmPipelineExecutor, launch_slurm_job
from datatrove.pipeline.extractors.base import ExtractorSandbox
from datatrove.utils.stats import PipelineStats

__all__ = ["CpuTimedSandbox", "RankExecutor", "SlurmStageExecutor", "install_task_logger", "launch_slurm_job"]

TASK_LOG_LEVEL_ENV = "THRESHER_TASK_LOG_LEVEL"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---- task logs ------------------------------------------------------------------------------------


def _task_logger(logging_dir, rank: int, local_rank: int = 0, node_rank: int = -1):
    """datatrove's task logger, but with the stderr level from THRESHER_TASK_LOG_LEVEL (default INFO).

    The CLI sets WARNING so a run shows a progress bar and a table, not every task's INFO lines;
    the full log still goes to logs/<stage>/logs/task_N.log.
    """
    from loguru import logger

    logger.remove()
    logfile = logging_dir.open(f"logs/task_{rank:05d}.log", "w")
    fmt = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line} - {message}"
    level = os.environ.get(TASK_LOG_LEVEL_ENV, "INFO") if local_rank == 0 else "ERROR"
    logger.add(sys.stderr, colorize=False, level=level, format=fmt)
    logger.add(logfile, colorize=False, level="DEBUG", format=fmt)
    logger.info(f"Launching pipeline for {rank=}")
    return logfile


def _close_task_logger(logfile) -> None:
    """datatrove's, but the terminal handler it restores keeps THRESHER_TASK_LOG_LEVEL."""
    from loguru import logger

    logger.complete()
    logger.remove()
    logger.add(sys.stderr, colorize=False, level=os.environ.get(TASK_LOG_LEVEL_ENV, "INFO"))
    logfile.close()


def install_task_logger() -> None:
    """datatrove's executors call these module-level names; a worker imports this module's caller,
    so it gets them too."""
    _executor_base.add_task_logger = _task_logger
    _executor_base.close_task_logger = _close_task_logger


install_task_logger()


# ---- local executor -------------------------------------------------------------------------------


class RankExecutor(LocalPipelineExecutor):
    """datatrove's LocalPipelineExecutor, opened up so that a pool of our own runs its ranks."""

    def pending_ranks(self) -> list[int]:
        return self.get_incomplete_ranks(range(self.local_rank_offset, self.local_rank_offset + self.local_tasks))

    def run_rank(self, rank: int, in_process: bool = False) -> PipelineStats:
        """One task, as datatrove runs it (its completion marker written at the end). In this process
        (`in_process`), on a copy of the pipeline, as datatrove's single-worker loop does: steps keep state."""
        if not in_process:
            return self._run_for_rank(rank, 1)
        pipeline = self.pipeline
        self.pipeline = deepcopy(pipeline)
        try:
            return self._run_for_rank(rank, 0)
        finally:
            self.pipeline = pipeline

    def is_done(self, rank: int) -> bool:
        return self.is_rank_completed(rank)

    def save_config(self) -> None:
        self.save_executor_as_json()

    def save_stats(self, stats: list[PipelineStats]) -> PipelineStats:
        merged = sum(stats, start=PipelineStats())
        with self.logging_dir.open("stats.json", "wt") as f:
            merged.save_to_disk(f)
        return merged


# ---- extraction sandbox ---------------------------------------------------------------------------


class CpuTimedSandbox(ExtractorSandbox):
    """datatrove's killable extraction process, timed by the CPU seconds the child spends on the
    document rather than by the wall clock, so that a loaded machine does not turn ordinary pages
    into timeouts (and the kept set does not depend on the load). A wall-clock backstop of
    `wall_factor` x timeout still bounds a child that sleeps or is starved."""

    def __init__(self, timeout: float, wall_factor: float = 10.0):
        super().__init__(timeout=max(timeout, 5.0), warmup_text="")  # the warm-up is timed by wall clock
        self.cpu_timeout = timeout
        self.wall_timeout = timeout * wall_factor

    def _worker(self, conn, extract_fn):
        # the forked child also holds the parent's end of the pipe: close it, so that when the
        # worker dies (kill -9) the child's recv() sees EOF and it exits instead of living on
        self.parent_conn.close()
        # datatrove's loop catches only EOFError: an exception of the extractor would end the child
        # (the page reported as a dead process, and a new child started); it is sent back instead,
        # and process_document raises it in the worker (an extraction error)
        super()._worker(conn, self._returning_errors(extract_fn))

    @staticmethod
    def _returning_errors(extract_fn):
        """`extract_fn`, returning the exception it raises instead of raising it. One that would not
        come through the pipe (its class takes other arguments than its message: it pickles, but does
        not unpickle) becomes a RuntimeError that names it, and so do TimeoutError and EOFError, which
        in the worker name a killed or dead process."""

        def extract(*args):
            try:
                return extract_fn(*args)
            except Exception as exc:
                if isinstance(exc, (TimeoutError, EOFError)):
                    return RuntimeError(f"{type(exc).__name__}: {exc}")
                try:
                    pickle.loads(pickle.dumps(exc))
                except Exception:
                    return RuntimeError(f"{type(exc).__name__}: {exc}")
                return exc

        return extract

    def _child_cpu(self) -> float:
        try:
            with open(f"/proc/{self.process.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        except (OSError, IndexError, ValueError):
            return 0.0

    def process_document(self, text, extract_fn):
        self._ensure_process(extract_fn)
        try:
            cpu_start = self._child_cpu()
            self.parent_conn.send(text)
            wall_deadline = time.monotonic() + self.wall_timeout
            while True:
                if self.parent_conn.poll(0.05):
                    result = self.parent_conn.recv()
                    if isinstance(result, Exception):
                        raise result
                    return result
                if not self.process.is_alive():
                    raise EOFError("extraction process died (probably out of memory)")
                if self._child_cpu() - cpu_start > self.cpu_timeout or time.monotonic() > wall_deadline:
                    raise TimeoutError("document extraction timed out")
        except (TimeoutError, EOFError):
            self._cleanup_process()
            raise


# ---- SLURM ----------------------------------------------------------------------------------------


class SlurmStageExecutor(SlurmPipelineExecutor):
    """datatrove's executor minus what the user did not ask for.

    Unset partition, time and memory are left out of the job script so the cluster's defaults apply
    (datatrove would write `--partition=None`, `--mem-per-cpu=2G`), and the per-stage stats-merge job
    is not submitted: thresher merges every stage's stats itself (stats.json).
    """

    def __init__(self, *args, mem_per_cpu: str | None = None, mem_per_cpu_gb: int = 0, **kwargs):
        super().__init__(*args, mem_per_cpu_gb=mem_per_cpu_gb, **kwargs)
        self.mem_per_cpu = mem_per_cpu

    def get_sbatch_args(self, max_array: int = 1) -> dict:
        args = super().get_sbatch_args(max_array)
        for key in ("partition", "time"):
            if key not in self._sbatch_args and args.get(key) is None:
                args.pop(key, None)
        if "mem-per-cpu" not in self._sbatch_args:
            if self.mem_per_cpu:
                args["mem-per-cpu"] = self.mem_per_cpu
            else:
                args.pop("mem-per-cpu", None)
        return args

    def launch_merge_stats(self) -> None:
        """Not needed: thresher merges logs/<stage>/stats/ for the whole run into stats.json."""
