"""Read: WARC/ARC/WET files -> documents that know the exact bytes they came from.

`warc` (warcio, resyncs after damage), `fastwarc` (the same documents, faster), `decode` (a page's
bytes -> text), `inputs` (paths, globs, URLs -> files), `crawl` (a Common Crawl listing -> inputs),
`robots` (a crawl's robots.txt captures -> the consent block's index).
"""
