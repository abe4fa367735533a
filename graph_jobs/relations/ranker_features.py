"""The features the learned ranker reads, per (query, candidate) pair: one function for
training, the bench and ``similar`` (no train/serve skew).

Every signal the stores already keep, for the candidates :func:`related_files.candidates`
returns (the ``pool`` nearest vectors and every file with an exact tie):

- the vector: its cosine, and the candidate's rank in the vector order;
- co-change: the confidence :class:`RerankWeights` reads, the plain and decayed number of
  commits together, the days from the last one to the history's reference time;
- words: the TF-IDF cosine of their identifier words (``shared_terms``);
- imports: either way (direct), the directed import distance both ways (steps, capped),
  personalized PageRank from the query on the import graph and the candidate's PageRank;
- the tree: same folder, folder distance, package distance, same file extension;
- a test/source pair;
- the candidate's own churn (commits, decayed activity relative to the busiest file) and
  degree; the query's churn, degree and number of co-change partners; the repository's
  size; the hand-weighted score of :class:`RerankWeights` itself;
- (version 2) the repository's history, read with the import graph: days since the
  candidate and the query last changed, the share of files changed more recently than
  the candidate, its number of co-change partners, co-change two steps away
  (:meth:`ImportGraph.cochange2`); and each signal's rank among the candidates (words,
  coupling, PageRank, folder, co-change two steps, last change, activity) and the
  reciprocal rank fusion (k = 60) of the first four;
- (version 3) the words of the two paths: TF-IDF cosine of the words of their folders and
  file names (split at ``_ - .``, digits and case; idf over the repository's files, a
  word of one file weighs nothing): ``http/cookies.py`` and ``tests/test_cookies.py``.

Only numpy: the ingress ranks with it too. The import graph of a repository is read once
per stored job (:class:`ImportGraph`, cached in the process), so a ranking costs one
personalized PageRank and two bounded walks on top of what ``similar`` read before.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath

import numpy as np

from graph_jobs.relations.related_files import _steps  # folder steps between two paths

VERSION = 3  # of the features and candidates: a cached extraction made with another is redone
FEATURES = (
    "cosine", "vector_rank", "cochange_conf", "cochange_commits", "cochange_weight",
    "cochange_age_days", "words", "imports", "imported_by", "hops_out", "hops_in",
    "ppr", "pagerank", "same_folder", "tree_distance", "package_distance", "same_ext",
    "test_pair", "cand_commits", "cand_activity", "cand_degree", "query_commits",
    "query_activity", "query_degree", "query_partners", "files", "hand_score",
    # version 2: whole-repository history, and each signal's rank among the candidates
    "cand_age_days", "query_age_days", "cand_recency", "cand_partners", "cochange2",
    "words_rank", "cochange_rank", "ppr_rank", "folder_rank", "cochange2_rank",
    "age_rank", "activity_rank", "rrf",
    # version 3: the words of the two paths
    "path_words",
)
MAX_HOPS = 4  # import distance beyond this (or none) reads MAX_HOPS + 1
NO_COCHANGE_DAYS = 20_000.0  # the age of a co-change that never happened
DAY = 86_400.0


@dataclass(slots=True)
class ImportGraph:
    """A repository's files and import edges, as arrays (numpy only)."""

    index: dict[str, int]
    degree: np.ndarray  # the stored degree of each file
    out_ptr: np.ndarray  # CSR of the directed imports (source -> target)
    out_idx: np.ndarray
    in_ptr: np.ndarray  # CSR of the reverse
    in_idx: np.ndarray
    src: np.ndarray  # undirected edge list (both ways), for PageRank
    dst: np.ndarray
    und_deg: np.ndarray
    pagerank: np.ndarray  # global PageRank on the undirected import graph
    # the history (:meth:`build`'s ``history`` and ``cochange``; zeros and empty without)
    last_time: np.ndarray | None = None  # each file's last commit (unix seconds; 0: none)
    weight: np.ndarray | None = None  # each file's decayed commits
    cc_ptr: np.ndarray | None = None  # CSR of the co-change pairs (both ways)
    cc_idx: np.ndarray | None = None
    cc_w: np.ndarray | None = None  # the pair's decayed commits together
    folders: dict[str, list[str]] | None = None  # folder -> its files (folder_files)
    path_vectors: dict[str, dict[str, float]] | None = None  # (path_words)

    @classmethod
    def build(cls, files: list[tuple[str, int]], edges: list[tuple[str, str]],
              history: list[tuple] = (), cochange: list[tuple] = ()) -> ImportGraph:
        """``files`` ``[(path, degree)]``, ``edges`` ``[(source, target)]``; ``history``
        ``[(path, commits, weight, last_time)]`` and ``cochange`` ``[(a, b, commits,
        weight)]`` as :meth:`MetadataStore.repository_history` returns them."""
        index = {p: i for i, (p, _d) in enumerate(files)}
        n = len(index)
        degree = np.array([d or 0 for _p, d in files], dtype=np.float64)
        pairs = {(index[a], index[b]) for a, b in edges
                 if a in index and b in index and a != b}
        s = np.array([a for a, _ in pairs], dtype=np.int64)
        t = np.array([b for _, b in pairs], dtype=np.int64)
        out_ptr, out_idx = _csr(s, t, n)
        in_ptr, in_idx = _csr(t, s, n)
        und = {(a, b) for a, b in pairs} | {(b, a) for a, b in pairs}
        src = np.array([a for a, _ in und], dtype=np.int64)
        dst = np.array([b for _, b in und], dtype=np.int64)
        und_deg = np.bincount(src, minlength=n).astype(np.float64)
        g = cls(index, degree, out_ptr, out_idx, in_ptr, in_idx, src, dst, und_deg,
                np.zeros(n))
        g.pagerank = g.ppr(None)
        g.last_time, g.weight = np.zeros(n), np.zeros(n)
        for path, _c, w, last in history:
            i = index.get(path)
            if i is not None:
                g.weight[i], g.last_time[i] = float(w or 0.0), float(last or 0)
        a, b, cw = [], [], []
        for pa, pb, _c, w in cochange:
            i, j = index.get(pa), index.get(pb)
            if i is not None and j is not None and i != j:
                a += (i, j)
                b += (j, i)
                cw += (float(w or 0.0),) * 2
        a_, b_, w_ = (np.array(a, dtype=np.int64), np.array(b, dtype=np.int64),
                      np.array(cw, dtype=np.float64))
        order = np.lexsort((b_, a_))
        g.cc_ptr = np.concatenate(([0], np.cumsum(np.bincount(a_, minlength=n)))).astype(
            np.int64)
        g.cc_idx, g.cc_w = b_[order], w_[order]
        return g

    def folder_files(self, folder: str) -> list[str]:
        """The files directly in ``folder``, in the graph's order (a map built once)."""
        if self.folders is None:
            import posixpath

            folders: dict[str, list[str]] = {}
            for p in self.index:
                folders.setdefault(posixpath.dirname(p), []).append(p)
            self.folders = folders
        return self.folders.get(folder, [])

    def path_words(self, query: str, paths: list[str]) -> np.ndarray:
        """The TF-IDF cosine of the words of ``query``'s path with each of ``paths``'
        (:func:`path_word_counts`; idf over the graph's files, built once)."""
        if self.path_vectors is None:
            self.path_vectors = _path_vectors(list(self.index))
        q = self.path_vectors.get(query)
        out = np.zeros(len(paths))
        if not q:
            return out
        for i, p in enumerate(paths):
            c = self.path_vectors.get(p)
            if c:
                out[i] = sum(w * c[t] for t, w in q.items() if t in c)
        return out

    def cochange2(self, query: str, prior: float = 1.0) -> np.ndarray:
        """Co-change two steps away: ``sum_p conf(query, p) * conf(p, c)`` over the query's
        co-change partners ``p``, ``conf(a, b)`` = decayed commits together / (``a``'s
        decayed commits + ``prior``) (the confidence :class:`RerankWeights` reads)."""
        n = len(self.index)
        out = np.zeros(n)
        qi = self.index.get(query)
        if qi is None or self.cc_ptr is None:
            return out
        lo, hi = self.cc_ptr[qi], self.cc_ptr[qi + 1]
        for p, w in zip(self.cc_idx[lo:hi].tolist(), self.cc_w[lo:hi].tolist(), strict=True):
            c1 = min(1.0, w / (self.weight[qi] + prior))
            plo, phi = self.cc_ptr[p], self.cc_ptr[p + 1]
            np.add.at(out, self.cc_idx[plo:phi],
                      c1 * np.minimum(1.0, self.cc_w[plo:phi] / (self.weight[p] + prior)))
        out[qi] = 0.0
        return out

    def ppr(self, query: str | None, alpha: float = 0.85, iters: int = 40) -> np.ndarray:
        """(Personalized) PageRank on the undirected import graph; ``query=None``: the
        global one. Dangling mass returns to the personalization, as in networkx."""
        n = len(self.index)
        if n == 0:
            return np.zeros(0)
        if query is None:
            e = np.full(n, 1.0 / n)
        else:
            e = np.zeros(n)
            e[self.index[query]] = 1.0
        r = e.copy()
        dangling = self.und_deg == 0
        inv = np.where(dangling, 0.0, 1.0 / np.maximum(self.und_deg, 1.0))
        for _ in range(iters):
            moved = np.bincount(self.dst, weights=(r * inv)[self.src], minlength=n)
            nr = alpha * (moved + r[dangling].sum() * e) + (1 - alpha) * e
            if np.abs(nr - r).sum() < 1e-9:
                r = nr
                break
            r = nr
        return r

    def hops(self, query: str, forward: bool) -> dict[int, int]:
        """Import steps from ``query`` (``forward``: what it imports, transitively) or to
        it (what imports it), up to :data:`MAX_HOPS`."""
        ptr, idx = (self.out_ptr, self.out_idx) if forward else (self.in_ptr, self.in_idx)
        start = self.index[query]
        seen = {start: 0}
        frontier = [start]
        for step in range(1, MAX_HOPS + 1):
            nxt = []
            for u in frontier:
                for v in idx[ptr[u]:ptr[u + 1]].tolist():
                    if v not in seen:
                        seen[v] = step
                        nxt.append(v)
            if not nxt:
                break
            frontier = nxt
        return seen


_PATH_SPLIT = re.compile(r"[_\-.\s]+")
_PATH_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")


def path_word_counts(path: str) -> dict[str, int]:
    """The words of a path's folders and file name (its suffix left out), split at
    ``_ - .``, digits and case, lower-cased, two letters or more."""
    p = PurePosixPath(path)
    out: dict[str, int] = {}
    for part in (*p.parts[:-1], p.name.split(".", 1)[0]):
        for piece in _PATH_SPLIT.split(part):
            for w in _PATH_WORD.findall(piece):
                if len(w) >= 2:
                    w = w.lower()
                    out[w] = out.get(w, 0) + 1
    return out


def _path_vectors(paths: list[str]) -> dict[str, dict[str, float]]:
    """Unit TF-IDF vectors of the paths' words (sublinear tf; a word of one path, or of
    every path, weighs nothing)."""
    counts = {p: path_word_counts(p) for p in paths}
    df: dict[str, int] = {}
    for c in counts.values():
        for w in c:
            df[w] = df.get(w, 0) + 1
    n = len(paths)
    out = {}
    for p, c in counts.items():
        v = {w: (1.0 + math.log(k)) * math.log(n / df[w]) for w, k in c.items()
             if df[w] >= 2}
        norm = math.sqrt(sum(x * x for x in v.values()))
        out[p] = {w: x / norm for w, x in v.items() if x > 0} if norm > 0 else {}
    return out


def _csr(s: np.ndarray, t: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((t, s))
    ptr = np.concatenate(([0], np.cumsum(np.bincount(s, minlength=n)))).astype(np.int64)
    return ptr, t[order]


_GRAPHS: dict[tuple[str, str, str], ImportGraph] = {}
_LOCK = threading.Lock()


def import_graph(metadata, repo_url: str, repo: dict | None = None) -> ImportGraph | None:
    """The stored import graph of ``repo_url`` and its history (every file's last commit
    and decayed commits, every co-change pair), read once per stored job (the cache key
    holds the job that wrote it, so a re-ingest is read again). ``repo``: its stored row,
    when the caller has read it already."""
    if metadata is None:
        return None
    repo = repo if repo is not None else metadata.repository(repo_url)
    if repo is None:
        return None
    key = (str(getattr(metadata, "url", id(metadata))), repo_url,
           f"{repo.get('last_job_id')}:{repo.get('updated_at')}")
    with _LOCK:
        got = _GRAPHS.get(key)
    if got is not None:
        return got
    files = [(f["path"], f["degree"]) for f in metadata.repository_files(repo_url)]
    edges = [(e["source_path"], e["target_path"]) for e in metadata.repository_edges(repo_url)]
    read = getattr(metadata, "repository_history", None)
    history, pairs = read(repo_url) if read is not None else ([], [])
    graph = ImportGraph.build(files, edges, history, pairs)
    with _LOCK:
        for k in [k for k in _GRAPHS if k[:2] == key[:2]]:
            del _GRAPHS[k]
        if len(_GRAPHS) >= 8:
            _GRAPHS.pop(next(iter(_GRAPHS)))
        _GRAPHS[key] = graph
    return graph


@lru_cache(maxsize=1 << 16)
def _path(path: str) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """A path's folders, its logical folders (``package_distance``) and its suffix; the
    same values as :class:`PurePosixPath` gives, computed once per path."""
    from graph_jobs.relations.tests_and_sources import logical_folder

    p = PurePosixPath(path)
    return p.parts[:-1], tuple(logical_folder(path)), p.suffix


def hand_score(query: str, path: str, cos: float, signals: dict, w) -> float:
    """The hand-weighted score (:class:`RerankWeights`): the fallback's order."""
    from graph_jobs.relations.related_files import cochange_confidence

    qp, cp = _path(query), _path(path)
    score = cos
    score += w.cochange * cochange_confidence(query, path, signals, w.prior)
    if path in signals["imports"] or path in signals["imported_by"]:
        score += w.imports
    if path in signals["tests"]:
        score += w.test
    if cp[0] == qp[0]:
        score += w.folder
    score -= w.distance * _steps(qp[1], cp[1])
    score += w.terms * signals.get("shared_terms", {}).get(path, 0.0)
    busiest = signals.get("max_revision_weight") or 0.0
    if busiest > 0:
        score += w.activity * signals["revisions"].get(path, (0, 0.0))[1] / busiest
    return score


def pair_features(query: str, candidates: list[tuple[str, float, str, int]], signals: dict,
                  graph: ImportGraph | None, weights=None) -> np.ndarray:
    """``len(candidates) x len(FEATURES)`` float64 (see the module doc); ``candidates`` as
    :func:`related_files.candidates` returns them (the query itself excluded by the
    caller)."""
    from graph_jobs.relations.related_files import RerankWeights, cochange_confidence

    w = weights or RerankWeights()
    n = len(candidates)
    x = np.zeros((n, len(FEATURES)), dtype=np.float64)
    if n == 0:
        return x
    busiest = signals.get("max_revision_weight") or 0.0
    ref = signals.get("history_time") or 0
    revs = signals["revisions"]
    q_rev = revs.get(query, (0, 0.0))
    qp = _path(query)
    if graph is not None and query in graph.index:
        ppr, cc2 = query_walks(graph, query, signals, w.prior)
        out_h, in_h = graph.hops(query, True), graph.hops(query, False)
        q_deg = float(graph.degree[graph.index[query]])
        n_files = len(graph.index)
    else:
        ppr, cc2, out_h, in_h, q_deg = None, None, {}, {}, 0.0
        n_files = graph and len(graph.index) or n + 1
    order = sorted(range(n), key=lambda i: -candidates[i][1])
    vrank = np.empty(n)
    vrank[order] = np.arange(n)
    q_partners = math.log1p(len(signals["cochange"]))
    shared = signals.get("shared_terms", {})
    for i, (path, cos, _lang, degree) in enumerate(candidates):
        cc = signals["cochange"].get(path)
        rev = revs.get(path, (0, 0.0))
        gi = graph.index.get(path) if graph is not None else None
        cp = _path(path)
        x[i] = (
            cos,
            math.log1p(vrank[i]),
            cochange_confidence(query, path, signals, w.prior),
            math.log1p(cc[0]) if cc else 0.0,
            cc[1] if cc else 0.0,
            max(0.0, (ref - cc[2]) / DAY) if cc and ref else NO_COCHANGE_DAYS,
            shared.get(path, 0.0),
            1.0 if path in signals["imports"] else 0.0,
            1.0 if path in signals["imported_by"] else 0.0,
            out_h.get(gi, MAX_HOPS + 1) if gi is not None else MAX_HOPS + 1,
            in_h.get(gi, MAX_HOPS + 1) if gi is not None else MAX_HOPS + 1,
            ppr[gi] * n_files if ppr is not None and gi is not None else 0.0,
            graph.pagerank[gi] * n_files if gi is not None else 0.0,
            1.0 if cp[0] == qp[0] else 0.0,
            _steps(qp[0], cp[0]),
            _steps(qp[1], cp[1]),
            1.0 if cp[2] == qp[2] else 0.0,
            1.0 if path in signals["tests"] else 0.0,
            math.log1p(rev[0]),
            rev[1] / busiest if busiest > 0 else 0.0,
            math.log1p(float(graph.degree[gi]) if gi is not None else float(degree or 0)),
            math.log1p(q_rev[0]),
            q_rev[1] / busiest if busiest > 0 else 0.0,
            math.log1p(q_deg),
            q_partners,
            math.log(max(n_files, 1)),
            hand_score(query, path, cos, signals, w),
            *_NONE,
        )
    _history_columns(x, query, candidates, graph, cc2, ref)
    if graph is not None:
        x[:, _COL["path_words"]] = graph.path_words(query, [c[0] for c in candidates])
    return x


_FIRST_V2 = FEATURES.index("cand_age_days")
_NONE = (0.0,) * (len(FEATURES) - _FIRST_V2)
_COL = {f: i for i, f in enumerate(FEATURES)}
RRF_K = 60  # the rrf baseline's constant


def query_walks(graph: ImportGraph, query: str, signals: dict, prior: float = 1.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Personalized PageRank from ``query`` and its co-change two steps away
    (:meth:`ImportGraph.cochange2`), computed once per question (kept in ``signals``:
    :func:`related_files.candidates` reads them too)."""
    got = signals.get("_walks")
    if got is None or got[0] != query:
        got = (query, graph.ppr(query), graph.cochange2(query, prior))
        signals["_walks"] = got
    return got[1], got[2]


def _rank(v: np.ndarray, present: np.ndarray, descending: bool = True) -> np.ndarray:
    """Each value's competition rank among the ``present`` ones (0: the best; a tie shares
    the better rank); an absent one ranks after every present one."""
    vp = np.sort(v[present])
    r = (len(vp) - np.searchsorted(vp, v, "right")) if descending else np.searchsorted(vp, v, "left")
    return np.where(present, r, len(vp)).astype(np.float64)


def _history_columns(x: np.ndarray, query: str, candidates: list, graph: ImportGraph | None,
                     cc2: np.ndarray | None, ref: float) -> None:
    """The version-2 columns of ``x``: recency and co-change two steps away from the
    repository's history, and each signal's rank among the candidates, and their
    reciprocal rank fusion."""
    n = len(candidates)
    c = _COL
    gi = np.array([graph.index.get(p, -1) if graph is not None else -1
                   for p, *_ in candidates], dtype=np.int64)
    known = gi >= 0
    has_hist = graph is not None and graph.last_time is not None and len(graph.index) > 0
    if has_hist:
        lt = np.where(known, graph.last_time[np.maximum(gi, 0)], 0.0)
        changed = lt > 0
        if ref:
            x[:, c["cand_age_days"]] = np.where(changed, np.maximum(0.0, (ref - lt) / DAY),
                                                NO_COCHANGE_DAYS)
            qi = graph.index.get(query)
            q_lt = graph.last_time[qi] if qi is not None else 0.0
            x[:, c["query_age_days"]] = (max(0.0, (ref - q_lt) / DAY) if q_lt > 0
                                         else NO_COCHANGE_DAYS)
        else:
            x[:, c["cand_age_days"]] = NO_COCHANGE_DAYS
            x[:, c["query_age_days"]] = NO_COCHANGE_DAYS
        times = np.sort(graph.last_time)
        later = len(times) - np.searchsorted(times, lt, "right")
        x[:, c["cand_recency"]] = np.where(changed, later / len(times), 1.0)
        deg = np.diff(graph.cc_ptr)
        x[:, c["cand_partners"]] = np.log1p(np.where(known, deg[np.maximum(gi, 0)], 0))
        if cc2 is not None:
            x[:, c["cochange2"]] = np.where(known, cc2[np.maximum(gi, 0)], 0.0)
        x[:, c["age_rank"]] = np.log1p(_rank(lt, changed))
    else:
        x[:, c["cand_age_days"]] = NO_COCHANGE_DAYS
        x[:, c["query_age_days"]] = NO_COCHANGE_DAYS
        x[:, c["cand_recency"]] = 1.0
        x[:, c["age_rank"]] = 0.0
    if n == 0:
        return
    rrf = np.zeros(n)
    for col, name, desc in (("words", "words_rank", True),
                            ("cochange_weight", "cochange_rank", True),
                            ("ppr", "ppr_rank", True),
                            ("tree_distance", "folder_rank", False),
                            ("cochange2", "cochange2_rank", True),
                            ("cand_activity", "activity_rank", True)):
        v = x[:, c[col]]
        present = v > 0 if desc else np.ones(n, dtype=bool)
        r = _rank(v, present, desc)
        x[:, c[name]] = np.log1p(r)
        if name in ("words_rank", "cochange_rank", "ppr_rank", "folder_rank"):
            rrf += np.where(present, 1.0 / (RRF_K + r + 1), 0.0)
    x[:, c["rrf"]] = rrf * 100.0
