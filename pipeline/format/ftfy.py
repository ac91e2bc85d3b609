"""Fix mojibake with ftfy, as datatrove 0.10.1's FTFYFormatter() does in FineWeb-2's last stage.

datatrove's settings fix encoding problems only (mojibake, HTML entities, C1 and other control
characters, terminal escapes, lone surrogates) and leave the text's own form alone: no Unicode
normalisation, curly quotes and full-width punctuation kept (its earlier `ftfy.fix_text(text)` defaults
"induced undesirable results in Chinese and Japanese"). `settings: ftfy_defaults` runs those defaults,
as datatrove 0.4.0 did when FineWeb-2 was released.

Each of those fixes needs a character of its own in the text ('&', ESC, C1, control, surrogate) or a match
of ftfy's mojibake pattern (BADNESS_RE), so a text with none comes back unchanged and is not given to ftfy
(most pages; ftfy's own scan costs about 1 ms on a 5,000-character page).
"""

from __future__ import annotations

import re
from typing import Literal

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from ...filters.base import Block, register
from ...filters.presets import ConfigError

# datatrove 0.10.1's FTFYFormatter() arguments
CONSERVATIVE = dict(
    unescape_html="auto",
    remove_terminal_escapes=True,
    fix_encoding=True,
    restore_byte_a0=True,
    replace_lossy_sequences=True,
    decode_inconsistent_utf8=True,
    fix_c1_controls=True,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    fix_surrogates=True,
    remove_control_chars=True,
    normalization=None,
)


@register("ftfy", defaults="fineweb2")
class FTFYFormatter(PipelineStep, Block):
    """Repairs text decoded with the wrong encoding; counts the documents it changed."""

    name = "😎 FTFY"
    type = "✂️ - FORMAT"

    def __init__(self, settings: Literal["conservative", "ftfy_defaults"], exclusion_writer=None):
        super().__init__()
        try:
            import ftfy
            from ftfy.badness import BADNESS_RE
            from ftfy.chardata import CONTROL_CHARS
        except ImportError:
            raise ConfigError("the ftfy block needs ftfy: pip install 'thresher[fineweb2]'") from None
        self.settings = settings
        self.config = ftfy.TextFixerConfig(**CONSERVATIVE) if settings == "conservative" else ftfy.TextFixerConfig()
        controls = "".join(re.escape(chr(c)) for c in sorted(CONTROL_CHARS))
        # a character one of the conservative fixes needs; "\n[ÃÂ] " is BADNESS_RE's line-start case, which
        # ftfy meets at the start of each line it fixes separately
        self._trigger = re.compile(f"[&\x1b\x80-\x9f\ud800-\udfff{controls}]|\n[ÃÂ] ")
        self._badness = BADNESS_RE

    def needs_fixing(self, text: str) -> bool:
        """False only when ftfy would return `text` unchanged (conservative settings)."""
        if self.settings != "conservative" or len(text) > self.config.max_decode_length:
            return True
        return bool(self._trigger.search(text) or self._badness.search(text))

    def format(self, text: str) -> str:
        import ftfy

        return ftfy.fix_text(text, config=self.config) if self.needs_fixing(text) else text

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update("total")
            with self.track_time():
                fixed = self.format(doc.text)
            if fixed != doc.text:
                self.stat_update("fixed")
                doc.text = fixed
            yield doc
