"""HTML -> main text with trafilatura, under a hard per-document time limit and a size cap."""

from __future__ import annotations

from datatrove.data import Document

# imported here, not in extract(): the sandbox process is forked from the worker and must start
# within `timeout`, which it cannot do if it first has to import trafilatura (~1 s)
from trafilatura import extract as trafilatura_extract

from ...filters.base import register
from ..datatrove_compat import CpuTimedSandbox
from .base import KILLED_REASONS, Extractor


@register("extract")
class TrafilaturaExtractor(Extractor):
    """trafilatura's main text, as FineWeb extracted it.

    Extraction runs in datatrove's killable sandbox process, so a pathological page costs at most
    `timeout` CPU seconds (FineWeb: 1 s); pages over `max_html_chars` are not parsed at all.
    """

    name = "⛏ Trafilatura"
    drop_reasons = {**Extractor.drop_reasons, **KILLED_REASONS}

    def __init__(
        self,
        favour_precision: bool,
        include_comments: bool,
        deduplicate: bool,
        timeout: float,
        max_html_chars: int,
        exclusion_writer=None,
    ):
        super().__init__(max_html_chars, exclusion_writer)
        self.favour_precision = favour_precision
        self.include_comments = include_comments
        self.deduplicate = deduplicate
        self.timeout = timeout
        self._sandbox: CpuTimedSandbox | None = None

    def extract(self, html: str) -> str | None:
        return trafilatura_extract(
            html,
            favor_precision=self.favour_precision,
            include_comments=self.include_comments,
            deduplicate=self.deduplicate,
        )

    def run(self, data, rank: int = 0, world_size: int = 1):
        with CpuTimedSandbox(self.timeout) as sandbox:
            self._sandbox = sandbox
            yield from super().run(data, rank, world_size)
            self._sandbox = None

    def extract_doc(self, doc: Document) -> str | None:
        if self._sandbox is None:  # used outside run(): no sandbox, no time limit
            return self.extract(doc.text)
        return self._sandbox.process_document(doc.text, self.extract)
