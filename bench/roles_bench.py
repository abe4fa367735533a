"""Cross-repository role search, judged by role names the vectors never see (issues 14, 30).

    python bench/roles_bench.py --corpus DIR [--split heldout13,bench16] [--k 5]
                                [--job] [--parse-cost] [--json out.json]
    python bench/roles_bench.py PATH [PATH ...]

``--corpus DIR`` reads :file:`bench/roles_corpus.txt` (each repository's split, the
folder name of its clone under ``DIR``, its public URL) and evaluates the repositories of
``--split`` (by default the two that the role weights never trained on: heldout13 and
bench16); or give local repositories as PATHs. Nothing of them is committed.

Each repository's graph and declarations are built as the job builds them, once, and
kept under ``--cache`` (``/tmp/pharos-roles``; keyed by the clone's commit and the
extractor's version). A file whose name says a role that most projects share is a
query; the roles and the names that say them (:data:`ROLES`) are labels from outside:
the vectors are built from the graph, the folders' shape, the language and what the
file declares, never from a name. For each query, the ``k`` nearest files in the
*other* repositories of the set are found by

- ``role``: the shipped role vectors (``graph_jobs.roles``: declarations + structure,
  the learned map of ``graph_jobs/roles/role_weights.json``);
- ``role14``: issue 14's role vectors (structure alone, hand weights, tests named by
  their paths): the figures issue 30 started from;
- ``degree``: Euclidean distance between (in-degree, out-degree), the issue's baseline;
- ``random``: ``k`` files drawn at random from the other repositories (mean of 20 draws).

precision@k is the share of the ``k`` that carry the query's role, averaged over the
queries (and shown per role).

Cost (``--job``): each repository is also ingested whole (``run_ingest``, history
included, into a temporary store) and the time the role vectors and the repository
descriptor took (``timings["roles"]``) is shown beside the job's. ``--parse-cost``: the
parse stage's time with and without the declarations (one core, every file parsed).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS_LIST = ROOT / "bench" / "roles_corpus.txt"
CACHE = Path("/tmp/pharos-roles")

ROLES = {  # role -> a rule on the file's stem (lower case) and name; the first that
    # holds names the role. Test support comes before the utilities, as in issue 30's
    # table (`test_utils` is test support): until session 15 the utilities' suffix rule
    # took `test_utils`, `testutil(s)` and `test_helpers` first
    "test support": lambda s, n: s in ("conftest", "testutil", "testutils", "test_utils",
                                       "testing", "test_helpers", "testhelpers", "fixtures"),
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
}


def role_of(path: str) -> str | None:
    name = PurePosixPath(path).name
    stem = name.split(".")[0].lower()
    for role, rule in ROLES.items():
        if rule(stem, name.lower()):
            return role
    return None


def corpus(split: str | None = None) -> list[tuple[str, str, str]]:
    """``(split, folder name, URL)`` of :data:`CORPUS_LIST`, of ``split`` (a comma list)
    or all."""
    want = set(split.split(",")) if split else None
    out = []
    for line in CORPUS_LIST.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            group, name, url = line.split()
            if want is None or group in want:
                out.append((group, name, url))
    return out


def repo_data(path: Path, cache: Path = CACHE) -> dict:
    """The repository's files, languages, import edges and declarations, as the job's
    graph stage finds them; cached on disk (commit + extractor version)."""
    from graph_jobs.graph.extract import EXTRACTOR_VERSION

    commit = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "nogit"
    key = cache / f"{path.name}-{commit[:12]}-v{EXTRACTOR_VERSION}.json"
    if key.exists():
        return json.loads(key.read_text())
    from graph_jobs.graph.graph_job import graph_for
    from pharos_cli.settings import Settings

    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    graph = graph_for(str(path), Settings(_env_file=None, PHAROS_DATA_DIR=str(cache / "data")),
                      use_cache=False)
    idx = {f.path: i for i, f in enumerate(graph.files)}
    out = {"name": path.name, "commit": commit,
           "paths": [f.path for f in graph.files],
           "languages": [f.language for f in graph.files],
           "edges": sorted({(idx[e.source], idx[e.target]) for e in graph.edges
                            if e.source in idx and e.target in idx and e.source != e.target}),
           "declarations": [graph.declarations.get(f.path, {}) for f in graph.files],
           "seconds": {"graph": time.perf_counter() - t0, **graph.timings}}
    key.write_text(json.dumps(out))
    return out


def with_features(r: dict) -> dict:
    """``raw`` (the role vector's inputs), ``role14`` (issue 14's vector) and ``degree``."""
    from graph_jobs.relations.tests_and_sources import is_test
    from graph_jobs.roles.role_features import _W, raw_features, structural_features

    n, edges = len(r["paths"]), [tuple(e) for e in r["edges"]]
    t0 = time.perf_counter()
    r["raw"] = raw_features(r["paths"], r["languages"], edges, declarations=r["declarations"])
    r["seconds_raw"] = time.perf_counter() - t0
    r["role14"] = structural_features(r["paths"], r["languages"], edges,
                                      [is_test(p) for p in r["paths"]]) * _W
    e = np.array(edges, dtype=np.int64).reshape(-1, 2)
    r["degree"] = np.c_[np.bincount(e[:, 1], minlength=n), np.bincount(e[:, 0], minlength=n)]
    r["labels"] = np.array([role_of(p) or "" for p in r["paths"]])
    return r


def evaluate(repos: list[dict], method: str, k: int, rng: np.random.Generator,
             asks: str | None = None) -> dict:
    """precision@k of ``method`` (a key of each repository: its vectors, or "random");
    ``asks``: the key of the vectors a question asks with, when not the stored ones
    (``RoleModel.query``)."""
    hits: dict[str, list[float]] = {}
    for qi, q in enumerate(repos):
        others = [r for j, r in enumerate(repos) if j != qi]
        cand_roles = np.concatenate([r["labels"] for r in others])
        if method != "random":
            cand = np.vstack([r[method] for r in others]).astype(np.float64)
        for i, role in enumerate(q["labels"]):
            if not role:
                continue
            if method == "random":
                prec = np.mean([np.mean(cand_roles[rng.choice(len(cand_roles), k,
                                                              replace=False)] == role)
                                for _ in range(20)])
            else:
                d = np.linalg.norm(cand - q[asks or method][i], axis=1)
                top = np.argsort(d, kind="stable")[:k]
                prec = float(np.mean(cand_roles[top] == role))
            hits.setdefault(role, []).append(prec)
    allv = [v for vs in hits.values() for v in vs]
    return {"precision": float(np.mean(allv)) if allv else 0.0, "queries": len(allv),
            "per_role": {r: (float(np.mean(v)), len(v)) for r, v in sorted(hits.items())}}


def table(res: dict, k: int) -> str:
    methods = list(res)
    roles = sorted({r for m in res.values() for r in m["per_role"]},
                   key=lambda r: -res[methods[0]]["per_role"][r][1])
    first = res[methods[0]]["per_role"]
    lines = ["| role | queries | " + " | ".join(f"{m} p@{k}" for m in methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for r in roles:
        lines.append(f"| {r} | {first[r][1]} | "
                     + " | ".join(f"{res[m]['per_role'][r][0]:.2f}" for m in methods) + " |")
    lines.append(f"| **all** | {res[methods[0]]['queries']} | "
                 + " | ".join(f"**{res[m]['precision']:.3f}**" for m in methods) + " |")
    return "\n".join(lines)


def parse_cost(path: Path, files: list[str], languages: list[str]) -> tuple[float, float]:
    """Seconds to parse every file for its imports alone, and for imports + declarations."""
    from graph_jobs.graph.extract import extract_file, extract_imports

    data = [(lang, (path / p).read_bytes()) for p, lang in zip(files, languages, strict=True)]
    out = []
    for fn in (extract_imports, extract_file):
        t0 = time.perf_counter()
        for lang, b in data:
            fn(lang, b)
        out.append(time.perf_counter() - t0)
    return out[0], out[1]


def job_cost(path: Path) -> dict:
    import tempfile

    from graph_jobs.pipeline import Stores, run_ingest
    from graph_jobs.stores.vector_store import close_local_clients
    from pharos_cli.settings import Settings

    with tempfile.TemporaryDirectory(prefix="pharos-roles-") as tmp:
        st = Settings(_env_file=None, PHAROS_DATA_DIR=tmp)
        stores = Stores.open(st)
        res = run_ingest(str(path), st, stores=stores)
        stores.metadata.dispose()
        close_local_clients()
    return {"seconds": res.duration_seconds, "roles": res.timings.get("roles", 0.0),
            "parse": res.timings.get("graph.parse", res.timings.get("parse", 0.0))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("repos", nargs="*", type=Path)
    ap.add_argument("--corpus", type=Path, help="folder of clones named as in roles_corpus.txt")
    ap.add_argument("--split", default="heldout13,bench16")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--job", action="store_true", help="measure the whole job's cost too")
    ap.add_argument("--parse-cost", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    paths = list(args.repos)
    if args.corpus:
        paths += [args.corpus / name for _g, name, _u in corpus(args.split)]
    if len(paths) < 2:
        ap.error("give two repositories or more (PATHs or --corpus)")
    from graph_jobs.roles.role_weights import model, project

    repos = []
    for p in paths:
        r = with_features(repo_data(p, args.cache))
        r["role"] = project(r["raw"])
        r["role_asks"] = model().query(r["role"])
        repos.append(r)
        print(f"{r['name']}: {len(r['paths'])} files, {int((r['labels'] != '').sum())} with a "
              f"role; raw role features {r['seconds_raw'] * 1000:.0f} ms", flush=True)
    methods = ["random", "degree", "role14", "role"]
    rng = np.random.default_rng(0)
    res = {m: evaluate(repos, m, args.k, rng, asks="role_asks" if m == "role" else None)
           for m in methods}
    print(f"\nprecision@{args.k} on {len(repos)} repositories ({args.split if args.corpus else 'given'})"
          ":\n" + table({m: res[m] for m in ("role", "role14", "degree", "random")}, args.k))
    out = {"methods": res}
    if args.parse_cost:
        print("\n| repository | files | parse, imports only (s) | parse, imports + "
              "declarations (s) | added |\n|---|---|---|---|---|")
        tot = [0.0, 0.0]
        for p, r in zip(paths, repos, strict=True):
            a, b = parse_cost(p, r["paths"], r["languages"])
            tot[0] += a
            tot[1] += b
            print(f"| {r['name']} | {len(r['paths'])} | {a:.2f} | {b:.2f} | {b - a:+.2f} |",
                  flush=True)
        print(f"all: {tot[0]:.1f} s -> {tot[1]:.1f} s ({100 * (tot[1] / tot[0] - 1):+.0f}%)")
        out["parse"] = tot
    if args.job:
        print("\n| repository | files | job (s) | parse (s) | roles + descriptor (s) | share |"
              "\n|---|---|---|---|---|---|")
        jobs = []
        for p, r in zip(paths, repos, strict=True):
            j = job_cost(p)
            jobs.append(j)
            print(f"| {r['name']} | {len(r['paths'])} | {j['seconds']:.2f} | {j['parse']:.2f} "
                  f"| {j['roles']:.3f} | {100 * j['roles'] / j['seconds']:.1f}% |", flush=True)
        tot = sum(j["seconds"] for j in jobs)
        rol = sum(j["roles"] for j in jobs)
        print(f"all: roles + descriptor {rol:.2f} s of {tot:.1f} s of jobs = "
              f"{100 * rol / tot:.1f}% (target <= 10%)")
        out["jobs"] = jobs
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
