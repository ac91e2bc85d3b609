"""Presets: YAML files that say which blocks run, in which order, with which thresholds.

A preset is either self-contained (`pipeline:` lists every block with its parameters) or
`extends:` another preset and changes it with `override:` (block -> parameters to change),
`remove:` (blocks to drop) and `insert_after:` (block -> list of blocks to add after it). Thresholds
live only in presets; blocks built outside a preset take them from `fineweb.yaml`
(`GopherQualityFilter.from_preset()`).
"""

from __future__ import annotations

import copy
import inspect
import os
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
    "output": "output parameters (write_removed, max_rows_per_shard)",
    "workers": "parallel worker processes",
    "tasks": "number of tasks (default: one per input file, at most 1000)",
}

# block name -> "module:Class"; the one registry of what a preset may name
BLOCKS: dict[str, str] = {
    "url_filter": "thresher.filters.url:URLFilter",
    "consent": "thresher.filters.consent:ConsentFilter",
    "language_prefilter": "thresher.pipeline.fast:LanguagePrefilter",
    "extract": "thresher.pipeline.extract:TrafilaturaExtractor",
    "extract_resiliparse": "thresher.pipeline.fast:ResiliparseExtractor",
    "language": "thresher.filters.language:LanguageFilter",
    "gopher_repetition": "thresher.filters.gopher:GopherRepetitionFilter",
    "gopher_quality": "thresher.filters.gopher:GopherQualityFilter",
    "c4_quality": "thresher.filters.c4:C4QualityFilter",
    "fineweb_quality": "thresher.filters.fineweb_quality:FineWebQualityFilter",
    "ai_text": "thresher.filters.ai_text:AIGeneratedTextFilter",
    "minhash_dedup": "thresher.pipeline.dedup:MinhashDedupFilter",
    "pii": "thresher.filters.pii:PIIFormatter",
}

def block_modules(preset: dict) -> list[str]:
    """The modules of a resolved preset's blocks, named without importing them."""
    return [BLOCKS[name].partition(":")[0] for name, _ in preset["pipeline"] if name in BLOCKS]


# parameters every block takes from the pipeline builder, never from a preset
_BUILDER_PARAMS = {"self", "exclusion_writer", "args", "kwargs", "work_dir"}


# parameters naming an input file: checked to exist before any work starts
_FILE_PARAMS = ("model_path", "_file")


class ConfigError(ValueError):
    """A preset problem, phrased as one line naming the problem and the fix."""


class RunFailed(RuntimeError):
    """The run stopped before finishing; the message says how to resume. (Defined here, beside
    ConfigError, so that the CLI can catch both without importing datatrove before it starts the
    workers' forkserver.)"""


def preset_path(name_or_path: str) -> str:
    if os.path.exists(name_or_path):
        return name_or_path
    bundled = resources.files("thresher.configs").joinpath(f"{name_or_path}.yaml")
    if bundled.is_file():
        return str(bundled)
    names = sorted(p.name[:-5] for p in resources.files("thresher.configs").iterdir() if p.name.endswith(".yaml"))
    raise ConfigError(f"no preset {name_or_path!r}: give a YAML path or one of {', '.join(names)}")


def _read_yaml(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset is a YAML mapping with keys {', '.join(TOP_LEVEL_KEYS)}")
    return data


def load_preset(name_or_path: str, validate: bool = True, _seen: tuple[str, ...] = ()) -> dict:
    """The resolved preset: `pipeline` is a list of (block, params) pairs, `extends` applied.

    Validation imports every block to check its parameters; `validate=False` only reads the YAML.
    """
    path = preset_path(name_or_path)
    data = _read_yaml(path)
    unknown = set(data) - set(TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {sorted(unknown)[0]!r}; valid keys: {', '.join(TOP_LEVEL_KEYS)}"
        )
    if "extends" in data:
        parent_name = data["extends"]
        if parent_name in _seen:
            raise ConfigError(f"{path}: presets extend each other in a loop ({' -> '.join(_seen)})")
        base_dir = os.path.dirname(os.path.abspath(path))
        candidate = os.path.join(base_dir, f"{parent_name}.yaml")
        parent_path = candidate if os.path.exists(candidate) else parent_name
        parent = load_preset(parent_path, validate=False, _seen=_seen + (parent_name,))
        merged = {k: v for k, v in parent.items() if k not in ("description",)}
        for key, value in data.items():
            if key in ("extends", "override", "remove", "insert_after", "pipeline"):
                continue
            merged[key] = _merge(merged.get(key), value)
        steps = data["pipeline"] if "pipeline" in data else parent["pipeline"]
        steps = _parse_pipeline(steps, path) if "pipeline" in data else copy.deepcopy(steps)
        steps = _apply_changes(steps, data, path)
        merged["pipeline"] = steps
        merged["_path"] = path
        if validate:
            _validate(merged, path)
        return merged
    if "pipeline" not in data:
        raise ConfigError(f"{path}: no `pipeline:` list and no `extends:`; add one of them")
    data["pipeline"] = _parse_pipeline(data["pipeline"], path)
    data["_path"] = path
    if validate:
        _validate(data, path)
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
        (name, params), = item.items()
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


def block_class(name: str):
    if name not in BLOCKS:
        raise ConfigError(f"unknown block {name!r}; valid blocks: {', '.join(BLOCKS)}")
    module, _, cls = BLOCKS[name].partition(":")
    return getattr(__import__(module, fromlist=[cls]), cls)


def block_parameters(cls) -> dict[str, inspect.Parameter]:
    sig = inspect.signature(cls.__init__)
    return {n: p for n, p in sig.parameters.items() if n not in _BUILDER_PARAMS}


_SIMPLE_TYPES = {
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, (list, tuple)),
    "tuple": lambda v: isinstance(v, (list, tuple)),
    "dict": lambda v: isinstance(v, dict),
    "None": lambda v: v is None,
}


def _check_type(value: Any, param: inspect.Parameter) -> bool:
    """Does a YAML value fit the annotation (`float | None`, `list[str]`, ...)? Unknown types pass."""
    ann = param.annotation
    if ann is inspect.Parameter.empty:
        return True
    text = ann if isinstance(ann, str) else str(ann)
    checks = []
    for part in text.split("|"):
        base = part.strip().split("[", 1)[0].removeprefix("typing.")
        if base not in _SIMPLE_TYPES:
            return True
        checks.append(_SIMPLE_TYPES[base])
    return any(check(value) for check in checks)


def _validate(preset: dict, path: str) -> None:
    for name, params in preset["pipeline"]:
        cls = block_class(name) if name in BLOCKS else None
        if cls is None:
            raise ConfigError(f"{path}: unknown block {name!r}; valid blocks: {', '.join(BLOCKS)}")
        valid = block_parameters(cls)
        for key, value in params.items():
            if key not in valid:
                raise ConfigError(
                    f"{path}: block {name!r} has no parameter {key!r}; valid: {', '.join(valid) or 'none'}"
                )
            if not _check_type(value, valid[key]):
                raise ConfigError(
                    f"{path}: block {name!r} parameter {key!r} = {value!r} should be {valid[key].annotation}"
                )
            if key.endswith(_FILE_PARAMS) and isinstance(value, str) and "://" not in value:
                if not os.path.isfile(os.path.expanduser(value)):
                    raise ConfigError(
                        f"{path}: block {name!r} parameter {key!r}: no file {value!r}; "
                        f"give an existing path, or null for the default"
                    )
        missing = [k for k, p in valid.items() if p.default is inspect.Parameter.empty and k not in params]
        if missing:
            raise ConfigError(f"{path}: block {name!r} needs parameter(s) {', '.join(missing)}")


def fineweb_params(block: str) -> dict:
    """FineWeb's parameters for `block`, from the bundled fineweb preset."""
    for name, params in load_preset("fineweb")["pipeline"]:
        if name == block:
            return dict(params)
    raise ConfigError(f"the fineweb preset has no block {block!r}")


class FromPreset:
    """Mixin: `Block.from_preset()` builds the block with a preset's parameters (FineWeb's by default)."""

    block: str

    @classmethod
    def from_preset(cls, preset: str = "fineweb", **overrides):
        for name, params in load_preset(preset)["pipeline"]:
            if name == cls.block:
                return cls(**{**params, **overrides})
        raise ConfigError(f"preset {preset!r} has no block {cls.block!r}")


class InBatches:
    """Mixin for a filter whose documents are independent: with `batch_size` > 1, datatrove hands it
    that many documents at once and it decides them one after another. Same decisions; but its tables
    (a model, a blocklist) stay in the CPU caches through the batch instead of being evicted by the
    other blocks between two documents (the URL filter's blocklist)."""

    def filter_batch(self, batch: list) -> list:
        return [self.filter(doc) for doc in batch]
