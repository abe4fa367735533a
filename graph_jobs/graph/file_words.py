"""Each file's words (:mod:`graph_jobs.graph.extract.terms`), read from the work tree.

A stage of its own, after the graph: the dependency graph does not need words, and
``pharos graph`` does not read them. Cached by git blob id in the parse cache's SQLite
file (table ``words``), so an unchanged file is never read twice; parsed on every core
for large repositories, like the graph. Read through the guarded reader
(:mod:`graph_jobs.graph.repo_files`); a file that cannot be read now has no words
(it was readable a moment ago, for the graph; the answer just loses one signal).
"""

from __future__ import annotations

import os
from pathlib import Path

from graph_jobs.errors import FileRefused
from graph_jobs.graph.extract import to_utf8_bytes
from graph_jobs.graph.extract.terms import file_terms
from graph_jobs.graph.repo_files import RepoFiles
from graph_jobs.models import SourceFile

# Bump when file_terms changes: cached words of older versions are not used.
WORDS_VERSION = 2  # 2: stopwords and language keywords left out
PARALLEL_MIN_FILES = 300


def words_of_file(files: RepoFiles, path: str, max_bytes: int) -> dict[str, int]:
    try:
        data = files.read(path, max_bytes)
    except FileRefused:
        return {}
    return file_terms(to_utf8_bytes(data))


def _words_batch(args) -> list[dict[str, int]]:
    root, paths, max_bytes = args
    files = RepoFiles(root)
    return [words_of_file(files, p, max_bytes) for p in paths]


def read_words(root: Path, files: list[SourceFile], *, max_bytes: int = 1 << 20,
               cache_path: Path | None = None, workers: int = 0) -> dict[str, dict[str, int]]:
    """``{path: {word: count}}`` for ``files`` (see the module doc)."""
    from graph_jobs.graph.dependency_graph import map_on_cores
    from graph_jobs.graph.parse_cache import ParseCache

    cache = ParseCache(cache_path, WORDS_VERSION) if cache_path else None
    try:
        cached = cache.get_words([f.blob for f in files]) if cache else {}
        todo = [f for f in files if f.blob not in cached]
        workers = workers or (os.cpu_count() or 1)
        paths = [f.path for f in todo]
        if workers <= 1 or len(todo) < PARALLEL_MIN_FILES:
            fresh = _words_batch((str(root), paths, max_bytes))
        else:
            fresh = map_on_cores(_words_batch, str(root), paths, max_bytes, workers)
        if cache:
            cache.put_words([(f.blob, w) for f, w in zip(todo, fresh, strict=True)])
    finally:
        if cache:
            cache.close()
    for f, w in zip(todo, fresh, strict=True):
        cached[f.blob] = w
    return {f.path: cached.get(f.blob, {}) for f in files}
