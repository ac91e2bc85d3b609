"""Weight formats and the ONNX nodes for ``y = x @ W.T``.

Why a separate module: the engine graph is the same whatever the weight
format; only the linear-layer nodes differ, and ``bench.py`` compares them on
equal footing.  Formats (``mode``):

``nbits``  ORT contrib ``MatMulNBits`` fed with the GGUF blocks themselves
           (block 32).  Q4_0 and Q8_0 map exactly (integer zero point 8 / 128).
           Q4_1 (``w = d*q + m``) has a real-valued offset per block; float
           zero points would disable ORT's prepacked kernels, so it goes in as
           ``d*(q-8)`` and the offset ``c = m + 8d`` is added exactly as the
           small product ``blocksum(x) @ c.T`` (what llama.cpp's q4_1 x q8_1
           dot does with the min).  Centring on 8 matters: with zero point 0
           the int8 activation error is amplified by the uncentred weights.
           ``accuracy_level=4``: int8 activations per 32-block (MLAS CompInt8);
           0: float32.  Measured here: ~80 GOP/s whatever the row count, i.e.
           slower than float32 SGEMM for 128-token prompts.
``fp32``   dense float32 weights, ``MatMul`` (MLAS SGEMM, ~130-160 GFLOP/s).
``int8``   per-row symmetric int8 activations (dynamic, in the graph) x int8
           per-output-row weights, ``MatMulIntegerToFloat`` (MLAS u8s8 GEMM,
           VNNI: >1 TOP/s), then the row scale.  Accurate enough only with the
           outlier-spreading rotations of ``rotation.py``.
``int8dyn`` ``DynamicQuantizeMatMul``: one activation scale per *tensor*; the
           result then depends on which documents share a batch.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from gguf import GGMLQuantizationType as QType

from .model_file import QTensor

BLOCK = 32


class Builder(Protocol):
    rank: int

    def init(self, name: str, arr: np.ndarray) -> str: ...
    def const(self, name: str, arr: np.ndarray) -> str: ...
    def node(
        self, op: str, inputs: list[str], domain: str = "", outputs: int | list[str] = 1, **attrs: object
    ) -> str: ...


def unpack_blocks(
    t: QTensor, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int, int]:
    """GGUF blocks -> (q [N, nb, 32] uint8, d [N, nb], offset or None, bits, zp)
    with ``w = d * (q - zp) (+ offset)``.  ``rows`` reorders output rows first.
    Types other than Q4_0/Q4_1/Q8_0 are re-quantized to symmetric 8-bit blocks."""
    raw = np.asarray(t.raw) if rows is None else np.asarray(t.raw)[rows]
    n = raw.shape[0]
    f16 = lambda b: b.copy().view(np.float16)[..., 0].astype(np.float32)  # noqa: E731
    if t.qtype in (QType.Q4_1, QType.Q4_0):
        size = 20 if t.qtype == QType.Q4_1 else 18
        b = raw.reshape(n, -1, size)
        qs = b[..., size - 16 :]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # ggml: low nibbles first
        d = f16(b[..., 0:2])
        off = f16(b[..., 2:4]) + 8.0 * d if t.qtype == QType.Q4_1 else None
        return q, d, off, 4, 8
    if t.qtype == QType.Q8_0:
        b = raw.reshape(n, -1, 34)
        q = (b[..., 2:34].view(np.int8).astype(np.int16) + 128).astype(np.uint8)
        return q, f16(b[..., 0:2]), None, 8, 128
    w = t.dequantize() if rows is None else t.dequantize()[rows]
    wb = w.reshape(n, -1, BLOCK)
    d = np.abs(wb).max(axis=-1) / 127.0
    d[d == 0] = 1.0
    q = (np.clip(np.rint(wb / d[..., None]), -127, 127) + 128).astype(np.uint8)
    return q, d.astype(np.float32), None, 8, 128


def dequant_rows(t: QTensor, rows: np.ndarray | None = None) -> np.ndarray:
    """Float32 [N, K] weights: own unpacking for Q4_0/Q4_1/Q8_0 (checked equal to
    ``gguf.quants.dequantize``), the gguf library for every other type."""
    if t.qtype not in (QType.Q4_0, QType.Q4_1, QType.Q8_0):
        w = t.dequantize()
        return w if rows is None else np.ascontiguousarray(w[rows])
    q, d, off, _, zp = unpack_blocks(t, rows)
    w = d[..., None] * (q.astype(np.float32) - zp)
    if off is not None:
        w += off[..., None]
    return w.reshape(q.shape[0], -1)


def nbits_linear(
    b: Builder, x: str, name: str, parts: list[tuple[QTensor, np.ndarray | None]], accuracy_level: int
) -> str:
    """MatMulNBits over the concatenation (along outputs) of GGUF tensors."""
    un = [unpack_blocks(t, r) for t, r in parts]
    if len({(u[3], u[2] is None) for u in un}) != 1:
        outs = [nbits_linear(b, x, f"{name}_{i}", [p], accuracy_level) for i, p in enumerate(parts)]
        return b.node("Concat", outs, axis=-1)
    q = np.concatenate([u[0] for u in un])
    d = np.concatenate([u[1] for u in un])
    bits, zp = un[0][3], un[0][4]
    n, nb, _ = q.shape
    packed = q if bits == 8 else (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)
    zps = np.full((n, nb), zp, np.uint8) if bits == 8 else np.full((n, (nb + 1) // 2), zp | (zp << 4), np.uint8)
    y = b.node(
        "MatMulNBits",
        [
            x,
            b.init(f"{name}.q", np.ascontiguousarray(packed)),
            b.init(f"{name}.d", d.reshape(-1)),
            b.init(f"{name}.zp", zps),
        ],
        domain="com.microsoft",
        K=nb * BLOCK,
        N=n,
        bits=bits,
        block_size=BLOCK,
        accuracy_level=accuracy_level,
    )
    if un[0][2] is None:
        return y
    off = np.concatenate([u[2] for u in un])  # [N, nb]
    shape = b.const(f"bshape{b.rank}_{nb}", np.array([0] * (b.rank - 1) + [nb, BLOCK], np.int64))
    xs = b.node("ReduceSum", [b.node("Reshape", [x, shape]), b.const("axm1", np.array([-1], np.int64))], keepdims=0)
    return b.node("Add", [y, b.node("MatMul", [xs, b.init(f"{name}.offT", np.ascontiguousarray(off.T))])])


def quantize_rows(b: Builder, x: str) -> tuple[str, str]:
    """Symmetric per-row int8 activations stored as uint8 with zero point 128
    (MLAS's fast u8 x s8 form).  Returns (quantized, row scale [..., 1]);
    cached per input so Q/K/V or gate/up share one quantization."""
    cache: dict[str, tuple[str, str]] = b.__dict__.setdefault("_qcache", {})
    if x not in cache:
        mx = b.node("ReduceMax", [b.node("Abs", [x]), b.const("axm1", np.array([-1], np.int64))], keepdims=1)
        scale = b.node(
            "Mul",
            [
                b.node("Max", [mx, b.const("tiny", np.array(1e-30, np.float32))]),
                b.const("inv127", np.array(1.0 / 127.0, np.float32)),
            ],
        )
        zp = b.node("Expand", [b.const("zp128", np.array(128, np.uint8)), b.node("Shape", [scale])])
        q = b.node("QuantizeLinear", [x, scale, zp], axis=b.rank - 1, block_size=1 << 30)
        cache[x] = (q, scale)
    return cache[x]


def quantize_static(b: Builder, x: str, clip: float) -> tuple[str, str]:
    """Per-tensor int8 with a fixed range [-clip, clip]: for inputs whose rows
    have unit RMS by construction (RMSNorm output with the gain folded away
    and the space rotated), so the range is known in advance.  Saves the
    max-abs reduction and the output row scaling of :func:`quantize_rows`."""
    cache: dict[str, tuple[str, str]] = b.__dict__.setdefault("_qcache", {})
    if x not in cache:
        s = b.const(f"sscale{clip}", np.array(clip / 127.0, np.float32))
        q = b.node("QuantizeLinear", [x, s, b.const("zp128", np.array(128, np.uint8))])
        cache[x] = (q, s)
    return cache[x]


def int8_weights(w: np.ndarray, reduce_range: bool) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output row: (w_q.T [K, N] int8, scale [N])."""
    qmax = 63.0 if reduce_range else 127.0  # +-63: no int16 saturation in AVX2 vpmaddubsw
    scale = np.maximum(np.abs(w).max(axis=1), 1e-30) / qmax
    wq = np.clip(np.rint(w / scale[:, None]), -qmax, qmax).astype(np.int8)
    return np.ascontiguousarray(wq.T), scale.astype(np.float32)


def int8_linear_unscaled(b: Builder, x: str, name: str, w: np.ndarray, reduce_range: bool) -> tuple[str, str]:
    """Dynamic per-row int8 ``x @ w.T`` *before* the activation row scale:
    returns (y / row_scale, row_scale).  The head uses it to fold the scale
    into the statistics pass instead of an extra pass over [R, vocab]."""
    wq, scale = int8_weights(w, reduce_range)
    q, s = quantize_rows(b, x)
    y = b.node(
        "MatMulIntegerToFloat",
        [q, b.init(f"{name}.wq", wq), b.const("one", np.array(1.0, np.float32)), b.init(f"{name}.ws", scale), "zp128"],
        domain="com.microsoft",
    )
    return y, s


def dense_linear(
    b: Builder,
    x: str,
    name: str,
    w: np.ndarray,
    mode: str,
    reduce_range: bool = False,
    static_clip: float | None = None,
) -> str:
    """``x @ w.T`` for a dense float weight [N, K] in mode fp32 / int8 / int8dyn;
    ``static_clip`` selects :func:`quantize_static` for int8."""
    if mode == "fp32":
        return b.node("MatMul", [x, b.init(f"{name}.wT", np.ascontiguousarray(w.T, dtype=np.float32))])
    if mode == "int8" and static_clip:
        wq, scale = int8_weights(w, reduce_range)
        q, s = quantize_static(b, x, static_clip)
        return b.node(
            "MatMulIntegerToFloat",
            [q, b.init(f"{name}.wq", wq), s, b.init(f"{name}.ws", scale), "zp128"],
            domain="com.microsoft",
        )
    if mode == "int8":
        y, s = int8_linear_unscaled(b, x, name, w, reduce_range)
        return b.node("Mul", [y, s])
    if mode == "int8dyn":
        wq, scale = int8_weights(w, reduce_range)
        return b.node(
            "DynamicQuantizeMatMul",
            [
                x,
                b.init(f"{name}.wq", wq),
                b.init(f"{name}.ws", scale),
                b.init(f"{name}.wz", np.zeros(len(scale), np.int8)),
            ],
            domain="com.microsoft",
        )
    raise ValueError(f"unknown weight mode {mode!r}")
