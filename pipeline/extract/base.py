"""The extractor contract: HTML in `doc.text` -> its main text, or a drop with a reason."""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from ...filters.base import Block


class Extractor(BaseFilter, Block):
    """Replaces a page's HTML by its main text. WET records arrive as text and pass unchanged; a page
    over `max_html_chars` is not parsed; a page that gives no text is dropped with its reason."""

    drop_reasons = {
        "too_large": "the HTML has more than max_html_chars characters (not parsed)",
        "timeout": "extraction took longer than its time limit (killed)",
        "process_died": "the extraction process died (out of memory)",
        "extract_error": "the extractor raised an error",
        "empty": "the extractor found no text",
    }

    def __init__(self, max_html_chars: int, exclusion_writer=None):
        super().__init__(exclusion_writer)
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
