"""What sharing the embedded vector store costs (graph_jobs/stores/local_qdrant.py).

1. A lease is one load of the local Qdrant directory: its time at a few sizes.
2. A reader process beside a writer process uploading repositories: every read must
   succeed; how long the longest waited, and how long the uploads took.

    python bench/local_store_bench.py [--sizes 100,1000,5000,20000] [--writes 3x2000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _store(data: str):
    from graph_jobs.settings import JobSettings
    from graph_jobs.stores.vector_store import VectorStore

    return VectorStore(JobSettings(_env_file=None, PHAROS_DATA_DIR=data))


def _points(n: int, seed: int = 0):
    from graph_jobs.roles.role_features import DIM
    from graph_jobs.stores.vector_store import FilePoint

    rng = np.random.default_rng(seed)
    return [FilePoint(f"src/p{i // 100}/f{i}.py", "python", rng.standard_normal(64), 3, False,
                      rng.standard_normal(DIM)) for i in range(n)]


def lease_cost(sizes: list[int]) -> None:
    from qdrant_client import QdrantClient

    from graph_jobs.stores.vector_store import close_local_clients

    for n in sizes:
        data = tempfile.mkdtemp()
        vs = _store(data)
        t = time.perf_counter()
        vs.upsert_repository("bench", "c", "j", _points(n))
        upload = time.perf_counter() - t
        close_local_clients()
        t = time.perf_counter()
        QdrantClient(path=str(vs.settings.qdrant_path)).close()
        print(f"{n:>6} points: a lease (one load) {1000 * (time.perf_counter() - t):.0f} ms; "
              f"upload {upload:.1f} s", flush=True)


def writer(data: str, repos: int, n: int) -> None:
    vs = _store(data)
    for r in range(repos):
        t = time.perf_counter()
        vs.upsert_repository(f"repo{r}", "c", f"j{r}", _points(n, r))
        print(f"writer: repo{r} ({n} points) in {time.perf_counter() - t:.1f} s", flush=True)


def reader(data: str, seconds: float) -> None:
    from graph_jobs.stores.vector_store import _local_clients

    vs = _store(data)
    end, waits = time.perf_counter() + seconds, []
    while time.perf_counter() < end:
        t = time.perf_counter()
        vs.repository_points("repo0", with_vectors=False)
        waits.append(time.perf_counter() - t)
        time.sleep(0.2)
    leases = next(iter(_local_clients.values())).leases
    print(f"reader: {len(waits)} reads, none failed, longest {max(waits):.2f} s, "
          f"{leases} leases", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000,5000,20000")
    ap.add_argument("--writes", default="3x2000")
    ap.add_argument("--role", choices=("writer", "reader"))
    ap.add_argument("--data")
    a = ap.parse_args()
    repos, n = (int(x) for x in a.writes.split("x"))
    if a.role == "writer":
        return writer(a.data, repos, n)
    if a.role == "reader":
        return reader(a.data, 8.0)
    lease_cost([int(x) for x in a.sizes.split(",")])
    data = tempfile.mkdtemp()
    me = [sys.executable, __file__, "--writes", a.writes, "--data", data]
    w = subprocess.Popen(me + ["--role", "writer"])
    time.sleep(1.0)
    r = subprocess.Popen(me + ["--role", "reader"])
    if r.wait() or w.wait():
        sys.exit("a process failed")


if __name__ == "__main__":
    main()
