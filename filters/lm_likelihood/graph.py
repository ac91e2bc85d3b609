"""The ONNX graphs of a Llama-architecture GGUF: the transformer body and the output head.

Built in memory from the GGUF metadata and weights (any Llama GGUF, not only SmolLM2):
*body*: embeddings -> n_layer x [RMSNorm, fused QKV, RoPE + causal GQA attention (ORT contrib
``GroupQueryAttention``, or plain ops), output projection, RMSNorm, gate/up, SwiGLU, down] ->
final RMSNorm -> hidden [B, T, C]; *head*: hidden rows -> logits [R, V] and the int8 row scale.
GGUF Llama Q/K rows are permuted for llama.cpp's adjacent-pair rope; the graph undoes that
permutation on the weight rows (exact: only output rows move) and uses the half-split form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .config import EngineConfig
from .model_file import GGUFModel
from .qlinear import dense_linear, int8_linear_unscaled, nbits_linear
from .rotation import DenseModel, hadamard, unpermute_rows


class _Builder:
    """Small helper around onnx.helper that keeps the graph code readable."""

    def __init__(self, rank: int = 3) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.consts: set[str] = set()
        self.rank = rank
        self._n = 0

    def init(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def const(self, name: str, arr: np.ndarray) -> str:
        if name not in self.consts:
            self.consts.add(name)
            self.init(name, arr)
        return name

    def node(self, op: str, inputs: list[str], domain: str = "", outputs: int | list[str] = 1, **attrs: Any) -> Any:
        self._n += 1
        outs = outputs if isinstance(outputs, list) else [f"{op}_{self._n}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=f"{op}_{self._n}", domain=domain, **attrs))
        return outs[0] if len(outs) == 1 else outs

    def model(self, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto]) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "lm", inputs, outputs, self.inits)
        return helper.make_model(
            graph, ir_version=10, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)]
        )


Linear = Callable[[_Builder, str, str, int, str], str]  # (builder, x, name, layer, which) -> y


def _linear_factory(m: GGUFModel, cfg: EngineConfig, dense: DenseModel | None) -> Linear:
    hp = m.hparams
    qr, kr = unpermute_rows(hp.n_head, hp.head_dim), unpermute_rows(hp.n_head_kv, hp.head_dim)
    gg: dict[str, list[tuple[str, np.ndarray | None]]] = {
        "qkv": [("attn_q", qr), ("attn_k", kr), ("attn_v", None)],
        "o": [("attn_output", None)],
        "gate": [("ffn_gate", None)],
        "up": [("ffn_up", None)],
        "down": [("ffn_down", None)],
    }
    dk = {"qkv": ["q", "k", "v"], "o": ["o"], "gate": ["gate"], "up": ["up"], "down": ["down"]}

    clip = cfg.static_clip if cfg.rotate else None

    def lin(b: _Builder, x: str, name: str, i: int, which: str) -> str:
        if cfg.weights == "nbits":
            return nbits_linear(b, x, name, [(m.layer(i, t), r) for t, r in gg[which]], cfg.accuracy_level)
        assert dense is not None
        w = np.concatenate([dense.layers[i][k] for k in dk[which]])
        normed = which in ("qkv", "gate", "up")
        return dense_linear(b, x, name, w, cfg.weights, bool(cfg.reduce_range), clip if normed else None)

    return lin


def build_body(m: GGUFModel, cfg: EngineConfig, dense: DenseModel | None) -> onnx.ModelProto:
    hp = m.hparams
    if hp.rope_dim != hp.head_dim:
        raise ValueError("partial rotary embedding is not supported by the engine")
    b, lin = _Builder(), _linear_factory(m, cfg, dense)
    H, KV, D, C = hp.n_head, hp.n_head_kv, hp.head_dim, hp.n_embd
    eps = hp.rms_eps
    i64 = lambda name, vals: b.const(name, np.array(vals, np.int64))  # noqa: E731

    def gain(i: int, which: str) -> np.ndarray:
        if dense is not None:
            return dense.layers[i][which]
        return m.layer(i, which).dequantize().reshape(-1)

    def rope(x: str) -> str:  # x [B, T, heads, D]; cos/sin [T, 1, D] (half-split layout)
        lo, hi = b.node("Split", [x, i64("half", [D // 2, D // 2])], outputs=2, axis=-1)
        rot = b.node("Concat", [b.node("Neg", [hi]), lo], axis=-1)
        return b.node("Add", [b.node("Mul", [x, "cos"]), b.node("Mul", [rot, "sin"])])

    def attention(qkv: str, i: int) -> str:
        if cfg.attention == "gqa":
            return b.node(
                "GroupQueryAttention",
                [qkv, "", "", "", "", "seqlens_k", "total_len", "cos_cache", "sin_cache"],
                domain="com.microsoft",
                outputs=3,
                num_heads=H,
                kv_num_heads=KV,
                do_rotary=1,
                rotary_interleaved=0,
            )[0]
        G = H // KV
        q, k, v = b.node("Split", [qkv, i64("qkvsplit", [H * D, KV * D, KV * D])], outputs=3, axis=-1)
        q = b.node("Reshape", [rope(b.node("Reshape", [q, i64("sh_h", [0, 0, H, D])])), i64("sh_q", [0, 0, KV, G, D])])
        k = rope(b.node("Reshape", [k, i64("sh_kv", [0, 0, KV, D])]))
        v = b.node("Reshape", [v, "sh_kv"])
        qt = b.node("Transpose", [q], perm=[0, 2, 3, 1, 4])  # [B,KV,G,T,D]
        kt = b.node("Unsqueeze", [b.node("Transpose", [k], perm=[0, 2, 3, 1]), i64("ax2", [2])])  # [B,KV,1,D,T]
        vt = b.node("Unsqueeze", [b.node("Transpose", [v], perm=[0, 2, 1, 3]), "ax2"])  # [B,KV,1,T,D]
        s = b.node(
            "Add",
            [b.node("Mul", [b.node("MatMul", [qt, kt]), b.const("scale", np.array(D**-0.5, np.float32))]), "mask"],
        )
        o = b.node("MatMul", [b.node("Softmax", [s], axis=-1), vt])
        return b.node("Reshape", [b.node("Transpose", [o], perm=[0, 3, 1, 2, 4]), i64("sh_c", [0, 0, C])])

    x, delta = "embeddings", ""
    for i in range(hp.n_layer):
        g = b.init(f"l{i}.attn_norm", gain(i, "attn_norm"))
        if not delta:
            h = b.node("SimplifiedLayerNormalization", [x, g], axis=-1, epsilon=eps)
        else:
            h, _, _, x = b.node(
                "SkipSimplifiedLayerNormalization", [x, delta, g], domain="com.microsoft", outputs=4, epsilon=eps
            )
        delta = lin(b, attention(lin(b, h, f"l{i}.qkv", i, "qkv"), i), f"l{i}.o", i, "o")
        g = b.init(f"l{i}.ffn_norm", gain(i, "ffn_norm"))
        h, _, _, x = b.node(
            "SkipSimplifiedLayerNormalization", [x, delta, g], domain="com.microsoft", outputs=4, epsilon=eps
        )
        gate, up = lin(b, h, f"l{i}.gate", i, "gate"), lin(b, h, f"l{i}.up", i, "up")
        act = b.node("Mul", [b.node("Mul", [gate, b.node("Sigmoid", [gate])]), up])
        if dense is not None and dense.down_block:
            blk = dense.down_block
            act = b.node(
                "MatMul",
                [
                    b.node("Reshape", [act, i64("sh_blk", [0, 0, hp.n_ff // blk, blk])]),
                    b.const("had", hadamard(blk).astype(np.float32)),
                ],
            )
            act = b.node("Reshape", [act, i64("sh_ff", [0, 0, hp.n_ff])])
        delta = lin(b, act, f"l{i}.down", i, "down")
    out_gain = dense.out_norm if dense is not None else m.output_norm.dequantize().reshape(-1)
    b.node(
        "SkipSimplifiedLayerNormalization",
        [x, delta, b.init("out_norm", out_gain)],
        domain="com.microsoft",
        outputs=["hidden", "", "", ""],
        epsilon=eps,
    )
    f32 = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("embeddings", f32, ["B", "T", C])]
    if cfg.attention == "gqa":
        inputs += [
            helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, ["B"]),
            helper.make_tensor_value_info("total_len", TensorProto.INT32, []),
            helper.make_tensor_value_info("cos_cache", f32, ["T", D // 2]),
            helper.make_tensor_value_info("sin_cache", f32, ["T", D // 2]),
        ]
    else:
        inputs += [helper.make_tensor_value_info(n, f32, ["T", 1, D]) for n in ("cos", "sin")]
        inputs += [helper.make_tensor_value_info("mask", f32, ["T", "T"])]
    return b.model(inputs, [helper.make_tensor_value_info("hidden", f32, ["B", "T", C])])


def build_head(m: GGUFModel, cfg: EngineConfig, dense: DenseModel | None) -> onnx.ModelProto:
    """hidden [R, C] -> logits [R, V] and a row scale [R, 1]: true logits are
    ``logits * row_scale`` (the scale is 1 except for dynamic int8, where
    applying it is left to the statistics pass)."""
    b = _Builder(rank=2)
    scale = ""
    if cfg.head_weights == "nbits":
        z = nbits_linear(b, "hidden", "head", [(m.output, None)], cfg.accuracy_level)
    elif cfg.head_weights == "int8" and not (cfg.rotate and cfg.static_clip):
        assert dense is not None
        z, scale = int8_linear_unscaled(b, "hidden", "head", dense.head, bool(cfg.reduce_range))
    else:
        assert dense is not None
        z = dense_linear(
            b,
            "hidden",
            "head",
            dense.head,
            cfg.head_weights,
            bool(cfg.reduce_range),
            cfg.static_clip if cfg.rotate else None,
        )
    b.node("Identity", [z], outputs=["logits"])
    b.node("Identity", [scale or b.const("unit", np.ones((1, 1), np.float32))], outputs=["row_scale"])
    f32 = TensorProto.FLOAT
    return b.model(
        [helper.make_tensor_value_info("hidden", f32, ["R", m.hparams.n_embd])],
        [
            helper.make_tensor_value_info("logits", f32, ["R", m.hparams.vocab_size]),
            helper.make_tensor_value_info("row_scale", f32, None),
        ],
    )
