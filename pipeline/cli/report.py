"""`thresher report RUN_DIR`: write RUN_DIR/README.md (a dataset card) and RUN_DIR/report.html (plots)."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="output folder of a run (finished, running or interrupted)")


def main(args: argparse.Namespace) -> int:
    from ..report import write_report

    card, page = write_report(args.run_dir)
    print(f"dataset card: {card}\nreport: {page}")
    return 0
