"""The extractor contract: HTML in `doc.text` -> its main text, or a drop with a reason."""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from ...filters.base import Block

# the reasons of an extractor that runs in a killable process (trafilatura's sandbox, resiliparse's KillableMap)
KILLED_REASONS = {
    "timeout": "extraction took more than `timeout` CPU seconds (its process killed)",
    "process_died": "the extraction process died (out of memory)",
}


class Extractor(BaseFilter, Block):
    """Replaces a page's HTML by its main text. WET records arrive as text and pass unchanged; a page
    over `max_html_chars` is not parsed; a page that gives no text is dropped with its reason.

    `drop_reasons` here are those every extractor can give; one that runs in a killable process adds
    KILLED_REASONS."""

    drop_reasons = {
        "too_large": "the HTML has more than max_html_chars characters (not parsed)",
        "extract_error": "the extractor raised an error",
        "empty": "the extractor found no text",
    }

    def __init__(self, max_html_chars: int, exclusion_writer=None, batch_size: int = 1):
        super().__init__(exclusion_writer, batch_size=batch_size)
        self.max_html_chars = max_html_chars

    def extract_doc(self, doc: Document) -> str | None:
        """The main text of `doc` (its HTML in `doc.text`). TimeoutError and EOFError name a killed
        extraction; any other exception is an extraction error."""
        raise NotImplementedError

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.get("source_format") == "wet":
            return True
        if len(doc.text) > self.max_html_chars:
            return False, "too_large"
        try:
            text = self.extract_doc(doc)
        except TimeoutError:
            return False, "timeout"
        except EOFError:
            return False, "process_died"
        except Exception:
            return False, "extract_error"
        if not text:
            return False, "empty"
        doc.text = text
        return True
