"""Reading presets: the YAML files in `thresher.configs`, with `extends:` applied.

A preset is either self-contained (`pipeline:` lists every block with its parameters) or
`extends:` another preset and changes it with `override:` (block -> parameters to change),
`remove:` (blocks to drop) and `insert_after:` (block -> list of blocks to add after it).
This module only reads and merges; `thresher.pipeline.run.presets` checks a preset against the
blocks before a run. Thresholds live only in presets: a block built without arguments takes them
from here (`thresher.filters.base`).
"""

from __future__ import annotations

import copy
import os
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

TOP_LEVEL_KEYS = {
    "description": "one-line description",
    "extends": "name of the preset this one changes",
    "override": "block -> parameters to change (with extends)",
    "remove": "blocks to drop (with extends)",
    "insert_after": "block -> blocks to add after it (with extends)",
    "pipeline": "ordered list of blocks, each `name: {parameters}`",
    "input": "input paths, globs or URLs (or `bundled-sample`)",
    "crawl": "crawl name when the WARC files carry none (warcinfo isPartOf)",
    "reader": "reader parameters (engine: warcio|fastwarc, max_record_bytes)",
    "output": "output parameters (write_removed, max_rows_per_shard, partition_by)",
    "workers": "parallel worker processes",
    "tasks": "number of tasks (default: one per input file, at most 1000)",
}


class ConfigError(ValueError):
    """A preset or argument problem, phrased as one line naming the problem and the fix."""


def bundled_presets() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("thresher.configs").iterdir() if p.name.endswith(".yaml"))


def preset_path(name_or_path: str) -> str:
    if os.path.exists(name_or_path):
        return name_or_path
    bundled = resources.files("thresher.configs").joinpath(f"{name_or_path}.yaml")
    if bundled.is_file():
        return str(bundled)
    raise ConfigError(f"no preset {name_or_path!r}: give a YAML path or one of {', '.join(bundled_presets())}")


def read_preset(name_or_path: str, _seen: tuple[str, ...] = ()) -> dict:
    """The resolved preset, unchecked: `pipeline` is a list of (block, params) pairs, `extends` applied,
    `_path` the file it came from."""
    path = preset_path(name_or_path)
    data = _read_yaml(path)
    unknown = set(data) - set(TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {sorted(unknown)[0]!r}; valid keys: {', '.join(TOP_LEVEL_KEYS)}")
    if "extends" not in data:
        if "pipeline" not in data:
            raise ConfigError(f"{path}: no `pipeline:` list and no `extends:`; add one of them")
        data["pipeline"] = _parse_pipeline(data["pipeline"], path)
        data["_path"] = path
        return data
    parent_name = data["extends"]
    if parent_name in _seen:
        raise ConfigError(f"{path}: presets extend each other in a loop ({' -> '.join(_seen)})")
    candidate = os.path.join(os.path.dirname(os.path.abspath(path)), f"{parent_name}.yaml")
    parent = read_preset(candidate if os.path.exists(candidate) else parent_name, _seen + (parent_name,))
    merged = {k: v for k, v in parent.items() if k != "description"}
    for key, value in data.items():
        if key not in ("extends", "override", "remove", "insert_after", "pipeline"):
            merged[key] = _merge(merged.get(key), value)
    steps = _parse_pipeline(data["pipeline"], path) if "pipeline" in data else copy.deepcopy(parent["pipeline"])
    merged["pipeline"] = _apply_changes(steps, data, path)
    merged["_path"] = path
    return merged


@lru_cache(maxsize=32)
def _bundled_block_params(preset: str) -> dict[str, dict]:
    return {name: params for name, params in read_preset(preset)["pipeline"]}


def block_params(preset: str, block: str) -> dict:
    """The parameters `preset` gives `block` (a copy)."""
    params = _bundled_block_params(preset) if not os.path.exists(preset) else dict(read_preset(preset)["pipeline"])
    if block not in params:
        raise ConfigError(f"preset {preset!r} has no block {block!r}")
    return copy.deepcopy(params[block])


def _read_yaml(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset is a YAML mapping with keys {', '.join(TOP_LEVEL_KEYS)}")
    return data


def _merge(base: Any, change: Any) -> Any:
    if isinstance(base, dict) and isinstance(change, dict):
        out = dict(base)
        for k, v in change.items():
            out[k] = _merge(base.get(k), v)
        return out
    return copy.deepcopy(change)


def _parse_pipeline(steps: Any, path: str) -> list[tuple[str, dict]]:
    if not isinstance(steps, list):
        raise ConfigError(f"{path}: `pipeline` must be a list of `- block: {{parameters}}` items")
    out = []
    for item in steps:
        if isinstance(item, str):
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError(f"{path}: pipeline item {item!r} must be `- block_name: {{parameters}}`")
        ((name, params),) = item.items()
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ConfigError(f"{path}: parameters of block {name!r} must be a mapping, not {params!r}")
        out.append((name, dict(params)))
    return out


def _apply_changes(steps: list[tuple[str, dict]], data: dict, path: str) -> list[tuple[str, dict]]:
    names = [n for n, _ in steps]
    for name in data.get("remove") or []:
        if name not in names:
            raise ConfigError(f"{path}: remove: no block {name!r} in the parent; it has {', '.join(names)}")
        steps = [(n, p) for n, p in steps if n != name]
        names = [n for n, _ in steps]
    for name, params in (data.get("override") or {}).items():
        if name not in names:
            raise ConfigError(f"{path}: override: no block {name!r} in the parent; it has {', '.join(names)}")
        if not isinstance(params, dict):
            raise ConfigError(f"{path}: override of {name!r} must be a mapping of parameters")
        steps = [(n, {**p, **params} if n == name else p) for n, p in steps]
    for anchor, new in (data.get("insert_after") or {}).items():
        if anchor not in names:
            raise ConfigError(f"{path}: insert_after: no block {anchor!r}; the pipeline has {', '.join(names)}")
        i = names.index(anchor) + 1
        steps = steps[:i] + _parse_pipeline(new, path) + steps[i:]
        names = [n for n, _ in steps]
    return steps
