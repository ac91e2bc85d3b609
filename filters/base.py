"""The block contract: every step a preset can name is a datatrove step registered here once.

A block is a datatrove `PipelineStep` (most are `BaseFilter`s) decorated with `@register("name")`:

- the name is what presets call it (`- gopher_quality: {...}`), written only in the decorator;
- its constructor's parameters are what a preset may set; a parameter left out is read from the
  block's defaults preset (FineWeb's, `configs/fineweb.yaml`, unless the decorator names another)
  when that preset sets it, so `GopherQualityFilter()` builds with FineWeb's settings as datatrove's
  does and the numbers stay written once, in the preset; a parameter without a default in the
  signature is a threshold, which the defaults preset must set;
- `output_columns` (name -> pyarrow type) are the typed columns its values land in;
- `drop_reasons` (reason -> when) are the reasons it gives for a drop; `{n}` stands for a number,
  `{languages}` for the kept languages joined by `_`.

Blocks import this module and the shared text splits, never the orchestration in
`thresher.pipeline.run`.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, ClassVar

from .presets import ConfigError, block_params

# name -> block class; filled by @register when a block's module is imported
REGISTRY: dict[str, type] = {}
# parameters every block takes from the pipeline builder, never from a preset
BUILDER_PARAMS = frozenset({"self", "exclusion_writer", "args", "kwargs", "work_dir"})


class Block:
    """Mixin of every registered step (put it after the datatrove base class)."""

    block: ClassVar[str]
    defaults_preset: ClassVar[str]
    output_columns: ClassVar[dict[str, Any]] = {}
    drop_reasons: ClassVar[dict[str, str]] = {}

    def setup_needed(self) -> str | None:
        """What one-off work (a cache built once per machine) the block needs before workers start, as
        a line to show while it runs; None when there is none. `setup()` does it."""
        return None

    def setup(self) -> None:
        """The work `setup_needed` announced; a worker would otherwise do it, unannounced."""

    @classmethod
    def from_preset(cls, preset: str | None = None, **overrides):
        """The block with `preset`'s parameters (its defaults preset when None), changed by `overrides`."""
        return cls(**{**block_params(preset or cls.defaults_preset, cls.block), **overrides})


def register(name: str, defaults: str = "fineweb"):
    """Class decorator: registers a block under `name`; missing thresholds come from preset `defaults`."""

    def wrap(cls: type) -> type:
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"two blocks are named {name!r}: {REGISTRY[name].__qualname__} and {cls.__qualname__}")
        cls.block = name
        cls.defaults_preset = defaults
        cls.__init__ = _preset_defaults(cls, cls.__init__)
        REGISTRY[name] = cls
        return cls

    return wrap


def parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The parameters a preset may give `cls`, in signature order."""
    sig = inspect.signature(cls.__init__)
    return {n: p for n, p in sig.parameters.items() if n not in BUILDER_PARAMS}


def thresholds(cls: type) -> list[str]:
    """The parameters without a default: each preset gives them, or the defaults preset does."""
    return [n for n, p in parameters(cls).items() if p.default is inspect.Parameter.empty]


def _preset_defaults(cls: type, init):
    """`init` with its missing thresholds filled from the block's defaults preset."""
    if getattr(init, "_fills_from_preset", False):
        return init
    sig = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        bound = sig.bind_partial(self, *args, **kwargs).arguments
        defaults = block_params(type(self).defaults_preset, type(self).block)
        kwargs.update({n: defaults[n] for n in parameters(cls) if n not in bound and n in defaults})
        absent = [n for n in thresholds(cls) if n not in bound and n not in defaults]
        if absent:
            raise ConfigError(
                f"{type(self).__name__} needs {', '.join(absent)} (the {type(self).defaults_preset} preset "
                f"does not set them)"
            )
        init(self, *args, **kwargs)

    __init__._fills_from_preset = True
    return __init__
