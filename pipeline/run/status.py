"""Each stage's tasks of a run: done, running, pending, failed, not run; and the failed tasks' logs.

Done comes from datatrove's completion markers (logs/<stage>/completions/NNNNN), which a task writes
only after its output is complete, so it is true whatever the executor. Running, pending and failed
come from SLURM (`scontrol show job -o`; no sacct, clusters often have no accounting) for the jobs
recorded in logs/slurm_jobs.json, and from the task logs once SLURM has forgotten a job.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

JOBS_FILE = "slurm_jobs.json"  # under RUN_DIR/logs: every SLURM submission of the run
LIVE_STATES = {
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
    "RESIZING",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
}
DEAD_DEPENDENCY = "DependencyNeverSatisfied"  # pending forever unless the cluster kills invalid dependencies
STATES = ("done", "running", "pending", "failed", "interrupted", "not run")
INTERRUPTED = "interrupted"  # logs/<stage>/interrupted: the last local attempt was stopped by Ctrl-C


@dataclass
class TaskState:
    rank: int
    state: str  # one of STATES
    job: str | None = None  # SLURM array task, e.g. 1234_5
    slurm_state: str | None = None
    log: str | None = None  # datatrove's task log
    slurm_log: str | None = None  # the job's stdout/stderr


@dataclass
class StageStatus:
    name: str
    tasks: int
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[TaskState] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)


def load_run(run_dir: str) -> dict:
    path = os.path.join(run_dir, "run.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: {run_dir!r} is not the output folder of a `thresher run`")
    with open(path) as f:
        return json.load(f)


def load_jobs(run_dir: str) -> list[dict]:
    """The run's SLURM submissions, oldest first ([] for a local run)."""
    path = os.path.join(run_dir, "logs", JOBS_FILE)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f).get("submissions", [])


def parse_scontrol(text: str) -> list[dict[str, str]]:
    """`scontrol show job -o` output: one `Key=Value ...` line per job (or per split-out array task)."""
    out = []
    for line in text.splitlines():
        if "JobId=" in line:
            out.append(dict(re.findall(r"(\w+)=(\S*)", line)))
    return out


def scontrol_jobs(job_ids: list[str]) -> list[dict[str, str]]:
    """Records of the jobs SLURM still knows (it forgets a finished job after MinJobAge)."""
    if not job_ids or not shutil.which("scontrol"):
        return []
    records: list[dict[str, str]] = []
    for job_id in job_ids:
        result = subprocess.run(["scontrol", "show", "job", "-o", str(job_id)], capture_output=True, text=True)
        if result.returncode == 0:
            records.extend(parse_scontrol(result.stdout))
    return records


def array_indices(spec: str) -> list[int]:
    """ArrayTaskId of a record: `3`, or `0-7%2`, `1,4-5` for the still-pending part of an array."""
    out: list[int] = []
    for part in spec.split("%")[0].split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def slurm_task_states(run_dir: str, submission: dict, stage: str) -> dict[int, dict[str, str]]:
    """rank -> SLURM record (JobState, Reason, job) for the stage's tasks in one submission."""
    entry = (submission.get("stages") or {}).get(stage)
    if not entry or not entry.get("jobs"):
        return {}
    ranks = entry["ranks"]
    max_array = int(entry.get("max_array_size", 1001))
    out: dict[int, dict[str, str]] = {}
    for offset, job_id in enumerate(entry["jobs"]):
        for rec in scontrol_jobs([job_id]):
            if rec.get("ArrayJobId") != str(job_id) or "ArrayTaskId" not in rec:
                continue
            for index in array_indices(rec["ArrayTaskId"]):
                position = offset * max_array + index
                if position < len(ranks):
                    out[ranks[position]] = {
                        "JobState": rec.get("JobState", ""),
                        "Reason": rec.get("Reason", ""),
                        "job": f"{job_id}_{index}",
                    }
    return out


def collect_status(run_dir: str) -> list[StageStatus]:
    """Each stage's task states, from completion markers, SLURM and the task logs."""
    run_dir = os.path.abspath(run_dir)
    run = load_run(run_dir)
    submissions = load_jobs(run_dir)
    latest = submissions[-1] if submissions else {}
    stages: list[StageStatus] = []
    for name in run.get("stages", []):
        n_tasks = int((run.get("stage_tasks") or {}).get(name, 0))
        folder = os.path.join(run_dir, "logs", name)
        completions = os.path.join(folder, "completions")
        done = {int(f) for f in os.listdir(completions) if f.isdigit()} if os.path.isdir(completions) else set()
        slurm = slurm_task_states(run_dir, latest, name) if latest else {}
        status = StageStatus(name, n_tasks, counts=dict.fromkeys(STATES, 0))
        status.jobs = [str(j) for j in ((latest.get("stages") or {}).get(name) or {}).get("jobs", [])]
        stopped = os.path.exists(os.path.join(folder, INTERRUPTED))
        for rank in range(n_tasks):
            task = _task_state(folder, rank, rank in done, slurm.get(rank), stopped)
            status.counts[task.state] += 1
            if task.state == "failed":
                status.failed.append(task)
        stages.append(status)
    return stages


def _task_state(folder: str, rank: int, done: bool, rec: dict[str, str] | None, stopped: bool) -> TaskState:
    log = os.path.join(folder, "logs", f"task_{rank:05d}.log")
    task = TaskState(rank, "done", log=log if os.path.exists(log) else None)
    if done:
        return task
    if rec:
        task.job, task.slurm_state = rec["job"], rec["JobState"]
        job_id, _, index = rec["job"].partition("_")
        slurm_log = os.path.join(folder, "slurm_logs", f"{job_id}_{index}.out")
        task.slurm_log = slurm_log if os.path.exists(slurm_log) else None
        if rec["JobState"] == "PENDING" and rec["Reason"] == DEAD_DEPENDENCY:
            task.state = "not run"
        elif rec["JobState"] == "PENDING":
            task.state = "pending"
        elif rec["JobState"] in LIVE_STATES:
            task.state = "running"
        else:  # ended without a completion marker: failed, unless it never started (dependency failed)
            task.state = "failed" if task.slurm_log or task.log else "not run"
        return task
    if task.log is None:
        task.state = "not run"
    else:  # started, not finished, and no SLURM record: stopped by Ctrl-C, or failed (killed, an error)
        task.state = "interrupted" if stopped else "failed"
    return task


def tail(path: str | None, lines: int) -> list[str]:
    if not path or not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 64 * 1024))
        text = f.read().decode("utf-8", "replace")
    return text.splitlines()[-lines:]


def format_status(run_dir: str, stages: list[StageStatus], lines: int = 12, max_failed: int = 5) -> str:
    """A table of the stages, then the log tails of the first failed tasks and what to do next."""
    header = ["stage", "tasks", *STATES, "jobs"]
    rows = [[s.name, str(s.tasks), *(str(s.counts.get(k, 0)) for k in STATES), ",".join(s.jobs) or "-"] for s in stages]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = [f"run: {os.path.abspath(run_dir)}"]
    out += [
        "  ".join(
            c.ljust(w) if i in (0, len(header) - 1) else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in [header, *rows]
    ]
    failed = [t for s in stages for t in s.failed]
    shown = 0
    for stage in stages:
        for task in stage.failed:
            if shown >= max_failed:
                break
            shown += 1
            what = f"job {task.job}, {task.slurm_state}" if task.job else "no SLURM record left"
            if not task.job and not any(stage.jobs for stage in stages):
                what = "local run"
            out.append(f"\nfailed: {stage.name} rank {task.rank} ({what})")
            for label, path in (("task log", task.log), ("slurm log", task.slurm_log)):
                if path:
                    out.append(f"  {label}: {path}")
                    out += [f"    | {line}" for line in tail(path, lines)]
    if len(failed) > shown:
        out.append(f"\n... and {len(failed) - shown} more failed task(s) (--max-failed)")
    live = sum(s.counts["running"] + s.counts["pending"] for s in stages)
    if all(s.counts["done"] == s.tasks for s in stages):
        out.append("\ncomplete: every task of every stage is done")
    elif any(s.counts.get("interrupted") for s in stages) and not live:
        out.append("\ninterrupted (Ctrl-C): run the same `thresher run` command again to resume")
    elif live:
        out.append(f"\nin progress: {live} task(s) running or pending")
    else:
        out.append("\nincomplete: run the same `thresher run` command again to run only the unfinished tasks")
    return "\n".join(out)
