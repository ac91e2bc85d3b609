"""Lines made only of symbols become one line break, as datatrove 0.10.1's SymbolLinesFormatter does.

FineWeb-2 runs it with `symbols_to_remove=["|"], replace_char="\\n"` to remove what is left of tables
after trafilatura: a line of `|` and spaces, or a run of such lines, becomes one empty line. Like
datatrove's, it rebuilds every text from `str.splitlines()` joined by "\\n" (other line breaks become
"\\n", a final line break goes).
"""

from __future__ import annotations

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from ...filters.base import Block, register


@register("symbol_lines", defaults="fineweb2")
class SymbolLinesFormatter(PipelineStep, Block):
    """Replaces each run of lines made of `symbols_to_remove` (and spaces) with `replace_char`."""

    name = "⚞ Symbol lines"
    type = "✂️ - FORMAT"

    def __init__(self, symbols_to_remove: list[str], replace_char: str, exclusion_writer=None):
        super().__init__()
        self.symbols = frozenset(symbols_to_remove)
        self.replace_char = replace_char

    def format(self, text: str) -> str:
        lines = text.splitlines()
        if not any(symbol in text for symbol in self.symbols):
            return "\n".join(lines)  # no line can be made of symbols
        out: list[str] = []
        in_removed_span = False
        for line in lines:
            symbol_line = line.strip() != "" and all(c in self.symbols or c == " " for c in line)
            if symbol_line and not in_removed_span:
                if self.replace_char:
                    out.append(self.replace_char)
                in_removed_span = True
            elif not symbol_line:
                out.append(line)
                in_removed_span = False
        return "\n".join(out)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update("total")
            with self.track_time():
                formatted = self.format(doc.text)
            if formatted != doc.text:
                self.stat_update("changed")
                doc.text = formatted
            yield doc
