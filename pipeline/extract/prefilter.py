"""A cheap language guess before extraction: pages clearly not in the kept languages are never extracted.

`LanguagePrefilter` runs before trafilatura in the fineweb preset and drops only pages whose
resiliparse text is clearly not in a kept language (fastText lid.176 far below the language
filter's threshold), so trafilatura never sees most of them and no decision changes.
"""

from __future__ import annotations

import html
import re

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

# imported here, not in the child: the child is forked from the worker with its modules loaded
from resiliparse.extract.html2text import extract_plain_text

from ...filters.base import Block, register
from ...filters.language import bundled_model_path, check_languages, load_model
from .killable import DIED, OK, TIMEOUT, KillableMap

# resiliparse options of the prefilter's quick text; an extractor with the same options reuses it
PREFILTER_OPTIONS = {
    "main_content": True,
    "preserve_formatting": True,
    "list_bullets": False,
    "alt_texts": False,
    "links": False,
    "form_fields": False,
    "noscript": False,
    "comments": False,
}
# metadata key of that text (a leading `_`: never written to the output)
SHARED_TEXT_KEY = "_main_text"
# metadata key of the CPU limit a parse with those options ran over (the page kept without a guess):
# an extractor with the same options and no larger limit drops the page as a timeout without parsing it
SHARED_TIMEOUT_KEY = "_main_text_timeout"
# what a page says of itself, read without a parse: <html lang="..">, <title>, the meta description
# (og: or not; `name`/`property` before `content`), all in the first characters of the page
HEAD_SCAN_CHARS = 30_000
_HTML_LANG_RE = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?\s*([a-z]{2,3})(?![a-z])", re.IGNORECASE)
_TITLE_RE = re.compile(r"<title\b[^>]*>([^<]*)", re.IGNORECASE)
_DESCRIPTION_RE = re.compile(
    r"<meta\b[^>]*?\b(?:name|property)\s*=\s*[\"']?(?:og:)?description\b[^>]*?\bcontent\s*=\s*(?:\"([^\"]*)\"|'([^']*)')",
    re.IGNORECASE,
)


def declared_head(page: str) -> tuple[str | None, str]:
    """(the language the page declares in <html lang>, lowercased; its title and meta description)."""
    head = page[:HEAD_SCAN_CHARS]
    lang = _HTML_LANG_RE.search(head)
    title = _TITLE_RE.search(head)
    description = _DESCRIPTION_RE.search(head)
    words = (title[1] if title else "") + " " + ((description[1] or description[2] or "") if description else "")
    return (lang[1].lower() if lang else None), " ".join(html.unescape(words).split())


@register("language_prefilter")
class LanguagePrefilter(BaseFilter, Block):
    """Before trafilatura: drop pages that are clearly not in `languages`, so they are never extracted.

    The guess is fastText lid.176 on resiliparse's main-content text (~1.5 ms a page, against
    ~14 ms for trafilatura). It drops a page only when the best score of every kept language is
    below `max_score` (far below the language filter's 0.65) and the text has at least
    `min_chars` characters; anything uncertain goes on to trafilatura and the real language
    filter, which still decides. `languages: null` keeps everything (as the language filter does).
    With `share_text`, the text of a page it keeps stays in the transient metadata key
    `_main_text`, and a later `extract_resiliparse` with the same options uses it instead of
    parsing the page again (the fast preset); leave it off before trafilatura.
    Only the first `max_lid_chars` characters are classified (the
    cost of fastText grows with the text). Drop reason: `not_<languages>` (e.g. `not_en`).

    resiliparse's parse is steeply slower on deeply nested HTML (100,000 nested <div>s: minutes), so
    it runs in a killable child process (`KillableMap`): the batch goes to the child in one message,
    and a page that takes more than `timeout` CPU seconds has the child killed; the page is kept
    without a guess (trafilatura and the language filter decide) and counted as `timeout`
    (`process_died` when the child died on it), and a new child reads the rest of the batch.

    With `head_max_score` set, a page whose <html lang> names another language first has its title
    and meta description classified (at least `head_min_chars` of them; ~0.1 ms, no parse); when no
    kept language scores `head_max_score` there, the page is dropped without extraction, reason
    `not_<languages>_by_head`. The page's own word and its headline both say "another language",
    but its body is not read: a page that declares German and carries English paragraphs is lost
    (the fast preset's trade; `null` turns the check off).
    """

    name = "🌍 Language prefilter"
    drop_reasons = {
        "not_{languages}": "no kept language scores max_score on the page's quick text",
        "not_{languages}_by_head": "the page declares another language and its title + description score no kept "
        "language head_max_score",
    }

    def __init__(
        self,
        languages: list[str] | None,
        max_score: float,
        min_chars: int,
        max_lid_chars: int,
        max_html_chars: int,
        timeout: float,
        share_text: bool,
        head_max_score: float | None = None,
        head_min_chars: int = 0,
        batch_size: int = 1,
        model_path: str | None = None,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer, batch_size=batch_size)
        self.timeout = timeout
        self.share_text = share_text
        self.head_max_score = head_max_score
        self.head_min_chars = head_min_chars
        self.languages = [languages] if isinstance(languages, str) else list(languages or [])
        self.max_score = max_score
        self.min_chars = min_chars
        self.max_lid_chars = max_lid_chars
        self.max_html_chars = max_html_chars
        self.model_path = model_path or bundled_model_path()
        check_languages(self.languages, self.model_path)
        self.reason = "not_" + "_".join(self.languages or ["kept_languages"])
        self._parser: KillableMap | None = None  # the child process that parses, started on first use

    @property
    def model(self):
        """lid.176, loaded once per process and shared with the language filter."""
        return load_model(self.model_path)

    def _judged(self, doc: Document) -> bool:
        """False when the page gets no guess: every language kept, text already (WET), or too large to
        parse; later blocks decide."""
        wet = doc.metadata.get("source_format") == "wet"
        return bool(self.languages) and not wet and len(doc.text) <= self.max_html_chars

    def _read(self, page: str) -> tuple[str | None, str]:
        """In the child: (resiliparse's text when it is shared, else None; what fastText reads of it,
        "" when it is too short to judge)."""
        raw = extract_plain_text(page, **PREFILTER_OPTIONS)
        text = " ".join(raw[: 4 * self.max_lid_chars].split())
        return (raw if self.share_text else None), text[: self.max_lid_chars] if len(text) >= self.min_chars else ""

    def _quick_texts(self, pages: list[str]) -> list[tuple[str, object]]:
        """The outcome of `_read` on every page, in the killable child: (status, value) as
        KillableMap gives them; a timeout or a dead child is counted."""
        if not pages:
            return []
        if self._parser is None:
            self._parser = KillableMap(self._read, self.timeout)
        outcomes = self._parser.map(pages)
        for status, _ in outcomes:
            if status in (TIMEOUT, DIED):
                self.stat_update(status)
        return outcomes

    def run(self, data, rank: int = 0, world_size: int = 1):
        try:
            yield from super().run(data, rank, world_size)
        finally:
            if self._parser is not None:  # the child ends with the step
                self._parser.close()
                self._parser = None

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        """All pages of the batch are extracted first (sent to the child in one message), then
        classified in one fastText call: its tables stay in the CPU caches instead of being evicted by
        every page's parse (the same decisions as one page at a time, ~30 % less time in fastText).
        A page whose parse failed (an error, a timeout, a dead child) gets no guess: kept."""
        by_head = self._other_by_head(batch)
        parsed = [i for i, doc in enumerate(batch) if i not in by_head and self._judged(doc)]
        outcomes = dict(zip(parsed, self._quick_texts([batch[i].text for i in parsed]), strict=True))
        quick = {i: value for i, (status, value) in outcomes.items() if status == OK}
        other = self._other({i: q[1] for i, q in quick.items() if q[1]}, self.max_score)
        results: list[bool | tuple[bool, str]] = []
        for i, doc in enumerate(batch):
            if i in by_head:
                results.append((False, self.reason + "_by_head"))
                continue
            if i in other:
                results.append((False, self.reason))
                continue
            if self.share_text:  # for a resiliparse extractor later on (not written out)
                if i in quick:
                    doc.metadata[SHARED_TEXT_KEY] = quick[i][0]
                elif i in outcomes and outcomes[i][0] == TIMEOUT:
                    doc.metadata[SHARED_TIMEOUT_KEY] = self.timeout
            results.append(True)
        return results

    def _other_by_head(self, batch: list[Document]) -> set[int]:
        """The pages that declare a language not kept and whose title and description are not in one."""
        if self.head_max_score is None:
            return set()
        heads = {}
        for i, doc in enumerate(batch):
            if not self._judged(doc):
                continue
            declared, words = declared_head(doc.text)
            if declared is not None and declared not in self.languages and len(words) >= self.head_min_chars:
                heads[i] = words[: self.max_lid_chars]
        return self._other(heads, self.head_max_score)

    def _other(self, texts: dict[int, str], max_score: float) -> set[int]:
        """The keys of the texts in which no kept language scores max_score (one fastText call)."""
        if not texts:
            return set()
        # fastText leaves out the labels below the threshold (less work); a kept language that is
        # missing scored below max_score, which is all the decision needs
        labels = self._labels(list(texts.values()), max_score)
        kept = {f"__label__{lang}" for lang in self.languages}
        return {i for i, found in zip(texts, labels, strict=True) if kept.isdisjoint(found)}

    def _labels(self, texts: list[str], max_score: float) -> list[list[str]]:
        """fastText's labels at or above max_score for each text; a text it cannot read keeps its page."""
        try:
            return self.model.predict(texts, k=-1, threshold=max_score)[0]
        except Exception:
            out = []
            for text in texts:
                try:
                    out.append(self.model.predict(text, k=-1, threshold=max_score)[0])
                except Exception:
                    out.append([f"__label__{lang}" for lang in self.languages])  # no guess: kept
            return out

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]
