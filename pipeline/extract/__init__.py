"""Extract: HTML -> main text. `base` holds the extractor contract; `trafilatura` (FineWeb's) and
`resiliparse` (fast) implement it; `prefilter` drops clearly foreign pages before either runs.
trafilatura runs in datatrove's killable sandbox, resiliparse (in both blocks that use it) in
`killable`'s: a child process that gets a batch of pages and may spend `timeout` CPU seconds on each."""
