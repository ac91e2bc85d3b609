"""thresher.pipeline: reading, extraction, running and writing."""
