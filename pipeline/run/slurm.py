"""`thresher run --executor slurm`: every stage of a plan as a SLURM array job, chained with afterok.

Built on datatrove's SlurmPipelineExecutor (`datatrove_compat.SlurmStageExecutor`), so a task on a
node runs exactly what a local task runs (same pipeline, same completion markers, same logs). What
thresher adds: the nodes activate the environment `thresher` runs in, only options the user gave
reach sbatch (the cluster's defaults apply to the rest), every submission is recorded in
logs/slurm_jobs.json (for `thresher status` and to refuse a second submission while one is live),
and `--wait` follows the jobs to the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from functools import partial

from ..datatrove_compat import SlurmStageExecutor, launch_slurm_job
from .errors import ConfigError
from .plan import RunPlan, Stage, check_output, prepare
from .status import (
    DEAD_DEPENDENCY,
    JOBS_FILE,
    LIVE_STATES,
    collect_status,
    format_status,
    load_jobs,
    scontrol_jobs,
)

PLAN_FILE = "plan.pik"  # under logs/: the plan, for the stats job that runs after the last stage


def execute_slurm(plan: RunPlan, args: argparse.Namespace) -> int:
    """Submit the stages' unfinished tasks; with --wait follow them and write stats.json. Exit code."""
    _require_slurm()
    check_output(plan.output)
    os.makedirs(os.path.join(plan.output, "logs"), exist_ok=True)
    wait = bool(getattr(args, "wait", False))
    live = live_jobs(plan.output)
    if live:
        if not wait:
            print(
                f"thresher: this run is still in progress (SLURM jobs {', '.join(live)}); follow it with "
                f"`thresher status {plan.output}`, or scancel those jobs before submitting again",
                file=sys.stderr,
            )
            return 1
        print(f"thresher: waiting for the jobs already running for this output ({', '.join(live)})", file=sys.stderr)
        wait_for_jobs(live, plan.output)
    prepare(plan, "slurm", lambda line: print(f"thresher: {line}", file=sys.stderr))  # once, before any task
    submission = submit(plan, args, finalize=not wait)
    submitted = [j for s in submission["stages"].values() for j in s["jobs"]]
    if not submitted:
        print("thresher: every task of every stage is already done; nothing submitted", file=sys.stderr)
        return _finish(plan)
    _print_submission(plan, submission)
    if not wait:
        return 0
    wait_for_jobs(submitted, plan.output)
    stages = collect_status(plan.output)
    if not all(s.counts["done"] == s.tasks for s in stages):
        print(format_status(plan.output, stages), file=sys.stderr)
        return 1
    return _finish(plan)


def _finish(plan: RunPlan) -> int:
    from .stats import format_table, write_stats

    stats = write_stats(plan)
    print(format_table(stats))
    print(f"\ndata: {os.path.join(plan.output, 'data')}   stats: {os.path.join(plan.output, 'stats.json')}")
    return 0 if stats["documents"]["accounted"] else 1


def _require_slurm() -> None:
    missing = [c for c in ("sbatch", "scontrol", "scancel") if not shutil.which(c)]
    if missing:
        raise ConfigError(f"--executor slurm needs {', '.join(missing)} on PATH: run thresher on a SLURM login node")


def _gigabytes(mem: str | None) -> int:
    """`--mem-per-cpu` (sbatch syntax: 2G, 1500M, 2048) checked here, as whole GB for datatrove's env vars."""
    if mem is None:
        return 0
    m = re.fullmatch(r"(\d+)([KMGT]?)", mem.strip().upper())
    if not m:
        raise ConfigError(f"--mem-per-cpu {mem!r}: give a size as sbatch takes it, e.g. 2G or 1500M")
    factor = {"K": 1 / 2**20, "M": 1 / 1024, "": 1 / 1024, "G": 1, "T": 1024}[m.group(2)]
    return max(1, round(int(m.group(1)) * factor))


def node_environment() -> dict:
    """How a job activates the environment this `thresher` runs in (the nodes see the same paths)."""
    activate = os.path.join(sys.prefix, "bin", "activate")
    if sys.prefix != sys.base_prefix and os.path.isfile(activate):
        return {"venv_path": activate}
    conda = os.environ.get("CONDA_PREFIX")
    if conda and os.path.realpath(conda) == os.path.realpath(sys.prefix):
        return {"env_command": f'eval "$(conda shell.bash hook)" && conda activate {shlex.quote(conda)}'}
    return {"env_command": f"export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH"}


def _env_script(env: dict) -> str:
    return f"source {env['venv_path']}" if "venv_path" in env else env["env_command"]


def parse_sbatch_args(items: list[str] | None) -> dict:
    """`--sbatch-arg --account=x` / `account=x` / `--exclusive` -> datatrove's {option: value} form."""
    out: dict[str, str] = {}
    for item in items or []:
        text = item.strip().lstrip("-")
        key, sep, value = text.partition("=")
        if not sep and " " in text:
            key, _, value = text.partition(" ")
        if not key:
            raise ConfigError(f"--sbatch-arg {item!r}: give an sbatch option, e.g. --sbatch-arg=--account=myproj")
        out[key.strip()] = value.strip()
    return out


def max_array_size() -> int:
    """The cluster's MaxArraySize (datatrove splits larger stages into several array jobs)."""
    try:
        text = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return 1001
    m = re.search(r"^MaxArraySize\s*=\s*(\d+)", text, re.M)
    return int(m.group(1)) if m else 1001


def _record_job_id(ids: list[str], sbatch_output: str) -> str:
    """datatrove's job id retriever, also keeping every id (a stage may be several array jobs)."""
    job_id = sbatch_output.split()[-1]
    ids.append(job_id)
    return job_id


def _save_submissions(output: str, submissions: list[dict]) -> None:
    path = os.path.join(output, "logs", JOBS_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump({"submissions": submissions}, f)
    os.replace(path + ".tmp", path)


def stage_executor(
    stage: Stage, plan: RunPlan, args: argparse.Namespace, ids: list[str], depends: list[str], env: dict, max_array: int
) -> SlurmStageExecutor:
    return SlurmStageExecutor(
        stage.pipeline,
        tasks=stage.tasks,
        time=getattr(args, "time", None),
        partition=getattr(args, "partition", None),
        cpus_per_task=getattr(args, "cpus_per_task", None) or 1,
        mem_per_cpu=getattr(args, "mem_per_cpu", None),
        mem_per_cpu_gb=_gigabytes(getattr(args, "mem_per_cpu", None)),
        workers=getattr(args, "workers", None) or -1,
        job_name=f"thresher-{stage.name}",
        qos=None,
        sbatch_args=parse_sbatch_args(getattr(args, "sbatch_arg", None)),
        max_array_size=max_array,
        depends_job_id=":".join(depends) or None,
        job_id_retriever=partial(_record_job_id, ids),
        logging_dir=os.path.join(plan.output, "logs", stage.name),
        skip_completed=True,
        **env,
    )


def submit(plan: RunPlan, args: argparse.Namespace, finalize: bool = False) -> dict:
    """sbatch each stage's unfinished tasks, each stage after the previous one succeeded (afterok)."""
    env = node_environment()
    if not os.path.exists(os.path.join(os.path.dirname(sys.executable), "launch_pickled_pipeline")):
        raise ConfigError(f"datatrove's launch_pickled_pipeline is not beside {sys.executable}; reinstall datatrove")
    max_array = max_array_size()
    submissions = load_jobs(plan.output)
    submission: dict = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "stages": {}}
    submissions.append(submission)
    depends: list[str] = []  # the jobs of the latest stage that submitted any
    try:
        for stage in plan.stages:
            ids: list[str] = []
            executor = stage_executor(stage, plan, args, ids, depends, env, max_array)
            ranks = executor.get_incomplete_ranks()
            executor.launch_job()
            submission["stages"][stage.name] = {
                "jobs": ids,
                "ranks": ranks if ids else [],
                "max_array_size": max_array,
                "tasks": stage.tasks,
            }
            _save_submissions(plan.output, submissions)
            depends = ids or depends
        if finalize and depends:
            submission["finalize"] = _submit_stats_job(plan, args, depends, env)
            _save_submissions(plan.output, submissions)
    except subprocess.CalledProcessError as e:
        done = [j for s in submission["stages"].values() for j in s["jobs"]]
        if done:
            subprocess.run(["scancel", *done], check=False)
        raise ConfigError(f"sbatch failed ({e}); see its message above. Nothing of it stays queued") from None
    return submission


def _submit_stats_job(plan: RunPlan, args: argparse.Namespace, depends: list[str], env: dict) -> str:
    """A 1-CPU job after the last stage that writes stats.json, so a run without --wait gets one too."""
    import dill

    plan_path = os.path.join(plan.output, "logs", PLAN_FILE)
    with open(plan_path, "wb") as f:
        dill.dump(plan, f)
    options = {
        "job-name": "thresher-stats",
        "cpus-per-task": "1",
        "output": os.path.join(plan.output, "logs", "stats_%j.out"),
        **({"partition": args.partition} if getattr(args, "partition", None) else {}),
        **({"time": args.time} if getattr(args, "time", None) else {}),
        **parse_sbatch_args(getattr(args, "sbatch_arg", None)),
    }
    script = "#!/bin/bash\n" + "".join(f"#SBATCH --{k}={v}\n" if v else f"#SBATCH --{k}\n" for k, v in options.items())
    script += f"{_env_script(env)}\nset -e\npython -m thresher.pipeline.run.slurm finalize {shlex.quote(plan_path)}\n"
    return launch_slurm_job(script, partial(_record_job_id, []), f"--dependency=afterok:{':'.join(depends)}")


def live_jobs(output: str) -> list[str]:
    """Jobs of earlier submissions still queued or running; cancels those whose dependency failed."""
    ids = [j for sub in load_jobs(output) for s in sub.get("stages", {}).values() for j in s.get("jobs", [])]
    ids += [sub["finalize"] for sub in load_jobs(output) if sub.get("finalize")]
    live, dead = _job_liveness(ids)
    if dead:
        subprocess.run(["scancel", *dead], check=False)
    return live


def _job_liveness(ids: list[str]) -> tuple[list[str], list[str]]:
    """(jobs with a task queued or running, jobs that can only wait forever on a failed dependency)."""
    live: list[str] = []
    dead: list[str] = []
    for job_id in dict.fromkeys(ids):
        records = [r for r in scontrol_jobs([job_id]) if r.get("ArrayJobId", r.get("JobId")) == str(job_id)]
        states = [(r.get("JobState"), r.get("Reason")) for r in records]
        if any(s in LIVE_STATES and not (s == "PENDING" and why == DEAD_DEPENDENCY) for s, why in states):
            live.append(job_id)
        elif any(s == "PENDING" for s, _ in states):
            dead.append(job_id)
    return live, dead


def wait_for_jobs(ids: list[str], output: str, poll: float | None = None) -> None:
    """Return when none of the jobs can still run; prints each stage's progress when it changes."""
    interval = poll or float(os.environ.get("THRESHER_SLURM_POLL", "1"))
    last = ""
    delay = interval
    while True:
        live, dead = _job_liveness(ids)
        if dead:  # a failed dependency on a cluster without kill_invalid_depend: would pend forever
            subprocess.run(["scancel", *dead], check=False)
        line = _progress_line(output)
        if line != last:
            print(f"thresher: {line}", file=sys.stderr)
            last = line
        if not live:
            return
        time.sleep(delay)
        delay = min(delay * 1.2, max(interval, 15.0))


def _progress_line(output: str) -> str:
    parts = []
    for s in collect_status(output):
        extra = ", ".join(f"{s.counts[k]} {k}" for k in ("running", "pending", "failed") if s.counts[k])
        parts.append(f"{s.name} {s.counts['done']}/{s.tasks} done" + (f" ({extra})" if extra else ""))
    return " | ".join(parts)


def _print_submission(plan: RunPlan, submission: dict) -> None:
    print("thresher: submitted to SLURM")
    for name, entry in submission["stages"].items():
        if entry["jobs"]:
            print(f"  {name}: job {', '.join(entry['jobs'])} ({len(entry['ranks'])} of {entry['tasks']} tasks)")
        else:
            print(f"  {name}: already done")
    if submission.get("finalize"):
        print(f"  stats.json: job {submission['finalize']}")
    logs = os.path.join(plan.output, "logs")
    print(f"logs: {logs}/<stage>/logs/task_NNNNN.log (each task), {logs}/<stage>/slurm_logs/ (SLURM output)")
    print(f"follow with: thresher status {plan.output}")


def _finalize_main(plan_path: str) -> int:
    """On a node, after the last stage: stats.json for the run (entry point of the stats job)."""
    import dill

    from .stats import format_table, write_stats

    with open(plan_path, "rb") as f:
        plan = dill.load(f)
    print(format_table(write_stats(plan)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "finalize":
        sys.exit(_finalize_main(sys.argv[2]))
    sys.exit("usage: python -m thresher.pipeline.run.slurm finalize PLAN_PICKLE")
