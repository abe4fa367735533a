"""Cross-repository role search, judged by role names the vectors never see (issue 14).

    python bench/roles_bench.py PATH [PATH ...] [--k 5] [--json out.json]

Each PATH is a local repository (a clone of a fetched snapshot; nothing is committed).
Its graph is built as the job builds it. A file whose name says a role that most
projects share is a query; the roles and the names that say them (:data:`ROLES`) are
labels from outside: the role vectors are built from the graph, the folders' shape and
the language, never from a name. For each query, the ``k`` nearest files in the *other*
repositories are found by

- ``role``: Euclidean distance between role vectors (``graph_jobs.roles``);
- ``degree``: Euclidean distance between (in-degree, out-degree), the issue's baseline;
- ``random``: ``k`` files drawn at random from the other repositories (mean of 20 draws);
- ``node2vec``: cosine between the repositories' own Node2Vec vectors (what
  ``similar --all`` answered before), unless ``--no-node2vec``.

precision@k is the share of the ``k`` that carry the query's role, averaged over the
queries (and shown per role).

Cost: each repository is also ingested whole (``run_ingest``, history included, into a
temporary store) and the time the role vectors and the repository descriptor took
(``timings["roles"]``) is shown beside the job's, unless ``--no-job``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path, PurePosixPath

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROLES = {  # role -> a rule on the file's stem (lower case) and name
    "errors": lambda s, n: bool(re.fullmatch(r"_?(errors?|exceptions?|exc|errno)", s))
    or s.endswith(("exception", "error", "errors")),
    "utils": lambda s, n: bool(re.fullmatch(r"_?(utils?|helpers?|utilities)", s))
    or s.endswith(("_utils", "_util", "_helpers", "util", "utils")),
    "entry": lambda s, n: n in ("__init__.py", "lib.rs", "mod.rs")
    or (s == "index" and n.split(".")[-1] in ("js", "ts", "mjs", "cjs", "tsx", "jsx")),
    "cli": lambda s, n: s in ("cli", "__main__", "main", "cmd", "command", "commands"),
    "config": lambda s, n: bool(re.fullmatch(r"_?(config|configs|settings|configuration|conf)",
                                             s)),
    "types": lambda s, n: bool(re.fullmatch(r"_?(types|typing|typings|type_defs)", s))
    or n.endswith(".d.ts"),
    "version": lambda s, n: bool(re.fullmatch(r"_*(version|about)_*", s)),
    "test support": lambda s, n: s in ("conftest", "testutil", "testutils", "test_utils",
                                       "testing", "test_helpers", "testhelpers", "fixtures"),
}


def role_of(path: str) -> str | None:
    name = PurePosixPath(path).name
    stem = name.split(".")[0].lower()
    for role, rule in ROLES.items():
        if rule(stem, name.lower()):
            return role
    return None


def load(path: Path, node2vec: bool, job: bool = True) -> dict:
    from graph_jobs.graph.graph_job import graph_for
    from graph_jobs.pipeline import graph_arrays
    from graph_jobs.roles.role_features import graph_role_vectors
    from pharos_cli.settings import Settings

    t0 = time.perf_counter()
    graph = graph_for(str(path), Settings(_env_file=None), use_cache=False)
    t_graph = time.perf_counter() - t0
    t0 = time.perf_counter()
    roles = graph_role_vectors(graph)
    t_role = time.perf_counter() - t0
    idx = {f.path: i for i, f in enumerate(graph.files)}
    n = len(graph.files)
    indeg, outdeg = np.zeros(n), np.zeros(n)
    for a, b in {(e.source, e.target) for e in graph.edges if e.source != e.target}:
        if a in idx and b in idx:
            outdeg[idx[a]] += 1
            indeg[idx[b]] += 1
    out = {"name": path.name, "paths": [f.path for f in graph.files], "role": roles,
           "degree": np.c_[indeg, outdeg], "seconds": {"graph": t_graph, "role": t_role}}
    if job:
        import tempfile

        from graph_jobs.pipeline import Stores, run_ingest
        from graph_jobs.stores.vector_store import close_local_clients

        with tempfile.TemporaryDirectory(prefix="pharos-roles-") as tmp:
            st = Settings(_env_file=None, PHAROS_DATA_DIR=tmp)
            stores = Stores.open(st)
            res = run_ingest(str(path), st, stores=stores)
            stores.metadata.dispose()
            close_local_clients()
        out["job"] = {"seconds": res.duration_seconds, "roles": res.timings.get("roles", 0.0)}
    if node2vec:
        from graph_jobs.embedding.engine import embed_graph
        from graph_jobs.embedding.params import Node2VecParams

        edges, _deg = graph_arrays(graph)
        t0 = time.perf_counter()
        emb = embed_graph(n, edges, Node2VecParams(), device="cpu", backend="pharos")
        out["seconds"]["node2vec"] = time.perf_counter() - t0
        v = emb.vectors / np.maximum(np.linalg.norm(emb.vectors, axis=1, keepdims=True), 1e-9)
        out["node2vec"] = v
    return out


def evaluate(repos: list[dict], method: str, k: int, rng: np.random.Generator) -> dict:
    hits: dict[str, list[float]] = {}
    for qi, q in enumerate(repos):
        others = [r for j, r in enumerate(repos) if j != qi]
        cand_paths = [(r["name"], p) for r in others for p in r["paths"]]
        cand_roles = np.array([role_of(p) or "" for _n, p in cand_paths])
        if method != "random":
            cand = np.vstack([r[method] for r in others])
        for i, p in enumerate(q["paths"]):
            role = role_of(p)
            if role is None:
                continue
            if method == "random":
                prec = np.mean([np.mean(cand_roles[rng.choice(len(cand_paths), k, replace=False)]
                                        == role) for _ in range(20)])
            else:
                x = q[method][i]
                d = -(cand @ x) if method == "node2vec" else np.linalg.norm(cand - x, axis=1)
                top = np.argsort(d, kind="stable")[:k]
                prec = float(np.mean(cand_roles[top] == role))
            hits.setdefault(role, []).append(prec)
    allv = [v for vs in hits.values() for v in vs]
    return {"precision": float(np.mean(allv)) if allv else 0.0, "queries": len(allv),
            "per_role": {r: (float(np.mean(v)), len(v)) for r, v in sorted(hits.items())}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("repos", nargs="+", type=Path)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--no-node2vec", action="store_true")
    ap.add_argument("--no-job", action="store_true", help="skip the whole-job cost measure")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    repos = []
    for p in args.repos:
        r = load(p, not args.no_node2vec, not args.no_job)
        repos.append(r)
        roles = [role_of(x) for x in r["paths"]]
        print(f"{r['name']}: {len(r['paths'])} files, {sum(x is not None for x in roles)} "
              f"with a role; graph {r['seconds']['graph']:.2f}s, role vectors "
              f"{r['seconds']['role'] * 1000:.0f} ms", flush=True)
    methods = ["random", "degree", "role"] + ([] if args.no_node2vec else ["node2vec"])
    rng = np.random.default_rng(0)
    res = {m: evaluate(repos, m, args.k, rng) for m in methods}
    roles = sorted({r for m in res.values() for r in m["per_role"]})
    print(f"\n| method | precision@{args.k} | " + " | ".join(roles) + " |")
    print("|---|---|" + "---|" * len(roles))
    for m in methods:
        pr = res[m]["per_role"]
        print(f"| {m} | {res[m]['precision']:.3f} | "
              + " | ".join(f"{pr[r][0]:.2f}" if r in pr else "" for r in roles) + " |")
    print("queries per role: " + ", ".join(f"{r} {res['role']['per_role'][r][1]}"
                                           for r in roles if r in res["role"]["per_role"]))
    base = res["degree"]["precision"]
    print(f"role / degree = {res['role']['precision'] / base:.2f}x (target >= 2x)"
          if base else "degree baseline is 0")
    if not args.no_job:
        print("\n| repository | files | job (s) | roles + descriptor (s) | share |")
        print("|---|---|---|---|---|")
        for r in repos:
            j = r["job"]
            print(f"| {r['name']} | {len(r['paths'])} | {j['seconds']:.2f} | {j['roles']:.3f} "
                  f"| {100 * j['roles'] / j['seconds']:.1f}% |")
        tot = sum(r["job"]["seconds"] for r in repos)
        rol = sum(r["job"]["roles"] for r in repos)
        print(f"all: roles + descriptor {rol:.2f} s of {tot:.1f} s of jobs = "
              f"{100 * rol / tot:.1f}% (target <= 10%)")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
