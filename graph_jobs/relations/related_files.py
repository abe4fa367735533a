"""Related files: nearest neighbours in Qdrant, reranked with exact signals, explained.

1. Candidates: the ``pool`` files nearest to the query's Node2Vec vector (cosine) in
   its repository (the repository's vectors read from Qdrant once per stored job and
   held in the process: :mod:`graph_jobs.relations.repository_vectors`), and every file
   with an exact tie to it (co-change partner, import either way, test pair, shared
   words) that the search did not return, with its cosine: in a large repository a
   strong partner can lie beyond the pool; and
   the files the repository's graphs put near it (:func:`walked`: personalized PageRank
   on the imports, co-change two steps away, its folder).
2. Each candidate's score adds to its cosine what the metadata store knows exactly
   about the pair (:class:`RerankWeights`): co-change (the share of the query's
   age-decayed commits that also changed the candidate), an import either way, a
   test/source pair, the same folder, minus a little per step of distance between the
   two files' packages (folders without layout folders such as ``src/main/java``); plus
   the similarity of the words their identifiers are made of (TF-IDF cosine,
   :mod:`graph_jobs.relations.shared_terms`); plus the candidate's own recent activity,
   relative to the busiest file of the repository (files that change often keep
   changing, with whatever is being worked on).
3. Each answer says why it is there (``why``): "imports it", "imported by it" (for a
   Java class of the same package, used without an import: "uses it (same package)",
   "used by it (same package)"),
   "changed together 7 times (last 2025-03-02)", "its test", "same folder", "uses the
   same names: cookie, jar, expires" (words both files weigh most), or, when
   no exact tie holds, "near in the relation graph" (the vectors alone put it there).

``rerank=False`` returns the vector order (what Qdrant says), still with ``why``.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from graph_jobs.graph.stopwords import STOPWORDS
from graph_jobs.models import EdgeKind


@dataclass(frozen=True, slots=True)
class RerankWeights:
    """Added to the cosine (see the module docstring and docs/embedding.md)."""

    cochange: float = 8.0  # times the co-change confidence in [0, 1]
    imports: float = 0.2  # an import either way
    test: float = 0.6  # a test/source pair
    folder: float = 0.2  # the same folder
    distance: float = 0.15  # subtracted per step of path distance in the tree
    activity: float = 1.0  # times the candidate's decayed commits / the busiest file's
    terms: float = 6.0  # times the cosine of the two files' word vectors (shared_terms)
    prior: float = 1.0  # commits of doubt in the co-change confidence


@dataclass(slots=True)
class Related:
    repo_url: str
    file_path: str
    language: str
    score: float  # what the answer is ordered by
    vector_score: float  # cosine of the Node2Vec vectors
    degree: int
    why: list[str] = field(default_factory=list)


def _when(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def explain(query: str, other: str, signals: dict) -> list[str]:
    why = []
    same = EdgeKind.SAME_PACKAGE.value
    if other in signals["imported_by"]:
        why.append("uses it (same package)" if signals["imported_by"][other] == same
                   else "imports it")
    if other in signals["imports"]:
        why.append("used by it (same package)" if signals["imports"][other] == same
                   else "imported by it")
    if other in signals["cochange"]:
        n, _w, last = signals["cochange"][other]
        why.append(f"changed together {n} time{'s' if n != 1 else ''} (last {_when(last)})")
    if other in signals["tests"]:
        from graph_jobs.relations.tests_and_sources import is_test

        why.append("its test" if is_test(other) and not is_test(query) else "the file it tests"
                   if is_test(query) and not is_test(other) else "test pair")
    if other in signals.get("shared_terms", {}):
        mine = signals.get("terms", {}).get(query, [])
        theirs = set(signals.get("terms", {}).get(other, ()))
        # stopwords left out here too: words stored before they were filtered at reading
        both = [w for w in mine if w in theirs and w not in STOPWORDS][:3]
        why.append(f"uses the same names: {', '.join(both)}" if both else "uses similar names")
    if PurePosixPath(other).parent == PurePosixPath(query).parent:
        why.append("same folder")
    return why or ["near in the relation graph"]


def tree_distance(a: str, b: str) -> int:
    """Folder steps from ``a``'s folder to ``b``'s (0: same folder)."""
    return _steps(PurePosixPath(a).parts[:-1], PurePosixPath(b).parts[:-1])


def package_distance(a: str, b: str) -> int:
    """Like :func:`tree_distance` between logical folders: layout folders (``src/main/java``,
    ``src/test/java``, ``tests``, ``lib`` ...) left out, so a test and the code it tests in
    a mirrored tree are near."""
    from graph_jobs.relations.tests_and_sources import logical_folder

    return _steps(logical_folder(a), logical_folder(b))


def _steps(pa: tuple[str, ...], pb: tuple[str, ...]) -> int:
    common = 0
    for x, y in zip(pa, pb, strict=False):
        if x != y:
            break
        common += 1
    return len(pa) + len(pb) - 2 * common


def cochange_confidence(query: str, other: str, signals: dict, prior: float) -> float:
    got = signals["cochange"].get(other)
    if not got:
        return 0.0
    own = signals["revisions"].get(query, (0, 0.0))[1]
    return min(1.0, got[1] / (own + prior))


def rank_related(query: str, candidates: list[tuple[str, float, str, int]], signals: dict,
                 weights: RerankWeights | None = None, *, rerank: bool = True,
                 repo_url: str = "", k: int = 10, model="default") -> list[Related]:
    """Order ``candidates`` = ``[(path, cosine, language, degree), ...]`` for ``query``.

    With ``rerank`` and no ``weights``, the learned ranker orders them when its model is
    there (:mod:`graph_jobs.relations.learned_ranker`; ``model``: ``"default"`` the
    shipped file, ``None`` never, or a loaded model), reading the import graph that
    :func:`candidates` put in ``signals``; else the hand weights (:class:`RerankWeights`).
    """
    if rerank and weights is None and model is not None:
        from graph_jobs.relations import learned_ranker

        ranker = learned_ranker.load() if isinstance(model, str) else model
        if ranker is not None:
            return rank_learned(query, candidates, signals, ranker,
                                signals.get("import_graph"), repo_url=repo_url, k=k)
    from graph_jobs.relations.ranker_features import hand_score

    w = weights or RerankWeights()
    cands = [c for c in candidates if c[0] != query]
    return _answers(query, cands, [hand_score(query, c[0], c[1], signals, w) if rerank
                                   else c[1] for c in cands], signals, repo_url, k)


def _answers(query: str, cands: list[tuple[str, float, str, int]], scores: list[float],
             signals: dict, repo_url: str, k: int) -> list[Related]:
    """The ``k`` best of ``cands`` by ``scores`` (ties by path), each explained (only
    those ``k``: ``why`` is the costly part of a long list)."""
    order = sorted(range(len(cands)), key=lambda i: (-scores[i], cands[i][0]))[:k]
    return [Related(repo_url, cands[i][0], cands[i][2], float(scores[i]), cands[i][1],
                    cands[i][3], explain(query, cands[i][0], signals)) for i in order]


def rank_learned(query: str, candidates: list[tuple[str, float, str, int]], signals: dict,
                 model, graph, *, repo_url: str = "", k: int = 10) -> list[Related]:
    """Order ``candidates`` by the learned ranker's score of their features
    (:mod:`graph_jobs.relations.ranker_features`; ties by path)."""
    from graph_jobs.relations.ranker_features import pair_features

    cands = [c for c in candidates if c[0] != query]
    scores = model.score(pair_features(query, cands, signals, graph))
    return _answers(query, cands, scores.tolist(), signals, repo_url, k)


def candidates(vectors, metadata, repo_url: str, file_path: str, pool: int, *,
               include_isolated: bool = False, tied: bool = True
               ) -> tuple[list[tuple[str, float, str, int]], dict]:
    """The ``pool`` nearest files and, with ``tied``, every file with an exact tie to
    ``file_path`` that the search did not return; and the store's signals.

    Raises :class:`~graph_jobs.errors.NotFound` when the file has no vector.
    """
    from graph_jobs.relations.repository_vectors import repository_vectors

    repo = metadata.repository(repo_url) if metadata is not None else None  # read once
    held = repository_vectors(vectors, metadata, repo_url, repo)
    if held is not None:
        cands = held.nearest(repo_url, file_path, pool, include_isolated)
    else:
        cands = [(h.file_path, h.score, h.language, h.degree)
                 for h in vectors.similar(repo_url, file_path, pool, "repo", include_isolated)]
    if metadata is None:
        return cands, {"imports": {}, "imported_by": {}, "cochange": {}, "revisions": {},
                       "tests": set(), "shared_terms": {}, "terms": {}}
    signals = metadata.file_signals(repo_url, file_path, [c[0] for c in cands])
    if tied:  # what the learned ranker reads beyond the file's own ties
        from graph_jobs.relations.ranker_features import import_graph

        signals["import_graph"] = import_graph(metadata, repo_url, repo)
    if tied:
        seen = {c[0] for c in cands}
        wider = walked(file_path, signals)
        missing = list(dict.fromkeys(
            p for p in (*signals["cochange"], *signals["imports"], *signals["imported_by"],
                        *sorted(signals["tests"]), *signals.get("shared_terms", {}), *wider)
            if p not in seen and p != file_path))
        cands += (held.scores(repo_url, file_path, missing, include_isolated)
                  if held is not None else
                  [(h.file_path, h.score, h.language, h.degree)
                   for h in vectors.scores(repo_url, file_path, missing, include_isolated)])
    return cands, signals


# the candidates added beyond the vector pool and the exact ties (see :func:`walked`)
WIDER = {"ppr": 20, "cochange2": 20, "folder": 30}


def walked(file_path: str, signals: dict) -> list[str]:
    """Files the repository's graphs put near ``file_path`` though neither the vectors nor
    an exact tie did: the :data:`WIDER` ``["ppr"]`` first by personalized PageRank on the
    import graph, the ``["cochange2"]`` first by co-change two steps away, and up to
    ``["folder"]`` files of its folder. In a large repository a right answer can lie
    beyond the vector pool with no direct tie."""
    import numpy as np

    from graph_jobs.relations.ranker_features import query_walks

    graph = signals.get("import_graph")
    if graph is None or file_path not in graph.index:
        return []
    names = list(graph.index)
    ppr, cc2 = query_walks(graph, file_path, signals)
    out = []
    for v, k in ((ppr, WIDER["ppr"]), (cc2, WIDER["cochange2"])):
        if k <= 0 or not len(v):
            continue
        top = np.argsort(-v, kind="stable")[:k + 1]
        out += [names[i] for i in top.tolist() if v[i] > 0 and names[i] != file_path][:k]
    if WIDER["folder"] > 0:
        out += [p for p in graph.folder_files(posixpath.dirname(file_path))
                if p != file_path][:WIDER["folder"]]
    return out


def related_files(vectors, metadata, repo_url: str, file_path: str, k: int = 10, *,
                  pool: int = 100, include_isolated: bool = False, rerank: bool = True,
                  weights: RerankWeights | None = None, model="default") -> list[Related]:
    """The ``k`` files most related to ``file_path`` in ``repo_url`` (see the module doc):
    with ``rerank``, ordered by the learned ranker when its model is there, else by the
    hand weights (:func:`rank_related`).

    Raises :class:`~graph_jobs.errors.NotFound` when the file has no vector.
    """
    cands, signals = candidates(vectors, metadata, repo_url, file_path, max(k, pool),
                                include_isolated=include_isolated, tied=rerank)
    return rank_related(file_path, cands, signals, weights, rerank=rerank, repo_url=repo_url,
                        k=k, model=model)
