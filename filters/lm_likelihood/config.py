"""The engine's numerics and batching, in one frozen dataclass (the defaults are the production choice)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineConfig:
    """Knobs that ``bench.py`` varies; the defaults are the production choice."""

    weights: str = "int8"  # body: int8 | fp32 | nbits | int8dyn  (qlinear.py)
    head_weights: str = "int8"  # output head, same choices
    rotate: bool = True  # rotation.py (dense modes only)
    accuracy_level: int = 4  # nbits only: 4 = int8 activations, 0 = float32
    attention: str = "gqa"  # gqa (contrib GroupQueryAttention) | ops
    batch_size: int = 8
    head_rows: int = 64  # logits rows per head call (64 x 49152 floats = 12 MB)
    threads: int = 1
    reduce_range: bool = True  # 7-bit int8 weights (see the module docstring); False: 8-bit on VNNI/AMX CPUs
    static_clip: float | None = None  # int8 + rotate: fixed range for unit-RMS (normed) inputs
    prefix_token: int | None = None  # e.g. <|endoftext|> as a document-start context

    @staticmethod
    def exact() -> EngineConfig:
        return EngineConfig(weights="fp32", head_weights="fp32", rotate=False)
