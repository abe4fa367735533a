"""The words a file's names are made of: what :mod:`graph_jobs.relations.shared_terms`
compares between files.

Every identifier-like token of the file (code, comments and strings alike, in any
language: a run of ``[A-Za-z0-9_]`` of three characters or more that does not start with
a digit) is split at underscores, digits and case changes (``parseHTTPHeader`` ->
``parse``, ``http``, ``header``), lower-cased, and words of three letters or more are
counted. No tree is needed, so files with broken syntax give their words too.

Words that name nothing are left out (:data:`STOPWORDS`): the keywords of the languages
read here (``import``, ``from``, ``return``, ``const``, ``func``...) and common English
words of comments (``the``, ``and``, ``this``...). They are in nearly every file, so the
TF-IDF weights of :mod:`~graph_jobs.relations.shared_terms` gave them little weight, but
they still showed in the answer's "uses the same names: ..." (issue 27).

Fast path: one ``bytes.translate`` + ``split`` finds the tokens, ``Counter`` counts them
in C, and each distinct token is split once per process (identifiers repeat across a
repository's files).
"""

from __future__ import annotations

import re
from collections import Counter

from graph_jobs.graph.stopwords import STOPWORDS

_KEEP = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_TOKENS = bytes(c if c in _KEEP else 32 for c in range(256))  # anything else -> space
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# The most frequent words kept per file: bounds the cache and the memory of huge files.
MAX_TERMS = 1000
_SPLIT: dict[bytes, tuple[str, ...]] = {}
_SPLIT_MAX = 200_000  # distinct tokens remembered per process


def _words_of(token: bytes) -> tuple[str, ...]:
    got = _SPLIT.get(token)
    if got is None:
        if len(token) < 3 or token[0] < 65:  # short, or starts with a digit
            got = ()
        else:
            got = tuple(w for w in (w.lower() for w in _WORD.findall(token.decode("ascii"))
                                    if len(w) >= 3 and not w.isdigit())
                        if w not in STOPWORDS)
        if len(_SPLIT) < _SPLIT_MAX:
            _SPLIT[token] = got
    return got


def file_terms(data: bytes, max_terms: int = MAX_TERMS) -> dict[str, int]:
    """``{word: count}`` for the words of ``data``'s identifiers (see the module doc)."""
    words: Counter[str] = Counter()
    for token, n in Counter(data.translate(_TOKENS).split()).items():
        for w in _words_of(token):
            words[w] += n
    if len(words) > max_terms:
        return dict(words.most_common(max_terms))
    return dict(words)
