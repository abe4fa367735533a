"""Related files, judged by each repository's own future.

    python bench/relevance_bench.py PATH [PATH ...] [--cut 0.7] [--model FILE]
        [--cache DIR] [--out results.json]

Each PATH is a local git repository with its history (a clone of a fetched snapshot).
For each one:

1. **Cut in time.** Its non-merge commits (first to last, date order) are cut at
   ``--cut`` (70%). The cut commit and its ancestors are the past; the non-merge commits
   not reachable from it (``git rev-list cut..HEAD``) are the future.
2. **A clone of the past only.** ``git init`` + ``git fetch PATH <cut sha>``: the clone
   holds the cut commit and its ancestors and no ref to anything later (the bench checks
   that no future commit is reachable in it). Everything (Pharos and the baselines:
   structure and history alike) is built from that clone.
3. **The truth.** The future commits of at most ``--max-future-files`` files (30; larger
   ones are noise), their files renamed back to the names at the cut, kept with at least
   two files of the graph at the cut.
4. **Three protocols**, each method ranking every other file for one question:
   - **pairs** (issue 13): two files of one future commit are related; a query is a file
     with at least two partners; precision@10 = hits / 10, recall@10 = hits / min(10,
     partners), MRR@10. The 1.15x target is read here.
   - **navigation** (ROSE, Zimmermann et al., ICSE 2004): each file of a future commit
     asks, the rest of that commit is the answer: hit@3 (a right file in the top 3),
     recall@10, MRR; its mean is over repositories of at least 50 files.
   - **prevention** (ROSE): a future commit minus one file asks, the missing file is the
     answer. ``similar`` answers on the first asking file alone (the first by path),
     ``impact`` (:mod:`graph_jobs.relations.change_impact`, when it is importable) on all
     of them; hit@3, recall@10 (= hit@10), MRR.
   Per repository and as a mean over repositories, with 95% bootstrap intervals over the
   queries (``--boot``; for the mean, queries resampled inside each repository). A
   repository whose future commits name more than 200 files asks a seeded sample of 200
   of them, in every protocol and for every method alike.

Methods, all in the same run:

- ``random``                 a seeded shuffle;
- ``ppr``                    personalized PageRank from the query on the import graph;
- ``folder``                 path distance in the tree (same folder first);
- ``coupling``               change coupling mined from the past commits (degree);
- ``coupling+ppr+folder``    coupling, then PageRank, then folder as tie-breakers;
- ``words``                  TF-IDF cosine of the files' identifier words: words split at
                             ``_``, digits and case changes (``graph_jobs.graph.extract.terms``),
                             sublinear tf ``1 + ln count``, idf ``ln(files / df)``;
- ``rrf``                    reciprocal rank fusion (k = 60) of coupling, words, ppr and
                             folder: each lists the files it gives a signal to (folder:
                             every file), ``sum 1 / (60 + rank)``;
- ``coupling+words``         coupling, then words;
- ``pharos``                 ``run_ingest`` on the cut clone (SQLite + local Qdrant),
                             then ``related_files`` with the learned ranker (``--model``,
                             default the shipped ``ranker_model.json``);
- ``pharos-hand``            the same candidates ranked by the hand weights
                             (``RerankWeights``: what ``similar`` does without the model);
- ``pharos-vector``          the same store, Qdrant's nearest neighbours alone.

The 1.15x target is against the best baseline, every one above but Pharos's own.

Everything a repository costs (clones, ingest, baseline rankings, each query's candidates
and their features) is kept under ``--cache`` (one pickle per repository and cut), so
another model is scored without computing anything again; ``bench/train_ranker.py``
reads the same cache for its leave-repositories-out folds. Ties in the baselines are
broken by a seeded shuffle, never by name.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graph_jobs.history.cochange import CoChange, mine  # noqa: E402
from graph_jobs.history.git_log import read_commits  # noqa: E402
from graph_jobs.relations.related_files import tree_distance  # noqa: E402

K = 10
RRF_K = 60
CACHE_VERSION = 1


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


# --- cutting a repository in time ---------------------------------------------------------
def cut_commit(repo: Path, fraction: float) -> tuple[str, int]:
    shas = git(repo, "rev-list", "--no-merges", "--date-order", "--reverse", "HEAD").split()
    if len(shas) < 4:
        raise SystemExit(f"{repo}: only {len(shas)} non-merge commits; it needs history")
    i = min(len(shas) - 1, max(0, int(len(shas) * fraction) - 1))
    return shas[i], len(shas)


def clone_at(repo: Path, sha: str, dest: Path) -> Path:
    """A clone holding ``sha`` and its ancestors only, checked out on branch main."""
    dest.mkdir(parents=True)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "fetch", "-q", "--no-tags",
        "--upload-pack", "git -c uploadpack.allowAnySHA1InWant=true upload-pack",
        str(repo.resolve()), sha)
    git(dest, "checkout", "-q", "-B", "main", sha)
    (dest / ".git" / "FETCH_HEAD").unlink(missing_ok=True)
    return dest


def reachable(clone: Path) -> set[str]:
    return set(git(clone, "rev-list", "--all").split())


def commit_sets(repo: Path, since: str, files: set[str], max_files: int) -> list[list[str]]:
    """The non-merge commits of ``since..HEAD`` in ``repo``, oldest first, each as the
    files of ``files`` it changed (names at ``since``: later renames followed back);
    commits of more than ``max_files`` files are left out, and so are those with fewer
    than two files of ``files``."""
    commits = read_commits(repo, since=since, exact_renames_only=False)  # newest first
    back: dict[str, str] = {}  # a later name -> its name at the cut
    out = []
    for c in reversed(commits):  # oldest first
        names = set()
        for status, path, old in c.changes:
            if status == "R" and old:
                back[path] = back.get(old, old)
            names.add(back.get(path, path))
        if len(names) > max_files:
            continue
        tracked = sorted(n for n in names if n in files)
        if len(tracked) >= 2:
            out.append(tracked)
    return out


def partners_of(commits: list[list[str]]) -> dict[str, set[str]]:
    partners: dict[str, set[str]] = defaultdict(set)
    for c in commits:
        for a in c:
            partners[a].update(b for b in c if b != a)
    return dict(partners)


def future_partners(repo: Path, cut: str, files: set[str], max_files: int
                    ) -> tuple[dict[str, set[str]], int]:
    """path at the cut -> files changed with it in a future commit (names at the cut)."""
    commits = commit_sets(repo, cut, files, max_files)
    return partners_of(commits), len(commits)


# --- baselines --------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    clone: Path
    files: list[str]
    import_edges: list[tuple[str, str]]
    history: CoChange
    truth: dict[str, set[str]]
    queries: list[str]
    info: dict = field(default_factory=dict)
    terms: dict[str, dict[str, int]] = field(default_factory=dict)  # path -> {word: count}
    commits: list[list[str]] = field(default_factory=list)  # the future, as commit_sets


def tfidf(files: list[str], terms: dict[str, dict[str, int]]) -> np.ndarray:
    """Unit rows of ``(1 + ln count) * ln(files / df)`` (words in one file or in every file
    weigh nothing), as ``shared_terms`` computes them: the ``words`` baseline."""
    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for i, f in enumerate(files):
        for w, c in terms.get(f, {}).items():
            rows.append(i)
            cols.append(vocab.setdefault(w, len(vocab)))
            vals.append(1.0 + np.log(c))
    x = np.zeros((len(files), max(1, len(vocab))), dtype=np.float32)
    x[rows, cols] = vals
    df = (x > 0).sum(0)
    idf = np.log(len(files) / np.maximum(df, 1))
    idf[df < 2] = 0.0
    x *= idf.astype(np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


class Baselines:
    def __init__(self, case: Case, seed: int = 0) -> None:
        from graph_jobs.relations.ranker_features import ImportGraph

        self.case = case
        self.seed = seed
        self.index = {f: i for i, f in enumerate(case.files)}
        self.graph = ImportGraph.build([(f, 0) for f in case.files], case.import_edges)
        self._ppr: dict[str, dict[str, float]] = {}
        x = tfidf(case.files, case.terms) if case.terms else None
        self.sims = x @ x.T if x is not None else None
        self.partners: dict[str, dict[str, float]] = defaultdict(dict)
        for (a, b) in case.history.pairs:
            d = case.history.degree(a, b)
            self.partners[a][b] = d
            self.partners[b][a] = d

    def _tiebreak(self, q: str) -> dict[str, float]:
        rng = random.Random(f"{self.seed}:{q}")
        return {f: rng.random() for f in self.case.files}

    def ppr(self, q: str) -> dict[str, float]:
        """Personalized PageRank on the undirected import graph (networkx's definition;
        ``ImportGraph.ppr``); nothing for a file without an import."""
        if q not in self._ppr:
            g = self.graph
            if g.und_deg[g.index[q]] == 0:
                self._ppr[q] = {}
            else:
                r = g.ppr(q)
                self._ppr[q] = {f: float(r[i]) for f, i in g.index.items() if r[i] > 0}
        return self._ppr[q]

    def words(self, q: str) -> dict[str, float]:
        if self.sims is None:
            return {}
        row = self.sims[self.index[q]]
        return {f: float(row[i]) for i, f in enumerate(self.case.files) if row[i] > 0}

    def rank(self, method: str, q: str, k: int = K) -> list[str]:
        others = [f for f in self.case.files if f != q]
        tb = self._tiebreak(q)
        if method == "random":
            key = {f: (tb[f],) for f in others}
        elif method == "ppr":
            pr = self.ppr(q)
            key = {f: (-pr.get(f, 0.0), tb[f]) for f in others}
        elif method == "folder":
            key = {f: (tree_distance(q, f), tb[f]) for f in others}
        elif method == "coupling":
            cp = self.partners.get(q, {})
            key = {f: (-cp.get(f, 0.0), tb[f]) for f in others}
        elif method == "coupling+ppr+folder":
            cp, pr = self.partners.get(q, {}), self.ppr(q)
            key = {f: (-cp.get(f, 0.0), -pr.get(f, 0.0), tree_distance(q, f), tb[f])
                   for f in others}
        elif method == "words":
            ws = self.words(q)
            key = {f: (-ws.get(f, 0.0), tb[f]) for f in others}
        elif method == "coupling+words":
            cp, ws = self.partners.get(q, {}), self.words(q)
            key = {f: (-cp.get(f, 0.0), -ws.get(f, 0.0), tb[f]) for f in others}
        elif method == "rrf":
            fused: dict[str, float] = defaultdict(float)
            for part in ("coupling", "words", "ppr", "folder"):
                scored = (others if part == "folder" else
                          [f for f in others if (self.partners.get(q, {}) if part == "coupling"
                                                 else self.words(q) if part == "words"
                                                 else self.ppr(q)).get(f, 0.0) > 0])
                if not scored:
                    continue
                for r, f in enumerate(self.rank(part, q, len(others))):
                    if r >= len(scored):
                        break
                    fused[f] += 1.0 / (RRF_K + r + 1)
            key = {f: (-fused.get(f, 0.0), tb[f]) for f in others}
        else:
            raise ValueError(method)
        return sorted(others, key=key.__getitem__)[:k]


# The baselines: the 1.15x target is against the best of these.
BASELINES = ["random", "ppr", "folder", "coupling", "coupling+ppr+folder", "words", "rrf",
             "coupling+words"]
EXTRA_BASELINES: list[str] = []  # kept for callers of the issue-13 layout
PHAROS = ["pharos", "pharos-hand", "pharos-vector"]


# --- one repository: the cut, the baselines, Pharos's candidates and features ------------
def prepare(path: Path, work: Path, fraction: float, max_future_files: int,
            clone: Path | None = None) -> Case:
    from graph_jobs.graph.file_words import read_words
    from graph_jobs.graph.graph_job import graph_for
    from pharos_cli.settings import Settings

    name = path.name
    cut, n_commits = cut_commit(path, fraction)
    if clone is None or not (clone / ".git").exists():
        clone = clone_at(path, cut, clone or work / f"{name}-cut")
    future = set(git(path, "rev-list", f"{cut}..HEAD").split())
    leaked = future & reachable(clone)
    if leaked:
        raise SystemExit(f"{name}: the cut clone reaches {len(leaked)} future commits")
    settings = Settings(_env_file=None, PHAROS_DATA_DIR=str(work / f"{name}-graph"))
    graph = graph_for(str(clone), settings, use_cache=False)
    files = [f.path for f in graph.files]
    fileset = set(files)
    history = mine(read_commits(clone, exact_renames_only=False, max_commits=2000), keep=fileset)
    commits = commit_sets(path, cut, fileset, max_future_files)
    truth = partners_of(commits)
    queries = sorted(q for q, ps in truth.items() if len(ps) >= 2)
    info = {"cut": cut[:12], "non_merge_commits": n_commits, "files": len(files),
            "future_commits_used": len(commits), "queries": len(queries),
            "future_commits": len(future)}
    terms = read_words(clone, graph.files)
    return Case(name, clone, files, [(e.source, e.target) for e in graph.edges], history,
                truth, queries, info, terms=terms, commits=commits)


def ingest(clone: Path, data_dir: Path, seed: int = 0):
    """``run_ingest`` of ``clone`` into ``data_dir`` (SQLite + local Qdrant), as
    ``pharos ingest`` does; returns the open stores and the job's result."""
    import dataclasses

    from graph_jobs.pipeline import Stores, run_ingest
    from graph_jobs.relations.walk_settings import RELATION_DEFAULTS
    from pharos_cli.settings import Settings

    settings = Settings(_env_file=None, PHAROS_DATA_DIR=str(data_dir))
    stores = Stores.open(settings)
    res = run_ingest(str(clone), settings, stores=stores,
                     params=dataclasses.replace(RELATION_DEFAULTS, seed=seed))
    if res.status != "complete":
        raise SystemExit(f"{clone}: ingest failed: {res.error}")
    return stores, res


def close(stores) -> None:
    from graph_jobs.stores.vector_store import close_local_clients

    close_local_clients()
    stores.metadata.dispose()


def candidate_features(stores, repo_url: str, queries: list[str]) -> dict:
    """``{query: (candidate paths, features)}``: what ``related_files`` ranks, through the
    same functions (``candidates``, ``ranker_features.pair_features``)."""
    from graph_jobs.errors import NotFound
    from graph_jobs.relations.ranker_features import import_graph, pair_features
    from graph_jobs.relations.related_files import candidates

    graph = import_graph(stores.metadata, repo_url)
    out = {}
    for q in queries:
        try:
            cands, signals = candidates(stores.vectors, stores.metadata, repo_url, q, 100)
        except (KeyError, NotFound):
            continue
        cands = [c for c in cands if c[0] != q]
        out[q] = ([c[0] for c in cands], pair_features(q, cands, signals, graph))
    return out


def refeaturize(store: str, repo_url: str, queries: list[str]) -> dict:
    """:func:`candidate_features` again from a kept store (the ingest is not redone): what
    a cached repository needs when the features' version changed."""
    from graph_jobs.pipeline import Stores
    from pharos_cli.settings import Settings

    stores = Stores.open(Settings(_env_file=None, PHAROS_DATA_DIR=store))
    try:
        return candidate_features(stores, repo_url, queries)
    finally:
        close(stores)


def features_version() -> int:
    from graph_jobs.relations.ranker_features import VERSION

    return VERSION


def cache_path(cache: Path, kind: str, name: str, sha: str) -> Path:
    return cache / f"v{CACHE_VERSION}-{kind}-{name}-{sha[:12]}.pkl"


MAX_ASKED = 200  # files asked per repository at most (a seeded sample; every protocol)


def sample_asked(files: list[str], cap: int, seed: str) -> list[str]:
    """At most ``cap`` of ``files`` (sorted), a sample seeded by ``seed``."""
    files = sorted(files)
    if len(files) <= cap:
        return files
    return sorted(random.Random(seed).sample(files, cap))


def extract(path: Path, cache: Path, fraction: float = 0.7, max_future_files: int = 30,
            max_asked: int = MAX_ASKED) -> dict:
    """Everything the bench needs of one repository cut at ``fraction``, cached. The files
    asked are those of the future commits, at most ``max_asked`` (a seeded sample): every
    protocol then asks only them, for every method alike."""
    cut, _ = cut_commit(path, fraction)
    out = cache_path(cache, "eval", path.name, cut)
    if out.exists():
        d = pickle.loads(out.read_bytes())
        if d.get("features_version") != features_version():  # the ingest is kept
            d["features"] = refeaturize(d["store"], d["repo_url"], d["asked"])
            d["features_version"] = features_version()
            out.write_bytes(pickle.dumps(d))
        return d
    t0 = time.perf_counter()
    work = cache / "work" / f"{path.name}-{cut[:12]}"
    if work.exists():
        subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    case = prepare(path, work, fraction, max_future_files, clone=work / "clone")
    every = sorted({f for c in case.commits for f in c})
    asked = sample_asked(every, max_asked, f"{case.name}:{cut}")
    case.info["asked"], case.info["asked_of"] = len(asked), len(every)
    base = Baselines(case)
    ranks = {m: {q: base.rank(m, q) for q in asked} for m in BASELINES}
    t1 = time.perf_counter()
    stores, res = ingest(case.clone, work / "store")
    feats = candidate_features(stores, res.repo_url, asked)
    close(stores)
    asked_set = set(asked)
    d = {"name": case.name, "cut": cut, "info": case.info, "files": case.files,
         "commits": case.commits, "asked": asked,
         "queries": [q for q in case.queries if q in asked_set], "ranks": ranks,
         "features": feats, "features_version": features_version(),
         "repo_url": res.repo_url, "store": str(work / "store"),
         "clone": str(case.clone), "seconds": {"baselines": t1 - t0,
                                               "pharos": time.perf_counter() - t1}}
    out.write_bytes(pickle.dumps(d))
    return d


# --- ranking from the cache ---------------------------------------------------------------
def top_k(d: dict, q: str, method: str, model=None) -> list[str]:
    from graph_jobs.relations.ranker_features import FEATURES

    if method in d["ranks"]:
        return d["ranks"][method].get(q, [])
    got = d["features"].get(q)
    if got is None:
        return []
    names, x = got
    if method == "pharos-vector":
        order = sorted(range(len(names)), key=lambda i: -x[i, FEATURES.index("cosine")])
        return [names[i] for i in order[:K]]
    score = (x[:, FEATURES.index("hand_score")] if method == "pharos-hand"
             else model.score(x))
    order = sorted(range(len(names)), key=lambda i: (-score[i], names[i]))
    return [names[i] for i in order[:K]]


def score(ranked: list[str], truth: set[str]) -> tuple[float, float, float, float]:
    """precision@10, recall@10 (hits / min(10, right answers)), MRR@10, hit@3."""
    top = ranked[:K]
    hits = sum(1 for f in top if f in truth)
    rr = next((1.0 / (i + 1) for i, f in enumerate(top) if f in truth), 0.0)
    return hits / K, hits / min(K, len(truth)), rr, float(any(f in truth for f in top[:3]))


def protocols(d: dict, methods: list[str], model=None, impact=None,
              max_prevention: int = 400, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Per protocol and method, the per-query scores (rows of :func:`score`)."""
    cache: dict[tuple[str, str], list[str]] = {}

    def ranked(m: str, q: str) -> list[str]:
        if (m, q) not in cache:
            cache[m, q] = top_k(d, q, m, model)
        return cache[m, q]

    truth = partners_of(d["commits"])
    asked = set(d.get("asked") or {f for c in d["commits"] for f in c})
    out: dict[str, dict[str, np.ndarray]] = {"pairs": {}, "navigation": {}, "prevention": {}}
    for m in methods:
        out["pairs"][m] = np.array([score(ranked(m, q), truth[q]) for q in d["queries"]]
                                   ).reshape(-1, 4)
        out["navigation"][m] = np.array(
            [score(ranked(m, q), set(c) - {q}) for c in d["commits"] for q in c
             if q in asked]).reshape(-1, 4)
    prevent = [(c, miss) for c in d["commits"] for miss in c
               if min(f for f in c if f != miss) in asked]
    if len(prevent) > max_prevention:
        rng = random.Random(seed)
        prevent = sorted(rng.sample(prevent, max_prevention), key=lambda t: (t[0], t[1]))
    for m in methods:
        out["prevention"][m] = np.array(
            [score(ranked(m, min(f for f in c if f != miss)), {miss}) for c, miss in prevent]
        ).reshape(-1, 4)
    if impact is not None:
        out["prevention"]["impact"] = np.array(
            [score(impact([f for f in c if f != miss]), {miss}) for c, miss in prevent]
        ).reshape(-1, 4)
    return out


def impact_ranker(d: dict):
    """``files -> top 10`` through ``graph_jobs.relations.change_impact`` on the repository's
    stored ingest, or ``None`` when that module is not there."""
    try:
        from graph_jobs.relations import change_impact
    except ImportError:
        return None, None
    from graph_jobs.pipeline import Stores
    from pharos_cli.settings import Settings

    stores = Stores.open(Settings(_env_file=None, PHAROS_DATA_DIR=d["store"]))
    singles: dict = {}  # each asked file's own ranking, computed once per repository

    def rank(files: list[str]) -> list[str]:
        try:
            hits = change_impact.change_impact(stores.vectors, stores.metadata, d["repo_url"],
                                               files, K, cache=singles)
        except Exception as exc:  # noqa: BLE001 - a refused question scores nothing
            if type(exc).__name__ not in ("NotFound", "QuestionRefused", "KeyError"):
                raise
            return []
        got = getattr(hits, "hits", hits)
        return [getattr(h, "file_path", h) for h in got][:K]

    return rank, stores


def bootstrap(values: np.ndarray, boot: int, rng: np.random.Generator) -> tuple[float, float]:
    if len(values) == 0:
        return (float("nan"), float("nan"))
    idx = rng.integers(0, len(values), size=(boot, len(values)))
    means = values[idx].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


COLS = {"p@10": 0, "r@10": 1, "mrr": 2, "hit@3": 3}


def mean_with_ci(per_repo: dict[str, np.ndarray], col: int, boot: int,
                 rng: np.random.Generator) -> tuple[float, float, float]:
    """The mean over repositories of each one's mean, and its 95% interval from resampling
    queries inside each repository."""
    names = [n for n, v in per_repo.items() if len(v)]
    if not names:
        return float("nan"), float("nan"), float("nan")
    boots = np.zeros((boot, len(names)))
    for j, n in enumerate(names):
        v = per_repo[n][:, col]
        boots[:, j] = v[rng.integers(0, len(v), size=(boot, len(v)))].mean(1)
    m = float(np.mean([per_repo[n][:, col].mean() for n in names]))
    return m, float(np.percentile(boots.mean(1), 2.5)), float(np.percentile(boots.mean(1), 97.5))


def summarize(results: dict[str, dict], methods: list[str], boot: int, min_files: int = 50,
              seed: int = 0) -> dict:
    """``results``: repository -> {"info", "scores": protocols(...)}; the figures."""
    rng = np.random.default_rng(seed)
    out: dict = {"per_repository": {}, "summary": {}}
    for n, r in results.items():
        row = {"info": r["info"]}
        for proto, by_m in r["scores"].items():
            row[proto] = {}
            for m, s in by_m.items():
                if not len(s):
                    continue
                lo, hi = bootstrap(s[:, 1], boot, rng)
                row[proto][m] = {k: float(s[:, c].mean()) for k, c in COLS.items()}
                row[proto][m]["r@10_ci"] = [lo, hi]
                row[proto][m]["queries"] = len(s)
        out["per_repository"][n] = row
    for proto in ("pairs", "navigation", "prevention"):
        big = proto == "navigation"
        names = [n for n, r in results.items()
                 if not big or r["info"]["files"] >= min_files]
        ms = [m for m in [*methods, "impact"] if any(m in results[n]["scores"][proto]
                                                        for n in names)]
        out["summary"][proto] = {}
        for m in ms:
            per = {n: results[n]["scores"][proto][m] for n in names
                   if m in results[n]["scores"][proto]}
            row = {"repositories": len(per)}
            for k, c in COLS.items():
                v, lo, hi = mean_with_ci(per, c, boot, rng)
                row[k], row[k + "_ci"] = v, [lo, hi]
            out["summary"][proto][m] = row
    pairs = out["summary"]["pairs"]
    if "pharos" in pairs:
        best = max((m for m in BASELINES if m in pairs), key=lambda m: pairs[m]["r@10"])
        out["best_baseline"] = best
        out["ratio"] = pairs["pharos"]["r@10"] / pairs[best]["r@10"]
        # the ratio's interval: the same resampled queries for both sides
        per_p = {n: results[n]["scores"]["pairs"]["pharos"] for n in results
                 if len(results[n]["scores"]["pairs"]["pharos"])}
        per_b = {n: results[n]["scores"]["pairs"][best] for n in per_p}
        boots = []
        for _ in range(boot):
            a, b = [], []
            for n in per_p:
                idx = rng.integers(0, len(per_p[n]), size=len(per_p[n]))
                a.append(per_p[n][idx, 1].mean())
                b.append(per_b[n][idx, 1].mean())
            boots.append(np.mean(a) / np.mean(b))
        out["ratio_ci"] = [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]
    return out


def report(fig: dict, methods: list[str]) -> None:
    per = fig["per_repository"]
    names = list(per)
    print()
    print("pairs protocol (issue 13), recall@10 per repository")
    print("| repository | files | queries | " + " | ".join(methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    for n in names:
        print(f"| {n} | {per[n]['info']['files']} | {per[n]['info']['queries']} | "
              + " | ".join(f"{per[n]['pairs'][m]['r@10']:.3f}" if m in per[n]['pairs']
                           else "-" for m in methods) + " |")
    for proto in ("pairs", "navigation", "prevention"):
        s = fig["summary"][proto]
        print()
        extra = " (repositories of >= 50 files)" if proto == "navigation" else ""
        print(f"{proto}{extra}: mean over repositories (95% CI)")
        print("| method | repos | recall@10 | hit@3 | MRR@10 |")
        print("|---|---|---|---|---|")
        for m, r in s.items():
            print(f"| {m} | {r['repositories']} | {r['r@10']:.3f} ({r['r@10_ci'][0]:.3f}-"
                  f"{r['r@10_ci'][1]:.3f}) | {r['hit@3']:.3f} ({r['hit@3_ci'][0]:.3f}-"
                  f"{r['hit@3_ci'][1]:.3f}) | {r['mrr']:.3f} |")
    if "ratio" in fig:
        pairs = fig["summary"]["pairs"]
        b = fig["best_baseline"]
        print()
        print(f"best baseline: {b} ({pairs[b]['r@10']:.3f}); pharos / best = "
              f"{fig['ratio']:.3f} (95% CI {fig['ratio_ci'][0]:.3f}-{fig['ratio_ci'][1]:.3f};"
              f" target >= 1.15); recall@10 in the pairs protocol")
        if "pharos-hand" in pairs:
            print(f"learned {pairs['pharos']['r@10']:.3f} vs hand weights "
                  f"{pairs['pharos-hand']['r@10']:.3f}")
    nav = fig["summary"]["navigation"]
    if "pharos" in nav:
        print(f"navigation hit@3 (>= 50 files): pharos {nav['pharos']['hit@3']:.3f} "
              f"(target >= 0.80)")
    prev = fig["summary"]["prevention"]
    if "impact" in prev and "pharos" in prev:
        print(f"prevention: impact (all asking files) recall@10 {prev['impact']['r@10']:.3f}"
              f" hit@3 {prev['impact']['hit@3']:.3f} vs similar on the first file "
              f"{prev['pharos']['r@10']:.3f} / {prev['pharos']['hit@3']:.3f}")
    elif "pharos" in prev:
        print("prevention: graph_jobs.relations.change_impact is not importable; "
              "impact not scored")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("repos", nargs="+", type=Path)
    ap.add_argument("--cut", type=float, default=0.7)
    ap.add_argument("--max-future-files", type=int, default=30,
                    help="future commits touching more files are left out of the truth")
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--model", type=Path, default=None,
                    help="the learned ranker's file (default: the shipped ranker_model.json)")
    ap.add_argument("--cache", type=Path, default=None,
                    help="keep each repository's clones, store and features here "
                         "(default: a temporary folder)")
    ap.add_argument("--max-prevention", type=int, default=400,
                    help="prevention queries per repository at most (a seeded sample)")
    ap.add_argument("--no-impact", action="store_true", help="do not score impact")
    ap.add_argument("--no-seed-overlap", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-imports-variant", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help="write every figure as JSON here")
    args = ap.parse_args()

    from graph_jobs.relations import learned_ranker

    if args.model:  # impact ranks each asked file through related_files: the same model
        os.environ["PHAROS_RANKER_MODEL"] = str(args.model)
    model = learned_ranker.load(args.model) if args.model else learned_ranker.load(
        learned_ranker.MODEL_PATH)
    methods = BASELINES + PHAROS
    if model is None:
        print("no learned model: pharos is the hand weights")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="pharos-relevance-") as tmp:
        cache = args.cache or Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        for path in args.repos:
            t0 = time.perf_counter()
            try:
                d = extract(path, cache, args.cut, args.max_future_files)
            except subprocess.CalledProcessError as exc:
                print(f"{path.name}: SKIPPED, git failed: {' '.join(exc.cmd[3:6])}...: "
                      f"{exc.stderr.strip().splitlines()[-1] if exc.stderr else exc}")
                continue
            if not d["commits"]:
                print(f"{path.name}: no future commit of 2 files of the graph; skipped")
                continue
            imp, stores = (None, None) if args.no_impact else impact_ranker(d)
            scores = protocols(d, methods, model if model is not None else _Hand(),
                               imp, args.max_prevention)
            if stores is not None:
                close(stores)
            results[d["name"]] = {"info": d["info"], "scores": scores}
            print(f"{d['name']}: {d['info']} ({time.perf_counter() - t0:.1f}s)  " + "  ".join(
                f"{m}={scores['pairs'][m][:, 1].mean():.3f}" for m in methods), flush=True)
    fig = summarize(results, methods, args.boot)
    report(fig, methods)
    if args.out:
        fig["args"] = {k: str(v) for k, v in vars(args).items()}
        fig["model"] = str(args.model or learned_ranker.MODEL_PATH) if model else None
        args.out.write_text(json.dumps(fig, indent=1))


class _Hand:
    """Stands for the model when there is none: the hand weights' score."""

    def score(self, x: np.ndarray) -> np.ndarray:
        from graph_jobs.relations.ranker_features import FEATURES

        return x[:, FEATURES.index("hand_score")]


if __name__ == "__main__":
    main()
