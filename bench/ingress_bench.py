"""Ingress latency, throughput and memory, under uvicorn and under Ray Serve.

    python bench/ingress_bench.py [--rate 200] [--seconds 10] [--runtimes uvicorn,serve]

Starts `pharos serve --runtime R` against the machine's Redis (database 15, flushed),
then a load generator in another process sends requests at a fixed rate (open loop)
to the enqueue endpoint (POST, distinct local repositories, PHAROS_ALLOW_LOCAL_REPOS=1,
so no DNS is involved) and to the worker-status endpoint (GET). Prints p50/p95/p99
latency and achieved requests/s, then the total PSS of every process of the running
ingress (the server and all its descendants: Ray's GCS, raylet, workers, proxy...).

The ingress runs with a cloud deployment's settings: PostgreSQL (the machine's server,
database ``pharos_bench``) and a Qdrant URL. No Qdrant server exists here, so the URL is
``bench/read_cost_bench.py``'s QdrantRestServer: the REST calls the ingress makes,
answered by qdrant-client's local mode in another process, over a stored repository of
``--files`` files in import chains (20,000 by default; the same rows in PostgreSQL).
Memory is measured after ``/health`` has answered (Render calls it every few seconds),
again after the load, then after each read path in turn: a similar-file search (it
loads qdrant-client and SQLAlchemy), the whole map (pages of 10,000 files), the list of
repositories, and a role search across repositories. The rate limit is off
(``PHAROS_RATE_LIMIT=0``): one load generator is one client here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serve_app.ray_runtime import free_port  # noqa: E402

READ_TARGET_MB = 450  # issue 25: the Ray Serve ingress after every read path


def pss_mb(pid: int, breakdown: bool = False) -> tuple[float, int]:
    """Total PSS (MB) of ``pid`` and its descendants; ``breakdown`` prints each process."""
    import psutil

    procs = [psutil.Process(pid)] + psutil.Process(pid).children(recursive=True)
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            pss = p.memory_full_info().pss
            total += pss
            if breakdown:
                print(f"|     {pss / 2**20:6.1f} MB | {' '.join(p.cmdline())[:90]} |", flush=True)
    return total / 2**20, len(procs)


def mapped_packages(pid: int) -> list[str]:
    """The site-packages whose shared libraries the largest process of ``pid``'s tree has
    mapped (scipy, tree_sitter, ...: what a read path loaded that stays)."""
    import psutil

    procs = [psutil.Process(pid)] + psutil.Process(pid).children(recursive=True)
    big = max(procs, key=lambda p: p.memory_info().rss)
    found = set()
    with open(f"/proc/{big.pid}/maps") as fh:
        for line in fh:
            path = line.split()[-1] if line.count("/") else ""
            if "site-packages/" in path and path.endswith((".so", ".pyd")) or ".so." in path:
                part = path.split("site-packages/")[-1].split("/")[0] \
                    if "site-packages/" in path else ""
                if part:
                    found.add(part.split(".libs")[0].removesuffix(".libs"))
    return sorted(found)


async def _request(pool: list, host: str, port: int, raw: bytes) -> int:
    """One HTTP/1.1 request on a kept-alive connection from ``pool`` (or a new one).

    A pooled connection the server has closed meanwhile is retried once on a new one;
    any other failure counts as status 0 (reported in the codes, never dropped)."""
    for attempt in (0, 1):
        reused = bool(pool) and attempt == 0
        try:
            return await _exchange(pool, host, port, raw, reused)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            if not reused:
                return 0
    return 0


async def _exchange(pool: list, host: str, port: int, raw: bytes, reused: bool) -> int:
    reader, writer = pool.pop() if reused else await asyncio.open_connection(host, port)
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    pool.append((reader, writer))
    return status


async def _load(url: str, method: str, rate: float, seconds: float, paths: list[str],
                token: str) -> dict:
    """Open-loop load: request i is sent at start + i/rate whatever the answers do.

    A raw asyncio HTTP/1.1 client (kept-alive connections, opened as needed): on 2 cores
    the load generator shares the CPU with the server, and httpx costs several times more
    CPU per request than this.
    """
    from urllib.parse import urlsplit

    u = urlsplit(url)
    host, port = u.hostname, u.port
    lat: list[float] = []
    codes: dict[int, int] = {}
    pool: list = []

    def raw(i: int) -> bytes:
        if method == "POST":
            return (f"POST /api/v1/ingestion/ingest/file://{paths[i % len(paths)]} HTTP/1.1\r\n"
                    f"Host: {host}\r\nAuthorization: Bearer {token}\r\n"
                    f"Content-Length: 0\r\n\r\n").encode()
        return (f"GET /api/v1/ingestion/worker/status HTTP/1.1\r\nHost: {host}\r\n\r\n"
                ).encode()

    async def one(i: int):
        t = time.perf_counter()
        code = await _request(pool, host, port, raw(i))
        lat.append(time.perf_counter() - t)
        codes[code] = codes.get(code, 0) + 1

    n = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - start
    for _, w in pool:
        w.close()
    lat.sort()
    q = statistics.quantiles(lat, n=100)
    return {"n": n, "rps": n / wall, "p50_ms": q[49] * 1000, "p95_ms": q[94] * 1000,
            "p99_ms": q[98] * 1000, "codes": codes}


def load_main() -> None:
    url, method, rate, seconds, paths_file, token = sys.argv[2:8]
    paths = json.loads(Path(paths_file).read_text())
    print(json.dumps(asyncio.run(_load(url, method, float(rate), float(seconds), paths, token))))


def bench_database() -> str:
    import psycopg2

    admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    admin.autocommit = True
    cur = admin.cursor()
    cur.execute("SELECT 1 FROM pg_database WHERE datname = 'pharos_bench'")
    if cur.fetchone() is None:
        cur.execute("CREATE DATABASE pharos_bench")
    admin.close()
    return "postgresql://postgres@127.0.0.1:5432/pharos_bench"


def run(runtime: str, rate: float, seconds: float, paths_file: str, qdrant_url: str,
        repo: str) -> None:
    import redis

    redis.Redis(db=15).flushdb()
    port = free_port()
    env = {**os.environ, "PHAROS_ADMIN_TOKEN": "bench", "REDIS_URL": "redis://127.0.0.1:6379/15",
           "PHAROS_ALLOW_LOCAL_REPOS": "1", "MAX_QUEUE_SIZE": "1000000",
           "PHAROS_DATA_DIR": tempfile.mkdtemp(prefix="pharos-ingress-"), "PORT": str(port),
           "RAY_USAGE_STATS_ENABLED": "0", "DATABASE_URL": bench_database(),
           "QDRANT_URL": qdrant_url, "PHAROS_RATE_LIMIT": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "pharos_cli", "serve", "--runtime", runtime,
                             "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        t0 = time.time()
        while True:
            try:
                if httpx.get(url + "/api/v1/ingestion/worker/status", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() - t0 > 180 or proc.poll() is not None:
                raise SystemExit(f"{runtime}: ingress did not start")
            time.sleep(0.5)
        startup = time.time() - t0
        health = httpx.get(url + "/health", timeout=10)
        if health.status_code != 200:
            raise SystemExit(f"{runtime}: /health answered {health.status_code}: {health.text}")
        time.sleep(5)  # let start-up helpers (Serve's deploy driver) exit before measuring
        idle_pss, nproc = pss_mb(proc.pid)
        for method, name in (("POST", "enqueue"), ("GET", "status")):
            out = subprocess.run([sys.executable, __file__, "--load", url, method, str(rate),
                                  str(seconds), paths_file, "bench"], capture_output=True,
                                 text=True)
            if out.returncode != 0:
                raise SystemExit(f"load generator failed:\n{out.stderr[-3000:]}")
            m = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {runtime} | {name} | {rate:.0f} | {m['rps']:.0f} | {m['p50_ms']:.1f} | "
                  f"{m['p95_ms']:.1f} | {m['p99_ms']:.1f} | {m['codes']} |", flush=True)
        busy_pss, nproc2 = pss_mb(proc.pid, breakdown=True)
        reads, after_reads = [], []
        file_path = "pkg00/chain0000/mod00.py"

        def whole_map() -> int:
            offset = 0
            while offset is not None:
                r = httpx.get(url + "/api/v1/graph/map", timeout=600,
                              params={"repo_url": repo, "offset": offset, "limit": 10000})
                if r.status_code != 200:
                    return r.status_code
                offset = r.json()["next_offset"]
            return 200

        for name, call in (
                ("a similar search", lambda: httpx.get(
                    url + "/api/v1/graph/similar", timeout=60,
                    params={"repo_url": repo, "file_path": file_path, "k": 5}).status_code),
                ("the whole map", whole_map),
                ("repositories", lambda: httpx.get(
                    url + "/api/v1/graph/repositories", timeout=60).status_code),
                ("a role search", lambda: httpx.get(
                    url + "/api/v1/graph/similar", timeout=60,
                    params={"repo_url": repo, "file_path": file_path, "k": 5,
                            "scope": "all", "by": "role"}).status_code)):
            code = call()
            time.sleep(1)
            after_reads.append(pss_mb(proc.pid)[0])
            reads.append(f"after {name} ({code}) {after_reads[-1]:.0f} MB")
        print(f"|   {runtime} memory | PSS after /health {idle_pss:.0f} MB, after load "
              f"{busy_pss:.0f} MB, {', '.join(reads)}, {nproc2} processes | start-up "
              f"{startup:.1f} s | | | | |", flush=True)
        worst = max(after_reads)
        print(f"|   {runtime} memory | every read path at or under {READ_TARGET_MB} MB PSS "
              f"(issue 25): {'met' if worst <= READ_TARGET_MB else 'MISSED'}, at most "
              f"{worst:.0f} MB | | | | | | |", flush=True)
        pss_mb(proc.pid, breakdown=True)
        print(f"|   {runtime} | native packages mapped by the largest process after the "
              f"reads: {', '.join(mapped_packages(proc.pid))} | | | | | | |", flush=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runtimes", default="uvicorn,serve")
    ap.add_argument("--files", type=int, default=20000,
                    help="files of the stored repository the read paths read")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pharos-bench-repos-"))
    paths = []
    for i in range(int(args.rate * args.seconds)):
        d = base / f"r{i}"
        d.mkdir()
        paths.append(str(d))
    pf = base / "paths.json"
    pf.write_text(json.dumps(paths))
    print(f"{os.cpu_count()} cores; load generator in its own process; open loop\n")
    print("| runtime | endpoint | offered req/s | achieved req/s | p50 ms | p95 ms | p99 ms "
          "| status codes |")
    print("|---|---|---|---|---|---|---|---|")
    from bench.read_cost_bench import REPO, QdrantRestServer, store_chains

    data = tempfile.mkdtemp(prefix="pharos-bench-store-")
    store_chains(args.files, data, bench_database())
    qdrant = QdrantRestServer(data + "/qdrant")
    try:
        for rt in args.runtimes.split(","):
            run(rt, args.rate, args.seconds, str(pf), qdrant.url, REPO)
    finally:
        qdrant.close()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        load_main()
    else:
        main()
