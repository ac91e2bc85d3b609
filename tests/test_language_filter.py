"""The language block (fastText lid.176): batches are a pure speed-up, a missing model is named.

Its agreement with datatrove's LanguageFilter: test_filters_vs_datatrove.py; a document per drop
reason: test_drop_reasons.py.
"""

from __future__ import annotations

import pytest
from conftest import SHARED, Page
from datatrove.data import Document

from thresher.filters.language import LanguageFilter

LINGUA = SHARED / "data" / "lid" / "lingua" / "sentences"


def _lingua_sentences(per_language: int = 25) -> list[Page]:
    if not LINGUA.is_dir():
        pytest.skip(f"shared data not found at {LINGUA}")
    out = []
    for path in sorted(LINGUA.glob("*.txt")):
        lines = [x for x in path.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
        out += [Page(f"{path.stem}-{i}", "", line) for i, line in enumerate(lines[:per_language])]
    return out


def test_language_filter_batches_give_the_scores_of_single_calls():
    # the batched fastText call must be a pure speed-up: same label, same score, same decision
    sentences = _lingua_sentences()
    for min_score in (0.65, 0.3):  # k=1 and k=-1
        f = LanguageFilter(languages=["en"], min_score=min_score, model_path=None, batch_size=64)
        batch = [Document(text=p.text, id=p.name) for p in sentences]
        single = [Document(text=p.text, id=p.name) for p in sentences]
        assert f.filter_batch(batch) == [f.filter(d) for d in single]
        assert [d.metadata for d in batch] == [d.metadata for d in single]
        assert len({d.metadata["language"] for d in batch}) > 5


def test_language_filter_missing_model_names_path():
    with pytest.raises(FileNotFoundError, match="/nonexistent/lid.176.bin"):
        f = LanguageFilter(languages=["en"], min_score=0.65, model_path="/nonexistent/lid.176.bin")
        f.filter(Document(text="hello world", id="x"))
