"""HTML -> main text with trafilatura, under a hard per-document time limit and a size cap."""

from __future__ import annotations

import os
import time

from datatrove.data import Document
from datatrove.pipeline.extractors.base import ExtractorSandbox
from datatrove.pipeline.filters.base_filter import BaseFilter

# imported here, not in extract(): the sandbox process is forked from the worker and must start
# within `timeout`, which it cannot do if it first has to import trafilatura (~1 s)
from trafilatura import extract as trafilatura_extract

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class CpuTimedSandbox(ExtractorSandbox):
    """datatrove's killable extraction process, timed by the CPU seconds the child spends on the
    document rather than by the wall clock, so that a loaded machine does not turn ordinary pages
    into timeouts (and the kept set does not depend on the load). A wall-clock backstop of
    `wall_factor` × timeout still bounds a child that sleeps or is starved."""

    def __init__(self, timeout: float, wall_factor: float = 10.0):
        super().__init__(timeout=max(timeout, 5.0), warmup_text="")  # the warm-up is timed by wall clock
        self.cpu_timeout = timeout
        self.wall_timeout = timeout * wall_factor

    def _worker(self, conn, extract_fn):
        # the forked child also holds the parent's end of the pipe: close it, so that when the
        # worker dies (kill -9) the child's recv() sees EOF and it exits instead of living on
        self.parent_conn.close()
        super()._worker(conn, extract_fn)

    def _child_cpu(self) -> float:
        try:
            with open(f"/proc/{self.process.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        except (OSError, IndexError, ValueError):
            return 0.0

    def process_document(self, text, extract_fn):
        self._ensure_process(extract_fn)
        try:
            cpu_start = self._child_cpu()
            self.parent_conn.send(text)
            wall_deadline = time.monotonic() + self.wall_timeout
            while True:
                if self.parent_conn.poll(0.05):
                    result = self.parent_conn.recv()
                    if isinstance(result, Exception):
                        raise result
                    return result
                if not self.process.is_alive():
                    raise EOFError("extraction process died (probably out of memory)")
                if self._child_cpu() - cpu_start > self.cpu_timeout or time.monotonic() > wall_deadline:
                    raise TimeoutError("document extraction timed out")
        except (TimeoutError, EOFError):
            self._cleanup_process()
            raise


class TrafilaturaExtractor(BaseFilter):
    """Replaces `doc.text` (HTML) by its main text, as FineWeb did.

    Extraction runs in datatrove's killable sandbox process, so a pathological page costs at most
    `timeout` CPU seconds (FineWeb: 1 s); pages over `max_html_chars` are not parsed at all. Every document that yields
    no text is dropped with its reason: `timeout`, `too_large`, `extract_error`, `process_died`,
    `empty`. WET records arrive as text already and pass through unchanged.
    """

    name = "⛏ Trafilatura"
    block = "extract"

    def __init__(
        self,
        favour_precision: bool,
        include_comments: bool,
        deduplicate: bool,
        timeout: float,
        max_html_chars: int,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.favour_precision = favour_precision
        self.include_comments = include_comments
        self.deduplicate = deduplicate
        self.timeout = timeout
        self.max_html_chars = max_html_chars
        self._sandbox: ExtractorSandbox | None = None

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

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.get("source_format") == "wet":
            return True
        if len(doc.text) > self.max_html_chars:
            return False, "too_large"
        try:
            if self._sandbox is not None:
                text = self._sandbox.process_document(doc.text, self.extract)
            else:  # used outside run(): no sandbox, no time limit
                text = self.extract(doc.text)
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
