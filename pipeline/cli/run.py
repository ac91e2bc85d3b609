"""`thresher run CONFIG`: run a preset over WARC files into OUTPUT/data (and removed/, stats.json)."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="preset name (fineweb, sample, thresher, fast) or path to a preset YAML")
    p.add_argument(
        "--input",
        "-i",
        nargs="+",
        action="extend",
        metavar="PATH",
        help="WARC files, folders, globs or fsspec URLs (several, or repeat the option)",
    )
    p.add_argument("--output", "-o", default="thresher-output", help="output folder (default: %(default)s)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="clear an output folder that holds another run (a run of the same making resumes)",
    )
    p.add_argument("--workers", "-w", type=int, help="parallel worker processes (default: cores)")
    p.add_argument("--tasks", type=int, help="tasks (default: one per input file)")
    p.add_argument("--write-removed", action="store_true", default=None, help="write dropped documents to removed/")
    p.add_argument(
        "--crawl",
        help="Common Crawl snapshot (e.g. CC-MAIN-2024-22) or a local warc.paths.gz: its WARC files become inputs",
    )
    p.add_argument("--max-files", type=int, help="with --crawl: only the first N files of the listing")
    p.add_argument("--robots", action="append", help="robots.txt WARC files of the crawl (path or glob; repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--verbose", "-v", action="store_true", help="show datatrove's per-task logs")
    slurm = p.add_argument_group("SLURM (with --executor slurm)")
    slurm.add_argument("--executor", choices=["local", "slurm"], default="local")
    slurm.add_argument("--partition", help="SLURM partition")
    slurm.add_argument("--time", help="time limit per task, e.g. 04:00:00")
    slurm.add_argument("--mem-per-cpu", help="memory per CPU, e.g. 2G")
    slurm.add_argument("--cpus-per-task", type=int, default=1)
    slurm.add_argument("--sbatch-arg", action="append", default=[], help="extra sbatch argument (repeatable)")
    slurm.add_argument(
        "--wait", action="store_true", help="return when the run has finished; exit 0 only if all succeeded"
    )


def main(args: argparse.Namespace) -> int:
    if args.executor == "local" and args.workers != 1:
        _start_workers_early(args.config)
    from ..run.local import execute
    from ..run.plan import build_plan
    from ..run.stats import format_table

    inputs = list(args.input or [])
    crawl_name = None
    if args.crawl:
        from ..read.crawl import expand_crawl

        listed, crawl_name = expand_crawl(args.crawl, args.max_files)
        inputs += listed
    plan = build_plan(
        args.config,
        inputs=inputs or None,
        output=args.output,
        workers=args.workers,
        tasks=args.tasks,
        write_removed=args.write_removed,
        crawl=crawl_name,
        robots=args.robots,
        overwrite=args.overwrite,
    )
    for line in plan_warnings(plan):
        print(f"thresher: warning: {line}", file=sys.stderr)
    if not args.verbose:
        _quiet_datatrove()
    where = "SLURM" if args.executor == "slurm" else f"{plan.workers} worker(s)"
    print(
        f"thresher: {len(plan.inputs)} input file(s), stages {', '.join(s.name for s in plan.stages)}, "
        f"{where} -> {plan.output}",
        file=sys.stderr,
    )
    if args.executor == "slurm":
        from ..run.slurm import execute_slurm

        return execute_slurm(plan, args)
    stats = execute(plan, progress=not args.no_progress, say=lambda line: print(f"thresher: {line}", file=sys.stderr))
    print(format_table(stats))
    empty = stats["reader"].get("empty_files", 0)
    if empty:
        print(f"thresher: warning: {empty} input file(s) held no record (empty, or not an archive)", file=sys.stderr)
    print(f"\ndata: {os.path.join(plan.output, 'data')}   stats: {os.path.join(plan.output, 'stats.json')}")
    return 0 if stats["documents"]["accounted"] else 1


def plan_warnings(plan) -> list[str]:
    """What a user should know before the run starts: settings that cannot do what they say."""
    out = []
    consent = dict(plan.preset["pipeline"]).get("consent") or {}
    if consent.get("robots") == "drop" and not plan.robots_index:
        out.append(
            "consent has robots: drop but no --robots files were given: robots.txt opt-outs are not checked "
            "(consent_robots = not_checked); pass the crawl's robots.txt WARC files with --robots"
        )
    empty = [p for p in plan.inputs if "://" not in p and os.path.getsize(p) == 0]
    if empty:
        out.append(f"{len(empty)} input file(s) are empty (0 bytes), e.g. {empty[0]}")
    return out


def _start_workers_early(config: str) -> None:
    """Start the workers' forkserver now: its imports then run beside this process's own."""
    from ..run.presets import BLOCK_MODULES
    from ..run.workers import start_forkserver

    start_forkserver(BLOCK_MODULES)


def _quiet_datatrove() -> None:
    """Keep warnings only on the terminal; every task's full log stays in logs/<stage>/logs/."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING", format="{level}: {message}")
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    os.environ["THRESHER_TASK_LOG_LEVEL"] = "WARNING"  # datatrove_compat.TASK_LOG_LEVEL_ENV
