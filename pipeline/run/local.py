"""Running a plan on this machine: each stage's tasks in a pool of worker processes, then stats.json."""

from __future__ import annotations

import glob
import os
import threading

from ..datatrove_compat import RankExecutor
from .errors import RunFailed
from .plan import RunPlan, Stage, prepare, write_run_json
from .workers import fork_children, start_forkserver


def execute(plan: RunPlan, progress: bool = True, executor_factory=None) -> dict:
    """Run every stage in order (skipping completed tasks), then write stats.json; returns the stats."""
    write_run_json(plan, "local")
    prepare(plan)
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
        if self.workers == 1:
            return super().run()
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        ranks = self.pending_ranks()
        if not ranks:
            from datatrove.utils.stats import PipelineStats

            return PipelineStats()
        if self.task_bytes is not None:  # largest first; the pool hands tasks out in this order
            ranks = sorted(ranks, key=lambda rank: -self.task_bytes[rank])
        self.save_config()
        stats = []
        # workers fork from a server that imported the blocks once (already running under `thresher run`)
        ctx = start_forkserver(type(step).__module__ for step in self.pipeline)
        try:
            with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=fork_children) as pool:
                futures = [pool.submit(self.run_rank, rank) for rank in ranks]
                for future in as_completed(futures):
                    stats.append(future.result())
        except BrokenProcessPool:
            raise RunFailed(
                "a worker process died (killed, or out of memory); finished tasks are kept: "
                "run the same command again to resume"
            ) from None
        return self.save_stats(stats)


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
    finished tasks for the other stages (from datatrove's completion markers)."""

    def __init__(self, plan: RunPlan, stage: Stage):
        from tqdm import tqdm

        if stage.name == "filter":
            self.folder = os.path.join(plan.output, "logs", "progress")
            total = sum(os.path.getsize(p) for p in plan.inputs if "://" not in p and os.path.exists(p))
            self.bar = tqdm(total=total or None, unit="B", unit_scale=True, desc=stage.name, leave=True)
        else:
            self.folder = os.path.join(plan.output, "logs", stage.name, "completions")
            self.bar = tqdm(total=stage.tasks, unit="task", desc=stage.name, leave=True)
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
        self._stop.set()
        self.thread.join()
        self.bar.n = self._read()
        self.bar.close()
