"""Rerank variants on the relevance bench's cut repositories (docs/embedding.md's table).

    python bench/rerank_variants.py PATH [PATH ...] [--loro]

Each repository is cut and ingested as ``relevance_bench.py`` does (same cut, same truth,
same stores). For every query the candidates (100 from Qdrant, and the tied files) and the
store's signals are read
once; then each named variant reorders them in memory and is scored (recall@10, the
bench's definition). ``--loro`` also runs the over-fitting check: for each repository,
coordinate ascent on the weights over the other repositories, scored on the one left out.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path, PurePosixPath

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import relevance_bench as rb  # noqa: E402

from graph_jobs.relations.related_files import package_distance  # noqa: E402

K = 10
BASE = {"co": 8.0, "act": 1.0, "imp": 0.2, "dist": 0.15, "test": 0.6, "folder": 0.2,
        "terms": 6.0}
VARIANTS = {
    "vector only": {"co": 0, "act": 0, "imp": 0, "dist": 0, "test": 0, "folder": 0,
                    "terms": 0},
    "defaults": {},
    "no shared words (the rerank before session 9)": {"terms": 0},
    "shared words, weight 2 / 4 / 8 / 12": [{"terms": 2.0}, {"terms": 4.0}, {"terms": 8.0},
                                            {"terms": 12.0}],
    "cosine as z-score": {"cos": "z"},
    "cosine as rank": {"cos": "rank"},
    "symmetric degree instead of confidence": {"sym": 1},
    "no activity": {"act": 0},
    "no package distance": {"dist": 0},
    "confidence smoothed to base rate": {"co": 0, "bayes": 8.0},
    "+ partners' partners": {"hop2": 1.0},
    "+ pair recency (90 d)": {"prec": 1.0},
    "+ personalized PageRank on imports": {"ppr": 0.6},
    "+ personalized PageRank on imports, weight 1 / 2 / 4": [{"ppr": 1.0}, {"ppr": 2.0},
                                                            {"ppr": 4.0}],
    "+ Adamic-Adar on imports, weight 0.1 / 0.3 / 1": [{"aa": 0.1}, {"aa": 0.3}, {"aa": 1.0}],
    "+ shared import neighbours (Jaccard), weight 0.3 / 1": [{"jac": 0.3}, {"jac": 1.0}],
}


def collect(path: Path, work: Path) -> dict:
    from graph_jobs.pipeline import Stores, run_ingest
    from graph_jobs.relations.related_files import candidates
    from graph_jobs.stores.vector_store import close_local_clients
    from pharos_cli.settings import Settings

    case = rb.prepare(path, work, 0.7, 30)
    settings = Settings(_env_file=None, PHAROS_DATA_DIR=str(work / f"{case.name}-d"))
    stores = Stores.open(settings)
    res = run_ingest(str(case.clone), settings, stores=stores)
    hist = stores.metadata.load_history(res.repo_url)
    per_q = {}
    for q in case.queries:
        cands, signals = candidates(stores.vectors, stores.metadata, res.repo_url, q, 100)
        per_q[q] = ([(c[0], c[1]) for c in cands], signals)
    close_local_clients()
    stores.metadata.dispose()
    return {"files": case.files, "edges": case.import_edges, "truth": case.truth,
            "queries": case.queries, "per_q": per_q, "ref": hist.reference_time if hist else 0,
            "revs": {p: t.weight for p, t in (hist.revisions.items() if hist else [])},
            "pairs": {k: t.weight for k, t in (hist.pairs.items() if hist else [])}}


def score_repo(d: dict, w: dict) -> float:
    import networkx as nx

    revs, mx = d["revs"], max(list(d["revs"].values()) + [1e-9])
    adj: dict[str, dict[str, float]] = {}
    for (a, b), wt in d["pairs"].items():
        adj.setdefault(a, {})[b] = wt
        adj.setdefault(b, {})[a] = wt
    g = None
    if w.get("ppr"):
        g = nx.Graph()
        g.add_nodes_from(d["files"])
        g.add_edges_from((a, b) for a, b in d["edges"] if a != b)
    nb: dict[str, set] = {}  # the import graph, undirected
    for a, b in d["edges"]:
        if a != b:
            nb.setdefault(a, set()).add(b)
            nb.setdefault(b, set()).add(a)
    vals = []
    for q in d["queries"]:
        cands, sig = d["per_q"][q]
        own = revs.get(q, 0.0)
        cos = np.array([c for _p, c in cands])
        mu, sd = cos.mean(), cos.std() + 1e-9
        two: dict[str, float] = {}
        if w.get("hop2"):
            for p, wt in adj.get(q, {}).items():
                for c, wt2 in adj.get(p, {}).items():
                    if c != q:
                        two[c] = two.get(c, 0.0) + wt / (own + 1) * wt2 / (revs.get(p, 0) + 1)
        pr = nx.pagerank(g, personalization={q: 1.0}) if g is not None and g.degree(q) else {}
        prmx = max([v for k, v in pr.items() if k != q] + [1e-12])
        scored = []
        for i, (p, c) in enumerate(cands):
            s = {"z": (c - mu) / sd * 0.05, "rank": 1 - i / len(cands)}.get(w.get("cos"), c)
            cc = sig["cochange"].get(p)
            a = revs.get(p, 0.0)
            if cc:
                denom = ((own + a) / 2 if w.get("sym") else own) + 1.0
                s += w["co"] * min(1.0, cc[1] / denom)
                s += w.get("prec", 0) * 0.5 ** ((d["ref"] - cc[2]) / (90 * 86400))
            if w.get("bayes"):
                s += w["bayes"] * ((cc[1] if cc else 0.0) + 2 * a / mx) / (own + 2)
            s += w["imp"] * (p in sig["imports"] or p in sig["imported_by"])
            s += w["test"] * (p in sig["tests"])
            s += w["folder"] * (PurePosixPath(p).parent == PurePosixPath(q).parent)
            s -= w["dist"] * package_distance(q, p)
            s += w["act"] * a / mx
            s += w["terms"] * sig.get("shared_terms", {}).get(p, 0.0)
            s += w.get("hop2", 0) * min(1.0, two.get(p, 0.0))
            s += w.get("ppr", 0) * pr.get(p, 0.0) / prmx
            if w.get("aa") or w.get("jac"):
                common = nb.get(q, set()) & nb.get(p, set())
                # Adamic-Adar, capped: shared neighbours, the rarer the more telling
                s += w.get("aa", 0) * min(1.0, sum(1 / math.log(1 + len(nb[c]))
                                                   for c in common) / 3)
                if common:
                    s += w.get("jac", 0) * len(common) / len(nb[q] | nb[p])
            scored.append((-s, p))
        top = [p for _s, p in sorted(scored)[:K]]
        vals.append(sum(p in d["truth"][q] for p in top) / min(K, len(d["truth"][q])))
    return float(np.mean(vals))


def mean_score(data: dict, names: list[str], w: dict) -> float:
    return float(np.mean([score_repo(data[n], w) for n in names]))


def ascent(data: dict, names: list[str]) -> dict:
    w, best = dict(BASE), mean_score(data, names, BASE)
    for _ in range(2):
        for k in BASE:
            for f in (0.5, 0.75, 1.5, 2.0):
                t = {**w, k: w[k] * f}
                s = mean_score(data, names, t)
                if s > best + 1e-4:
                    best, w = s, t
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("repos", nargs="+", type=Path)
    ap.add_argument("--loro", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pharos-rerank-") as tmp:
        data = {}
        for p in args.repos:
            try:
                data[p.name] = collect(p, Path(tmp))
            except Exception as exc:  # noqa: BLE001 - a repository git cannot cut is skipped
                print(f"{p.name}: skipped ({type(exc).__name__})")
    names = list(data)
    print("| variant | mean recall@10 |\n|---|---|")
    for label, over in VARIANTS.items():
        runs = over if isinstance(over, list) else [over]
        got = " / ".join(f"{mean_score(data, names, {**BASE, **o}):.3f}" for o in runs)
        print(f"| {label} | {got} |", flush=True)
    if args.loro:
        held = [score_repo(data[n], ascent(data, [m for m in names if m != n])) for n in names]
        print(f"leave-one-repository-out: tuned weights {np.mean(held):.3f}, "
              f"defaults {mean_score(data, names, BASE):.3f}")


if __name__ == "__main__":
    main()
