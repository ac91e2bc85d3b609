"""Run: presets checked against the blocks, the plan of stages, and its execution (local or SLURM).

`presets` (validation), `plan` (stages from a preset), `local` and `slurm` (executors), `workers`
(the forkserver), `status` (task states of a run folder), `stats` (stats.json), `errors`.
"""
