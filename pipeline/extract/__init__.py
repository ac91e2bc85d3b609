"""Extract: HTML -> main text. `base` holds the extractor contract; `trafilatura` (FineWeb's) and
`resiliparse` (fast) implement it; `prefilter` drops clearly foreign pages before either runs."""
