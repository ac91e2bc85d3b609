"""What made a run folder: written to OUTPUT/run.json when a run starts, compared before the next one.

The same preset (its resolved content, not its file name), inputs, task count, removed-output
setting, robots files and thresher version resume the run; anything else would mix two runs in one
folder, so it is refused in one line that names the difference and the two ways out. `thresher
status` and `thresher report` read the same file.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib.metadata import PackageNotFoundError, version

from .errors import ConfigError

RECORD = "run.json"
# what a run folder's content depends on; `workers` and the executor do not change a document
IDENTITY = ("thresher_version", "preset_content", "inputs", "tasks", "write_removed", "robots", "crawl")


def thresher_version() -> str:
    try:
        return version("thresher")
    except PackageNotFoundError:
        return "unknown"


def identity(
    preset: dict, inputs: list[str], tasks: int, write_removed: bool, robots: list[str], crawl: str | None
) -> dict:
    """The fields of a record that say what the folder's content is made of (IDENTITY)."""
    return {
        "thresher_version": thresher_version(),
        "preset": preset.get("_path"),
        "preset_content": {k: v for k, v in preset.items() if not k.startswith("_") and k != "description"},
        "inputs": inputs,
        "tasks": tasks,
        "write_removed": write_removed,
        "robots": robots,
        "crawl": crawl,
    }


def make_record(plan, executor: str) -> dict:
    """The record of `plan` (a RunPlan), as run.json holds it."""
    record = identity(plan.preset, plan.inputs, plan.stages[0].tasks, plan.write_removed, plan.robots, plan.crawl)
    return {
        **record,
        "pipeline": [[n, p] for n, p in plan.preset["pipeline"]],
        "stages": [s.name for s in plan.stages],
        "stage_tasks": {s.name: s.tasks for s in plan.stages},
        "executor": executor,
    }


def read_record(output: str) -> dict | None:
    path = os.path.join(output, RECORD)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def write_record(plan, executor: str) -> None:
    path = os.path.join(plan.output, RECORD)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(make_record(plan, executor), f, indent=2, default=str)
    os.replace(tmp, path)


def check_folder(output: str, record: dict, overwrite: bool = False) -> None:
    """Before any work: resume only a run of the same making; refuse a folder that holds another.

    With `overwrite`, a folder that holds a thresher run (or nothing) is cleared; a folder that holds
    anything else is never cleared.
    """
    if not os.path.isdir(output) or not os.listdir(output):
        return
    old = read_record(output)
    if old is None:
        raise ConfigError(
            f"{output} is not empty and holds no {RECORD} (not a thresher run folder); choose a new or empty --output"
        )
    difference = _difference(old, json.loads(json.dumps(record, default=str)))  # as run.json holds it
    if difference is None:
        return
    if not overwrite:
        raise ConfigError(
            f"{output} holds a run {difference}; use a new --output, or --overwrite to clear it and start again"
        )
    for name in os.listdir(output):
        path = os.path.join(output, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def _difference(old: dict, new: dict) -> str | None:
    """The first way the recorded run differs from this one, phrased for the error line."""
    if not all(k in old for k in IDENTITY):
        return f"recorded by an older thresher ({old.get('thresher_version', 'unknown version')})"
    if old["thresher_version"] != new["thresher_version"]:
        return f"made by thresher {old['thresher_version']} (this is {new['thresher_version']})"
    if old["preset_content"] != new["preset_content"]:
        what = os.path.basename(str(old.get("preset")))
        now = os.path.basename(str(new.get("preset")))
        return f"of another preset ({what}, not {now})" if what != now else f"of {what} with other settings"
    if old["inputs"] != new["inputs"]:
        gone = [p for p in old["inputs"] if p not in new["inputs"]]
        added = [p for p in new["inputs"] if p not in old["inputs"]]
        example = os.path.basename((added or gone)[0]) if (added or gone) else "their order"
        return f"over other inputs ({len(old['inputs'])} file(s) there, {len(added)} new here, e.g. {example})"
    labels = {"tasks": "task count", "write_removed": "removed output", "robots": "robots files", "crawl": "crawl"}
    for key, label in labels.items():
        if old[key] != new[key]:
            return f"with another {label} ({old[key]!r}, not {new[key]!r})"
    return None
