"""The AI-text score's stylometric alphabet: function words, punctuation groups and word classes.

Bigrams over it ("the CAP", "WORD ,", ", and") describe syntax and punctuation habits, not topic.
"""

from __future__ import annotations

import numpy as np

QUOTES = frozenset({'"', "“", "”", "«", "»", "„"})
PUNCT_GROUPS_ORDER = (
    "comma",
    "period",
    "semicolon",
    "colon",
    "exclaim",
    "question",
    "quote",
    "apostrophe",
    "paren",
    "hyphen",
    "dash",
    "ellipsis",
    "slash",
)
PUNCT_GROUPS: dict[str, frozenset[str]] = {
    "comma": frozenset({","}),
    "period": frozenset({"."}),
    "semicolon": frozenset({";"}),
    "colon": frozenset({":"}),
    "exclaim": frozenset({"!"}),
    "question": frozenset({"?"}),
    "quote": QUOTES,
    "apostrophe": frozenset({"'", "’", "‘"}),
    "paren": frozenset({"(", ")", "[", "]"}),
    "hyphen": frozenset({"-"}),
    "dash": frozenset({"–", "—"}),
    "ellipsis": frozenset({"…"}),
    "slash": frozenset({"/"}),
}
FUNCTION_WORDS = (
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "that",
    "it",
    "for",
    "was",
    "on",
    "with",
    "as",
    "i",
    "he",
    "you",
    "this",
    "be",
    "by",
    "are",
    "at",
    "we",
    "they",
    "have",
    "not",
    "but",
    "or",
    "from",
    "his",
    "her",
    "she",
    "which",
    "their",
    "also",
    "can",
    "will",
    "would",
    "these",
    "its",
    "such",
    "more",
    "however",
    "there",
    "my",
    "an",
    "were",
    "has",
    "been",
)
SYM_WORDS = FUNCTION_WORDS + (
    "our",
    "your",
    "him",
    "them",
    "us",
    "me",
    "who",
    "what",
    "when",
    "where",
    "why",
    "how",
    "if",
    "so",
    "than",
    "then",
    "because",
    "while",
    "although",
    "into",
    "through",
    "about",
    "after",
    "before",
    "between",
    "during",
    "over",
    "under",
    "up",
    "out",
    "no",
    "all",
    "some",
    "any",
    "each",
    "other",
    "one",
    "do",
    "does",
    "did",
    "had",
    "could",
    "should",
    "may",
    "might",
    "must",
    "being",
    "just",
    "very",
    "only",
    "even",
    "still",
    "now",
    "here",
    "those",
    "both",
    "many",
    "much",
    "most",
)
SYM_CLASSES = ("CAP", "WORD", "NUM", "OTHER")
N_SYM = len(SYM_WORDS) + len(PUNCT_GROUPS) + len(SYM_CLASSES)


# sentence ends: the period, exclaim, question and ellipsis punctuation groups
END_SYMS = np.array([len(SYM_WORDS) + g for g in (1, 4, 5, 11)])
IS_END = np.zeros(N_SYM, dtype=bool)
IS_END[END_SYMS] = True


def symbol_names() -> list[str]:
    return [*SYM_WORDS, *(f"<{g}>" for g in PUNCT_GROUPS_ORDER), *SYM_CLASSES]


ALL_PUNCT = frozenset().union(*PUNCT_GROUPS.values())
assert tuple(PUNCT_GROUPS) == PUNCT_GROUPS_ORDER
