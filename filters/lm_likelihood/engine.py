"""Fast CPU scoring of a causal LM's token likelihoods: ONNX Runtime sessions built from a GGUF.

Why ONNX Runtime: a PyPI wheel (no compiler, no torch) whose MLAS library has fast int8 GEMMs
(AVX2, AVX-512 VNNI, AMX) and runs the whole transformer without Python in the loop.

Default numerics (``EngineConfig()``): int8 activations per row x int8 weights per output row
(ORT ``MatMulIntegerToFloat``, MLAS u8s8 GEMM), after the exact orthogonal rotations of
``rotation.py``, with 7-bit weights on every CPU: AVX2's int16 pair sums would saturate with
8-bit weights, and pinning 7 bits everywhere keeps scores comparable across machines (VNNI
machines would otherwise compute slightly different numbers). ``EngineConfig.exact()`` is the
float32 path, which agrees with an independent numpy forward pass (tests/lm_reference.py).
``MatMulNBits`` on the GGUF blocks is available (``weights="nbits"``) but measured slower than
float32 for prompts.

Batching: documents are sorted by length, grouped and right-padded; with a purely causal mask a
real position never sees a padded one, and activations are quantized per row, so a document's
numbers do not depend on its batch (``int8dyn`` is the exception: one scale per batch tensor).
"""

from __future__ import annotations

from dataclasses import replace

import gguf
import numpy as np
import onnxruntime as ort

from . import stats
from .config import EngineConfig
from .graph import build_body, build_head
from .model_file import GGUFModel, load_gguf
from .rotation import dense_model


def cpu_has_vnni() -> bool:
    """True if MLAS's u8 x s8 GEMM uses VNNI/AMX dot products (exact int32
    accumulation).  Without them it uses AVX2 ``vpmaddubsw``, whose int16 pair
    sums saturate with full-range int8 weights (seen under emulation:
    check_avx2.py), so the engine then keeps weights in +-63."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    except OSError:
        return False
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & set(flags))


def _release_memory() -> None:
    """Return freed heap pages to the OS (glibc only; harmless elsewhere)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Engine:
    """Build the ORT sessions once; ``score`` documents in batches."""

    def __init__(self, model: GGUFModel | str | None = None, config: EngineConfig | None = None) -> None:
        self.m = model if isinstance(model, GGUFModel) else load_gguf(model)
        cfg = config or EngineConfig()
        if not cfg.reduce_range and not cpu_has_vnni():
            cfg = replace(cfg, reduce_range=True)  # 8-bit weights would saturate here
        self.cfg = cfg
        dense_modes = {"fp32", "int8", "int8dyn"}
        if cfg.rotate and not (cfg.weights in dense_modes and cfg.head_weights in dense_modes):
            raise ValueError("rotate=True needs dense weight modes for body and head")
        need_dense = cfg.weights in dense_modes or cfg.head_weights in dense_modes
        dense = dense_model(self.m, cfg.rotate) if need_dense else None
        so = ort.SessionOptions()
        so.intra_op_num_threads = cfg.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        prov = ["CPUExecutionProvider"]
        self.body = ort.InferenceSession(build_body(self.m, cfg, dense).SerializeToString(), so, providers=prov)
        self.head = ort.InferenceSession(build_head(self.m, cfg, dense).SerializeToString(), so, providers=prov)
        self._emb_rot = dense.embed_rotation if dense is not None else None
        del dense
        # Keep only what scoring needs: the (small) quantized embedding table
        # and the tokenizer; drop the memory-mapped weights and give the freed
        # float32 work arrays back to the OS (glibc keeps them otherwise).
        emb = self.m.token_embd
        self._emb = (np.array(emb.raw), emb.qtype)
        self.m = replace(self.m, tensors={k: v for k, v in self.m.tensors.items() if k == "rope_freqs.weight"})
        _release_memory()
        hp = self.m.hparams
        theta = hp.rope_base ** (-np.arange(hp.head_dim // 2, dtype=np.float64) * 2.0 / hp.head_dim)
        ff = self.m.rope_freq_factors()
        self._theta = (theta / (ff[: hp.head_dim // 2] if ff is not None else 1.0)) / hp.rope_scale

    def _embed(self, ids: np.ndarray) -> np.ndarray:
        table, qtype = self._emb
        raw = table[ids.reshape(-1)]
        rows = raw if qtype == gguf.GGMLQuantizationType.F32 else gguf.quants.dequantize(raw, qtype)
        rows = rows.reshape(-1, self.m.hparams.n_embd).astype(np.float32)
        if self._emb_rot is not None:
            rows = rows @ self._emb_rot
        return np.ascontiguousarray(rows.reshape(*ids.shape, -1))

    def _body_feed(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        bsz, t = ids.shape
        ang = np.arange(t, dtype=np.float64)[:, None] * self._theta[None, :]
        feed: dict[str, np.ndarray] = {"embeddings": self._embed(ids)}
        if self.cfg.attention == "gqa":
            feed.update(
                seqlens_k=np.full(bsz, t - 1, np.int32),
                total_len=np.array(t, np.int32),
                cos_cache=np.cos(ang).astype(np.float32),
                sin_cache=np.sin(ang).astype(np.float32),
            )
        else:
            full = np.concatenate([ang, ang], axis=-1)[:, None, :]
            feed.update(
                cos=np.cos(full).astype(np.float32),
                sin=np.sin(full).astype(np.float32),
                mask=np.triu(np.full((t, t), -1e30, np.float32), k=1),
            )
        return feed

    def hidden(self, ids: np.ndarray) -> np.ndarray:
        """Final-normed hidden states [B, T, C] for a right-padded id matrix."""
        return self.body.run(["hidden"], self._body_feed(ids))[0]

    def head_quantities(self, h: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """[R, 4] = (log p, entropy, var log p, rank) for hidden rows ``h`` [R, C]."""
        out = []
        for s in range(0, len(h), self.cfg.head_rows):
            z, scale = self.head.run(["logits", "row_scale"], {"hidden": h[s : s + self.cfg.head_rows]})
            scale = scale.reshape(-1)
            out.append(
                stats.quantities_from_logits(z, targets[s : s + self.cfg.head_rows], None if scale.size == 1 else scale)
            )
        return np.concatenate(out) if out else np.zeros((0, 4))

    def tokenize(self, texts: list[str], max_tokens: int) -> list[list[int]]:
        pre = [] if self.cfg.prefix_token is None else [self.cfg.prefix_token]
        return [pre + self.m.encode(t)[:max_tokens] for t in texts]

    def token_quantities(self, seqs: list[list[int]]) -> list[np.ndarray]:
        """Per-document [n_i - 1, 4] arrays (row t scores token t+1)."""
        result: list[np.ndarray] = [np.zeros((0, 4))] * len(seqs)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for s in range(0, len(order), self.cfg.batch_size):
            idx = [i for i in order[s : s + self.cfg.batch_size] if len(seqs[i]) >= 2]
            if not idx:
                continue
            ids = np.zeros((len(idx), max(len(seqs[i]) for i in idx)), np.int64)
            for r, i in enumerate(idx):
                ids[r, : len(seqs[i])] = seqs[i]
            h = self.hidden(ids)
            rows = np.concatenate([h[r, : len(seqs[i]) - 1] for r, i in enumerate(idx)])
            q = self.head_quantities(rows, np.concatenate([np.asarray(seqs[i][1:], np.int64) for i in idx]))
            off = 0
            for i in idx:
                result[i], off = q[off : off + len(seqs[i]) - 1], off + len(seqs[i]) - 1
        return result

    def score(self, texts: list[str], max_tokens: int = 128) -> list[dict[str, float]]:
        """Statistics of the first ``max_tokens`` tokens of each text (see stats.py)."""
        return [stats.doc_stats(q) for q in self.token_quantities(self.tokenize(texts, max_tokens))]
