"""Training, benchmark and evaluation code: `thresher bench`, `thresher train`, the dedup evaluation.

A run never imports this package; it measures and rebuilds what a run uses.
"""
