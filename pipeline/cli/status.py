"""`thresher status RUN_DIR`: each stage's tasks done, running, pending, failed, not run; failed tasks' logs."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from ..run.status import collect_status, format_status


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="the run's output folder (the --output of `thresher run`)")
    p.add_argument("--lines", type=int, default=12, help="log lines shown per failed task (default: %(default)s)")
    p.add_argument("--max-failed", type=int, default=5, help="failed tasks whose logs are shown (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")


def main(args: argparse.Namespace) -> int:
    """Exit 0 when every task of every stage is done, 1 otherwise."""
    stages = collect_status(args.run_dir)
    if args.json:
        print(json.dumps([asdict(s) for s in stages], indent=2))
    else:
        print(format_status(args.run_dir, stages, lines=args.lines, max_failed=args.max_failed))
    return 0 if all(s.counts.get("done", 0) == s.tasks for s in stages) else 1
