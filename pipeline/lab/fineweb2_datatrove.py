"""datatrove's own FineWeb-2 filtering: the reference `thresher bench --fineweb2` measures the preset against.

For one language it chains, as fineweb-2-pipeline.py does and with its arguments, datatrove 0.10.1's
classes: the language-score LambdaFilter, GopherRepetitionFilter, FineWebQualityFilter,
GopherQualityFilter (each with `language=<label>` and the language's config values), then FTFYFormatter,
PIIFormatter and SymbolLinesFormatter. Steps are chained as datatrove's LocalPipelineExecutor chains them
(each step's run() consumes the previous generator), without reader or writer, so the time measured is
the steps' own. Dedup is a corpus-level step and is not part of the per-document comparison.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep


class DropRecorder:
    """Stands in for an exclusion writer: records which step dropped a document and why."""

    def __init__(self, step: str, sink: dict[str, tuple[str, str | None]]):
        self.step, self.sink = step, sink

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def write(self, doc: Document, rank: int = 0, **kwargs) -> None:
        self.sink[doc.id] = (self.step, doc.metadata.get("filter_reason"))


def datatrove_steps(label: str, config: dict, sink: dict) -> list[PipelineStep]:
    """fineweb-2-pipeline.py's steps 3, 5 and 6 for one language, with recorders as exclusion writers."""
    from datatrove.pipeline.filters import (
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LambdaFilter,
    )
    from datatrove.pipeline.formatters import FTFYFormatter, PIIFormatter, SymbolLinesFormatter

    threshold = config["language_score"]
    return [
        LambdaFilter(
            filter_function=lambda doc: doc.metadata["language_score"] >= threshold,
            exclusion_writer=DropRecorder("language_score", sink),
        ),
        GopherRepetitionFilter(
            language=label,
            dup_para_frac=0,
            dup_line_char_frac=0,
            dup_para_char_frac=0,
            dup_line_frac=config["dup_line_frac"],
            top_n_grams=config["top_n_grams"],
            dup_n_grams=config["dup_n_grams"],
            exclusion_writer=DropRecorder("gopher_repetition", sink),
        ),
        FineWebQualityFilter(
            language=label,
            short_line_thr=999,
            char_duplicates_ratio=0.1,
            line_punct_thr=config["line_punct_thr"],
            new_line_ratio=config["new_line_ratio"],
            exclusion_writer=DropRecorder("fineweb_quality", sink),
        ),
        GopherQualityFilter(
            language=label,
            max_avg_word_length=config["max_avg_word_length"],
            min_avg_word_length=config["min_avg_word_length"],
            stop_words=config["stopwords"],
            max_non_alpha_words_ratio=config["max_non_alpha_words_ratio"],
            min_stop_words=2,
            exclusion_writer=DropRecorder("gopher_quality", sink),
        ),
        FTFYFormatter(),
        PIIFormatter(),
        SymbolLinesFormatter(symbols_to_remove=["|"], replace_char="\n"),
    ]


def run_steps(steps: list[PipelineStep], docs: Iterable[Document]) -> tuple[dict[str, str], float]:
    """Chain `steps` over `docs` as LocalPipelineExecutor does: ({id: final text} of kept documents, CPU s)."""
    start = time.process_time()
    pipe = iter(docs)
    for step in steps:
        pipe = step.run(pipe, rank=0, world_size=1)
    kept = {doc.id: doc.text for doc in pipe}
    return kept, time.process_time() - start


def warm_up(label: str, text: str = "warm up") -> None:
    """Load the language's tokenizer (and what it loads lazily on its first text in its script, such as
    pythainlp's dictionary) before timing."""
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    load_word_tokenizer(label).word_tokenize(text)


def run_datatrove(label: str, config: dict, docs: list[Document]) -> tuple[dict, dict[str, str], float]:
    """({id: (step, reason)} of dropped documents, {id: final text} of kept ones, CPU seconds)."""
    sink: dict[str, tuple[str, str | None]] = {}
    steps = datatrove_steps(label, config, sink)
    warm_up(label, docs[0].text if docs else "warm up")
    copies = [Document(text=d.text, id=d.id, metadata=dict(d.metadata)) for d in docs]  # formatters edit text
    kept, seconds = run_steps(steps, copies)
    return sink, kept, seconds
