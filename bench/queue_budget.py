"""Redis command budget of the queue, counted by Redis itself (INFO commandstats).

    python bench/queue_budget.py [--jobs 20] [--idle-seconds 400] [--pool-size 2] [--slots 2]
                                 [--ceiling 90]

Two transports, each against a private redis-server: redis-py over TCP, and upstash-redis
over REST through the test gateway (what Upstash's free plan gives).

1. **Per job**: billed commands for enqueue → claim → stage updates → ack of a 1-second
   job with the four pipeline stages (one standalone EdgeWorker, in this process).
2. **An idle edge machine, the real process**: ``python -m pharos_cli worker --num-gpus 0
   --pool-size P --slots S`` is started against the private Redis (it starts its own Ray),
   left idle until every slot heartbeats and one idle cycle has passed, and then Redis
   counts every command for ``--idle-seconds``, by name.
3. **The baseline, in the same run**: the design before this change, one claim loop per
   slot (P x S standalone EdgeWorker loops, as each actor ran them), same transport, same
   ceiling, same window.

``--ceiling`` sets ``PHAROS_IDLE_POLL_MAX_S`` for both. At the production ceiling (90 s,
the default) the figures need no scaling; a smaller ceiling (a quick run) is scaled to 90
s (every idle command of both designs follows the ceiling; the breakdown shows them).
"Billed" commands are the top-level ones a client sends (EVALSHA/EVAL/BLMOVE/PING/...:
what Upstash counts); "internal" are the commands the Lua scripts run inside Redis.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from cluster.edge_worker import EdgeWorker  # noqa: E402
from cluster.job_queue import JobQueue  # noqa: E402
from cluster.redis_transport import RedisTransport, UpstashTransport  # noqa: E402
from cluster.statuses import JobStatus  # noqa: E402
from devkit.private_services import PrivateRedis  # noqa: E402
from devkit.upstash_gateway import UpstashGateway  # noqa: E402
from graph_jobs.job_record import JobRecord  # noqa: E402
from graph_jobs.repository_ref import RepoRef  # noqa: E402
from pharos_cli.settings import Settings  # noqa: E402

TOP_LEVEL = {"eval", "evalsha", "blmove", "ping", "script|load", "script", "lrange",
             "hello", "client|setinfo", "select"}
PRODUCTION_CEILING = 90.0


def counts(r: redis.Redis) -> tuple[dict[str, int], dict[str, int]]:
    """(billed, internal) calls by command name since the last CONFIG RESETSTAT."""
    billed, internal = {}, {}
    for name, v in r.info("commandstats").items():
        cmd = name.removeprefix("cmdstat_")
        if cmd in ("info", "config|resetstat", "config"):
            continue
        (billed if cmd in TOP_LEVEL else internal)[cmd] = v["calls"]
    return billed, internal


def fake_job(task, lease):
    for stage in ("clone", "graph", "embed", "store"):
        lease.progress(stage, 0.0)
        time.sleep(0.25)
    return JobRecord(task.job_id, task.repo, JobStatus.COMPLETE, commit="c", files_processed=100,
                        embeddings_generated=100, duration_seconds=1.0)


class Transport:
    """One transport against its own private redis-server."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.server = PrivateRedis()
        self.server.start()
        self.r = redis.Redis.from_url(self.server.url)
        self.gw = UpstashGateway(self.server.url).__enter__() if kind == "upstash-rest" else None

    def client(self):
        if self.gw is None:
            return RedisTransport(self.server.url)
        return UpstashTransport(self.gw.url, self.gw.token)

    def env(self) -> dict[str, str]:
        if self.gw is None:
            return {"REDIS_URL": self.server.url}
        return {"UPSTASH_REDIS_REST_URL": self.gw.url, "UPSTASH_REDIS_REST_TOKEN": self.gw.token}

    def close(self) -> None:
        if self.gw is not None:
            self.gw.__exit__(None, None, None)
        self.server.close()


def per_job(kind: str, jobs: int) -> tuple[float, float]:
    t = Transport(kind)
    try:
        q = JobQueue(t.client(), max_size=1000, lease_s=60)
        w = EdgeWorker(q, Settings(_env_file=None), worker_id="bench", run_job=fake_job,
                       idle_poll_min_s=0.05, idle_poll_max_s=0.5)
        w.announce()
        t.r.config_resetstat()
        for i in range(jobs):
            q.enqueue(RepoRef.parse(f"https://github.com/o/r{i}"))
            out = w.poll_once()
            assert out.status == "complete", out
        billed, internal = counts(t.r)
        return sum(billed.values()) / jobs, sum(internal.values()) / jobs
    finally:
        t.close()


def _slots_beating(r: redis.Redis, n: int) -> bool:
    return len(r.keys("worker_status:*")) >= n


def idle_real_process(kind: str, pool: int, slots: int, ceiling: float, window: float,
                      out: dict) -> None:
    """The real ``pharos worker`` process, idle."""
    t = Transport(kind)
    data = tempfile.mkdtemp(prefix="pharos-budget-")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "RAY_ADDRESS")}
    env.update(t.env(), PHAROS_DATA_DIR=data, PHAROS_IDLE_POLL_MAX_S=str(ceiling),
               RAY_USAGE_STATS_ENABLED="0")
    proc = subprocess.Popen([sys.executable, "-m", "pharos_cli", "worker", "--num-gpus", "0",
                             "--pool-size", str(pool), "--slots", str(slots),
                             "--no-dashboard"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while not _slots_beating(t.r, pool * slots):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"{kind}: pharos worker did not come up (rc {proc.poll()})")
            time.sleep(1)
        time.sleep(2 * ceiling + 5)  # past the start-up and one whole idle cycle
        t.r.config_resetstat()
        t0 = time.time()
        time.sleep(window)
        billed, internal = counts(t.r)
        out[kind] = {"billed": billed, "internal": internal, "seconds": time.time() - t0,
                     "alive": proc.poll() is None}
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        t.close()


def idle_baseline(kind: str, loops: int, ceiling: float, window: float, out: dict) -> None:
    """The design before: one standalone claim loop per slot, in this process."""
    t = Transport(kind)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        workers = [EdgeWorker(JobQueue(t.client()), Settings(_env_file=None),
                              worker_id=f"old.{i}", idle_poll_max_s=ceiling)
                   for i in range(loops)]
        threads = [threading.Thread(target=w.run_forever, args=(stop,), daemon=True)
                   for w in workers]
        for th in threads:
            th.start()
        time.sleep(2 * ceiling + 5)
        t.r.config_resetstat()
        t0 = time.time()
        time.sleep(window)
        billed, internal = counts(t.r)
        out[kind] = {"billed": billed, "internal": internal, "seconds": time.time() - t0}
    finally:
        stop.set()
        for th in threads:  # a loop blocked in BLMOVE ends within its block
            th.join(2 * ceiling + 5)
        t.close()


def per_day(m: dict, ceiling: float) -> float:
    return sum(m["billed"].values()) / m["seconds"] * 86400 * (ceiling / PRODUCTION_CEILING)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--idle-seconds", type=float, default=400)
    ap.add_argument("--pool-size", type=int, default=2)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--ceiling", type=float, default=PRODUCTION_CEILING,
                    help="PHAROS_IDLE_POLL_MAX_S for the run (figures scaled to 90 s)")
    args = ap.parse_args()
    kinds = ("redis", "upstash-rest")
    real, old = {}, {}
    threads = [threading.Thread(target=idle_real_process,
                                args=(k, args.pool_size, args.slots, args.ceiling,
                                      args.idle_seconds, real)) for k in kinds]
    threads += [threading.Thread(target=idle_baseline,
                                 args=(k, args.pool_size * args.slots, args.ceiling,
                                       args.idle_seconds, old)) for k in kinds]
    for th in threads:
        th.start()
    jobs = {k: per_job(k, args.jobs) for k in kinds}
    for th in threads:
        th.join()
    print(f"idle edge machine: pharos worker --num-gpus 0 --pool-size {args.pool_size} "
          f"--slots {args.slots}; window {args.idle_seconds:.0f} s at ceiling "
          f"{args.ceiling:g} s (scaled to {PRODUCTION_CEILING:g} s)\n")
    print("| transport | billed per job | internal per job | idle machine, billed per day "
          "| baseline: one loop per slot, billed per day |")
    print("|---|---|---|---|---|")
    for k in kinds:
        if k not in real or k not in old:
            print(f"| {k} | measurement failed |")
            continue
        print(f"| {k} | {jobs[k][0]:.1f} | {jobs[k][1]:.1f} | {per_day(real[k], args.ceiling):.0f} "
              f"| {per_day(old[k], args.ceiling):.0f} |")
    print("\nidle window, commands by name (billed; internal to the scripts):")
    for k in kinds:
        for label, m in (("pharos worker", real.get(k)), ("baseline", old.get(k))):
            if m:
                print(f"- {k}, {label} ({m['seconds']:.0f} s): billed {m['billed']}; "
                      f"internal {m['internal']}")
    print("\ntargets: <= 25 per job; <= 1,000 per idle machine-day whatever its pool size "
          "(Upstash free plan: 10,000/day)")


if __name__ == "__main__":
    main()
