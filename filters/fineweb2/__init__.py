"""FineWeb-2's per-language blocks: language ID with FineWeb-2's labels, and the three quality filters with
each language's own thresholds, stop words and word tokenizer, read from FineWeb-2's published configs.

`configs` reads the configs (bundled zip or a path), `labels` maps lid.176's labels to FineWeb-2's,
`words` / `tokenizers` give each language's words (shared by the blocks), `ngrams` the exact n-gram
statistics, `language` and `quality` are the blocks. The preset is `configs/fineweb2.yaml`.
"""
