"""The words a file's names are made of: what :mod:`graph_jobs.relations.shared_terms`
compares between files.

Every identifier-like token of the file (code, comments and strings alike, in any
language: ``[A-Za-z_][A-Za-z0-9_]{2,}``) is split at underscores and case changes
(``parseHTTPHeader`` -> ``parse``, ``http``, ``header``), lower-cased, and words of three
letters or more are counted. No tree is needed, so files with broken syntax give their
words too.
"""

from __future__ import annotations

import re
from collections import Counter

_IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_]{2,}")
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# The most frequent words kept per file: bounds the cache and the memory of huge files.
MAX_TERMS = 1000


def file_terms(data: bytes, max_terms: int = MAX_TERMS) -> dict[str, int]:
    """``{word: count}`` for the words of ``data``'s identifiers (see the module doc)."""
    idents = Counter(_IDENT.findall(data))
    words: Counter[str] = Counter()
    for ident, n in idents.items():
        for w in _WORD.findall(ident.decode("ascii")):
            if len(w) >= 3:
                words[w.lower()] += n
    if len(words) > max_terms:
        return dict(words.most_common(max_terms))
    return dict(words)
