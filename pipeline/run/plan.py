"""A run's plan: the stages of a preset as datatrove pipelines, built before any work starts.

The blocks before `minhash_dedup` form the `filter` stage (reader -> blocks -> parquet, then each
task's MinHash signatures); dedup adds its bucket and cluster stages; the blocks after it run in
the `final` stage over the filtered documents. Every stage is a list of datatrove steps run as
parallel tasks by the local or the SLURM executor.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field

from datatrove.pipeline.base import PipelineStep

from ..dedup import stages as dedup
from ..dedup.filter import MinhashDedupFilter
from ..read.inputs import file_size, resolve_inputs
from ..read.warc import WarcReader
from ..write.parquet import ParquetDocReader, ParquetShardWriter, task_files
from ..write.schema import columns_of
from .errors import ConfigError
from .presets import block_class, load_preset
from .record import check_folder, identity, write_record

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
    write_removed: bool = False
    crawl: str | None = None


class TaskStart(PipelineStep):
    """Deletes what an interrupted earlier attempt of this task left in the stage's output folders."""

    name = "🧹 task start"
    type = "🧹 - SETUP"

    def __init__(self, folders: list[str]):
        super().__init__()
        self.folders = folders

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        for folder in self.folders:
            for stale in task_files(folder, rank):  # partition subfolders (data/<lang>/) too
                os.remove(stale)
        if data:
            yield from data


@dataclass
class _Settings:
    """What every stage's builder needs to know about the run."""

    output: str
    tasks: int
    max_rows: int
    write_removed: bool
    robots_index: str | None
    preset_path: str
    partition_by: str | None = None  # data/<value>/ shards (output: partition_by)

    @property
    def data_dir(self) -> str:
        return os.path.join(self.output, "data")

    @property
    def work_dir(self) -> str:
        return os.path.join(self.output, "work")

    @property
    def filtered_dir(self) -> str:
        return os.path.join(self.work_dir, "filtered")


def build_plan(
    preset_name: str,
    inputs: list[str] | None = None,
    output: str | None = None,
    workers: int | None = None,
    tasks: int | None = None,
    write_removed: bool | None = None,
    crawl: str | None = None,
    robots: list[str] | None = None,
    overwrite: bool = False,
) -> RunPlan:
    """The stages of `preset_name` over `inputs` into `output`, checked before anything is written: a
    folder that holds another run is refused (or cleared, with `overwrite`)."""
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
    n_tasks = tasks or min(len(files), 1000)
    robots_files = resolve_inputs(robots) if robots else []
    run = _Settings(
        output=output,
        tasks=n_tasks,
        max_rows=int(out_cfg.get("max_rows_per_shard", 50_000)),
        write_removed=bool(out_cfg.get("write_removed", False) if write_removed is None else write_removed),
        robots_index=os.path.join(output, "work", "robots.sqlite") if robots_files else None,
        preset_path=preset["_path"],
        partition_by=_partition_by(out_cfg),
    )
    made_of = identity(preset, files, n_tasks, run.write_removed, robots_files, crawl)
    check_folder(output, made_of, overwrite)  # before any block is built: a refusal costs nothing
    steps = preset["pipeline"]
    cut = next((i for i, (name, _) in enumerate(steps) if name in STAGE_BREAKS), None)
    first_blocks = _make_blocks(steps if cut is None else steps[:cut], run)
    later_blocks = [] if cut is None else _dedup_blocks(steps, cut, run)
    reader = _reader(preset, files, crawl, run)
    columns = columns_of([b for _, b in first_blocks + later_blocks])
    removed = _removed_writers(run, reader, first_blocks + later_blocks, columns)
    dedup_params = steps[cut][1] if cut is not None else None
    stages = [_filter_stage(run, reader, first_blocks, columns, removed, files, dedup_params)]
    if dedup_params is not None:
        dedup_stages = dedup.build_dedup_stages(dedup_params, run.filtered_dir, run.work_dir, n_tasks, False)
        stages += [Stage(name, pipeline, n) for name, pipeline, n in dedup_stages]
        stages.append(_final_stage(run, later_blocks, columns, removed))
    plan = RunPlan(
        preset=preset,
        output=output,
        inputs=files,
        stages=stages,
        workers=max(1, min(workers or os.cpu_count() or 1, n_tasks)),
        robots=robots_files,
        robots_index=run.robots_index,
        write_removed=run.write_removed,
        crawl=crawl,
    )
    return plan


def _make_blocks(specs: list[tuple[str, dict]], run: _Settings) -> list[tuple[str, PipelineStep]]:
    built = []
    for name, params in specs:
        cls = block_class(name)
        kwargs = dict(params)
        if name == "consent" and run.robots_index:
            kwargs["robots_index"] = run.robots_index
        try:
            built.append((name, cls(**kwargs)))
        except (ValueError, TypeError) as e:  # ConfigError is a ValueError too
            raise ConfigError(f"{run.preset_path}: block {name!r}: {e}") from None
    return built


def _dedup_blocks(steps: list[tuple[str, dict]], cut: int, run: _Settings) -> list[tuple[str, PipelineStep]]:
    """The dedup filter (the last dedup stage) and the blocks after it: the final stage's blocks."""
    name, params = steps[cut]
    return [(name, MinhashDedupFilter(work_dir=run.work_dir, **params))] + _make_blocks(steps[cut + 1 :], run)


def _reader(preset: dict, files: list[str], crawl: str | None, run: _Settings) -> WarcReader:
    cfg = preset.get("reader") or {}
    engine = cfg.get("engine", "warcio")
    if engine == "fastwarc":  # same documents, faster
        from ..read.fastwarc import FastWarcReader as reader_cls
    elif engine == "warcio":
        reader_cls = WarcReader
    else:
        raise ConfigError(f"reader engine {engine!r} unknown; use warcio or fastwarc")
    return reader_cls(
        files,
        crawl=crawl or preset.get("crawl"),
        max_record_bytes=int(cfg.get("max_record_bytes", 10_000_000)),
        progress_dir=os.path.join(run.output, "logs", "progress"),
    )


def _removed_writers(run: _Settings, reader: WarcReader, blocks, columns) -> dict[str, str]:
    """With --write-removed, each dropping block gets a writer into removed/<block>/ (its folder, by block)."""
    folders: dict[str, str] = {}
    if not run.write_removed:
        return folders
    for name, block in [("reader", reader)] + blocks:
        if name != "reader" and not hasattr(block, "exclusion_writer"):
            continue  # a step that never drops (pii)
        folder = os.path.join(run.output, "removed", name)
        writer = ParquetShardWriter(folder, columns=columns, removed_by=name, max_rows_per_shard=run.max_rows)
        if name == "reader":
            reader.removed_writer = writer
        else:
            block.exclusion_writer = writer
        folders[name] = folder
    return folders


def _filter_stage(run, reader, blocks, columns, removed: dict[str, str], files: list[str], dedup_params) -> Stage:
    """reader -> blocks up to dedup -> parquet (data/, or work/filtered/ before dedup) -> signatures."""
    out = run.data_dir if dedup_params is None else run.filtered_dir
    partition_by = run.partition_by if dedup_params is None else None  # work/filtered/ stays one folder
    names = ["reader"] + [n for n, _ in blocks]
    signatures = [] if dedup_params is None else [dedup.signatures_step(dedup_params, run.work_dir, run.tasks)]
    return Stage(
        "filter",
        [TaskStart([out] + [f for n, f in removed.items() if n in names]), reader]
        + [b for _, b in blocks]
        + [ParquetShardWriter(out, columns=columns, max_rows_per_shard=run.max_rows, partition_by=partition_by)]
        + signatures,
        run.tasks,
        [("reader", reader)] + blocks,
        task_bytes=input_bytes_per_task(files, run.tasks),
    )


def _final_stage(run: _Settings, blocks, columns, removed: dict[str, str]) -> Stage:
    """work/filtered/ -> dedup filter -> the blocks after it -> data/."""
    names = [n for n, _ in blocks]
    return Stage(
        "final",
        [TaskStart([run.data_dir] + [f for n, f in removed.items() if n in names]), ParquetDocReader(run.filtered_dir)]
        + [b for _, b in blocks]
        + [
            ParquetShardWriter(
                run.data_dir, columns=columns, max_rows_per_shard=run.max_rows, partition_by=run.partition_by
            )
        ],
        run.tasks,
        blocks,
    )


def _partition_by(out_cfg: dict) -> str | None:
    """`output: partition_by:` — the metadata key whose value names each document's data/ subfolder."""
    value = out_cfg.get("partition_by")
    if value is not None and (not isinstance(value, str) or not value.isidentifier()):
        raise ConfigError(f"output partition_by {value!r}: give a column name, e.g. language, or null")
    return value


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


def check_output(output: str) -> None:
    """Fail before any work if the output folder cannot be made or written (nothing is created here)."""
    if os.path.exists(output) and not os.path.isdir(output):
        raise ConfigError(f"output {output!r} is a file, not a folder; choose another --output")
    existing = output
    while not os.path.exists(existing):
        existing = os.path.dirname(existing) or "."
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"output folder {output!r} is not writable ({existing} is not); choose another --output")
    free = shutil.disk_usage(existing).free
    if free < 64 << 20:
        raise ConfigError(
            f"output folder {output!r} has only {free >> 20} MB free; free space or choose another --output"
        )


def prepare(plan: RunPlan, executor: str, say=None) -> None:
    """Work every executor needs done once before the stages, each announced through `say`: the output
    folder and its record, the blocks' one-off setup (caches), the robots.txt index."""
    say = say or (lambda line: None)
    os.makedirs(plan.output, exist_ok=True)
    write_record(plan, executor)
    for stage in plan.stages:
        for _, block in stage.blocks:
            message = block.setup_needed() if hasattr(block, "setup_needed") else None
            if message:
                say(message)
                block.setup()
    if plan.robots_index and not os.path.exists(plan.robots_index):
        from ..read.robots import build_robots_index

        say(f"indexing the robots.txt captures of {len(plan.robots)} file(s)")
        os.makedirs(os.path.dirname(plan.robots_index), exist_ok=True)
        counts = build_robots_index(plan.robots, plan.robots_index)
        with open(os.path.join(plan.output, "robots-index.json"), "w") as f:
            json.dump(counts, f, indent=2)
