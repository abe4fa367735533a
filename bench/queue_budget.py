"""Redis command budget of the queue, counted by Redis itself (INFO commandstats).

    python bench/queue_budget.py [--jobs 20] [--idle-seconds 20]

For each transport (redis-py over TCP; upstash-redis over REST through the test gateway)
against a private redis-server: commands per job (enqueue → claim → stage updates →
ack, a 1-second job with the four pipeline stages), and commands per idle worker-day
(an idle worker measured with its poll ceiling scaled down, extrapolated to the
production ceiling of 60 s). "Billed" commands are the top-level ones a client sends
(EVAL/EVALSHA/BLMOVE/...: what Upstash counts); "internal" are the commands the Lua
scripts run inside Redis, shown for completeness.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

from cluster.edge_worker import EdgeWorker  # noqa: E402
from cluster.job_queue import JobQueue  # noqa: E402
from cluster.redis_transport import RedisTransport, UpstashTransport  # noqa: E402
from graph_jobs.pipeline import IngestResult  # noqa: E402
from graph_jobs.settings import Settings  # noqa: E402
from tests.cluster.test_job_queue import _free_port, _start_redis  # noqa: E402
from tests.support.upstash_gateway import UpstashGateway  # noqa: E402

TOP_LEVEL = {"eval", "evalsha", "blmove", "ping", "script|load", "script", "lrange"}


def counts(r: redis.Redis) -> tuple[int, int]:
    stats = r.info("commandstats")
    billed = internal = 0
    for name, v in stats.items():
        cmd = name.removeprefix("cmdstat_")
        if cmd in ("info", "config|resetstat", "config"):
            continue
        if cmd in TOP_LEVEL:
            billed += v["calls"]
        else:
            internal += v["calls"]
    return billed, internal


def fake_job(task, lease):
    for stage in ("clone", "graph", "embed", "store"):
        lease.progress(stage, 0.0)
        time.sleep(0.25)
    return IngestResult(task.job_id, task.repo_url, "c", "complete", files_processed=100,
                        embeddings_generated=100, duration_seconds=1.0)


def measure(kind: str, url: str, jobs: int, idle_s: float, ceiling: float) -> dict:
    r = redis.Redis.from_url(url)
    gw = UpstashGateway(url).__enter__() if kind == "upstash-rest" else None
    t = RedisTransport(url) if gw is None else UpstashTransport(gw.url, gw.token)
    q = JobQueue(t, max_size=1000, lease_s=60)
    settings = Settings(_env_file=None)
    w = EdgeWorker(q, settings, worker_id="bench", run_job=fake_job, idle_poll_min_s=0.05,
                   idle_poll_max_s=0.5)
    w.announce()
    r.config_resetstat()
    for i in range(jobs):
        q.enqueue(f"https://github.com/o/r{i}")
        out = w.poll_once()
        assert out.status == "complete", out
    per_job = counts(r)
    # idle: let the backoff reach its ceiling, then count over idle_s
    stop = threading.Event()
    th = threading.Thread(target=w.run_forever, args=(stop,), daemon=True)
    th.start()
    time.sleep(3)
    r.config_resetstat()
    t0 = time.time()
    time.sleep(idle_s)
    idle = counts(r)
    el = time.time() - t0
    stop.set()
    th.join(5)
    if gw:
        gw.__exit__(None, None, None)
    scale = 0.5 / ceiling  # measured with a 0.5 s ceiling, production uses `ceiling`
    return {"per_job": per_job[0] / jobs, "per_job_internal": per_job[1] / jobs,
            "idle_day": idle[0] / el * 86400 * scale}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--idle-seconds", type=float, default=20)
    ap.add_argument("--ceiling", type=float, default=60.0, help="production idle poll ceiling")
    args = ap.parse_args()
    port = _free_port()
    proc = _start_redis(port, tempfile.mkdtemp())
    try:
        print(f"| transport | billed commands per job | script-internal per job | "
              f"billed commands per idle worker-day (ceiling {args.ceiling:.0f} s) |")
        print("|---|---|---|---|")
        for kind in ("redis", "upstash-rest"):
            m = measure(kind, f"redis://127.0.0.1:{port}/0", args.jobs, args.idle_seconds,
                        args.ceiling)
            print(f"| {kind} | {m['per_job']:.1f} | {m['per_job_internal']:.1f} | "
                  f"{m['idle_day']:.0f} |", flush=True)
        print("\ntargets: <= 25 per job, <= 2,000 per idle worker-day (Upstash free plan: "
              "10,000/day)")
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
