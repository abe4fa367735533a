"""The relation graph Node2Vec learns from: files, folders, and what ties them.

Nodes ``0..F-1`` are the repository's files (in ``DependencyGraph.files`` order), nodes
``F..`` its folders. Folder nodes carry walks between the files they hold; they get no
vector and are never returned. Undirected weighted edges, one per node pair (weights of
several relations between one pair add up):

==============  ==================================================================
relation        weight
==============  ==================================================================
imports         ``imports`` per pair (``weak_import`` for type-only and dynamic)
folder          file - its folder, folder - its parent: ``folder``
mirror          folders that are one package in a mirrored tree (``src/main/java/x``
                and ``src/test/java/x``; ``tests/x`` and ``src/x``): ``folder``
co-change       ``cochange * strength(a, b)``; strength is the coupling degree
                shrunk toward 0 for pairs seen in few commits (see below)
test - source   ``test`` (see :mod:`.tests_and_sources`)
shared words    ``terms * similarity`` (TF-IDF cosine of their identifier words,
                :mod:`.shared_terms`), pairs each file keeps
==============  ==================================================================

``strength(a, b) = shared_w / (mean(revs_w(a), revs_w(b)) + prior)``: code-maat's degree
over age-decayed commit counts, with ``prior`` commits of doubt, so two files that
changed once, together, do not outweigh a pair seen together fifty times.

``relations="imports"`` gives the import graph alone (files only), as before.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from graph_jobs.history.cochange import CoChange
from graph_jobs.models import DependencyGraph, EdgeKind
from graph_jobs.relations.tests_and_sources import logical_folder, pair_tests

RELATION_SETS = ("all", "imports")
WEAK_IMPORTS = {EdgeKind.TYPE_ONLY.value, EdgeKind.DYNAMIC.value, EdgeKind.REFERENCE.value}


@dataclass(frozen=True, slots=True)
class RelationWeights:
    """Edge weights of the relation graph (see the module docstring)."""

    imports: float = 1.0
    weak_import: float = 0.5
    folder: float = 1.0
    cochange: float = 8.0
    test: float = 1.0
    cochange_prior: float = 1.0  # commits of doubt in the co-change strength
    folder_size: float = 0.0  # folders with n > folder_size children: folder * sqrt(folder_size / n)
    min_strength: float = 0.05  # weaker co-change pairs are not edges
    terms: float = 2.0  # times the shared-words similarity (0: not an edge)


@dataclass
class RelationGraph:
    files: list[str]
    folders: list[str]
    edges: np.ndarray  # int64 [E, 2], i < j
    weights: np.ndarray  # float64 [E]
    kinds: dict[str, int] = field(default_factory=dict)  # relation -> pairs it ties
    tests: list[tuple[str, str]] = field(default_factory=list)  # (test, source)

    @property
    def num_nodes(self) -> int:
        return len(self.files) + len(self.folders)


def cochange_strength(history: CoChange, a: str, b: str, prior: float = 1.0) -> float:
    t = history.pairs.get((a, b) if a < b else (b, a))
    if t is None:
        return 0.0
    ra, rb = history.revisions.get(a), history.revisions.get(b)
    mean = ((ra.weight if ra else 0.0) + (rb.weight if rb else 0.0)) / 2
    return min(1.0, t.weight / (mean + prior))


def build_relation_graph(graph: DependencyGraph, history: CoChange | None = None,
                         weights: RelationWeights | None = None,
                         relations: str = "all", shared=None) -> RelationGraph:
    """``shared``: a :class:`~graph_jobs.relations.shared_terms.SharedTerms`, or None."""
    if relations not in RELATION_SETS:
        raise ValueError(f"relations must be one of {RELATION_SETS}, got {relations!r}")
    w = weights or RelationWeights()
    files = [f.path for f in graph.files]
    idx = {p: i for i, p in enumerate(files)}
    acc: dict[tuple[int, int], float] = defaultdict(float)
    kinds: dict[str, int] = defaultdict(int)

    def add(i: int, j: int, weight: float, kind: str) -> None:
        if i == j or weight <= 0:
            return
        key = (i, j) if i < j else (j, i)
        kinds[kind] += 1
        acc[key] += weight

    seen_imports: dict[tuple[int, int], float] = {}
    for e in graph.edges:
        i, j = idx.get(e.source), idx.get(e.target)
        if i is None or j is None or i == j:
            continue
        key = (i, j) if i < j else (j, i)
        wt = w.weak_import if e.kind in WEAK_IMPORTS else w.imports
        seen_imports[key] = max(seen_imports.get(key, 0.0), wt)
    for (i, j), wt in seen_imports.items():
        add(i, j, wt, "imports")

    folders: list[str] = []
    tests: list[tuple[str, str]] = []
    if relations == "all":
        fidx: dict[str, int] = {}

        def folder(path: str) -> int:
            if path not in fidx:
                fidx[path] = len(files) + len(folders)
                folders.append(path)
                parent = str(PurePosixPath(path).parent) if path != "." else None
                if parent is not None:
                    add(fidx[path], folder(parent), w.folder, "folder")
            return fidx[path]

        # direct children of each folder: its files and its subfolders
        children = Counter(str(PurePosixPath(p).parent) for p in files)
        for sub in {str(up) for p in files for up in PurePosixPath(p).parents} - {"."}:
            children[str(PurePosixPath(sub).parent)] += 1

        def fw(path: str) -> float:
            n = children.get(path, 1)
            if w.folder_size > 0 and n > w.folder_size:
                return w.folder * (w.folder_size / n) ** 0.5
            return w.folder

        for i, p in enumerate(files):
            parent = str(PurePosixPath(p).parent)
            add(i, folder(parent), fw(parent), "folder")
        # mirrored trees: src/main/java/x and src/test/java/x (tests/ and src/, ...) are
        # one package; their folders are tied as a folder is to its parent
        first_of: dict[tuple[str, ...], int] = {}
        for path in list(folders):
            logical = logical_folder(path + "/_")
            if not logical:
                continue
            node = fidx[path]
            if logical in first_of:
                add(node, first_of[logical], w.folder, "mirror")
            else:
                first_of[logical] = node
        if history is not None:
            for (a, b) in history.pairs:
                i, j = idx.get(a), idx.get(b)
                if i is None or j is None:
                    continue
                s = cochange_strength(history, a, b, w.cochange_prior)
                if s >= w.min_strength:
                    add(i, j, w.cochange * s, "cochange")
        if shared is not None and w.terms > 0:
            for (a, b), sim in shared.pairs.items():
                i, j = idx.get(a), idx.get(b)
                if i is not None and j is not None:
                    add(i, j, w.terms * sim, "terms")
        tests = pair_tests([(f.path, f.language) for f in graph.files])
        for t, s in tests:
            add(idx[t], idx[s], w.test, "test")

    keys = sorted(acc)
    edges = np.array(keys, dtype=np.int64).reshape(-1, 2)
    wts = np.array([acc[k] for k in keys], dtype=np.float64)
    return RelationGraph(files, folders, edges, wts, dict(kinds), tests)
