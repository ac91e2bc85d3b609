"""The two ways a command stops early, importable without datatrove (the CLI catches both)."""

from __future__ import annotations

from ...filters.presets import ConfigError


class RunFailed(RuntimeError):
    """The run stopped before finishing; the message says how to resume."""


class RunInterrupted(RuntimeError):
    """Ctrl-C stopped the run: no task started after it, the running ones were ended; the message
    says how many and how to resume."""


__all__ = ["ConfigError", "RunFailed", "RunInterrupted"]
