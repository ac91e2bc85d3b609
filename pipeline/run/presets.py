"""A preset checked against the blocks before any work: names, parameters, types, files.

Reading and merging the YAML is `thresher.filters.presets`; the blocks register themselves
(`thresher.filters.base.register`) when the modules below are imported.
"""

from __future__ import annotations

import importlib
import inspect
import os
import types
import typing
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
    "thresher.filters.fineweb2.language",
    "thresher.filters.gopher_repetition",
    "thresher.filters.gopher_quality",
    "thresher.filters.c4",
    "thresher.filters.fineweb_quality",
    "thresher.filters.fineweb2.gopher_repetition",
    "thresher.filters.fineweb2.fineweb_quality",
    "thresher.filters.fineweb2.gopher_quality",
    "thresher.filters.ai_text",
    "thresher.pipeline.dedup.filter",
    "thresher.filters.lm_likelihood",
    "thresher.filters.ai_text.with_lm",
    "thresher.pipeline.format.ftfy",
    "thresher.pipeline.format.pii",
    "thresher.pipeline.format.symbol_lines",
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


def _evaluated(cls: type) -> dict[str, Any]:
    """The annotations of `cls`'s parameters as types (they are strings under `from __future__`)."""
    try:
        sig = inspect.signature(cls.__init__, eval_str=True)
    except (NameError, TypeError, SyntaxError):
        return {}
    return {n: p.annotation for n, p in sig.parameters.items()}


def _fits(value: Any, ann: Any) -> bool:
    """Does a YAML value fit the annotation (`float | None`, `list[str]`, `Literal["a", "b"]`)? Types it
    does not know pass."""
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in typing.get_args(ann))
    if origin is typing.Literal:
        return value in typing.get_args(ann)
    if ann is type(None):
        return value is None
    if ann is bool:
        return isinstance(value, bool)
    if ann in (int, float):
        return isinstance(value, (int, float) if ann is float else int) and not isinstance(value, bool)
    if ann is str:
        return isinstance(value, str)
    if (origin or ann) in (list, tuple):
        return isinstance(value, (list, tuple))
    if (origin or ann) is dict:
        return isinstance(value, dict)
    return True


def expected(ann: Any) -> str:
    """The annotation in words: `one of ignore, annotate, drop`, `a number or 1pct_fpr or null`."""
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(expected(arg) for arg in typing.get_args(ann))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(ann)))
    words = {
        type(None): "null",
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: "a string",
        list: "a list",
        tuple: "a list",
        dict: "a mapping",
    }
    return words.get(origin or ann, str(ann))


def _validate(preset: dict, path: str) -> None:
    for name, params in preset["pipeline"]:
        cls = block_class(name)
        valid = parameters(cls)
        types_ = _evaluated(cls)
        for key, value in params.items():
            if key not in valid:
                raise ConfigError(
                    f"{path}: block {name!r} has no parameter {key!r}; valid: {', '.join(valid) or 'none'}"
                )
            if key in types_ and not _fits(value, types_[key]):
                raise ConfigError(f"{path}: block {name!r} parameter {key!r} = {value!r}: give {expected(types_[key])}")
            if key.endswith(_FILE_PARAMS) and isinstance(value, str) and "://" not in value:
                if not os.path.isfile(os.path.expanduser(value)):
                    raise ConfigError(
                        f"{path}: block {name!r} parameter {key!r}: no file {value!r}; "
                        f"give an existing path, or null for the default"
                    )
