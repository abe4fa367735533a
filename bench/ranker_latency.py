"""What one ranking of related files costs on a 2,500-file repository.

    python bench/ranker_latency.py [--files 2500] [--commits 600] [--queries 200]

Builds a Python repository of ``--files`` files in 50 folders (each file imports up to
three earlier ones and names words drawn from a shared vocabulary) with a history of
``--commits`` commits of 2 to 6 files each, ingests it (``run_ingest``: SQLite + local
Qdrant, as ``pharos ingest``), then asks ``related_files`` (what ``pharos similar``
answers) for ``--queries`` seeded files, each timed whole (Qdrant search, the store's
signals, the features, the model). The first question of a process also reads the import
graph and the repository's vectors (once per stored job): reported apart, as ``first``.
Then the same questions with the hand weights (``PHAROS_RANKER=hand``), the same with
Qdrant's filtered search on every question instead of the held vectors
(:mod:`graph_jobs.relations.repository_vectors`; what ``similar`` did before), and the
features + model alone.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = [f"{a}{b}" for a in ("parse", "load", "save", "render", "token", "cache", "index",
                             "route", "query", "frame", "buffer", "stream", "socket",
                             "config", "schema", "record")
         for b in ("", "_item", "_table", "_node", "_state", "_value", "_list", "_map")]


def build(repo: Path, n_files: int, n_commits: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    repo.mkdir(parents=True)
    paths = [f"pkg/m{i % 50:02d}/f{i:04d}.py" for i in range(n_files)]

    def text(i: int, rev: int) -> str:
        r = random.Random(f"{seed}:{i}")
        deps = sorted({r.randrange(i) for _ in range(3)}) if i else []
        lines = [f"from pkg.m{d % 50:02d} import f{d:04d}" for d in deps]
        words = r.sample(WORDS, 6)
        lines += [f"def {w}_{k}(x):\n    return x + {rev}\n" for k, w in enumerate(words)]
        return "\n".join(lines) + "\n"

    for i, p in enumerate(paths):
        f = repo / p
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text(i, 0))
    for m in range(50):
        (repo / f"pkg/m{m:02d}/__init__.py").write_text("")
    (repo / "pkg/__init__.py").write_text("")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env,
                       capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "root")
    for c in range(n_commits):
        base = rng.randrange(n_files)
        touched = {base} | {min(n_files - 1, base + rng.randrange(1, 40))
                            for _ in range(rng.randrange(1, 6))}
        for i in touched:
            (repo / paths[i]).write_text(text(i, c + 1))
        git("commit", "-q", "-a", "-m", f"c{c}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=2500)
    ap.add_argument("--commits", type=int, default=600)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()

    from graph_jobs.pipeline import Stores, run_ingest
    from graph_jobs.relations import learned_ranker
    from graph_jobs.relations.ranker_features import import_graph, pair_features
    from graph_jobs.relations.related_files import candidates, related_files
    from pharos_cli.settings import Settings

    with tempfile.TemporaryDirectory(prefix="pharos-latency-") as tmp:
        repo = Path(tmp) / "repo"
        t0 = time.perf_counter()
        build(repo, args.files, args.commits)
        settings = Settings(_env_file=None, PHAROS_DATA_DIR=str(Path(tmp) / "data"))
        stores = Stores.open(settings)
        res = run_ingest(str(repo), settings, stores=stores)
        assert res.status == "complete", res.error
        print(f"built and ingested {args.files} files, {args.commits} commits in "
              f"{time.perf_counter() - t0:.1f}s ({res.relations})")
        files = sorted(f["path"] for f in stores.metadata.repository_files(res.repo_url))
        qs = random.Random(1).sample(files, min(args.queries, len(files)))
        model = learned_ranker.load()
        print(f"model: {'the shipped ranker_model.json' if model else 'NONE (hand weights)'}")

        def timed(fn) -> np.ndarray:
            out = []
            for q in qs:
                t = time.perf_counter()
                fn(q)
                out.append((time.perf_counter() - t) * 1000)
            return np.array(out)

        t = time.perf_counter()
        related_files(stores.vectors, stores.metadata, res.repo_url, qs[0])
        first = (time.perf_counter() - t) * 1000
        rows = {"learned, whole ranking": timed(lambda q: related_files(
            stores.vectors, stores.metadata, res.repo_url, q))}
        rows["hand weights, whole ranking"] = timed(lambda q: related_files(
            stores.vectors, stores.metadata, res.repo_url, q, model=None))
        # before: Qdrant's filtered search on every question (no vectors held)
        from graph_jobs.relations import repository_vectors as rv

        held = rv.repository_vectors
        rv.repository_vectors = lambda *a, **k: None
        try:
            rows["learned, whole ranking, Qdrant search per question (before)"] = timed(
                lambda q: related_files(stores.vectors, stores.metadata, res.repo_url, q))
        finally:
            rv.repository_vectors = held
        graph = import_graph(stores.metadata, res.repo_url)
        prepared = {}
        for q in qs:
            c, s = candidates(stores.vectors, stores.metadata, res.repo_url, q, 100)
            prepared[q] = ([x for x in c if x[0] != q], s)
        rows["features alone"] = timed(lambda q: pair_features(q, *prepared[q], graph))
        if model is not None:
            feats = {q: pair_features(q, *prepared[q], graph) for q in qs}
            rows["model alone"] = timed(lambda q: model.score(feats[q]))
        print(f"first question of the process (reads the import graph and the vectors): "
              f"{first:.1f} ms")
        print(f"candidates per question: median "
              f"{np.median([len(v[0]) for v in prepared.values()]):.0f}")
        print("| what | p50 (ms) | p95 (ms) | max (ms) |")
        print("|---|---|---|---|")
        for k, v in rows.items():
            print(f"| {k} | {np.percentile(v, 50):.1f} | {np.percentile(v, 95):.1f} | "
                  f"{v.max():.1f} |")
        from graph_jobs.stores.vector_store import close_local_clients

        close_local_clients()
        stores.metadata.dispose()


if __name__ == "__main__":
    main()
