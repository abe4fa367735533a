"""What the open read endpoints cost (issue 25): Redis commands, and the ingress's memory.

    python bench/read_cost_bench.py [--rate 300] [--seconds 60] [--files 20000]
                                    [--maps 8] [--parts reads,map]

``reads``: `pharos serve --runtime uvicorn` on a private ``redis-server`` (so ``INFO
commandstats`` counts the ingress's commands only), with 4 live worker heartbeats and
100 jobs in the history; a load generator in another process sends ``--rate`` requests/s
for ``--seconds``, half to ``worker/status`` and half to ``jobs/history``, open loop, from
1,000 client addresses (``X-Forwarded-For`` behind ``PHAROS_TRUSTED_PROXY``, as on Render,
so the rate limit is on and each client stays under it). Prints the commands per second
the ingress sent (the scripts: what Upstash bills) and the commands those scripts ran.

``map``: a ``--files`` repository of import chains stored in the machine's PostgreSQL
(database ``pharos_bench``) and in Qdrant. No Qdrant server exists here, so
:class:`QdrantRestServer` (another process) answers the REST calls the ingress makes
from qdrant-client's local mode. Then ``--maps`` clients at once each read the whole map
as the console does (pages of 10,000 files); the ingress's peak RSS (sampled every 20 ms)
and PSS (every 200 ms) over its process tree, and its PSS after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingress_bench import _request, bench_database, pss_mb  # noqa: E402
from graph_jobs.repository_ref import RepoRef  # noqa: E402
from serve_app.ray_runtime import free_port  # noqa: E402

REPO = "github.com/bench/chains"
COLLECTION = "pharos_files"


# --- a Qdrant REST endpoint over qdrant-client's local mode ---------------------------
def _qdrant_app(client):
    """The REST calls VectorStore makes, answered by ``client`` (local mode)."""
    import http.server

    from qdrant_client import models

    def ok(result):
        return {"result": result, "status": "ok", "time": 0.0}

    def dump(x):
        return x.model_dump(mode="json") if hasattr(x, "model_dump") else x

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: dict) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> dict:
            n = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(n) or b"{}")

        def do_GET(self):  # noqa: N802
            path = self.path.split("?")[0].rstrip("/")
            if path == "":
                return self._answer(200, {"title": "qdrant", "version": "1.15.0"})
            if path == "/collections":
                return self._answer(200, ok(dump(client.get_collections())))
            parts = path.split("/")
            if len(parts) == 4 and parts[3] == "exists":
                return self._answer(200, ok({"exists": client.collection_exists(parts[2])}))
            if len(parts) == 3:
                return self._answer(200, ok(dump(client.get_collection(parts[2]))))
            return self._answer(404, {"status": {"error": "not found"}})

        def do_PUT(self):  # noqa: N802
            self._body()
            if self.path.split("?")[0].endswith("/index"):  # payload indexes: a no-op here
                return self._answer(200, ok({"operation_id": 0, "status": "completed"}))
            return self._answer(404, {"status": {"error": "read-only bench server"}})

        def do_POST(self):  # noqa: N802
            path = self.path.split("?")[0]
            name = path.split("/")[2]
            body = self._body()
            if path.endswith("/points/scroll"):
                req = models.ScrollRequest.model_validate(body)
                points, nxt = client.scroll(name, scroll_filter=req.filter, limit=req.limit or 10,
                                            offset=req.offset, with_payload=req.with_payload,
                                            with_vectors=req.with_vector or False)
                return self._answer(200, ok({"points": [dump(p) for p in points],
                                             "next_page_offset": nxt}))
            if path.endswith("/points/query"):
                req = models.QueryRequest.model_validate(body)
                res = client.query_points(name, query=req.query, using=req.using,
                                          query_filter=req.filter, limit=req.limit or 10,
                                          with_payload=req.with_payload,
                                          with_vectors=req.with_vector or False)
                return self._answer(200, ok(dump(res)))
            if path.endswith("/points"):
                req = models.PointRequest.model_validate(body)
                pts = client.retrieve(name, ids=req.ids, with_payload=req.with_payload,
                                      with_vectors=req.with_vector or False)
                return self._answer(200, ok([dump(p) for p in pts]))
            return self._answer(404, {"status": {"error": "not found"}})

        def log_message(self, *args):
            pass

    return Handler


def qdrant_server_main(port: int, path: str) -> None:
    import http.server

    from qdrant_client import QdrantClient

    client = QdrantClient(path=path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _qdrant_app(client))
    print("ready", flush=True)
    server.serve_forever()


class QdrantRestServer:
    """``python bench/read_cost_bench.py --qdrant-server PORT PATH`` in its own process."""

    def __init__(self, path: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, __file__, "--qdrant-server",
                                      str(self.port), path], stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        assert self.proc.stdout.readline().strip() == "ready"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


# --- a stored 20,000-file repository --------------------------------------------------
def store_chains(files: int, qdrant_path: str, database_url: str, repo: str = REPO) -> int:
    """``files`` Python files in import chains of 50 (each imports the next, and every
    tenth one a file of the previous chain), stored as an ingest would: points with both
    named vectors in a local Qdrant directory, files and edges in SQL. Returns the edges."""
    import numpy as np

    from graph_jobs.roles.role_features import DIM
    from graph_jobs.settings import JobSettings
    from graph_jobs.stores.metadata_store import MetadataStore
    from graph_jobs.stores.vector_store import FilePoint, VectorStore, close_local_clients

    rng = np.random.default_rng(0)
    paths = [f"pkg{i // 1000:02d}/chain{i // 50:04d}/mod{i % 50:02d}.py" for i in range(files)]
    edges = []
    for i in range(files):
        if i % 50 != 49:
            edges.append((i, i + 1))
        if i % 10 == 0 and i >= 50:
            edges.append((i, i - 50))
    vec = rng.normal(size=(files, 64)).astype(np.float32)
    role = rng.normal(size=(files, DIM)).astype(np.float32)
    settings = JobSettings(_env_file=None, QDRANT_URL="", PHAROS_DATA_DIR=qdrant_path,
                           PHAROS_QDRANT_BATCH_SIZE=1000)
    vs = VectorStore(settings)
    vs.upsert_repository(repo, "c0", "j0", [
        FilePoint(p, "python", vec[i], 2, role=role[i]) for i, p in enumerate(paths)])
    close_local_clients()
    md = MetadataStore(database_url)
    md.replace_repository(repo, "c0", "j0", [
        {"path": p, "language": "python", "size": 100, "degree": 2, "isolated": False}
        for p in paths], [{"source_path": paths[a], "target_path": paths[b], "kind": "import",
                           "line": 1} for a, b in edges])
    md.dispose()
    return len(edges)


# --- the ingress ----------------------------------------------------------------------
def start_ingress(runtime: str, env: dict) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    env = {**os.environ, "PORT": str(port), "RAY_USAGE_STATS_ENABLED": "0", **env}
    proc = subprocess.Popen([sys.executable, "-m", "pharos_cli", "serve", "--runtime", runtime,
                             "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    t0 = time.time()
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health", timeout=5).status_code in (200, 503):
                return proc, url
        if time.time() - t0 > 180 or proc.poll() is not None:
            raise SystemExit(f"{runtime}: ingress did not start")
        time.sleep(0.5)


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


# --- reads: Redis commands per second ---------------------------------------------------
async def _reads(url: str, rate: float, seconds: float, clients: int) -> dict:
    import statistics
    from urllib.parse import urlsplit

    u = urlsplit(url)
    host, port = u.hostname, u.port
    lat: list[float] = []
    codes: dict[int, int] = {}
    pool: list = []
    paths = ["/api/v1/ingestion/worker/status", "/api/v1/ingestion/jobs/history?limit=20"]

    async def one(i: int):
        raw = (f"GET {paths[i % 2]} HTTP/1.1\r\nHost: {host}\r\n"
               f"X-Forwarded-For: 198.18.{(i // 2 % clients) // 256}.{(i // 2 % clients) % 256}"
               "\r\n\r\n").encode()
        t = time.perf_counter()
        code = await _request(pool, host, port, raw)
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
    q = statistics.quantiles(sorted(lat), n=100)
    return {"n": n, "rps": n / wall, "wall_s": wall, "p50_ms": q[49] * 1000,
            "p99_ms": q[98] * 1000, "codes": codes}


def reads_main() -> None:
    url, rate, seconds, clients = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), \
        int(sys.argv[5])
    print(json.dumps(asyncio.run(_reads(url, rate, seconds, clients))))


def bench_reads(rate: float, seconds: float, clients: int = 1000) -> None:
    import redis

    from cluster.job_queue import JobQueue, Task, WorkerBeat
    from cluster.redis_transport import RedisTransport
    from cluster.statuses import JobStatus
    from devkit.private_services import PrivateRedis

    with PrivateRedis() as r:
        q = JobQueue(RedisTransport(r.url), max_size=1000)
        for w in range(4):
            q.heartbeat(WorkerBeat(f"edge-{w}", "NVIDIA H100"))
        for i in range(100):  # 100 finished jobs in the history
            q.enqueue(RepoRef.parse(f"github.com/bench/r{i}"))
            task = q.claim(WorkerBeat("edge-0", "NVIDIA H100"))
            assert isinstance(task, Task)
            q.ack(task.record(JobStatus.COMPLETE, duration_seconds=12.5, files_processed=300,
                              embeddings_generated=300), WorkerBeat("edge-0", "NVIDIA H100"))
        proc, url = start_ingress("uvicorn", {
            "PHAROS_ADMIN_TOKEN": "bench", "REDIS_URL": r.url,
            "PHAROS_DATA_DIR": tempfile.mkdtemp(prefix="pharos-reads-"),
            "PHAROS_TRUSTED_PROXY": "X-Forwarded-For", "DATABASE_URL": bench_database()})
        try:
            stats = redis.Redis.from_url(r.url)
            stats.config_resetstat()
            out = subprocess.run([sys.executable, __file__, "--reads", url, str(rate),
                                  str(seconds), str(clients)], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"load generator failed:\n{out.stderr[-3000:]}")
            m = json.loads(out.stdout.strip().splitlines()[-1])
            calls = {k.removeprefix("cmdstat_"): v["calls"]
                     for k, v in stats.info("commandstats").items()}
            for own in ("info", "config|resetstat"):
                calls.pop(own, None)
            sent = sum(v for k, v in calls.items() if k in ("evalsha", "eval", "script|load"))
            total = sum(calls.values())
            wall = m["wall_s"]
            print(f"| reads | {rate:.0f} req/s offered, {m['rps']:.0f} achieved, {m['n']} "
                  f"requests over {wall:.0f} s from {clients} clients | p50 {m['p50_ms']:.1f} ms,"
                  f" p99 {m['p99_ms']:.1f} ms | {m['codes']} | Redis: {sent} commands sent "
                  f"({sent / wall:.2f}/s), {total} run with the scripts' own "
                  f"({total / wall:.2f}/s): {calls} |", flush=True)
        finally:
            stop(proc)


# --- map: memory -------------------------------------------------------------------------
def _whole_map(url: str) -> tuple[int, int, int]:
    """Read the whole map as the console does; (files, edges, bytes)."""
    import httpx

    files = edges = size = 0
    offset = 0
    with httpx.Client(timeout=600) as c:
        while offset is not None:
            r = c.get(url + "/api/v1/graph/map", params={"repo_url": REPO, "offset": offset,
                                                         "limit": 10000})
            r.raise_for_status()
            size += len(r.content)
            d = r.json()
            files += len(d["files"])
            edges += len(d["edges"])
            offset = d["next_offset"]
    return files, edges, size


def bench_map(files: int, maps: int, runtime: str = "uvicorn") -> None:
    import psutil

    data = tempfile.mkdtemp(prefix="pharos-map-")
    db = bench_database()
    t0 = time.time()
    n_edges = store_chains(files, data, db)
    print(f"stored {files} files and {n_edges} edges in {time.time() - t0:.0f} s", flush=True)
    qdrant = QdrantRestServer(data + "/qdrant")
    try:
        proc, url = start_ingress(runtime, {
            "PHAROS_ADMIN_TOKEN": "bench", "PHAROS_DATA_DIR": tempfile.mkdtemp(),
            "DATABASE_URL": db, "QDRANT_URL": qdrant.url, "PHAROS_RATE_LIMIT": "0"})
        try:
            time.sleep(3)
            before, _ = pss_mb(proc.pid)
            peak = {"rss": 0.0, "pss": 0.0}
            done = threading.Event()

            def sample():
                last_pss = 0.0
                while not done.is_set():
                    procs = [psutil.Process(proc.pid)]
                    procs += procs[0].children(recursive=True)
                    rss = 0
                    for p in procs:
                        with contextlib.suppress(psutil.Error):
                            rss += p.memory_info().rss
                    peak["rss"] = max(peak["rss"], rss / 2**20)
                    if time.time() - last_pss > 0.2:
                        peak["pss"] = max(peak["pss"], pss_mb(proc.pid)[0])
                        last_pss = time.time()
                    time.sleep(0.02)

            th = threading.Thread(target=sample, daemon=True)
            th.start()
            t0 = time.time()
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(maps) as pool:
                got = list(pool.map(lambda _: _whole_map(url), range(maps)))
            wall = time.time() - t0
            done.set()
            th.join()
            after, _ = pss_mb(proc.pid)
            f, e, size = got[0]
            print(f"| map ({runtime}) | {maps} clients at once, each the whole map of {f} files "
                  f"and {e} edges ({size / 2**20:.1f} MB in pages of 10,000) | all done in "
                  f"{wall:.1f} s | ingress PSS {before:.0f} MB before, peak RSS "
                  f"{peak['rss']:.0f} MB, peak PSS {peak['pss']:.0f} MB, PSS after "
                  f"{after:.0f} MB |", flush=True)
        finally:
            stop(proc)
    finally:
        qdrant.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=300)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--maps", type=int, default=8)
    ap.add_argument("--parts", default="reads,map")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores\n")
    if "reads" in args.parts:
        bench_reads(args.rate, args.seconds)
    if "map" in args.parts:
        bench_map(args.files, args.maps)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--reads":
        reads_main()
    elif len(sys.argv) > 1 and sys.argv[1] == "--qdrant-server":
        qdrant_server_main(int(sys.argv[2]), sys.argv[3])
    else:
        main()
