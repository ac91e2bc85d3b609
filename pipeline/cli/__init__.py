"""The `thresher` command: one module per subcommand, each with configure(parser) and main(args)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# subcommand -> (module with configure(parser) and main(args) -> int, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("thresher.pipeline.cli.run", "run a preset over WARC files"),
    "status": ("thresher.pipeline.cli.status", "show each stage's tasks of a run: done, running, failed"),
    "bench": ("thresher.pipeline.cli.bench", "benchmark the presets against datatrove's FineWeb pipeline"),
    "report": ("thresher.pipeline.cli.report", "write a dataset card and an HTML report for a run"),
    "show": ("thresher.pipeline.cli.show", "print one document with its provenance and original record"),
    "sample": ("thresher.pipeline.cli.sample", "print random kept or removed documents of a run"),
    "train": ("thresher.pipeline.cli.train", "train a model shipped with thresher (ai-detector)"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand's parser, or only `command`'s (the others then take no options): a run
    does not import the modules of report, bench or train."""
    parser = argparse.ArgumentParser(prog="thresher", description="WARC crawls -> clean, traceable training text")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        if command in COMMANDS and name != command:
            sub.add_parser(name, help=help_text, description=help_text).set_defaults(_module=module_name)
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue  # command not installed in this build
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        module.configure(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    from ..run.errors import ConfigError, RunFailed, RunInterrupted

    try:
        return int(importlib.import_module(args._module).main(args) or 0)
    except (ConfigError, FileNotFoundError, PermissionError, IsADirectoryError) as e:
        print(f"thresher: error: {e}", file=sys.stderr)
        return 2
    except RunFailed as e:
        print(f"thresher: run failed: {e}", file=sys.stderr)
        return 1
    except RunInterrupted as e:
        print(f"thresher: interrupted: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("thresher: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `thresher status | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
