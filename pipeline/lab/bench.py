"""`thresher bench`: datatrove's FineWeb pipeline against thresher's presets, on the same WARC files.

Each pipeline runs in its own child process, one after another, while this process samples the
child's whole process tree with psutil (the executor's forkserver and workers, trafilatura's
sandbox processes): peak RSS of the tree and of its largest process, and CPU seconds. The
datatrove run is the reference; it is slow (~2 minutes on 5,000 records, 2 cores), so its
result is cached under the temp folder, keyed by the input files, worker count and versions.

The datatrove child is `bench_datatrove`; a preset's child is `thresher run` itself.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

from .bench_datatrove import datatrove_block_seconds, datatrove_timeouts

# bump when what a cached datatrove result means changes
CACHE_VERSION = 1
SAMPLE_SECONDS = 0.2
GIB = 1 << 30

# published reference (shared/reference/baseline-datatrove.md), shown next to the measured one
PUBLISHED_DATATROVE = {"docs_per_s_2_workers": 75.5, "docs_per_core_s": 37.7, "peak_rss_mb": 889}

TARGETS = {
    "fineweb_speedup": 2.0,  # fineweb preset documents/s ÷ datatrove's
    "fineweb_agreement": 0.99,  # kept by both ÷ kept by either, after the filters
    "fast_speedup": 10.0,
    "thresher_speedup": 1.5,  # the recommended preset, its LM block included
    "rss_per_worker": 1 * GIB,  # largest process of the tree
}


@dataclass
class Measurement:
    """One pipeline's run: what the bench prints and caches."""

    name: str
    kind: str  # "datatrove" or "preset"
    ok: bool
    workers: int
    documents: int
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_tree_rss: int = 0
    peak_proc_rss: int = 0
    processes: int = 0
    block_seconds: list[tuple[str, float]] = field(default_factory=list)
    kept_filtered: list[str] | None = None  # record ids after the filters (before dedup)
    kept_final: list[str] | None = None  # record ids in the final output
    load_before: float = 0.0
    timeouts: int = 0  # pages whose extraction hit the time limit (many on a busy machine)
    error: str | None = None
    cached_at: str | None = None
    wall_runs: list[float] = field(default_factory=list)  # every run's wall time; the median run is reported

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.wall_s if self.wall_s else 0.0

    @property
    def docs_per_core_s(self) -> float:
        return self.docs_per_s / max(1, self.workers)


# --- inputs -----------------------------------------------------------------------------------------


def count_documents(files: list[str]) -> int:
    """Response/conversion records in the inputs: the one denominator of every documents/s figure."""
    total = 0
    try:
        from fastwarc.warc import ArchiveIterator, WarcRecordType

        kinds = WarcRecordType.response | WarcRecordType.conversion
        for path in files:
            total += sum(1 for _ in ArchiveIterator(path, record_types=kinds, parse_http=False))
        return total
    except ImportError:
        from warcio.archiveiterator import ArchiveIterator as WarcioIterator

        for path in files:
            with open(path, "rb") as f:
                total += sum(1 for r in WarcioIterator(f) if r.rec_type in ("response", "conversion"))
        return total


def _norm_id(value: str | None) -> str:
    return (value or "").strip("<>").removeprefix("urn:uuid:")


def _parquet_ids(folder: str) -> list[str] | None:
    """Record ids of every parquet shard under `folder` (None when the folder does not exist)."""
    import pyarrow.parquet as pq

    if not os.path.isdir(folder):
        return None
    ids: list[str] = []
    for path in sorted(glob.glob(os.path.join(folder, "**", "*.parquet"), recursive=True)):
        ids += [_norm_id(v) for v in pq.read_table(path, columns=["id"]).column("id").to_pylist()]
    return ids


def agreement(a: list[str] | None, b: list[str] | None) -> float | None:
    """Kept by both ÷ kept by either (1.0 when both keep nothing)."""
    if a is None or b is None:
        return None
    sa, sb = set(a), set(b)
    either = sa | sb
    return len(sa & sb) / len(either) if either else 1.0


# --- measuring a child process tree --------------------------------------------------------------


def measure_command(argv: list[str], log_path: str, env: dict | None = None) -> dict:
    """Run `argv`; wall and CPU seconds, peak RSS of its process tree and of its largest process.

    CPU is the larger of the child's rusage (itself and every descendant it reaped) and the sum
    of the last CPU times sampled for each process of the tree (workers reaped by a forkserver
    never reach the child's rusage).
    """
    import psutil

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        root = psutil.Process(proc.pid)
        cpu_seen: dict[tuple[int, float], float] = {}
        peak_tree = peak_proc = 0
        status = None
        rusage = None
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            total = 0
            try:
                tree = [root] + root.children(recursive=True)
            except psutil.Error:
                tree = []
            for p in tree:
                try:
                    with p.oneshot():
                        rss = p.memory_info().rss
                        times = p.cpu_times()
                        key = (p.pid, p.create_time())
                except psutil.Error:
                    continue
                total += rss
                peak_proc = max(peak_proc, rss)
                cpu_seen[key] = times.user + times.system
            peak_tree = max(peak_tree, total)
            time.sleep(SAMPLE_SECONDS)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    reaped = rusage.ru_utime + rusage.ru_stime if rusage is not None else 0.0
    return {
        "returncode": proc.returncode,
        "wall_s": wall,
        "cpu_s": max(reaped, sum(cpu_seen.values())),
        "peak_tree_rss": peak_tree,
        "peak_proc_rss": peak_proc,
        "processes": len(cpu_seen),
        "load_before": load_before,
    }


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# --- thresher presets ---------------------------------------------------------------------------


def preset_results(out: str) -> tuple[list[tuple[str, float]], list[str] | None, list[str] | None, int]:
    """(block seconds, ids after the filters, ids in the output, timeouts) of a finished `thresher run`."""
    blocks: list[tuple[str, float]] = []
    timeouts = 0
    stats_path = os.path.join(out, "stats.json")
    if os.path.exists(stats_path):
        with open(stats_path) as f:
            stats = json.load(f)
        blocks = [(f"{b['stage']}: {b['block']}", float(b["seconds"])) for b in stats.get("blocks", [])]
        blocks += [(f"{name} (stage)", float(s.get("seconds", 0.0))) for name, s in stats.get("stages", {}).items()]
        timeouts = sum(int(b.get("reasons", {}).get("timeout", 0)) for b in stats.get("blocks", []))
    final = _parquet_ids(os.path.join(out, "data"))
    filtered = _parquet_ids(os.path.join(out, "work", "filtered"))
    return blocks, filtered if filtered is not None else final, final, timeouts


# --- running the comparison --------------------------------------------------------------------


def cache_key(files: list[str], workers: int, extract_timeout: float | None = None) -> str:
    """Inputs (path, size, mtime), workers, timeout and the versions that decide datatrove's result."""
    from importlib.metadata import version

    parts = [CACHE_VERSION, workers, version("datatrove"), version("trafilatura"), extract_timeout or 1.0]
    for path in files:
        st = os.stat(path)
        parts.append((os.path.abspath(path), st.st_size, int(st.st_mtime)))
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:16]


def default_cache_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "thresher-bench-cache")


def load_cached(cache_dir: str, key: str) -> Measurement | None:
    path = os.path.join(cache_dir, f"datatrove-{key}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        data = json.load(f)
    data["block_seconds"] = [tuple(x) for x in data.get("block_seconds", [])]
    return Measurement(**data)


def save_cached(cache_dir: str, key: str, m: Measurement) -> None:
    os.makedirs(cache_dir, exist_ok=True)
    data = asdict(m)
    data["cached_at"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    tmp = os.path.join(cache_dir, f".datatrove-{key}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, os.path.join(cache_dir, f"datatrove-{key}.json"))


def _datatrove_child(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "thresher.pipeline.lab.bench_datatrove", *args]


def measure_datatrove(
    files: list[str], out: str, workers: int, documents: int, lid_model: str, extract_timeout: float | None = None
) -> Measurement:
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    argv = _datatrove_child(
        [
            "--out",
            out,
            "--workers",
            str(workers),
            "--lid-model",
            lid_model,
            "--extract-timeout",
            str(extract_timeout or 1.0),
            *files,
        ]
    )
    r = measure_command(argv, os.path.join(out, "bench.log"), _child_env())
    m = Measurement("datatrove FineWeb", "datatrove", r["returncode"] == 0, workers, documents)
    _fill(m, r, os.path.join(out, "bench.log"))
    m.block_seconds = datatrove_block_seconds(out)
    m.timeouts = datatrove_timeouts(out)
    m.kept_filtered = _parquet_ids(os.path.join(out, "filtered"))
    m.kept_final = _parquet_ids(os.path.join(out, "final"))
    return m


def measure_preset(
    label: str,
    preset: str,
    files: list[str],
    out: str,
    workers: int,
    documents: int,
    extract_timeout: float | None = None,
) -> Measurement:
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    run_out = os.path.join(out, "run")
    if extract_timeout is not None:
        preset = timeout_preset(preset, extract_timeout, os.path.join(out, "preset.yaml"))
    # the measured child is the command a user runs
    argv = [
        sys.executable,
        "-m",
        "thresher.pipeline.cli",
        "run",
        preset,
        "-o",
        run_out,
        "-w",
        str(workers),
        "--no-progress",
    ] + [arg for path in files for arg in ("-i", path)]
    r = measure_command(argv, os.path.join(out, "bench.log"), _child_env())
    m = Measurement(label, "preset", r["returncode"] == 0, workers, documents)
    _fill(m, r, os.path.join(out, "bench.log"))
    m.block_seconds, m.kept_filtered, m.kept_final, m.timeouts = preset_results(run_out)
    return m


def timeout_preset(preset: str, timeout: float, path: str) -> str:
    """A preset file that is `preset` with trafilatura's per-page limit set to `timeout` (if it has one)."""
    from ...filters.presets import preset_path
    from ...filters.presets import read_preset as load_preset

    if "extract" not in [name for name, _ in load_preset(preset)["pipeline"]]:
        return preset
    with open(path, "w") as f:
        json.dump({"extends": os.path.abspath(preset_path(preset)), "override": {"extract": {"timeout": timeout}}}, f)
    return path


def median_run(measure, repeat: int) -> Measurement:
    """`measure()` run `repeat` times; the run with the median wall time, carrying all the wall times.
    A run of 10-15 s varies by a second or more on a shared machine; one failed run is reported as is."""
    runs: list[Measurement] = []
    for _ in range(max(1, repeat)):
        m = measure()
        if not m.ok:
            return m
        runs.append(m)
    chosen = sorted(runs, key=lambda m: m.wall_s)[(len(runs) - 1) // 2]
    chosen.wall_runs = [round(m.wall_s, 2) for m in runs]
    return chosen


def _fill(m: Measurement, r: dict, log: str) -> None:
    for key in ("wall_s", "cpu_s", "peak_tree_rss", "peak_proc_rss", "processes", "load_before"):
        setattr(m, key, r[key])
    if not m.ok:
        m.error = f"exit {r['returncode']}; see {log}:\n{_tail(log)}"


def _child_env() -> dict:
    env = dict(os.environ)
    env.setdefault("THRESHER_TASK_LOG_LEVEL", "WARNING")
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _warm_url_cache() -> str:
    """Build the URL blocklist's on-disk cache before any timing: it is built once per machine and
    datatrove install, and every later run only maps it."""
    from ...filters.url import integrated_blocklist

    start = time.perf_counter()
    integrated_blocklist()
    took = time.perf_counter() - start
    if took < 1:
        return "url blocklist: cache already built"
    return f"url blocklist: cache built in {took:.1f} s (once per machine and datatrove install; not in the timings)"


def run_bench(
    files: list[str],
    out: str,
    workers: int,
    presets: list[tuple[str, str]],
    skip_datatrove: bool = False,
    rerun_datatrove: bool = False,
    cache_dir: str | None = None,
    lid_model: str | None = None,
    extract_timeout: float | None = None,
    repeat: int = 1,
    log=print,
) -> dict:
    """Measure datatrove (cached) and each (label, preset) in turn, each `repeat` times (the median
    run is reported); returns the comparison."""
    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    cache_dir = cache_dir or default_cache_dir()
    documents = count_documents(files)
    log(f"bench: {len(files)} file(s), {documents} response records, {workers} worker(s) -> {out}")
    results: list[Measurement] = []
    key = cache_key(files, workers, extract_timeout)
    reference = None if rerun_datatrove else load_cached(cache_dir, key)
    if reference is not None:
        log(f"datatrove: cached result from {reference.cached_at} ({cache_dir}/datatrove-{key}.json)")
    elif not skip_datatrove:
        log("datatrove: running its FineWeb pipeline (the slow one) ...")
        from ...filters.language import bundled_model_path

        reference = median_run(
            lambda: measure_datatrove(
                files,
                os.path.join(out, "datatrove"),
                workers,
                documents,
                lid_model or bundled_model_path(),
                extract_timeout,
            ),
            repeat,
        )
        if reference.ok:
            save_cached(cache_dir, key, reference)
    if reference is not None:
        results.append(reference)
    if presets:
        log(_warm_url_cache())
    for label, preset in presets:
        log(f"{label}: running preset {preset!r} ...")
        results.append(
            median_run(
                lambda label=label, preset=preset: measure_preset(
                    label, preset, files, os.path.join(out, label), workers, documents, extract_timeout
                ),
                repeat,
            )
        )
    report = {
        "machine": machine_description(),
        "files": files,
        "documents": documents,
        "workers": workers,
        "extract_timeout": extract_timeout,
        "results": results,
    }
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump({**report, "results": [_summary(m) for m in results]}, f, indent=2, default=str)
    return report


def _summary(m: Measurement) -> dict:
    d = asdict(m)
    d["kept_filtered"] = len(m.kept_filtered) if m.kept_filtered is not None else None
    d["kept_final"] = len(m.kept_final) if m.kept_final is not None else None
    d["docs_per_s"] = round(m.docs_per_s, 2)
    d["docs_per_core_s"] = round(m.docs_per_core_s, 2)
    return d


def machine_description() -> str:
    import platform

    import psutil

    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = psutil.virtual_memory().total / GIB
    versions = ", ".join(f"{name} {_version(name)}" for name in ("datatrove", "trafilatura", "resiliparse", "fastwarc"))
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}, {versions}"


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


# --- printing -----------------------------------------------------------------------------------


def table(rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right if right is not None else set(range(1, len(rows[0])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.0f}"


def format_report(report: dict, fineweb_label: str = "fineweb", fast_label: str = "fast") -> str:
    """The comparison table, time per block, and the targets met / missed."""
    results: list[Measurement] = report["results"]
    ref = next((m for m in results if m.kind == "datatrove"), None)
    out = [
        f"machine: {report['machine']}",
        f"documents: {report['documents']} response records, "
        f"{report['workers']} worker(s), load average before each run shown",
    ]
    if report.get("extract_timeout"):
        out.append(
            f"trafilatura's per-page time limit: {report['extract_timeout']:g} s in every pipeline (published: 1 s)"
        )
    rows = [
        [
            "pipeline",
            "ok",
            "wall s",
            "docs/s",
            "docs/s/core",
            "vs datatrove",
            "CPU s",
            "docs/CPU s",
            "peak RSS tree MB",
            "largest proc MB",
            "procs",
            "kept (filters)",
            "kept (final)",
            "agree (filters)",
            "agree (final)",
            "timeouts",
            "load",
        ]
    ]
    for m in results:
        ratio = f"{m.docs_per_s / ref.docs_per_s:.2f}x" if ref and ref.docs_per_s and m.ok else ""
        compared = ref is not None and m is not ref and m.ok
        a_f = agreement(ref.kept_filtered, m.kept_filtered) if compared else None
        a_final = agreement(ref.kept_final, m.kept_final) if compared else None
        rows.append(
            [
                m.name + (" (cached)" if m.cached_at else ""),
                "yes" if m.ok else "NO",
                f"{m.wall_s:.1f}",
                f"{m.docs_per_s:.1f}",
                f"{m.docs_per_core_s:.1f}",
                ratio,
                f"{m.cpu_s:.1f}",
                f"{m.documents / m.cpu_s:.1f}" if m.cpu_s else "",
                _mb(m.peak_tree_rss),
                _mb(m.peak_proc_rss),
                str(m.processes),
                str(len(m.kept_filtered)) if m.kept_filtered is not None else "",
                str(len(m.kept_final)) if m.kept_final is not None else "",
                f"{a_f:.4f}" if a_f is not None else "",
                f"{a_final:.4f}" if a_final is not None else "",
                str(m.timeouts),
                f"{m.load_before:.1f}",
            ]
        )
    out += ["", table(rows, right=set(range(2, 17)))]
    out.append(
        f"(published datatrove reference on this kind of machine: {PUBLISHED_DATATROVE['docs_per_s_2_workers']} "
        f"docs/s with 2 workers, {PUBLISHED_DATATROVE['docs_per_core_s']} per core, largest process "
        f"{PUBLISHED_DATATROVE['peak_rss_mb']} MB)"
    )
    for m in results:
        if len(m.wall_runs) > 1:
            walls = ", ".join(f"{w:.1f}" for w in m.wall_runs)
            out.append(f"{m.name}: the median of {len(m.wall_runs)} runs (wall s: {walls})")
    for m in results:
        if m.error:
            out += ["", f"{m.name} FAILED: {m.error}"]
    for m in results:
        if not m.block_seconds:
            continue
        total = sum(s for _, s in m.block_seconds) or 1.0
        rows = [["block (" + m.name + ")", "seconds", "share", "ms/doc"]]
        rows += [
            [name, f"{s:.1f}", f"{100 * s / total:.0f} %", f"{1000 * s / max(1, m.documents):.2f}"]
            for name, s in m.block_seconds
        ]
        out += ["", "time per block (summed over tasks; ms per input document):", table(rows)]
    out += ["", "targets:"] + [f"  {line}" for line in targets(results, fineweb_label, fast_label)]
    return "\n".join(out)


def targets(results: list[Measurement], fineweb_label: str, fast_label: str) -> list[str]:
    """One line per target: MET / MISSED / n/a, with the measured figure."""
    by_name = {m.name: m for m in results}
    ref = next((m for m in results if m.kind == "datatrove"), None)
    fw, fast = by_name.get(fineweb_label), by_name.get(fast_label)
    lines = []

    def verdict(ok: bool | None) -> str:
        return "n/a   " if ok is None else ("MET   " if ok else "MISSED")

    def speed(m: Measurement | None, want: float, label: str) -> None:
        if m is None or ref is None or not (m.ok and ref.ok and ref.docs_per_s):
            lines.append(f"{verdict(None)} {label} documents/s >= {want:g}x datatrove's (no measurement)")
            return
        x = m.docs_per_s / ref.docs_per_s
        lines.append(
            f"{verdict(x >= want)} {label} documents/s >= {want:g}x datatrove's: {x:.2f}x "
            f"({m.docs_per_s:.1f} vs {ref.docs_per_s:.1f})"
        )

    speed(fw, TARGETS["fineweb_speedup"], fineweb_label)
    a = agreement(ref.kept_filtered, fw.kept_filtered) if ref and fw and fw.ok else None
    lines.append(
        f"{verdict(None if a is None else a >= TARGETS['fineweb_agreement'])} {fineweb_label} agreement with "
        f"datatrove on documents passing the filters >= {TARGETS['fineweb_agreement']:.0%}"
        + (f": {a:.2%}" if a is not None else " (no measurement)")
    )
    speed(fast, TARGETS["fast_speedup"], fast_label)
    thresher = by_name.get("thresher")
    if thresher is not None:
        speed(thresher, TARGETS["thresher_speedup"], "thresher")
    for m in (fw, fast, thresher):
        if m is None:
            continue
        ok = m.peak_proc_rss <= TARGETS["rss_per_worker"] if m.ok else None
        lines.append(
            f"{verdict(ok)} {m.name} peak RSS <= 1 GiB per worker: largest process "
            f"{_mb(m.peak_proc_rss)} MB (whole tree {_mb(m.peak_tree_rss)} MB over {m.processes} "
            f"processes, {_mb(m.peak_tree_rss // max(1, m.workers))} MB per worker)"
        )
    return lines
