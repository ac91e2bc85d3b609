"""Dedup: MinHash near-duplicate removal across a whole run, as stages of parallel tasks.

`params` (the settings, once), `minhash` (signatures), `arrays` (crash-safe intermediate files),
`stages` (signatures -> buckets -> clusters), `filter` (the final stage's block).
"""
