"""Repository work tree -> file-level dependency graph.

discover files -> parse the ones not in the cache (on every core; one parse gives a
file's imports and what it declares, for the role vector) -> resolve each
import with its language's resolver -> edges, unresolved imports and per-language
statistics. One file that cannot be read or parsed never fails the graph: it is
listed in ``skipped`` with the reason.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from graph_jobs.errors import FileRefused
from graph_jobs.graph.discovery import discover_files, sniff
from graph_jobs.graph.extract import EXTRACTOR_VERSION, extract_file
from graph_jobs.graph.parse_cache import ParseCache, ParseResult
from graph_jobs.graph.repo_files import RepoFiles
from graph_jobs.graph.resolve import Resolvers
from graph_jobs.job_budget import refuse_too_many_files
from graph_jobs.languages import REPORTED
from graph_jobs.models import (
    DependencyGraph,
    Edge,
    LanguageStats,
    RawImport,
    SkippedFile,
    UnresolvedImport,
)

Progress = Callable[[str, float], None]
# Below this many files to parse, worker processes cost more than they save.
PARALLEL_MIN_FILES = 150


def parse_one(files: RepoFiles, path: str, lang: str, max_bytes: int) -> ParseResult:
    try:
        data = files.read(path, max_bytes)
    except FileRefused as exc:
        return (exc.reason, False, [], {})
    if (why := sniff(data)) is not None:
        return (why, False, [], {})
    try:
        imports, had_error, decls = extract_file(lang, data)
    except (RecursionError, MemoryError, ValueError, SystemError) as exc:  # never fail the job
        return (f"parser failed: {type(exc).__name__}", True, [], {})
    return (None, had_error, [i.to_tuple() for i in imports], decls)


def _parse_batch(args) -> list[ParseResult]:
    root, items, max_bytes = args
    files = RepoFiles(root)
    return [parse_one(files, p, lang, max_bytes) for p, lang in items]


def _pool(workers: int) -> ProcessPoolExecutor:
    # fork is fastest; with other threads alive (Ray, a server) fork is unsafe.
    method = "fork" if threading.active_count() == 1 else "forkserver"
    return ProcessPoolExecutor(workers, mp_context=mp.get_context(method))


def parse_files(root: Path, todo: list[tuple[str, str]], max_bytes: int, workers: int,
                progress: Progress | None = None) -> list[ParseResult]:
    if workers <= 1 or len(todo) < PARALLEL_MIN_FILES:
        out, files = [], RepoFiles(root)
        for i, (p, lang) in enumerate(todo):
            out.append(parse_one(files, p, lang, max_bytes))
            if progress and i % 200 == 0:
                progress("parse", i / len(todo))
        return out
    return map_on_cores(_parse_batch, str(root), todo, max_bytes, workers,
                        (lambda f: progress("parse", f)) if progress else None)


def map_on_cores(batch_fn: Callable[[tuple], list], root: str, items: list, max_bytes: int,
                 workers: int, on_batch: Callable[[float], None] | None = None) -> list:
    """``batch_fn((root, batch, max_bytes))`` for batches of ``items`` on ``workers``
    processes; the results in ``items``' order. Items are interleaved across the batches
    so big and small files spread evenly; ``on_batch(fraction done)`` after each batch."""
    n_batches = workers * 8
    order = list(range(len(items)))
    batches = [order[i::n_batches] for i in range(n_batches)]
    results: list = [None] * len(items)
    with _pool(workers) as ex:
        jobs = [(root, [items[i] for i in b], max_bytes) for b in batches]
        try:
            for k, (b, res) in enumerate(zip(batches, ex.map(batch_fn, jobs), strict=True)):
                for i, r in zip(b, res, strict=True):
                    results[i] = r
                if on_batch:
                    on_batch((k + 1) / len(batches))
        except BaseException:  # a stopped job (on_batch raised) waits for no other batch
            ex.shutdown(wait=False, cancel_futures=True)
            raise
    return results


def build_dependency_graph(
    root: Path,
    commit: str | None = None,
    *,
    max_file_bytes: int = 1 << 20,
    cache_path: Path | None = None,
    workers: int = 0,
    progress: Progress | None = None,
    max_files: int = 0,
) -> DependencyGraph:
    """``max_files`` (``PHAROS_MAX_FILES``; 0: none): more source files than that are
    refused (:class:`~graph_jobs.errors.RepositoryTooLarge`) before any is parsed."""
    root = Path(root)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    found = discover_files(root, max_file_bytes)
    timings["discover"] = time.perf_counter() - t0
    refuse_too_many_files(len(found.files), max_files)
    if progress:
        progress("parse", 0.0)

    t0 = time.perf_counter()
    cache = ParseCache(cache_path, EXTRACTOR_VERSION) if cache_path else None
    keys = [(f.blob, f.language) for f in found.files]
    try:  # the cache's connection is closed whatever happens while parsing
        cached = cache.get_many(keys) if cache else {}
        todo_idx = [i for i, k in enumerate(keys) if k not in cached]
        todo = [(found.files[i].path, found.files[i].language) for i in todo_idx]
        fresh = parse_files(root, todo, max_file_bytes, workers or (os.cpu_count() or 1),
                            progress)
        if cache:
            cache.put_many([(keys[i][0], keys[i][1], r)
                            for i, r in zip(todo_idx, fresh, strict=True)])
    finally:
        if cache:
            cache.close()
    results = dict(cached)
    for i, r in zip(todo_idx, fresh, strict=True):
        results[keys[i]] = r
    timings["parse"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    files, skipped = [], list(found.skipped)
    imports: dict[str, list[RawImport]] = {}
    declarations: dict[str, dict[str, int]] = {}
    stats: dict[str, LanguageStats] = {}
    for f, key in zip(found.files, keys, strict=True):
        skip, had_error, imps, decls = results[key]
        if skip is not None:
            skipped.append(SkippedFile(f.path, skip))
            continue
        files.append(f)
        imports[f.path] = [RawImport.from_tuple(t) for t in imps]
        declarations[f.path] = decls
        st = stats.setdefault(REPORTED.get(f.language, f.language), LanguageStats())
        st.files += 1
        st.parse_errors += int(had_error)
    lang_of = {f.path: f.language for f in files}
    resolvers = Resolvers(root, lang_of, found.all_paths, imports)
    edges: list[Edge] = []
    unresolved: list[UnresolvedImport] = []
    seen: set[tuple[str, str, str]] = set()
    for f in files:
        st = stats[REPORTED.get(f.language, f.language)]
        resolver = resolvers.get(f.language)
        for imp in imports[f.path]:
            res = resolver.resolve(f.path, imp)
            if not res:
                continue  # declarations (package clauses), self-references
            st.imports += 1
            for why in res.unresolved:
                unresolved.append(UnresolvedImport(f.path, imp.spec, imp.kind.value, why,
                                                   imp.line))
            ok = False
            for t in res.targets:
                if t.path != f.path:
                    ok = True
                    if (f.path, t.path, t.kind) not in seen:
                        seen.add((f.path, t.path, t.kind))
                        edges.append(Edge(f.path, t.path, t.kind, imp.line))
            if ok:
                st.resolved += 1
            else:
                st.unresolved += 1
    skipped.extend(resolvers.skipped)  # manifests the resolvers would not read
    timings["resolve"] = time.perf_counter() - t0
    return DependencyGraph(str(root), commit, files, edges, unresolved, skipped, stats, timings,
                           cache_hits=len(cached), parsed=len(todo),
                           declarations=declarations)
