"""Merge the per-task datatrove stats of every stage into OUTPUT/stats.json, and print its table."""

from __future__ import annotations

import glob
import json
import os
from collections import Counter
from importlib.metadata import PackageNotFoundError, version


def thresher_version() -> str:
    try:
        return version("thresher")
    except PackageNotFoundError:
        return "unknown"


def merge_task_files(folder: str) -> list[dict]:
    """Per pipeline position: {"counts": Counter, "seconds": float}, summed over task stats files."""
    merged: list[dict] = []
    for path in sorted(glob.glob(os.path.join(folder, "stats", "*.json"))):
        with open(path) as f:
            steps = json.load(f)
        for i, step in enumerate(steps):
            if len(merged) <= i:
                merged.append({"counts": Counter(), "seconds": 0.0})
            for key, value in (step.get("stats") or {}).items():
                merged[i]["counts"][key] += value["total"] if isinstance(value, dict) else value
            ts = step.get("time_stats")
            if isinstance(ts, dict):
                merged[i]["seconds"] += ts.get("total", 0.0)
    return merged


def block_entry(name: str, stage: str, counts: Counter, seconds: float, prev_out: int | None) -> dict:
    dropped = int(counts.get("dropped", 0))
    if "total" in counts:
        n_in = int(counts["total"])
        n_out = int(counts.get("forwarded", n_in - dropped))
    else:  # a step that modifies but never drops (e.g. PII)
        n_in = n_out = int(prev_out or 0)
    reasons = {k.removeprefix("dropped_"): int(v) for k, v in counts.items() if k.startswith("dropped_")}
    other = {
        k: int(v) if float(v).is_integer() else v
        for k, v in counts.items()
        if k not in ("total", "forwarded", "dropped", "doc_len", "doc_len_tokens") and not k.startswith("dropped_")
    }
    return {
        "block": name,
        "stage": stage,
        "in": n_in,
        "out": n_out,
        "dropped": n_in - n_out,
        "reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "counters": other,
        "seconds": round(seconds, 3),
    }


def partition_counts(stage, merged: list[dict]) -> dict[str, int]:
    """Documents per data/ partition (`output: partition_by`), from the stage's data writer's counters."""
    out: Counter = Counter()
    for i, step in enumerate(stage.pipeline):
        if i < len(merged) and getattr(step, "partition_by", None):
            for key, value in merged[i]["counts"].items():
                if key.startswith("partition_"):
                    out[key.removeprefix("partition_")] += int(value)
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def collect_stats(plan) -> dict:
    reader_counts: Counter = Counter()
    blocks: list[dict] = []
    stage_stats: dict[str, dict] = {}
    partitions: dict[str, int] = {}
    prev_out: int | None = None
    for stage in plan.stages:
        merged = merge_task_files(os.path.join(plan.output, "logs", stage.name))
        partitions.update(partition_counts(stage, merged))
        if not stage.blocks:  # a dedup stage: keep its counters as they are
            stage_stats[stage.name] = {
                "counters": dict(sum((m["counts"] for m in merged), Counter())),
                "seconds": round(sum(m["seconds"] for m in merged), 3),
            }
            continue
        names = {id(step): name for name, step in stage.blocks}
        for i, step in enumerate(stage.pipeline):
            if i < len(merged) and getattr(step, "stats_name", None):  # dedup's stage 1, run inside this stage
                stage_stats[step.stats_name] = {
                    "counters": dict(merged[i]["counts"]),
                    "seconds": round(merged[i]["seconds"], 3),
                }
            if i >= len(merged) or id(step) not in names:
                continue
            name = names[id(step)]
            if name == "reader":
                reader_counts += merged[i]["counts"]
                prev_out = int(merged[i]["counts"].get("forwarded", 0))
                continue
            entry = block_entry(name, stage.name, merged[i]["counts"], merged[i]["seconds"], prev_out)
            blocks.append(entry)
            prev_out = entry["out"]
    html = int(reader_counts.get("html_records", 0))
    reader_dropped = {k.removeprefix("dropped_"): int(v) for k, v in reader_counts.items() if k.startswith("dropped_")}
    removed = sum(reader_dropped.values()) + sum(b["dropped"] for b in blocks)
    kept = prev_out or 0
    out_cfg = plan.preset.get("output") or {}
    extra = {"partitions": {"by": out_cfg["partition_by"], "documents": partitions}} if partitions else {}
    return {
        "thresher_version": thresher_version(),
        "preset": plan.preset.get("_path"),
        "input_files": len(plan.inputs),
        "reader": {k: int(v) for k, v in sorted(reader_counts.items())},
        "blocks": blocks,
        "stages": stage_stats,
        **extra,
        "documents": {
            "html_records": html,
            "kept": kept,
            "removed": removed,
            "removed_by": {"reader": sum(reader_dropped.values()), **{b["block"]: b["dropped"] for b in blocks}},
            "accounted": html == kept + removed,
        },
    }


def write_stats(plan) -> dict:
    stats = collect_stats(plan)
    tmp = os.path.join(plan.output, ".stats.json.tmp")
    with open(tmp, "w") as f:
        json.dump(stats, f, indent=2)
    os.replace(tmp, os.path.join(plan.output, "stats.json"))
    return stats


def format_table(stats: dict) -> str:
    """The end-of-run table: documents in/out per block, with the main drop reasons."""
    rows = [("block", "in", "out", "dropped", "seconds", "top reasons")]
    r = stats["reader"]
    skipped = sum(v for k, v in r.items() if k.startswith("skipped_"))
    rows.append(
        (
            "reader",
            str(r.get("records", 0)),
            str(r.get("forwarded", 0)),
            str(stats["documents"]["removed_by"].get("reader", 0)),
            "",
            f"{skipped} non-HTML records skipped, {r.get('read_error', 0)} read errors",
        )
    )
    for b in stats["blocks"]:
        top = ", ".join(f"{k} {v}" for k, v in list(b["reasons"].items())[:3])
        rows.append((b["block"], str(b["in"]), str(b["out"]), str(b["dropped"]), f"{b['seconds']:.1f}", top))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for j, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 5)] + [row[5]]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("-" * len(lines[0]))
    d = stats["documents"]
    lines.append(
        f"{d['html_records']} HTML records -> {d['kept']} kept + {d['removed']} removed"
        + ("" if d["accounted"] else "  (!! counts do not add up)")
    )
    parts = stats.get("partitions")
    if parts:
        shown = ", ".join(f"{k} {v}" for k, v in list(parts["documents"].items())[:12])
        more = len(parts["documents"]) - 12
        lines.append(f"kept by {parts['by']}: {shown}" + (f" and {more} more" if more > 0 else ""))
    return "\n".join(lines)
