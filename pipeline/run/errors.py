"""The two ways a command stops early, importable without datatrove (the CLI catches both)."""

from __future__ import annotations

from ...filters.presets import ConfigError


class RunFailed(RuntimeError):
    """The run stopped before finishing; the message says how to resume."""


__all__ = ["ConfigError", "RunFailed"]
