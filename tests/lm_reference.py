"""Plain numpy float32 forward pass of a Llama GGUF model: the yardstick.

Why: the fast path (``engine.py``) rewrites the model into an ONNX graph,
repacks the 4-bit blocks, un-permutes the rotary rows and quantizes
activations; any of these can be silently wrong.  This module is written
independently of it and shares only the weight loading (``gguf_model``).  It
follows llama.cpp's own formulation on the GGUF tensors as stored:

* weights dequantized with ``gguf.quants.dequantize`` (no repacking);
* rotary embedding in llama.cpp's "normal" mode: adjacent pairs
  ``(x[2i], x[2i+1])`` are rotated, which is right for GGUF Llama files because
  the converter permuted the Q/K rows for exactly this mode;
* grouped-query attention by index arithmetic (q head ``h`` reads kv head
  ``h // (n_head / n_head_kv)``), causal softmax in float64;
* log-softmax over the full vocabulary in float64.

It costs about 0.6 s of CPU per 128 tokens and ~0.6 GB of float32 weights;
it is for checks, not for production.
"""

from __future__ import annotations

import numpy as np

from thresher.filters.lm_likelihood.model_file import GGUFModel


class ReferenceLM:
    """Dequantized float32 weights plus a one-sequence forward pass."""

    def __init__(self, model: GGUFModel) -> None:
        self.hp = hp = model.hparams
        self.embd = model.token_embd.dequantize()
        self.out = self.embd if model.output is model.token_embd else model.output.dequantize()
        self.out_norm = model.output_norm.dequantize().reshape(-1)
        names = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")
        self.layers = [{n: model.layer(i, n).dequantize() for n in names} for i in range(hp.n_layer)]
        half = hp.rope_dim // 2
        theta = hp.rope_base ** (-np.arange(half, dtype=np.float64) * 2.0 / hp.rope_dim)
        factors = model.rope_freq_factors()
        if factors is not None:
            theta = theta / factors[:half]
        self.theta = theta / hp.rope_scale

    def _rms(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        ms = np.mean(x.astype(np.float64) ** 2, axis=-1, keepdims=True)
        return (x / np.sqrt(ms + self.hp.rms_eps)).astype(np.float32) * w.reshape(-1)

    def _rope_pairs(self, x: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """x: [T, heads, head_dim]; rotate adjacent pairs of the first rope_dim dims."""
        ang = pos[:, None] * self.theta[None, :]  # [T, half]
        c = np.cos(ang)[:, None, :].astype(np.float32)
        s = np.sin(ang)[:, None, :].astype(np.float32)
        out = x.copy()
        x0 = x[..., 0 : self.hp.rope_dim : 2]
        x1 = x[..., 1 : self.hp.rope_dim : 2]
        out[..., 0 : self.hp.rope_dim : 2] = x0 * c - x1 * s
        out[..., 1 : self.hp.rope_dim : 2] = x0 * s + x1 * c
        return out

    def _attention(self, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        hp = self.hp
        t = q.shape[0]
        group = hp.n_head // hp.n_head_kv
        mask = np.triu(np.full((t, t), -np.inf), k=1)
        out = np.empty((t, hp.n_head, hp.head_dim), dtype=np.float32)
        scale = 1.0 / np.sqrt(hp.head_dim)
        for h in range(hp.n_head):
            kh, vh = k[:, h // group, :], v[:, h // group, :]
            s = (q[:, h, :] @ kh.T).astype(np.float64) * scale + mask
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            p = (s / s.sum(axis=-1, keepdims=True)).astype(np.float32)
            out[:, h, :] = p @ vh
        return out.reshape(t, hp.n_head * hp.head_dim)

    def logits(self, ids: list[int] | np.ndarray) -> np.ndarray:
        """Float32 logits [T, vocab] for one token sequence."""
        hp = self.hp
        ids = np.asarray(ids, dtype=np.int64)
        t = len(ids)
        pos = np.arange(t, dtype=np.float64)
        x = self.embd[ids].astype(np.float32)
        for L in self.layers:
            h = self._rms(x, L["attn_norm"])
            q = (h @ L["attn_q"].T).reshape(t, hp.n_head, hp.head_dim)
            k = (h @ L["attn_k"].T).reshape(t, hp.n_head_kv, hp.head_dim)
            v = (h @ L["attn_v"].T).reshape(t, hp.n_head_kv, hp.head_dim)
            q, k = self._rope_pairs(q, pos), self._rope_pairs(k, pos)
            x = x + self._attention(q, k, v) @ L["attn_output"].T
            h = self._rms(x, L["ffn_norm"])
            g = h @ L["ffn_gate"].T
            u = h @ L["ffn_up"].T
            x = x + ((g / (1.0 + np.exp(-g))) * u) @ L["ffn_down"].T
        return self._rms(x, self.out_norm) @ self.out.T

    def log_probs(self, ids: list[int] | np.ndarray) -> np.ndarray:
        """Float64 log-softmax [T, vocab]; row t predicts token t+1."""
        z = self.logits(ids).astype(np.float64)
        z -= z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    def token_log_probs(self, ids: list[int] | np.ndarray) -> np.ndarray:
        """log p(x_t | x_<t) for t = 1..T-1 (the first token has no context)."""
        ids = np.asarray(ids)
        lp = self.log_probs(ids)
        return lp[np.arange(len(ids) - 1), ids[1:]]
