"""HTML -> main text with resiliparse: the fast preset's extractor."""

from __future__ import annotations

from datatrove.data import Document

# imported here, not in the child: the child is forked from the worker with its modules loaded
from resiliparse.extract.html2text import extract_plain_text

from ...filters.base import register
from .base import KILLED_REASONS, Extractor
from .killable import DIED, ERROR, TIMEOUT, KillableMap
from .prefilter import PREFILTER_OPTIONS, SHARED_TEXT_KEY, SHARED_TIMEOUT_KEY

# KillableMap's failed outcomes -> the drop reasons
_REASONS = {ERROR: "extract_error", TIMEOUT: "timeout", DIED: "process_died"}


@register("extract_resiliparse", defaults="fast")
class ResiliparseExtractor(Extractor):
    """resiliparse's main-content heuristics instead of trafilatura (~2 ms a page instead of ~23 ms).

    Its text is longer (more boilerplate kept). When the language prefilter ran with the same
    options, its text of the page is reused, not parsed again (and a page whose parse ran over the
    prefilter's limit, when that is at least `timeout`, is dropped as a timeout without a second try).
    The pages left to parse, `batch_size` at a time, go in one message to a killable child process
    (`KillableMap`): resiliparse is steeply slower on deeply nested HTML (100,000 nested <div>s:
    minutes), so a page that takes more than `timeout` CPU seconds has the child killed and is dropped
    (`timeout`; `process_died` when the child died on it), and a new child parses the rest.
    """

    name = "⛏ Resiliparse"
    drop_reasons = {**Extractor.drop_reasons, **KILLED_REASONS}

    def __init__(
        self,
        main_content: bool,
        preserve_formatting: bool,
        list_bullets: bool,
        alt_texts: bool,
        links: bool,
        form_fields: bool,
        noscript: bool,
        comments: bool,
        max_html_chars: int,
        timeout: float,
        batch_size: int = 1,
        exclusion_writer=None,
    ):
        super().__init__(max_html_chars, exclusion_writer, batch_size=batch_size)
        self.main_content = main_content
        self.preserve_formatting = preserve_formatting
        self.list_bullets = list_bullets
        self.alt_texts = alt_texts
        self.links = links
        self.form_fields = form_fields
        self.noscript = noscript
        self.comments = comments
        self.timeout = timeout
        self._parser: KillableMap | None = None  # the child process that parses, started on first use

    def options(self) -> dict[str, bool]:
        return {key: getattr(self, key) for key in PREFILTER_OPTIONS}

    def extract(self, html: str) -> str:
        """The page's main text, in this process (no time limit)."""
        return extract_plain_text(html, **self.options())

    def _extract_stripped(self, html: str) -> str:
        """In the child: `extract`, stripped (the parent receives no more than it keeps)."""
        return self.extract(html).strip()

    def run(self, data, rank: int = 0, world_size: int = 1):
        try:
            yield from super().run(data, rank, world_size)
        finally:
            if self._parser is not None:  # the child ends with the step
                self._parser.close()
                self._parser = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        results: list[bool | tuple[bool, str] | None] = []
        reuse = self.options() == PREFILTER_OPTIONS
        for doc in batch:
            shared = doc.metadata.pop(SHARED_TEXT_KEY, None)
            timed_out = doc.metadata.pop(SHARED_TIMEOUT_KEY, None)
            if doc.metadata.get("source_format") == "wet":
                results.append(True)
            elif len(doc.text) > self.max_html_chars:
                results.append((False, "too_large"))
            elif reuse and shared is not None:
                results.append(self._replace(doc, shared.strip()))
            elif reuse and timed_out is not None and timed_out >= self.timeout:
                results.append((False, "timeout"))
            else:
                results.append(None)  # to parse
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            if self._parser is None:
                self._parser = KillableMap(self._extract_stripped, self.timeout)
            for i, (status, value) in zip(todo, self._parser.map([batch[i].text for i in todo]), strict=True):
                results[i] = (False, _REASONS[status]) if status in _REASONS else self._replace(batch[i], value)
        return results

    @staticmethod
    def _replace(doc: Document, text: str) -> bool | tuple[bool, str]:
        """Keeps `doc` with `text` instead of its HTML, or drops it when there is none."""
        if not text:
            return False, "empty"
        doc.text = text
        return True
