"""A preset checked against the blocks before any work: names, parameters, types, files.

Reading and merging the YAML is `thresher.filters.presets`; the blocks register themselves
(`thresher.filters.base.register`) when the modules below are imported.
"""

from __future__ import annotations

import importlib
import inspect
import os
from typing import Any

from ...filters.base import REGISTRY, parameters
from ...filters.presets import ConfigError, read_preset

# the modules whose blocks a preset can name, in data-path order
BLOCK_MODULES = (
    "thresher.filters.url",
    "thresher.pipeline.extract.prefilter",
    "thresher.filters.consent",
    "thresher.pipeline.extract.trafilatura",
    "thresher.pipeline.extract.resiliparse",
    "thresher.filters.language",
    "thresher.filters.gopher_repetition",
    "thresher.filters.gopher_quality",
    "thresher.filters.c4",
    "thresher.filters.fineweb_quality",
    "thresher.filters.ai_text",
    "thresher.pipeline.dedup.filter",
    "thresher.pipeline.format.pii",
)
# parameters naming an input file: checked to exist before any work starts
_FILE_PARAMS = ("model_path", "_file")


def registry() -> dict[str, type]:
    """Every block a preset can name (their modules imported once)."""
    for module in BLOCK_MODULES:
        importlib.import_module(module)
    return REGISTRY


def block_class(name: str) -> type:
    blocks = registry()
    if name not in blocks:
        raise ConfigError(f"unknown block {name!r}; valid blocks: {', '.join(blocks)}")
    return blocks[name]


def load_preset(name_or_path: str, validate: bool = True) -> dict:
    """The resolved preset (`read_preset`), checked against the blocks unless `validate=False`."""
    preset = read_preset(name_or_path)
    if validate:
        _validate(preset, preset["_path"])
    return preset


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
        valid = parameters(block_class(name))
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
