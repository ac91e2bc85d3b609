"""Build the stages of a run from a preset and execute them with datatrove's executors."""

from __future__ import annotations

import glob
import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from importlib import resources

from datatrove.executor import LocalPipelineExecutor
from datatrove.executor import base as _executor_base
from datatrove.pipeline.base import PipelineStep

from thresher.pipeline.config import ConfigError, RunFailed, block_class, load_preset
from thresher.pipeline.reader import WarcReader, expand_inputs, file_size
from thresher.pipeline.schema import columns_of
from thresher.pipeline.workers import fork_children, start_forkserver
from thresher.pipeline.writer import ParquetDocReader, ParquetShardWriter

BUNDLED_SAMPLE = "bundled-sample"
# blocks after which the run is split into stages (the block needs every earlier document first)
STAGE_BREAKS = ("minhash_dedup",)


@dataclass
class Stage:
    """One stage: a datatrove pipeline run as `tasks` parallel tasks."""

    name: str
    pipeline: list[PipelineStep]
    tasks: int
    blocks: list[tuple[str, PipelineStep]] = field(default_factory=list)  # (block name, step)
    task_bytes: list[int] | None = None  # input bytes of each task: the largest start first


@dataclass
class RunPlan:
    preset: dict
    output: str
    inputs: list[str]
    stages: list[Stage]
    workers: int
    robots: list[str] = field(default_factory=list)  # robots.txt WARC files, indexed before the run
    robots_index: str | None = None


def bundled_sample_files() -> list[str]:
    folder = resources.files("thresher.pipeline").joinpath("sample_data")
    return sorted(str(p) for p in folder.iterdir() if ".warc" in p.name)


def resolve_inputs(items: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        out.extend(bundled_sample_files() if item == BUNDLED_SAMPLE else expand_inputs([item]))
    return sorted(dict.fromkeys(out))


class TaskStart(PipelineStep):
    """Deletes what an interrupted earlier attempt of this task left in the stage's output folders."""

    name = "🧹 task start"
    type = "🧹 - SETUP"

    def __init__(self, folders: list[str]):
        super().__init__()
        self.folders = folders

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        for folder in self.folders:
            for stale in glob.glob(os.path.join(folder, f"{rank:05d}_*.parquet")) + glob.glob(
                os.path.join(folder, f".{rank:05d}_*.tmp")
            ):
                os.remove(stale)
        if data:
            yield from data


def build_plan(
    preset_name: str,
    inputs: list[str] | None = None,
    output: str | None = None,
    workers: int | None = None,
    tasks: int | None = None,
    write_removed: bool | None = None,
    crawl: str | None = None,
    robots: list[str] | None = None,
) -> RunPlan:
    preset = load_preset(preset_name)
    items = inputs or preset.get("input") or []
    if not items:
        raise ConfigError("no input: give --input PATH_OR_GLOB (or `input:` in the preset)")
    files = resolve_inputs(items)
    if not files:
        raise ConfigError(f"inputs {items} match no WARC file")
    output = os.path.abspath(output or "thresher-output")
    check_output(output)
    out_cfg = preset.get("output") or {}
    removed = bool(out_cfg.get("write_removed", False) if write_removed is None else write_removed)
    max_rows = int(out_cfg.get("max_rows_per_shard", 50_000))
    n_tasks = tasks or min(len(files), 1000)
    n_workers = max(1, min(workers or os.cpu_count() or 1, n_tasks))

    steps = preset["pipeline"]
    cut = next((i for i, (name, _) in enumerate(steps) if name in STAGE_BREAKS), None)
    before = steps if cut is None else steps[:cut]
    data_dir = os.path.join(output, "data")
    work_dir = os.path.join(output, "work")

    robots_files = resolve_inputs(robots) if robots else []
    robots_index = os.path.join(output, "work", "robots.sqlite") if robots_files else None

    def make_blocks(specs):
        built = []
        for name, params in specs:
            cls = block_class(name)
            kwargs = dict(params)
            if name == "consent" and robots_index:
                kwargs["robots_index"] = robots_index
            if removed and _takes_exclusion_writer(cls):
                kwargs["exclusion_writer"] = None  # set below, once columns are known
            built.append((name, cls(**kwargs)))
        return built

    first_blocks = make_blocks(before)
    reader_cfg = preset.get("reader") or {}
    reader_cls = WarcReader
    if reader_cfg.get("engine", "warcio") == "fastwarc":  # `reader: {engine: fastwarc}`: same documents, faster
        from thresher.pipeline.fast import FastWarcReader as reader_cls  # noqa: PLC0415
    elif reader_cfg.get("engine", "warcio") != "warcio":
        raise ConfigError(f"reader engine {reader_cfg['engine']!r} unknown; use warcio or fastwarc")
    reader = reader_cls(
        files,
        crawl=crawl or preset.get("crawl"),
        max_record_bytes=int(reader_cfg.get("max_record_bytes", 10_000_000)),
        progress_dir=os.path.join(output, "logs", "progress"),
    )
    all_blocks = list(first_blocks)
    later_blocks: list[tuple[str, PipelineStep]] = []
    dedup_stages: list[Stage] = []
    signatures: list[PipelineStep] = []
    if cut is not None:
        from thresher.pipeline import dedup  # noqa: PLC0415 (only runs that dedup need it)

        dedup_name, dedup_params = steps[cut]
        dedup_filter = dedup.MinhashDedupFilter(work_dir=work_dir, **dedup_params)
        later_blocks = [(dedup_name, dedup_filter)] + make_blocks(steps[cut + 1 :])
        all_blocks += later_blocks
        filtered_dir = os.path.join(work_dir, "filtered")
        # stage 1 (signatures) runs at the end of the filter stage, on the documents it writes
        signatures = [dedup.signatures_step(dedup_params, work_dir, n_tasks)]
        for name, pipeline, n in dedup.build_dedup_stages(
            dedup_params, filtered_dir, work_dir, n_tasks, with_signatures=False
        ):
            dedup_stages.append(Stage(name, pipeline, n))
    columns = columns_of([b for _, b in all_blocks])
    removed_folders: dict[str, str] = {}
    if removed:
        for name, block in [("reader", reader)] + all_blocks:
            folder = os.path.join(output, "removed", name)
            writer = ParquetShardWriter(folder, columns=columns, removed_by=name, max_rows_per_shard=max_rows)
            if name == "reader":
                reader.removed_writer = writer
            elif hasattr(block, "exclusion_writer"):
                block.exclusion_writer = writer
            else:
                continue
            removed_folders[name] = folder

    first_out = data_dir if cut is None else os.path.join(work_dir, "filtered")
    first_names = ["reader"] + [n for n, _ in first_blocks]
    stages = [
        Stage(
            "filter",
            [TaskStart([first_out] + [f for n, f in removed_folders.items() if n in first_names]), reader]
            + [b for _, b in first_blocks]
            + [ParquetShardWriter(first_out, columns=columns, max_rows_per_shard=max_rows)]
            + signatures,
            n_tasks,
            [("reader", reader)] + first_blocks,
            task_bytes=input_bytes_per_task(files, n_tasks),
        )
    ]
    if cut is not None:
        stages += dedup_stages
        later_names = [n for n, _ in later_blocks]
        stages.append(
            Stage(
                "final",
                [TaskStart([data_dir] + [f for n, f in removed_folders.items() if n in later_names]),
                 ParquetDocReader(os.path.join(work_dir, "filtered"))]
                + [b for _, b in later_blocks]
                + [ParquetShardWriter(data_dir, columns=columns, max_rows_per_shard=max_rows)],
                n_tasks,
                later_blocks,
            )
        )
    return RunPlan(
        preset=preset, output=output, inputs=files, stages=stages, workers=n_workers,
        robots=robots_files, robots_index=robots_index,
    )


def input_bytes_per_task(files: list[str], n_tasks: int) -> list[int] | None:
    """Bytes each task reads (task r reads files[r::n_tasks]); None when a file is not local.

    With few files per worker, a run ends when its last task does: starting the largest tasks
    first (longest-processing-time order) keeps a worker from idling while another finishes a big one.
    """
    if any("://" in f for f in files):
        return None  # a remote size costs a request per file; the order then stays as listed
    sizes = [file_size(f) for f in files]
    if None in sizes:
        return None
    return [sum(sizes[r::n_tasks]) for r in range(n_tasks)]


def _takes_exclusion_writer(cls) -> bool:
    import inspect

    return "exclusion_writer" in inspect.signature(cls.__init__).parameters


def check_output(output: str) -> None:
    """Fail before any work if the output folder cannot be written."""
    try:
        os.makedirs(output, exist_ok=True)
        probe = os.path.join(output, ".thresher-write-test")
        with open(probe, "w") as f:
            f.write("x")
        os.remove(probe)
    except OSError as e:
        raise ConfigError(f"output folder {output!r} is not writable ({e.strerror}); choose another --output") from None
    free = shutil.disk_usage(output).free
    if free < 64 << 20:
        raise ConfigError(
            f"output folder {output!r} has only {free >> 20} MB free; free space or choose another --output"
        )


def write_run_json(plan: RunPlan, executor: str) -> None:
    """OUTPUT/run.json: the resolved preset, inputs and stages (read by report and status)."""
    with open(os.path.join(plan.output, "run.json"), "w") as f:
        json.dump(
            {
                "preset": plan.preset.get("_path"),
                "pipeline": [[n, p] for n, p in plan.preset["pipeline"]],
                "inputs": plan.inputs,
                "stages": [s.name for s in plan.stages],
                "tasks": {s.name: s.tasks for s in plan.stages},
                "executor": executor,
            },
            f,
            indent=2,
            default=str,
        )


def prepare(plan: RunPlan) -> None:
    """Work every executor needs done once before the stages: the robots.txt index."""
    if plan.robots_index and not os.path.exists(plan.robots_index):
        from thresher.pipeline.robots import build_robots_index

        os.makedirs(os.path.dirname(plan.robots_index), exist_ok=True)
        counts = build_robots_index(plan.robots, plan.robots_index)
        with open(os.path.join(plan.output, "robots-index.json"), "w") as f:
            json.dump(counts, f, indent=2)


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
    from thresher.pipeline.stats import write_stats

    return write_stats(plan)


def _task_logger(logging_dir, rank: int, local_rank: int = 0, node_rank: int = -1):
    """datatrove's task logger, but with the stderr level from THRESHER_TASK_LOG_LEVEL (default INFO).

    The CLI sets WARNING so a run shows a progress bar and a table, not every task's INFO lines;
    the full log still goes to logs/<stage>/logs/task_N.log.
    """
    import sys

    from loguru import logger

    logger.remove()
    logfile = logging_dir.open(f"logs/task_{rank:05d}.log", "w")
    fmt = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line} - {message}"
    level = os.environ.get("THRESHER_TASK_LOG_LEVEL", "INFO") if local_rank == 0 else "ERROR"
    logger.add(sys.stderr, colorize=False, level=level, format=fmt)
    logger.add(logfile, colorize=False, level="DEBUG", format=fmt)
    logger.info(f"Launching pipeline for {rank=}")
    return logfile


def _close_task_logger(logfile) -> None:
    """datatrove's, but the terminal handler it restores keeps THRESHER_TASK_LOG_LEVEL."""
    import sys

    from loguru import logger

    logger.complete()
    logger.remove()
    logger.add(sys.stderr, colorize=False, level=os.environ.get("THRESHER_TASK_LOG_LEVEL", "INFO"))
    logfile.close()


# datatrove's executors call these module-level names; workers import this module, so they get them too
_executor_base.add_task_logger = _task_logger
_executor_base.close_task_logger = _close_task_logger


class LocalExecutor(LocalPipelineExecutor):
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

        from datatrove.utils.stats import PipelineStats

        ranks = self.get_incomplete_ranks(range(self.local_rank_offset, self.local_rank_offset + self.local_tasks))
        if not ranks:
            return PipelineStats()
        if self.task_bytes is not None:  # largest first; the pool hands tasks out in this order
            ranks = sorted(ranks, key=lambda rank: -self.task_bytes[rank])
        self.save_executor_as_json()
        stats = []
        # workers fork from a server that imported the blocks once (already running under `thresher run`)
        ctx = start_forkserver(type(step).__module__ for step in self.pipeline)
        try:
            with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=fork_children) as pool:
                futures = [pool.submit(self._run_for_rank, rank, 1) for rank in ranks]
                for future in as_completed(futures):
                    stats.append(future.result())
        except BrokenProcessPool:
            raise RunFailed(
                "a worker process died (killed, or out of memory); finished tasks are kept: "
                "run the same command again to resume"
            ) from None
        merged = sum(stats, start=PipelineStats())
        with self.logging_dir.open("stats.json", "wt") as f:
            merged.save_to_disk(f)
        return merged


def _local_executor(stage: Stage, plan: RunPlan) -> LocalPipelineExecutor:
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
