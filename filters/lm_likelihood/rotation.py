"""Dense per-layer weights, optionally with outlier-spreading rotations.

Why: per-row int8 activations (the fast ORT int8 GEMM takes one activation
scale per row) lose too much precision on raw LLM activations, whose few
outlier channels set each row's scale: token log-probs then move by ~0.22 nat
on average.  Rotating the hidden space by a fixed orthogonal matrix spreads
those outliers over all channels (the QuaRot idea; no data, no training), and
the rotation folds exactly into the weights:

* RMSNorm gains are folded into the following weights (the norms then have
  unit gain), which makes RMSNorm commute with any orthogonal Q:
  ``rms(xQ) = rms(x) Q``.  The residual stream is carried as ``x Q``:
  embedding rows ``E Q``; Q/K/V, gate/up and head weights ``(W * gamma) Q``;
  attention-output and down weights ``Q.T W``.
* V and O get a per-head Hadamard (value vectors rotated inside each head,
  undone by O), which spreads outliers of the attention output.
* The SwiGLU output cannot be rotated offline (non-linear), so it gets an
  online block-Hadamard (blocks of 128) in the graph, folded into ``down``.

In float arithmetic the rotated model equals the original one (checked in
``bench.py``); only the int8 rounding sees a friendlier distribution.
Q/K rows are returned in the HF half-split rotary layout (see engine.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model_file import GGUFModel
from .qlinear import dequant_rows


def hadamard(n: int) -> np.ndarray:
    """Orthonormal Sylvester-Hadamard matrix of a power-of-two order."""
    if n & (n - 1):
        raise ValueError("Hadamard order must be a power of two")
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h / np.sqrt(n)


def random_orthogonal(n: int, seed: int) -> np.ndarray:
    """Deterministic Haar-random orthogonal matrix (QR of a seeded Gaussian)."""
    a = np.random.default_rng(seed).standard_normal((n, n))
    q, r = np.linalg.qr(a)
    return q * np.sign(np.diag(r))


def pow2_block(n: int, cap: int = 128) -> int:
    """Largest power of two <= cap that divides n (block of the online rotation)."""
    b = 1
    while b * 2 <= cap and n % (b * 2) == 0:
        b *= 2
    return b


def unpermute_rows(n_head: int, head_dim: int) -> np.ndarray:
    """Row order turning llama.cpp's pair-interleaved Q/K rows into the HF
    half-split layout: gguf row h*D + 2i + j  ->  hf row h*D + j*D/2 + i."""
    return np.arange(n_head * head_dim).reshape(n_head, head_dim // 2, 2).transpose(0, 2, 1).reshape(-1)


@dataclass
class DenseModel:
    """Float32 weights [out, in] for the engine's dense modes."""

    embed_rotation: np.ndarray | None  # [C, C] applied to looked-up embedding rows
    layers: list[dict[str, np.ndarray]]  # q,k,v,o,gate,up,down + attn_norm, ffn_norm gains
    out_norm: np.ndarray
    head: np.ndarray
    down_block: int  # online Hadamard block for the SwiGLU output (0 = none)


def dense_model(m: GGUFModel, rotate: bool, seed: int = 0, with_head: bool = True) -> DenseModel:
    hp = m.hparams
    C, D = hp.n_embd, hp.head_dim
    qr, kr = unpermute_rows(hp.n_head, D), unpermute_rows(hp.n_head_kv, D)
    if rotate:  # float32 products: rounding ~1e-7 relative, far below int8 steps
        Q = random_orthogonal(C, seed).astype(np.float32)
        hh = hadamard(D).astype(np.float32)
        hv = np.kron(np.eye(hp.n_head_kv, dtype=np.float32), hh)
        ho = np.kron(np.eye(hp.n_head, dtype=np.float32), hh)
        blk = pow2_block(hp.n_ff)
        rd = np.kron(np.eye(hp.n_ff // blk, dtype=np.float32), hadamard(blk).astype(np.float32))
    layers = []
    for i in range(hp.n_layer):
        w = {n: dequant_rows(m.layer(i, n)) for n in ("attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")}
        w["attn_q"] = dequant_rows(m.layer(i, "attn_q"), qr)
        w["attn_k"] = dequant_rows(m.layer(i, "attn_k"), kr)
        ga = m.layer(i, "attn_norm").dequantize().reshape(-1)
        gf = m.layer(i, "ffn_norm").dequantize().reshape(-1)
        if rotate:
            L = {
                "q": (w["attn_q"] * ga) @ Q,
                "k": (w["attn_k"] * ga) @ Q,
                "v": hv.T @ ((w["attn_v"] * ga) @ Q),
                "o": Q.T @ w["attn_output"] @ ho,
                "gate": (w["ffn_gate"] * gf) @ Q,
                "up": (w["ffn_up"] * gf) @ Q,
                "down": Q.T @ w["ffn_down"] @ rd,
                "attn_norm": np.ones(C),
                "ffn_norm": np.ones(C),
            }
        else:
            L = {
                "q": w["attn_q"],
                "k": w["attn_k"],
                "v": w["attn_v"],
                "o": w["attn_output"],
                "gate": w["ffn_gate"],
                "up": w["ffn_up"],
                "down": w["ffn_down"],
                "attn_norm": ga,
                "ffn_norm": gf,
            }
        layers.append({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in L.items()})
    go = m.output_norm.dequantize().reshape(-1)
    head = dequant_rows(m.output) if with_head else np.zeros((0, C), np.float32)
    if rotate:
        head = (head * go) @ Q if with_head else head
        return DenseModel(Q, layers, np.ones(C, np.float32), head, blk)
    return DenseModel(None, layers, go, head, 0)
