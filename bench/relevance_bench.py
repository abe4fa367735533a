"""Related files, judged by each repository's own future.

    python bench/relevance_bench.py PATH [PATH ...] [--cut 0.7] [--out results.json]

Each PATH is a local git repository with its history (a clone of a fetched snapshot).
For each one:

1. **Cut in time.** Its non-merge commits (first to last, date order) are cut at
   ``--cut`` (70%). The cut commit and its ancestors are the past; the non-merge commits
   not reachable from it (``git rev-list cut..HEAD``) are the future.
2. **A clone of the past only.** ``git init`` + ``git fetch PATH <cut sha>``: the clone
   holds the cut commit and its ancestors and no ref to anything later (the bench checks
   that no future commit is reachable in it). Everything (Pharos and the baselines:
   structure and history alike) is built from that clone.
3. **The truth.** Two files changed in one future commit are related (commits touching
   more than ``--max-future-files`` files are left out as noise; renames after the cut
   are followed back to the names at the cut). A query is a file of the graph at the cut
   with at least two such partners in the graph.
4. **Scores.** Each method ranks every other file of the graph for each query; on its
   top 10: precision@10 = hits / 10, recall@10 = hits / min(10, partners) (so a perfect
   list scores 1 whatever the number of partners), MRR@10. Per repository and as a mean
   over repositories, with 95% bootstrap intervals over the queries (``--boot``).

Methods, all in the same run:

- ``random``                 a seeded shuffle;
- ``ppr``                    personalized PageRank from the query on the import graph;
- ``folder``                 path distance in the tree (same folder first);
- ``coupling``               change coupling mined from the past commits (degree);
- ``coupling+ppr+folder``    coupling, then PageRank, then folder as tie-breakers;
- ``words``                  TF-IDF cosine of the files' identifier words (the signal
                             ``shared_terms`` gives Pharos), and ``coupling+words``:
                             coupling, then words. Not in the issue's table (the target
                             is against the table's best); reported beside it;
- ``pharos``                 ``run_ingest`` on the cut clone (SQLite + local Qdrant in a
                             temporary directory), then ``related_files`` (Qdrant
                             candidates reranked with exact signals);
- ``pharos-vector``          the same store, Qdrant's nearest neighbours alone;
- ``pharos-imports``         today's Pharos: Node2Vec on the import graph alone
                             (``--relations imports``), nearest neighbours;
- the top-10 overlap of ``pharos`` (and ``pharos-vector``) between seeds 0 and 1.

Ties in the baselines are broken by a seeded shuffle, never by name.
"""

from __future__ import annotations

import argparse
import json
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


def future_partners(repo: Path, cut: str, files: set[str], max_files: int
                    ) -> tuple[dict[str, set[str]], int]:
    """path at the cut -> files changed with it in a future commit (names at the cut)."""
    commits = read_commits(repo, since=cut, exact_renames_only=False)  # newest first
    back: dict[str, str] = {}  # a later name -> its name at the cut
    partners: dict[str, set[str]] = defaultdict(set)
    used = 0
    for c in reversed(commits):  # oldest first
        names = set()
        for status, path, old in c.changes:
            if status == "R" and old:
                back[path] = back.get(old, old)
            names.add(back.get(path, path))
        if len(names) > max_files:
            continue
        used += 1
        tracked = [n for n in names if n in files]
        for a in tracked:
            partners[a].update(b for b in tracked if b != a)
    return dict(partners), used


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


class Baselines:
    def __init__(self, case: Case, seed: int = 0) -> None:
        import networkx as nx

        self.case = case
        self.g = nx.Graph()
        self.g.add_nodes_from(case.files)
        self.g.add_edges_from((a, b) for a, b in case.import_edges if a != b)
        self.seed = seed
        self.words: dict[str, dict[str, float]] = defaultdict(dict)
        if case.terms:
            from graph_jobs.relations.shared_terms import shared_terms

            every = shared_terms(case.files, case.terms, k=len(case.files), min_similarity=1e-9)
            for (a, b), sim in every.pairs.items():
                self.words[a][b] = sim
                self.words[b][a] = sim
        self.partners: dict[str, dict[str, float]] = defaultdict(dict)
        for (a, b) in case.history.pairs:
            d = case.history.degree(a, b)
            self.partners[a][b] = d
            self.partners[b][a] = d

    def _tiebreak(self, q: str) -> dict[str, float]:
        rng = random.Random(f"{self.seed}:{q}")
        return {f: rng.random() for f in self.case.files}

    def ppr(self, q: str) -> dict[str, float]:
        import networkx as nx

        if self.g.degree(q) == 0:
            return {}
        return nx.pagerank(self.g, alpha=0.85, personalization={q: 1.0}, tol=1e-8)

    def rank(self, method: str, q: str) -> list[str]:
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
            ws = self.words.get(q, {})
            key = {f: (-ws.get(f, 0.0), tb[f]) for f in others}
        elif method == "coupling+words":
            cp, ws = self.partners.get(q, {}), self.words.get(q, {})
            key = {f: (-cp.get(f, 0.0), -ws.get(f, 0.0), tb[f]) for f in others}
        else:
            raise ValueError(method)
        return sorted(others, key=key.__getitem__)[:K]


# The table: the 1.15x target is against the best of these.
BASELINES = ["random", "ppr", "folder", "coupling", "coupling+ppr+folder"]
# Not in the table; reported beside it because Pharos reads the same signal:
# TF-IDF cosine of the files' identifier words (shared_terms), alone and after coupling.
EXTRA_BASELINES = ["words", "coupling+words"]


# --- Pharos through its own stores ----------------------------------------------------------
def pharos_answers(case: Case, data_dir: Path, *, seed: int, relations: str = "all",
                   rerank_weights=None, relation_weights=None, n2v=None,
                   modes=("rerank", "vector")) -> tuple[dict[str, dict[str, list[str]]], dict]:
    import dataclasses

    from graph_jobs.pipeline import Stores, run_ingest
    from graph_jobs.relations.related_files import related_files
    from graph_jobs.relations.walk_settings import RELATION_DEFAULTS
    from graph_jobs.stores.vector_store import close_local_clients
    from pharos_cli.settings import Settings

    settings = Settings(_env_file=None, PHAROS_DATA_DIR=str(data_dir), PHAROS_RELATIONS=relations)
    stores = Stores.open(settings)
    base = dataclasses.replace(RELATION_DEFAULTS, seed=seed, **(n2v or {}))
    if relations == "imports":
        from graph_jobs.embedding.params import Node2VecParams

        base = Node2VecParams(seed=seed)
    res = run_ingest(str(case.clone), settings, stores=stores, params=base,
                     relation_weights=relation_weights)
    if res.status != "complete":
        raise SystemExit(f"{case.name}: ingest failed: {res.error}")
    out: dict[str, dict[str, list[str]]] = {m: {} for m in modes}
    for q in case.queries:
        for m in modes:
            try:
                hits = related_files(stores.vectors, stores.metadata, res.repo_url, q, K,
                                     rerank=m == "rerank", weights=rerank_weights)
            except KeyError:
                hits = []
            out[m][q] = [h.file_path for h in hits]
    close_local_clients()
    stores.metadata.dispose()
    return out, res.to_dict("result")


# --- scoring ------------------------------------------------------------------------------
def score(ranked: list[str], truth: set[str]) -> tuple[float, float, float]:
    top = ranked[:K]
    hits = sum(1 for f in top if f in truth)
    rr = next((1.0 / (i + 1) for i, f in enumerate(top) if f in truth), 0.0)
    return hits / K, hits / min(K, len(truth)), rr


def bootstrap(values: np.ndarray, boot: int, rng: np.random.Generator) -> tuple[float, float]:
    if len(values) == 0:
        return (float("nan"), float("nan"))
    idx = rng.integers(0, len(values), size=(boot, len(values)))
    means = values[idx].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def prepare(path: Path, work: Path, fraction: float, max_future_files: int) -> Case:
    from graph_jobs.graph.graph_job import graph_for
    from pharos_cli.settings import Settings

    name = path.name
    cut, n_commits = cut_commit(path, fraction)
    clone = clone_at(path, cut, work / f"{name}-cut")
    future = set(git(path, "rev-list", f"{cut}..HEAD").split())
    leaked = future & reachable(clone)
    if leaked:
        raise SystemExit(f"{name}: the cut clone reaches {len(leaked)} future commits")
    settings = Settings(_env_file=None, PHAROS_DATA_DIR=str(work / f"{name}-graph"))
    graph = graph_for(str(clone), settings, use_cache=False)
    files = [f.path for f in graph.files]
    fileset = set(files)
    history = mine(read_commits(clone, exact_renames_only=False, max_commits=2000), keep=fileset)
    truth, used = future_partners(path, cut, fileset, max_future_files)
    queries = sorted(q for q, ps in truth.items() if len(ps) >= 2)
    info = {"cut": cut[:12], "non_merge_commits": n_commits, "files": len(files),
            "future_commits_used": used, "queries": len(queries),
            "future_commits": len(future)}
    from graph_jobs.graph.file_words import read_words

    terms = read_words(clone, graph.files)
    return Case(name, clone, files, [(e.source, e.target) for e in graph.edges], history,
                truth, queries, info, terms=terms)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("repos", nargs="+", type=Path)
    ap.add_argument("--cut", type=float, default=0.7)
    ap.add_argument("--max-future-files", type=int, default=30,
                    help="future commits touching more files are left out of the truth")
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--no-imports-variant", action="store_true",
                    help="skip today's Pharos (import graph alone)")
    ap.add_argument("--no-seed-overlap", action="store_true")
    ap.add_argument("--rerank-weights", type=json.loads, default=None,
                    help='JSON overrides of RerankWeights, e.g. \'{"cochange": 2}\'')
    ap.add_argument("--relation-weights", type=json.loads, default=None,
                    help="JSON overrides of RelationWeights")
    ap.add_argument("--n2v", type=json.loads, default=None,
                    help='JSON overrides of the Node2Vec settings, e.g. \'{"p": 0.5}\'')
    ap.add_argument("--min-total-walks", type=int, default=None,
                    help="walks a relation graph gets at least (walk_settings.MIN_TOTAL_WALKS)")
    ap.add_argument("--out", type=Path, help="write every figure as JSON here")
    args = ap.parse_args()
    if args.min_total_walks is not None:
        import graph_jobs.relations.walk_settings as ws

        ws.MIN_TOTAL_WALKS = args.min_total_walks

    from graph_jobs.relations.related_files import RerankWeights
    from graph_jobs.relations.relation_graph import RelationWeights

    rw = RerankWeights(**(args.rerank_weights or {}))
    relw = RelationWeights(**(args.relation_weights or {}))
    rng = np.random.default_rng(0)
    methods = BASELINES + EXTRA_BASELINES + ["pharos-vector", "pharos"] + (
        [] if args.no_imports_variant else ["pharos-imports"])
    per_repo: dict[str, dict] = {}
    per_query: dict[str, dict[str, np.ndarray]] = {}
    overlap: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="pharos-relevance-") as tmp:
        work = Path(tmp)
        for path in args.repos:
            t0 = time.perf_counter()
            try:
                case = prepare(path, work, args.cut, args.max_future_files)
            except subprocess.CalledProcessError as exc:
                print(f"{path.name}: SKIPPED, git failed: {' '.join(exc.cmd[3:6])}...: "
                      f"{exc.stderr.strip().splitlines()[-1] if exc.stderr else exc}")
                continue
            if not case.queries:
                print(f"{case.name}: no query (no file with 2 future partners); skipped")
                continue
            base = Baselines(case)
            answers: dict[str, dict[str, list[str]]] = {
                m: {q: base.rank(m, q) for q in case.queries}
                for m in BASELINES + EXTRA_BASELINES}
            ph, job = pharos_answers(case, work / f"{case.name}-s0", seed=0,
                                     rerank_weights=rw, relation_weights=relw, n2v=args.n2v)
            answers["pharos"], answers["pharos-vector"] = ph["rerank"], ph["vector"]
            case.info["job_seconds"] = job["duration_seconds"]
            case.info["history"] = job["history"]
            if not args.no_imports_variant:
                imp, _ = pharos_answers(case, work / f"{case.name}-imp", seed=0,
                                        relations="imports", modes=("vector",))
                answers["pharos-imports"] = imp["vector"]
            if not args.no_seed_overlap:
                ph1, _ = pharos_answers(case, work / f"{case.name}-s1", seed=1,
                                        rerank_weights=rw, relation_weights=relw,
                                        n2v=args.n2v)
                overlap[case.name] = {
                    m: float(np.mean([len(set(ph[key][q]) & set(ph1[key][q])) / K
                                      for q in case.queries]))
                    for m, key in (("pharos", "rerank"), ("pharos-vector", "vector"))}
            per_query[case.name] = {}
            row = {"info": case.info}
            for m in methods:
                s = np.array([score(answers[m][q], case.truth[q]) for q in case.queries])
                per_query[case.name][m] = s
                r_lo, r_hi = bootstrap(s[:, 1], args.boot, rng)
                row[m] = {"p@10": float(s[:, 0].mean()), "r@10": float(s[:, 1].mean()),
                          "mrr": float(s[:, 2].mean()), "r@10_ci": [r_lo, r_hi]}
            per_repo[case.name] = row
            print(f"{case.name}: {case.info} ({time.perf_counter() - t0:.1f}s)  " + "  ".join(
                f"{m}={row[m]['r@10']:.3f}" for m in methods), flush=True)

    # the mean over repositories, its interval from resampling queries inside each repository
    summary = {}
    names = list(per_query)
    for m in methods:
        means = {k: float(np.mean([per_repo[n][m][k] for n in names]))
                 for k in ("p@10", "r@10", "mrr")}
        boots = np.zeros((args.boot, len(names)))
        for j, n in enumerate(names):
            v = per_query[n][m][:, 1]
            boots[:, j] = v[rng.integers(0, len(v), size=(args.boot, len(v)))].mean(1)
        means["r@10_ci"] = [float(np.percentile(boots.mean(1), 2.5)),
                            float(np.percentile(boots.mean(1), 97.5))]
        summary[m] = means
    best_base = max(BASELINES, key=lambda m: summary[m]["r@10"])

    print()
    print("| repository | files | queries | " + " | ".join(methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    for n in names:
        print(f"| {n} | {per_repo[n]['info']['files']} | {per_repo[n]['info']['queries']} | "
              + " | ".join(f"{per_repo[n][m]['r@10']:.3f}" for m in methods) + " |")
    print()
    print("| method | precision@10 | recall@10 (95% CI) | MRR@10 |")
    print("|---|---|---|---|")
    for m in methods:
        s = summary[m]
        print(f"| {m} | {s['p@10']:.3f} | {s['r@10']:.3f} ({s['r@10_ci'][0]:.3f}-"
              f"{s['r@10_ci'][1]:.3f}) | {s['mrr']:.3f} |")
    print()
    ratio = summary["pharos"]["r@10"] / summary[best_base]["r@10"]
    print(f"best baseline: {best_base} ({summary[best_base]['r@10']:.3f}); pharos / best = "
          f"{ratio:.3f} (target >= 1.15)")
    best_extra = max(EXTRA_BASELINES, key=lambda m: summary[m]["r@10"])
    print(f"outside the issue's table: {best_extra} ({summary[best_extra]['r@10']:.3f}); "
          f"pharos / it = {summary['pharos']['r@10'] / summary[best_extra]['r@10']:.3f}")
    for m in ("folder", "ppr"):
        print(f"pharos-vector {summary['pharos-vector']['r@10']:.3f} vs {m} "
              f"{summary[m]['r@10']:.3f}: "
              + ("beats it" if summary["pharos-vector"]["r@10"] > summary[m]["r@10"]
                 else "does NOT beat it"))
    if overlap:
        for m in ("pharos", "pharos-vector"):
            print(f"top-10 overlap between seeds 0 and 1, {m}: "
                  f"{np.mean([o[m] for o in overlap.values()]):.3f} "
                  f"(per repository: {', '.join(f'{k} {v[m]:.2f}' for k, v in overlap.items())})")
    if args.out:
        args.out.write_text(json.dumps({"per_repository": per_repo, "summary": summary,
                                        "seed_overlap": overlap, "best_baseline": best_base,
                                        "ratio": ratio, "args": {k: str(v) for k, v in
                                                                 vars(args).items()}},
                                       indent=1))


if __name__ == "__main__":
    main()
