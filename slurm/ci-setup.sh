#!/usr/bin/env bash
# CI: start the single-node SLURM cluster and prove it runs a job, so tests/test_slurm.py runs
# against real sbatch/scontrol. Fails (non-zero) when the cluster cannot be started: with
# THRESHER_REQUIRE_SLURM=1 the SLURM tests then fail rather than skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -eq 0 ]]; then
    slurm/dev-cluster.sh start
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n slurm/dev-cluster.sh start
else
    echo "ci-setup: the SLURM dev cluster needs root (or passwordless sudo) to install and start" >&2
    exit 1
fi

# one real job end to end (submission, scheduling, munge credentials, slurmd launch)
started=$(date +%s)
if ! timeout 120 sbatch --wait --quiet --job-name=ci-smoke --output=/dev/null --wrap "true"; then
    echo "ci-setup: a trivial sbatch job did not complete; logs in ${THRESHER_SLURM_DIR:-/tmp/thresher-slurm}/log" >&2
    sinfo >&2 || true
    exit 1
fi
echo "ci-setup: SLURM up, smoke job ran in $(( $(date +%s) - started ))s" >&2
