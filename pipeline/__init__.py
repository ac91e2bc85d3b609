"""thresher.pipeline: the data path (read -> extract -> dedup -> format -> write), how a run executes
(run, cli), how to look at one (report), and the training and benchmark code a run never imports (lab)."""
