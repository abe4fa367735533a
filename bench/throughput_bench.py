"""Repositories per hour through the whole system on this machine.

    python bench/throughput_bench.py [--copies 2] [--actors 2] [--slots 2]

The ingress (uvicorn, in this process) receives POSTs over HTTP; the queue is the
machine's Redis (database 13); the pool runs on the real Ray runtime with logical GPUs
(`--actors` of them, one actor each, `--slots` jobs in flight per actor); metadata in
the machine's PostgreSQL (a fresh database), vectors in local Qdrant through the store
actor. The repositories are git repositories made from installed packages of 60-160
Python files each (~100 on average), `--copies` of each in different places; the parse
cache is off so every job parses everything. Throughput = jobs / (last completion -
first POST). The old system claimed ~15 repositories per hour on a GPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PACKAGES = ["markdown_it", "joblib", "alembic", "cryptography", "_pytest", "mpmath",
            "virtualenv", "rich", "hypothesis", "pydantic", "qdrant_client", "redis"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--slots", type=int, default=2)
    args = ap.parse_args()

    import httpx
    import psycopg2
    import ray
    import redis
    import uvicorn

    from cluster.actor_pool import WorkerPool
    from cluster.store_actor import VectorStoreProxy
    from devkit.repos import repo_from_packages
    from pharos_cli.settings import Settings
    from serve_app.app import create_app
    from serve_app.services import IngressServices

    work = Path(tempfile.mkdtemp(prefix="pharos-tp-"))
    repos = []
    for c in range(args.copies):
        for pkg in PACKAGES:
            repos.append(repo_from_packages(work / f"{pkg}-{c}", [pkg]))
    n_files = [sum(1 for _ in r.rglob("*.py")) for r in repos]
    db = f"pharos_tp_{os.getpid()}"
    admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{db}"')
    redis.Redis(db=13).flushdb()
    env = {"REDIS_URL": "redis://127.0.0.1:6379/13",
           "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{db}",
           "PHAROS_DATA_DIR": str(work / "data"), "PHAROS_ALLOW_LOCAL_REPOS": "1",
           "PHAROS_ADMIN_TOKEN": "tok", "MAX_QUEUE_SIZE": "1000", "PHAROS_PARSE_CACHE": "0",
           "PHAROS_IDLE_POLL_MAX_S": "0.5", "PHAROS_PARSE_WORKERS": "1"}
    os.environ.update(env)
    settings = Settings(_env_file=None)
    ray.init(address="local", num_gpus=args.actors, include_dashboard=False, log_to_driver=False)
    pool = WorkerPool(settings, slots=args.slots, grace_s=10)
    pool.start()
    from cluster.job_queue import JobQueue

    q = JobQueue.from_settings(settings)
    while len(q.status()["workers"]) < args.actors * args.slots:
        time.sleep(0.5)
    app = create_app(settings, IngressServices(settings,
                                               vectors=VectorStoreProxy(pool.store_handle)))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=18765, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.1)
    try:
        with httpx.Client(base_url="http://127.0.0.1:18765", timeout=30) as c:
            t0 = time.time()
            ids = []
            for r in repos:
                resp = c.post(f"/api/v1/ingestion/ingest/file://{r}",
                              headers={"Authorization": "Bearer tok"})
                resp.raise_for_status()
                ids.append(resp.json()["job_id"])
            while True:
                hist = c.get("/api/v1/ingestion/jobs/history?limit=100").json()["jobs"]
                done = {h["job_id"]: h for h in hist if h["job_id"] in set(ids)}
                if len(done) == len(ids):
                    break
                time.sleep(0.2)
            wall = time.time() - t0
        ok = [h for h in done.values() if h["status"] == "complete"]
        durs = [h["duration_seconds"] for h in ok]
        print(f"{len(ids)} repositories ({statistics.mean(n_files):.0f} .py files on average, "
              f"{min(n_files)}-{max(n_files)}), {args.actors} actors x {args.slots} slots, "
              f"{os.cpu_count()} cores")
        print(f"complete {len(ok)}/{len(ids)} in {wall:.1f} s -> "
              f"{len(ok) / wall * 3600:,.0f} repositories/hour "
              f"(job time p50 {statistics.median(durs):.2f} s, max {max(durs):.2f} s)")
        stages = {}
        for h in ok:
            for k, v in (h.get("timings") or {}).items():
                stages.setdefault(k, []).append(v)
        print("mean stage seconds: " + ", ".join(
            f"{k} {statistics.mean(v):.2f}" for k, v in sorted(stages.items())))
    finally:
        server.should_exit = True
        pool.drain()
        ray.shutdown()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
