"""Running a plan on this machine: each stage's tasks in a pool of worker processes, then stats.json."""

from __future__ import annotations

import glob
import os
import threading

from ..datatrove_compat import RankExecutor
from .errors import RunFailed, RunInterrupted
from .plan import RunPlan, Stage, prepare
from .workers import init_worker, start_forkserver, stop_workers

INTERRUPTED = "interrupted"  # under logs/<stage>/: the last local attempt of the stage was stopped by Ctrl-C


def execute(plan: RunPlan, progress: bool = True, executor_factory=None, say=None) -> dict:
    """Run every stage in order (skipping completed tasks), then write stats.json; returns the stats."""
    prepare(plan, "local", say)
    factory = executor_factory or _local_executor
    for stage in plan.stages:
        executor = factory(stage, plan)
        bar = _ProgressBar(plan, stage) if progress else None
        try:
            executor.run()
        finally:
            if bar:
                bar.stop()
        incomplete = executor.get_incomplete_ranks(skip_completed=True)
        if incomplete:
            raise RunFailed(
                f"stage {stage.name!r}: {len(incomplete)} task(s) did not complete (e.g. rank {incomplete[0]}); "
                f"see {os.path.join(plan.output, 'logs', stage.name, 'logs')} and run the same command again to resume"
            )
    from .stats import write_stats

    return write_stats(plan)


class LocalExecutor(RankExecutor):
    """datatrove's LocalPipelineExecutor, except that a worker killed by the OS (kill -9, out of
    memory) fails the stage at once instead of hanging it: multiprocessing's Pool loses the task of a
    dead worker and waits forever; concurrent.futures reports it as a broken pool."""

    def __init__(self, *args, task_bytes: list[int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.task_bytes = task_bytes

    def run(self):
        ranks = self.pending_ranks()
        if not ranks:
            from datatrove.utils.stats import PipelineStats

            return PipelineStats()
        if self.task_bytes is not None:  # largest first; the pool hands tasks out in this order
            ranks = sorted(ranks, key=lambda rank: -self.task_bytes[rank])
        self.save_config()
        marker = os.path.join(self.logging_dir.path, INTERRUPTED)
        if os.path.exists(marker):
            os.remove(marker)
        try:
            stats = self._run_here(ranks) if self.workers == 1 else self._run_in_pool(ranks)
        except KeyboardInterrupt:
            stop_workers()
            with open(marker, "w") as f:
                f.write("stopped by Ctrl-C\n")
            started = [r for r in ranks if not self.is_done(r) and os.path.exists(self._task_log(r))]
            waiting = [r for r in ranks if not self.is_done(r) and r not in started]
            raise RunInterrupted(
                f"stopped {len(started)} running task(s); {len(waiting)} had not started. "
                "Run the same command again to resume"
            ) from None
        return self.save_stats(stats)

    def _task_log(self, rank: int) -> str:
        return os.path.join(self.logging_dir.path, "logs", f"task_{rank:05d}.log")

    def _run_here(self, ranks: list[int]) -> list:
        return [self.run_rank(rank, in_process=True) for rank in ranks]

    def _run_in_pool(self, ranks: list[int]) -> list:
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        # workers fork from a server that imported the blocks once (already running under `thresher run`)
        ctx = start_forkserver(type(step).__module__ for step in self.pipeline)
        pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=init_worker)
        stats = []
        try:
            futures = [pool.submit(self.run_rank, rank) for rank in ranks]
            for future in as_completed(futures):
                stats.append(future.result())
        except BrokenProcessPool:
            raise RunFailed(
                "a worker process died (killed, or out of memory); finished tasks are kept: "
                "run the same command again to resume"
            ) from None
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return stats


def _local_executor(stage: Stage, plan: RunPlan) -> LocalExecutor:
    return LocalExecutor(
        stage.pipeline,
        tasks=stage.tasks,
        workers=min(plan.workers, stage.tasks),
        logging_dir=os.path.join(plan.output, "logs", stage.name),
        skip_completed=True,
        task_bytes=stage.task_bytes,
    )


class _ProgressBar:
    """tqdm bar: input bytes for the filter stage (from the reader's per-task progress files),
    finished tasks for the other stages (from datatrove's completion markers). When stderr is not a
    terminal (a log file), one line per stage at its end instead of a bar redrawn over and over."""

    def __init__(self, plan: RunPlan, stage: Stage):
        import sys
        import time

        from tqdm import tqdm

        self.started = time.monotonic()
        self.stage = stage
        self.quiet = not sys.stderr.isatty()
        if stage.name == "filter":
            self.folder = os.path.join(plan.output, "logs", "progress")
            total = sum(os.path.getsize(p) for p in plan.inputs if "://" not in p and os.path.exists(p))
            self.bar = tqdm(
                total=total or None, unit="B", unit_scale=True, desc=stage.name, leave=True, disable=self.quiet
            )
        else:
            self.folder = os.path.join(plan.output, "logs", stage.name, "completions")
            self.bar = tqdm(total=stage.tasks, unit="task", desc=stage.name, leave=True, disable=self.quiet)
        self.completions = os.path.join(plan.output, "logs", stage.name, "completions")
        self.count_files = stage.name != "filter"
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _read(self) -> int:
        if self.count_files:
            return len(glob.glob(os.path.join(self.folder, "[0-9]*")))
        done = 0
        for path in glob.glob(os.path.join(self.folder, "[0-9]*")):
            try:
                with open(path) as f:
                    done += int(f.read() or 0)
            except (OSError, ValueError):
                pass
        return done

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            self.bar.n = self._read()
            self.bar.refresh()

    def stop(self) -> None:
        import sys
        import time

        self._stop.set()
        self.thread.join()
        self.bar.n = self._read()
        self.bar.close()
        if self.quiet:
            done = len(glob.glob(os.path.join(self.completions, "[0-9]*")))
            print(
                f"{self.stage.name}: {done} of {self.stage.tasks} task(s) done "
                f"({time.monotonic() - self.started:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
