"""A file's structural role: features that mean the same in every repository (issue 14).

Node2Vec places each repository's graph in its own arbitrary rotation, so the cosine of
two repositories' Node2Vec vectors means nothing. The role vector is built from what
keeps its meaning from one repository to the next, and never from a file's name:

- degree: in (imported by), out (imports), as percentiles within the repository and as
  log counts; the share of a file's edges that point in; PageRank as a percentile;
- position: depth from the entry points (files nothing imports) and height above the
  leaves, each over the repository's longest;
- the folder tree, without names: the share of importers from other folders, the share
  of what it imports that lies in its own folder or below, its folder's size;
- kind: the share of importers that are tests, and whether it is a test itself;
- random walks on the undirected graph: the probability of being back after 2, 3 and 4
  steps (how tightly the file sits in its neighbourhood). Exact when the graph has at
  most :data:`MAX_TWO_STEP_WALKS` walks of two steps; above that (a file imported by
  tens of thousands, whose two-step matrix would hold billions of entries) the 3- and
  4-step ones are estimated from :data:`RETURN_WALKS` seeded walks per file;
- ReFeX-style aggregates: the mean in- and out-degree percentile of what imports it and
  of what it imports;
- language (one-hot by family);
- what the file declares (issue 30; :mod:`graph_jobs.graph.extract.declarations`, read
  in the same parse as its imports), normalised within its repository: exception
  classes, records, enums, interfaces, type aliases, constants, functions, methods,
  settings read from the environment, re-exports, tests declared: each as a log count,
  as its share of the repository's largest, and as its share of the file's top-level
  declarations; the lines inside functions over the file's; a main guard, a CLI
  framework, a settings library, a test framework imported by a file that declares no
  test; the file's size as a percentile; the words of the names it declares (an
  error's, a config's, a CLI's...: identifiers inside the file, never its own name). Whether a file is a test is read from what it
  declares (tests), not from its name.

Each raw feature lies in [0, 1] (:func:`raw_features`). The role vector is a learned
linear map of them (:data:`DIM` numbers; :mod:`graph_jobs.roles.role_weights`, trained
across public repositories by ``bench/train_role_weights.py``), compared by Euclidean
distance. No feature reads a file's name or path words: the folder features compare
folders for equality only, and the language comes from the file's extension. Files
with no edge at all keep their kind, language, folder and declaration features.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import PurePosixPath

import numpy as np

from graph_jobs.languages import FAMILY

FAMILIES = tuple(dict.fromkeys(FAMILY.values()))  # the registry's: python, js, go, ...
# the kinds of declared names (graph_jobs.graph.extract.declarations.NAME_WORDS; not
# imported from there, which loads the parser: the ingress reads DIM without one)
NAME_KINDS = ("error", "config", "util", "cli", "version", "types", "test")
STRUCTURE = (
    "in_pct", "out_pct", "in_log", "out_log", "in_share", "pagerank_pct",
    "depth", "height", "importers_elsewhere", "imports_below", "folder_size",
    "test_importers", "is_test", "return2", "return3", "return4",
    "importers_in_pct", "importers_out_pct", "imports_in_pct", "imports_out_pct",
    "isolated", *(f"lang_{f}" for f in FAMILIES),
)
# declaration counts that become three features each: log count, share of the
# repository's largest, share of the file's top-level statements
COUNTED = ("exceptions", "records", "enums", "interfaces", "aliases", "types", "constants",
           "functions", "methods", "env", "reexports", "tests", "imports")
DECLARED = (
    *(f"{c}_{how}" for c in COUNTED for how in ("log", "repo", "file")),
    "function_share", "main", "cli", "settings", "test_support", "test_imports",
    "size_pct", "size_log", "statements_pct", "no_declarations", "names_log",
    *(f"named_{k}_{how}" for k in NAME_KINDS for how in ("log", "share")),
)
FEATURES = (*STRUCTURE, *DECLARED)
RAW_DIM = len(FEATURES)
DIM = 27  # the stored role vector's length (the learned map's rows; Qdrant's "role" size)
# issue 14's hand weights of the structural features: the bench's "role14" baseline
WEIGHTS = {"in_pct": 1.0, "out_pct": 1.0, "in_log": 0.5, "out_log": 0.5, "in_share": 1.0,
           "pagerank_pct": 0.5, "depth": 0.5, "height": 0.5, "importers_elsewhere": 0.75,
           "imports_below": 0.75, "folder_size": 0.25, "test_importers": 1.0,
           "is_test": 1.0, "return2": 0.5, "return3": 0.5, "return4": 0.5,
           "importers_in_pct": 0.5, "importers_out_pct": 0.5, "imports_in_pct": 0.5,
           "imports_out_pct": 0.5, "isolated": 0.5}
_W = np.array([WEIGHTS.get(f, 0.5) for f in STRUCTURE], dtype=np.float32)
MAX_TWO_STEP_WALKS = 20_000_000  # sum of squared degrees: the two-step matrix's size bound
RETURN_WALKS = 256
_WALK_CHUNK = 1 << 22  # walkers at a time (32 MB of int64)


def _pct(x: np.ndarray) -> np.ndarray:
    """Percentile rank in [0, 1] (ties share their mean rank); 0 for an empty array."""
    n = len(x)
    if n <= 1:
        return np.zeros(n)
    # average ranks of ties, as scipy.stats.rankdata(method="average"), whose import
    # alone (scipy.stats) cost 1.5 s of every job
    x = np.asarray(x)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], n]
    mean_rank = (starts + ends - 1) / 2.0  # 0-based mean position of each run of ties
    ranks = np.empty(n)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks / (n - 1)


def _levels(n: int, adj: list[list[int]], starts: list[int]) -> np.ndarray:
    """BFS distance from ``starts`` along ``adj``; -1 where unreachable."""
    dist = np.full(n, -1, dtype=np.int64)
    frontier = list(starts)
    for s in frontier:
        dist[s] = 0
    while frontier:
        nxt = []
        for u in frontier:
            for v in adj[u]:
                if dist[v] < 0:
                    dist[v] = dist[u] + 1
                    nxt.append(v)
        frontier = nxt
    return dist


def _return_probabilities(u, deg: np.ndarray) -> tuple[np.ndarray, ...]:
    """The probability that a random walk on ``u`` (symmetric CSR, 0/1) is back where it
    started after 2, 3 and 4 steps: exact, or the last two estimated (module docstring)."""
    import scipy.sparse as sp

    n = u.shape[0]
    p = sp.diags(np.divide(1.0, deg, out=np.zeros(n), where=deg > 0)) @ u
    r2 = np.asarray(p.multiply(p.T).sum(1)).ravel()
    if float(np.square(deg).sum()) <= MAX_TWO_STEP_WALKS:
        p2 = p @ p
        return (r2, np.asarray(p2.multiply(p.T).sum(1)).ravel(),
                np.asarray(p2.multiply(p2.T).sum(1)).ravel())
    indptr, indices = u.indptr, u.indices
    deg_i = np.diff(indptr)
    rng = np.random.default_rng(0)
    back = np.zeros((2, n))
    starts = np.flatnonzero(deg_i > 0)
    per = max(1, _WALK_CHUNK // RETURN_WALKS)
    for lo in range(0, len(starts), per):
        origin = np.repeat(starts[lo:lo + per], RETURN_WALKS)
        cur = origin
        for step in range(1, 5):
            cur = indices[indptr[cur] + (rng.random(len(cur)) * deg_i[cur]).astype(np.int64)]
            if step >= 3:
                back[step - 3] += np.bincount(origin[cur == origin], minlength=n)
    return r2, back[0] / RETURN_WALKS, back[1] / RETURN_WALKS


def role_vectors(paths: list[str], languages: list[str], edges: list[tuple[int, int]],
                 tests: list[bool] | None = None,
                 check: Callable[[], None] | None = None,
                 declarations: list[dict[str, int]] | None = None) -> np.ndarray:
    """``(len(paths), DIM)`` role vectors: the learned map
    (:func:`graph_jobs.roles.role_weights.project`) of :func:`raw_features`."""
    from graph_jobs.roles.role_weights import project

    return project(raw_features(paths, languages, edges, tests, check, declarations))


def declared_features(declarations: list[dict[str, int]]) -> np.ndarray:
    """``(n, len(DECLARED))``: what each file declares, normalised within the repository
    (the rows are one repository's files)."""
    n = len(declarations)
    col = {f: i for i, f in enumerate(DECLARED)}
    f = np.zeros((n, len(DECLARED)))
    if n == 0:
        return f

    def get(key: str) -> np.ndarray:
        return np.array([float(d.get(key, 0)) for d in declarations])

    statements = np.maximum(get("statements"), 1.0)
    for c in COUNTED:
        x = get(c)
        f[:, col[f"{c}_log"]] = np.minimum(1.0, np.log1p(x) / np.log1p(50))
        f[:, col[f"{c}_repo"]] = x / max(1.0, float(x.max()))
        f[:, col[f"{c}_file"]] = np.minimum(1.0, x / statements)
    size = get("lines")
    f[:, col["function_share"]] = np.divide(get("function_lines"), size,
                                            out=np.zeros(n), where=size > 0).clip(0, 1)
    f[:, col["main"]] = get("main") > 0
    f[:, col["cli"]] = get("cli") > 0
    f[:, col["settings"]] = (get("settings") > 0) | (get("env") > 0)
    tests = get("tests") > 0
    f[:, col["test_imports"]] = get("test_imports") > 0
    f[:, col["test_support"]] = (get("test_imports") > 0) & ~tests
    f[:, col["size_pct"]] = _pct(size)
    f[:, col["size_log"]] = np.minimum(1.0, np.log1p(size) / np.log1p(20_000))
    f[:, col["statements_pct"]] = _pct(get("statements"))
    names = get("names")
    f[:, col["names_log"]] = np.minimum(1.0, np.log1p(names) / np.log1p(100))
    for k in NAME_KINDS:
        x = get(f"named_{k}")
        f[:, col[f"named_{k}_log"]] = np.minimum(1.0, np.log1p(x) / np.log1p(20))
        f[:, col[f"named_{k}_share"]] = np.divide(x, names, out=np.zeros(n), where=names > 0)
    f[:, col["no_declarations"]] = np.array([not any(d.get(k) for k in COUNTED if k != "imports")
                                             for d in declarations])
    return f


def raw_features(paths: list[str], languages: list[str], edges: list[tuple[int, int]],
                 tests: list[bool] | None = None,
                 check: Callable[[], None] | None = None,
                 declarations: list[dict[str, int]] | None = None) -> np.ndarray:
    """``(len(paths), RAW_DIM)`` features in [0, 1] (:data:`FEATURES`); ``edges`` are
    ``(importer, imported)`` indices; ``declarations``, each file's counts
    (``DependencyGraph.declarations``; none: zeros). A file is a test when ``tests`` says
    so, else when it declares tests. ``check`` is called now and then (the job's deadline
    raises from it). ``paths`` are read for their folders' equality only."""
    n = len(paths)
    if declarations is None:
        declarations = [{} for _ in range(n)]
    if tests is None:
        tests = [d.get("tests", 0) > 0 for d in declarations]
    out = np.zeros((n, RAW_DIM), dtype=np.float32)
    if n == 0:
        return out
    out[:, :len(STRUCTURE)] = structural_features(paths, languages, edges, tests, check)
    out[:, len(STRUCTURE):] = declared_features(declarations)
    return out


def structural_features(paths: list[str], languages: list[str],
                        edges: list[tuple[int, int]], tests: list[bool],
                        check: Callable[[], None] | None = None) -> np.ndarray:
    """``(len(paths), len(STRUCTURE))``: issue 14's features, unweighted."""
    import scipy.sparse as sp

    n = len(paths)
    is_t = np.array(tests, dtype=bool)
    e = np.array(sorted({(a, b) for a, b in edges if a != b}), dtype=np.int64).reshape(-1, 2)
    indeg = np.bincount(e[:, 1], minlength=n).astype(float)
    outdeg = np.bincount(e[:, 0], minlength=n).astype(float)
    col = {f: i for i, f in enumerate(STRUCTURE)}
    f = np.zeros((n, len(STRUCTURE)))
    if n == 0:
        return f
    f[:, col["in_pct"]] = _pct(indeg)
    f[:, col["out_pct"]] = _pct(outdeg)
    f[:, col["in_log"]] = np.minimum(1.0, np.log1p(indeg) / np.log1p(200))
    f[:, col["out_log"]] = np.minimum(1.0, np.log1p(outdeg) / np.log1p(200))
    tot = indeg + outdeg
    f[:, col["in_share"]] = np.divide(indeg, tot, out=np.full(n, 0.5), where=tot > 0)
    f[:, col["isolated"]] = (tot == 0)
    f[:, col["is_test"]] = is_t

    importers: list[list[int]] = [[] for _ in range(n)]
    imports: list[list[int]] = [[] for _ in range(n)]
    for a, b in e:
        imports[a].append(int(b))
        importers[b].append(int(a))

    if len(e):
        # PageRank on the import graph (rank flows to what is imported)
        m = sp.csr_matrix((np.ones(len(e)), (e[:, 1], e[:, 0])), shape=(n, n))
        outw = np.maximum(outdeg, 1)
        pr = np.full(n, 1.0 / n)
        dangling = outdeg == 0
        for _ in range(50):
            pr = 0.15 / n + 0.85 * (m @ (pr / outw) + pr[dangling].sum() / n)
        f[:, col["pagerank_pct"]] = _pct(pr)
        # depth from the entry points, height above the leaves
        roots = [i for i in range(n) if indeg[i] == 0 and outdeg[i] > 0]
        depth = _levels(n, imports, roots)
        leaves = [i for i in range(n) if outdeg[i] == 0 and indeg[i] > 0]
        height = _levels(n, importers, leaves)
        for name, d in (("depth", depth), ("height", height)):
            mx = max(1, int(d.max()))
            f[:, col[name]] = np.where(d >= 0, d / mx, 0.0)
        # return probabilities of a random walk on the undirected graph
        u = sp.csr_matrix((np.ones(2 * len(e)), (np.r_[e[:, 0], e[:, 1]],
                                                 np.r_[e[:, 1], e[:, 0]])), shape=(n, n))
        u.data[:] = 1.0
        deg = np.asarray(u.sum(1)).ravel()
        if check is not None:
            check()
        (f[:, col["return2"]], f[:, col["return3"]],
         f[:, col["return4"]]) = _return_probabilities(u, deg)

    folder = [str(PurePosixPath(p).parent) for p in paths]
    size = defaultdict(int)
    for d in folder:
        size[d] += 1
    for i in range(n):
        if check is not None and i % 5000 == 0:
            check()
        if importers[i]:
            f[i, col["importers_elsewhere"]] = np.mean([folder[j] != folder[i]
                                                        for j in importers[i]])
            f[i, col["test_importers"]] = np.mean([is_t[j] for j in importers[i]])
            f[i, col["importers_in_pct"]] = f[importers[i], col["in_pct"]].mean()
            f[i, col["importers_out_pct"]] = f[importers[i], col["out_pct"]].mean()
        if imports[i]:
            here = folder[i] if folder[i] != "." else ""
            f[i, col["imports_below"]] = np.mean([
                folder[j] == folder[i] or bool(here and folder[j].startswith(here + "/"))
                for j in imports[i]])
            f[i, col["imports_in_pct"]] = f[imports[i], col["in_pct"]].mean()
            f[i, col["imports_out_pct"]] = f[imports[i], col["out_pct"]].mean()
    f[:, col["folder_size"]] = _pct(np.array([size[d] for d in folder], dtype=float))
    for i, lang in enumerate(languages):
        fam = FAMILY.get(lang)
        if fam in FAMILIES:
            f[i, col[f"lang_{fam}"]] = 1.0
    return f.astype(np.float32)


def graph_raw_features(graph, check: Callable[[], None] | None = None) -> np.ndarray:
    """:func:`raw_features` of a :class:`~graph_jobs.models.DependencyGraph`'s files."""
    idx = {fl.path: i for i, fl in enumerate(graph.files)}
    edges = [(idx[e.source], idx[e.target]) for e in graph.edges
             if e.source in idx and e.target in idx]
    decls = getattr(graph, "declarations", None) or {}
    return raw_features([fl.path for fl in graph.files], [fl.language for fl in graph.files],
                        edges, check=check,
                        declarations=[decls.get(fl.path, {}) for fl in graph.files])


def graph_role_vectors(graph, check: Callable[[], None] | None = None) -> np.ndarray:
    """Role vectors of a :class:`~graph_jobs.models.DependencyGraph`'s files."""
    from graph_jobs.roles.role_weights import project

    return project(graph_raw_features(graph, check))
