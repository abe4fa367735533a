"""The impact of a whole change, judged as ROSE judged its suggestions (issue 26).

    python bench/impact_bench.py PATH [PATH ...] [--cut 0.7] [--out results.json]

ROSE's prevention protocol (Zimmermann et al., ICSE 2004), on the relevance bench's
cut-in-time repositories (cutting, the clone of the past and the rename-following of the
future are ``bench/relevance_bench.py``'s own functions, imported):

1. Cut each repository at ``--cut`` (70%) of its non-merge commits; clone the past only
   (the bench checks that no future commit is reachable in the clone); ingest that clone
   with Pharos (SQLite + local Qdrant in a temporary folder).
2. Each future commit of at most ``--max-future-files`` files (30), its files renamed back
   to their names at the cut and kept when they are files of the stored graph, with at
   least 2 such files, gives one query per file: the commit minus that file asks, and the
   missing file is the answer. Queries are sampled (seeded) down to ``--max-queries`` per
   repository.
3. Methods, each a top 10 that leaves out the asked files:
   - ``similar-first``: ``similar`` on the first asked file alone (asked files in path
     order), the other asked files dropped from its list (which only helps it);
   - ``coupling``: ROSE-like association from the past alone: the sum over the asked
     files of each candidate's change coupling with it (``CoChange.degree``), ties broken
     by a seeded shuffle;
   - ``impact``: :func:`graph_jobs.relations.change_impact.change_impact` as shipped
     (what ``pharos impact`` answers), and its variants (``impact-sum``, ``impact-rrf``,
     ``impact-max``, ``impact-nobonus``) over the same single-file rankings.
4. Scores per query: recall@10 (one right file: 1 when it is in the top 10), MRR@10 and
   hit@3 (the right file in the top 3); the mean per repository, then over
   repositories, with 95% bootstrap intervals (queries resampled inside each
   repository). The queries with a single asked file are the same question for
   ``similar-first`` and ``impact``; the figures are also given for queries of 2 asked
   files or more (``--min-asked``, default 1, sets which count).

Every single-file ranking (``similar-first`` and each impact variant) is the one
``pharos similar`` ships: the learned ranker when its model is in the package, else the
hand weights; ``--rank-options '{"model": null}'`` asks for the hand weights.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from relevance_bench import (  # noqa: E402
    Baselines,
    Case,
    clone_at,
    commit_sets,
    cut_commit,
    git,
    reachable,
)

from graph_jobs.history.cochange import mine  # noqa: E402
from graph_jobs.history.git_log import read_commits  # noqa: E402

K = 10
VARIANTS = {"impact": {}, "impact-nobonus": {"tie_bonus": 0.0},
            "impact-sum": {"how": "sum", "tie_bonus": 0.0},
            "impact-rrf": {"how": "rrf", "tie_bonus": 0.0},
            "impact-max": {"how": "max", "tie_bonus": 0.0}}
METHODS = ["similar-first", "coupling", *VARIANTS]


def future_changes(repo: Path, cut: str, files: set[str], max_files: int) -> list[list[str]]:
    """Each future commit's files that are files at the cut (names at the cut, renames
    followed back), oldest first; commits of more than ``max_files`` files, and those
    with fewer than two files of ``files``, left out (``relevance_bench.commit_sets``)."""
    return commit_sets(repo, cut, files, max_files)


def prevention_queries(changes: list[list[str]], max_queries: int, seed: int = 0
                       ) -> list[tuple[list[str], str]]:
    """(asked files in path order, the missing file) for each file of each change."""
    qs = [([f for f in ch if f != miss], miss) for ch in changes for miss in ch]
    if len(qs) > max_queries:
        qs = random.Random(seed).sample(qs, max_queries)
    return qs


def scores(ranked: list[str], answer: str) -> tuple[float, float, float]:
    """recall@10 (one right file), MRR@10, hit@3."""
    top = ranked[:K]
    rank = top.index(answer) + 1 if answer in top else 0
    return float(rank > 0), (1.0 / rank if rank else 0.0), float(0 < rank <= 3)


def run_repo(path: Path, work: Path, args) -> dict | None:
    from graph_jobs.pipeline import Stores, run_ingest
    from graph_jobs.relations.change_impact import change_impact
    from graph_jobs.stores.vector_store import close_local_clients
    from pharos_cli.settings import Settings

    name = path.name
    cut, n_commits = cut_commit(path, args.cut)
    clone = clone_at(path, cut, work / f"{name}-cut")
    future = set(git(path, "rev-list", f"{cut}..HEAD").split())
    if future & reachable(clone):
        raise SystemExit(f"{name}: the cut clone reaches future commits")
    settings = Settings(_env_file=None, PHAROS_DATA_DIR=str(work / f"{name}-data"))
    stores = Stores.open(settings)
    t0 = time.perf_counter()
    res = run_ingest(str(clone), settings, stores=stores)
    if res.status != "complete":
        print(f"{name}: ingest failed: {res.error}; skipped", flush=True)
        return None
    ingest_s = time.perf_counter() - t0
    files = sorted(f["path"] for f in stores.metadata.repository_files(res.repo_url))
    fileset = set(files)
    changes = future_changes(path, cut, fileset, args.max_future_files)
    queries = [q for q in prevention_queries(changes, args.max_queries)
               if len(q[0]) >= args.min_asked]
    if not queries:
        print(f"{name}: no prevention query; skipped", flush=True)
        return None
    history = mine(read_commits(clone, exact_renames_only=False, max_commits=2000),
                   keep=fileset)
    base = Baselines(Case(name, clone, files, [], history, {}, []))

    cache: dict = {}  # each file's single-file ranking, shared by every method and query
    t1 = time.perf_counter()
    per_q: dict[str, list[tuple[float, float, float]]] = {m: [] for m in METHODS}
    n_asked = []
    for asked, miss in queries:
        n_asked.append(len(asked))
        skip = set(asked)
        for m, kw in VARIANTS.items():
            got = change_impact(stores.vectors, stores.metadata, res.repo_url, asked, K,
                                cache=cache, checked=True, **kw, **args.rank_options)
            per_q[m].append(scores([i.file_path for i in got], miss))
        first = [r.file_path for r in cache[asked[0]] if r.file_path not in skip]
        per_q["similar-first"].append(scores(first, miss))
        tb = random.Random(f"0:{miss}:{len(asked)}")
        cp = defaultdict(float)
        for a in asked:
            for b, d in base.partners.get(a, {}).items():
                cp[b] += d
        others = [f for f in files if f not in skip]
        shuffle = {f: tb.random() for f in others}
        per_q["coupling"].append(scores(sorted(others, key=lambda f: (-cp[f], shuffle[f])),
                                        miss))
    rank_s = time.perf_counter() - t1
    close_local_clients()
    stores.metadata.dispose()
    info = {"cut": cut[:12], "non_merge_commits": n_commits, "files": len(files),
            "future_changes": len(changes), "queries": len(queries),
            "mean_asked": round(float(np.mean(n_asked)), 2),
            "multi_asked_queries": int(sum(1 for n in n_asked if n >= 2)),
            "ingest_s": round(ingest_s, 1), "rank_s": round(rank_s, 1),
            "files_ranked": len(cache)}
    return {"info": info, "per_query": {m: np.array(v) for m, v in per_q.items()},
            "asked": np.array(n_asked)}


def summarize(per_repo: dict, boot: int, rng, min_asked: int = 1) -> dict:
    names = [n for n in per_repo if (per_repo[n]["asked"] >= min_asked).any()]
    out = {"repositories": names, "methods": {}}
    for m in METHODS:
        rows = {n: per_repo[n]["per_query"][m][per_repo[n]["asked"] >= min_asked]
                for n in names}
        means = {key: float(np.mean([rows[n][:, j].mean() for n in names]))
                 for j, key in enumerate(("r@10", "mrr", "hit@3"))}
        boots = np.zeros((boot, len(names), 3))
        for i, n in enumerate(names):
            v = rows[n]
            boots[:, i, :] = v[rng.integers(0, len(v), size=(boot, len(v)))].mean(1)
        for j, key in enumerate(("r@10", "mrr", "hit@3")):
            b = boots[:, :, j].mean(1)
            means[f"{key}_ci"] = [float(np.percentile(b, 2.5)), float(np.percentile(b, 97.5))]
        means["per_repository"] = {n: [float(x) for x in rows[n].mean(0)] for n in names}
        out["methods"][m] = means
    return out


def print_summary(title: str, s: dict) -> None:
    print(f"\n{title} ({len(s['repositories'])} repositories)")
    print("| method | recall@10 (95% CI) | MRR@10 (95% CI) | hit@3 (95% CI) |")
    print("|---|---|---|---|")
    for m, v in s["methods"].items():
        print(f"| {m} | " + " | ".join(
            f"{v[k]:.3f} ({v[k + '_ci'][0]:.3f}-{v[k + '_ci'][1]:.3f})"
            for k in ("r@10", "mrr", "hit@3")) + " |")
    imp, sim = s["methods"]["impact"], s["methods"]["similar-first"]
    print("impact / similar-first: " + ", ".join(
        f"{k} {imp[k] / sim[k]:.3f}x ({imp[k] - sim[k]:+.3f})" for k in ("r@10", "mrr", "hit@3")
        if sim[k] > 0))
    wins = sum(1 for n in s["repositories"]
               if imp["per_repository"][n][0] > sim["per_repository"][n][0])
    ties = sum(1 for n in s["repositories"]
               if imp["per_repository"][n][0] == sim["per_repository"][n][0])
    print(f"impact above similar-first in recall@10 on {wins} of {len(s['repositories'])} "
          f"repositories ({ties} equal)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("repos", nargs="+", type=Path)
    ap.add_argument("--cut", type=float, default=0.7)
    ap.add_argument("--max-future-files", type=int, default=30)
    ap.add_argument("--max-queries", type=int, default=3000,
                    help="prevention queries per repository at most (a seeded sample)")
    ap.add_argument("--min-asked", type=int, default=1,
                    help="leave out queries with fewer asked files")
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--rank-options", type=json.loads, default={},
                    help='JSON passed to rank_related for every single-file ranking, e.g. '
                         '\'{"model": null}\' (the hand weights once a learned ranker ships)')
    ap.add_argument("--out", type=Path, help="write every figure as JSON here")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    per_repo: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="pharos-impact-") as tmp:
        for path in args.repos:
            t0 = time.perf_counter()
            try:
                got = run_repo(path, Path(tmp), args)
            except Exception as exc:  # noqa: BLE001 - one repository never stops the run
                print(f"{path.name}: SKIPPED: {type(exc).__name__}: {exc}", flush=True)
                continue
            if got is None:
                continue
            per_repo[path.name] = got
            pq = got["per_query"]
            print(f"{path.name}: {got['info']} ({time.perf_counter() - t0:.0f}s)  " + "  ".join(
                f"{m}={pq[m][:, 0].mean():.3f}/{pq[m][:, 2].mean():.3f}" for m in METHODS),
                flush=True)
    if not per_repo:
        raise SystemExit("no repository could be scored")
    print("\n| repository | files | queries | mean asked | " + " | ".join(
        f"{m} r@10 / hit@3" for m in METHODS) + " |")
    print("|---|---|---|---|" + "---|" * len(METHODS))
    for n, r in per_repo.items():
        print(f"| {n} | {r['info']['files']} | {r['info']['queries']} | "
              f"{r['info']['mean_asked']} | " + " | ".join(
                  f"{r['per_query'][m][:, 0].mean():.3f} / {r['per_query'][m][:, 2].mean():.3f}"
                  for m in METHODS) + " |")
    every = summarize(per_repo, args.boot, rng, 1)
    multi = summarize(per_repo, args.boot, rng, 2)
    print_summary("all prevention queries", every)
    print_summary("queries of 2 asked files or more", multi)
    if args.out:
        args.out.write_text(json.dumps({
            "per_repository": {n: r["info"] for n, r in per_repo.items()},
            "all": every, "multi": multi,
            "args": {k: str(v) for k, v in vars(args).items()}}, indent=1))


if __name__ == "__main__":
    main()
