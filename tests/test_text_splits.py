"""The shared text splits (thresher.filters.text) against datatrove's: sentences, the repeated
n-gram measure of Gopher repetition, and the quoted-word shortcut of the word split, on the English
real pages (the `english` fixture of conftest: slow, needs ../shared)."""

from __future__ import annotations

import pytest

from thresher.filters.presets import block_params

MIN_AGREEMENT = 0.99
pytestmark = pytest.mark.slow


def test_sentence_splits_match_datatrove(english):
    """C4 with split_paragraph=False cuts documents into sentences; ours must cut where spaCy does."""
    pytest.importorskip("spacy", reason="datatrove's sentence splitter needs spaCy")
    from datatrove.utils.text import split_into_sentences

    from thresher.filters.text import split_sentences

    sample = english[:40]
    same = sum(split_sentences(p.text) == split_into_sentences(p.text) for p in sample)
    assert same / len(sample) >= MIN_AGREEMENT


def test_duplicated_ngram_measure_matches_datatrove(english):
    """The repeat measure behind duplicated_{n}_n_grams, exact and with the bound the filter uses,
    against datatrove's find_all_duplicate on every English page (n as in FineWeb, then backwards)."""
    from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate

    from thresher.filters.gopher_repetition import RepeatedNgrams, word_ids
    from thresher.filters.text import splits

    ns = [int(n) for n in block_params("fineweb", "gopher_repetition")["dup_n_grams"]]
    checked = bounded = 0
    for p in english:
        words = splits(p.text).tokens
        expected = {n: find_all_duplicate(words, n) for n in ns}
        for order in (ns, ns[::-1]):
            exact = RepeatedNgrams(words, word_ids(words))
            assert [exact.chars(n, ceiling=-1) for n in order] == [expected[n] for n in order], p.name
            limited = RepeatedNgrams(words, word_ids(words))
            for n in order:
                ceiling = 0.1 * len(p.text)
                got = limited.chars(n, ceiling)
                assert got >= expected[n] and (got > ceiling) == (expected[n] > ceiling), (p.name, n)
                bounded += got != expected[n]
        checked += 1
    assert checked >= 150 and bounded > 0  # the bound was taken, and never changed a verdict


def test_quoted_word_shortcut_matches_full_split(english):
    """`_split_quoted` (a word between quotes, brackets, punctuation) must split exactly as the full
    spaCy-rule `_split_chunk` does: every chunk of the English pages, then openers x words x closers."""
    from thresher.filters.text import _split_chunk, _split_quoted

    chunks = {c for p in english for c in p.text.split()}
    words = sorted({c for c in chunks if c.isalpha()})[::25]
    words += ["I", "A", "i", "e", "s", "S", "Mr", "dont", "USA", "x-ray", "I-95", "a--b", "2018", "½"]
    openers = ["", "(", "[", "“", "‘", '"', "'", "((", "''", "“("]
    closers = ["", ",", ".", ";", ":", "!", "?", ")", "”", "’", "'", '"', ".”", "”.", ").", "),", "..", "’s", "'s"]
    closers += ["’s,", "’s.”", ".’”", "?!", ".”)", "...", "-"]
    generated = {o + w + c for w in words for o in openers for c in closers}
    taken = 0
    for chunk in chunks | generated:
        quick = _split_quoted(chunk)
        if quick is not None:
            taken += 1
            assert quick == _split_chunk(chunk), chunk
    assert taken > len(generated) // 2  # the shortcut is taken, not skipped
