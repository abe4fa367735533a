"""The edge pool on the real Ray runtime with logical GPUs, real Redis and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from cluster.actor_pool import WorkerPool  # noqa: E402
from cluster.job_queue import JobQueue  # noqa: E402
from devkit.private_services import free_port  # noqa: E402
from devkit.repos import repo_from_packages  # noqa: E402
from graph_jobs.repository_ref import RepoRef  # noqa: E402
from graph_jobs.stores.metadata_store import MetadataStore  # noqa: E402
from tests.support.git_http import GitHTTPServer  # noqa: E402
from tests.support.settings_env import settings_with  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

# one Ray cluster at a time: these tests share an xdist worker (--dist loadgroup)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("pkgs")
    return {name: repo_from_packages(base / name, [name])
            for name in ("requests", "attr", "click", "idna")}


def _env(tmp_path, redis_url, pg_url, **kw) -> dict[str, str]:
    env = {"REDIS_URL": redis_url, "DATABASE_URL": pg_url,
           "PHAROS_DATA_DIR": str(tmp_path / "data"), "PHAROS_ALLOW_LOCAL_REPOS": "1",
           "PHAROS_LEASE_SECONDS": "4", "PHAROS_IDLE_POLL_MAX_S": "0.5",
           "PHAROS_REDIS_RETRY_S": "0.5", "PHAROS_ADMIN_TOKEN": "tok", "MAX_QUEUE_SIZE": "50",
           # the tests poll the ingress every 0.1 s to see each state: no read cache, no
           # rate limit (both have tests of their own in tests/serve_app)
           "PHAROS_READ_CACHE_S": "0", "PHAROS_RATE_LIMIT": "0"}
    env.update(kw)
    return env


_settings = settings_with


@pytest.fixture
def ray_2gpu():
    # "local": a cluster of its own, never one another process left on this machine
    ray.init(address="local", num_cpus=4, num_gpus=2, include_dashboard=False,
             log_to_driver=False, namespace=f"pharos-test-{os.getpid()}")
    yield
    ray.shutdown()


_wait = wait_for


def test_two_actors_run_two_jobs_at_once_and_a_killed_actor_job_completes_once(
        ray_2gpu, tmp_path, redis_url, pg_url, repos):
    settings = _settings(_env(tmp_path, redis_url, pg_url))
    q = JobQueue.from_settings(settings)
    pool = WorkerPool(settings, pool_size=None, slots=1, grace_s=5)
    assert pool.target_size() == 2  # follows the cluster's (logical) GPUs
    meta = None
    try:  # drained whatever happens: a pool left running would take the next
        # tests' jobs (they share this Redis database and this process)
        pool.start()
        _wait(lambda: len(q.status()["workers"]) == 2, what="two actors online")
        t0 = time.time()
        a = q.enqueue(RepoRef.parse(str(repos["requests"]))).job_id
        b = q.enqueue(RepoRef.parse(str(repos["click"]))).job_id
        _wait(lambda: {h["job_id"] for h in q.history(10)} >= {a, b}, what="both jobs")
        print("two jobs took", time.time() - t0, q.history(2))
        meta = MetadataStore(settings.effective_database_url)
        ja, jb = meta.get_job(a), meta.get_job(b)
        assert ja["status"] == jb["status"] == "complete"
        assert ja["worker"] != jb["worker"]
        # they ran at the same time: each started before the other finished
        assert ja["started_at"] < jb["finished_at"] and jb["started_at"] < ja["finished_at"]
        infos = pool.info()
        assert sorted(len(i["gpu_ids"]) for i in infos) == [1, 1]
        assert {i["hardware"] for i in infos} <= {"CPU (logical GPU 0)", "CPU (logical GPU 1)"}

        # kill the actor while it is cloning job c (the HTTP gate holds the clone, so the
        # job cannot finish first): Ray restarts the actor, the lease brings the job back
        with GitHTTPServer(tmp_path / "git-srv") as srv:
            (tmp_path / "git-srv").mkdir(exist_ok=True)
            url = srv.publish(repos["attr"], "attr.git")
            srv.gate.clear()
            c = q.enqueue(RepoRef.parse(url)).job_id
            running = _wait(lambda: (j := q.job(c)) and j["status"] == "running" and j["worker"],
                            what="job c running")
            _wait(lambda: srv.requests >= 1, what="clone of job c in flight")
            assert q.job(c)["status"] == "running"
            victim = pool.actors[running.split(".")[0] if running in pool.actors else running]
            ray.kill(victim, no_restart=False)
            srv.gate.set()
            _wait(lambda: any(h["job_id"] == c for h in q.history(20)), timeout=180,
                  what="killed job done")
        pool.reconcile()
        hist = [h for h in q.history(50) if h["job_id"] == c]
        assert len(hist) == 1 and hist[0]["status"] == "complete", hist
        assert q.job(c)["attempts"] >= 2
    finally:
        pool.drain()
        if meta is not None:
            meta.dispose()


def test_sigterm_mid_job_loses_nothing(tmp_path, redis_url, pg_url, repos):
    env = {**os.environ, **_env(tmp_path, redis_url, pg_url), "RAY_ADDRESS": ""}
    env.pop("RAY_ADDRESS")
    settings = _settings(_env(tmp_path, redis_url, pg_url))
    q = JobQueue.from_settings(settings)
    job = q.enqueue(RepoRef.parse(str(repos["requests"]))).job_id
    proc = subprocess.Popen([sys.executable, "-m", "pharos_cli", "worker", "--num-gpus", "0",
                             "--pool-size", "1", "--slots", "1", "--grace-s", "0",
                             "--no-dashboard"], env=env, cwd=Path(__file__).resolve().parents[2],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(lambda: (j := q.job(job)) and j["status"] in ("running", "complete"),
              timeout=120, what="job claimed")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode is not None
    state = q.job(job)
    done = [h for h in q.history(10) if h["job_id"] == job]
    # either it finished before the signal landed, or it is back in the queue, unharmed
    assert (state["status"] == "complete" and len(done) == 1) or \
        (state["status"] == "pending" and state["queue_position"] == 1 and not done), \
        (state, done, out[-2000:])
    if state["status"] == "pending":
        assert "released back to the queue" in out
        from cluster.edge_worker import EdgeWorker

        w = EdgeWorker(q, settings, worker_id="finisher")
        assert w.poll_once().status == "complete"
    assert [h["status"] for h in q.history(10) if h["job_id"] == job] == ["complete"]
    assert "Edge Worker Online" in out and "Hardware: CPU" in out


def test_end_to_end_http_to_similar_files(ray_2gpu, tmp_path, redis_url, pg_url, repos):
    """POST repositories to the ingress over HTTP; the pool embeds them; find them."""
    import httpx
    import uvicorn

    from cluster.store_actor import VectorStoreProxy
    from serve_app.app import create_app
    from serve_app.services import IngressServices

    settings = _settings(_env(tmp_path, redis_url, pg_url))
    pool = WorkerPool(settings, slots=2, grace_s=5)
    pool.start()
    services = IngressServices(settings, vectors=VectorStoreProxy(pool.store_handle))
    app = create_app(settings, services)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    _wait(lambda: server.started, what="uvicorn")
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Bearer tok"}
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            assert c.get("/health").json()["services"] == {
                "redis": "connected", "database": "connected", "qdrant": "connected"}
            ids = {}
            for name, path in repos.items():
                r = c.post(f"/api/v1/ingestion/ingest/file://{path}", headers=auth)
                assert r.status_code == 200, r.text
                assert r.json()["status"] == "dispatched"
                ids[name] = r.json()["job_id"]
            statuses = set()

            def all_done():
                statuses.add(c.get("/api/v1/ingestion/worker/status").json()["status"])
                jobs = c.get("/api/v1/ingestion/jobs/history?limit=20").json()["jobs"]
                return {j["job_id"] for j in jobs if j["status"] == "complete"} >= set(ids.values())

            _wait(all_done, timeout=240, every=0.1, what="all repositories complete")
            assert any(s.startswith("Training Graph on ") for s in statuses), statuses
            assert c.get("/api/v1/ingestion/worker/status").json()["status"] == "Idle"
            job = c.get(f"/api/v1/ingestion/jobs/{ids['requests']}").json()
            assert job["status"] == "complete" and job["files_processed"] > 10
            r = c.get("/api/v1/graph/similar", params={
                "repo_url": str(repos["requests"]), "file_path": "requests/sessions.py",
                "k": 5})
            assert r.status_code == 200, r.text
            hits = r.json()["results"]
            assert len(hits) == 5 and all(h["file_path"].startswith("requests/") for h in hits)
            r = c.get("/api/v1/graph/similar", params={
                "repo_url": str(repos["requests"]), "file_path": "requests/sessions.py",
                "k": 5, "scope": "all"})
            assert r.status_code == 200
    finally:
        server.should_exit = True
        th.join(10)
        pool.drain()


def test_a_second_ray_node_grows_the_pool(tmp_path, redis_url, pg_url):
    """A node joins a running cluster: the pool grows to two actors, one per node.

    The driver runs in a fresh process (as `pharos worker` does): one pytest process
    re-initialising Ray against a second cluster keeps state from the first that made
    the new node's raylet never start the actor's worker (seen only in that setting)."""
    import json

    port = free_port()
    # a private test cluster: no token auth (deployment docs cover RAY_AUTH_TOKEN)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
           **_env(tmp_path, redis_url, pg_url)}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    head = subprocess.Popen([ray_bin, "start", "--head", f"--port={port}", "--num-cpus=2",
                             "--num-gpus=1", "--include-dashboard=false", "--block",
                             f"--temp-dir={tempfile.mkdtemp(prefix='rt', dir='/tmp')}"],
                            env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: _port_open(port), timeout=60, what="ray head")
        out = subprocess.run([sys.executable, "-m", "tests.support.second_node_driver",
                              str(port)], env=env, cwd=Path(__file__).resolve().parents[2],
                             capture_output=True, text=True, timeout=420)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        got = json.loads(out.stdout.strip().splitlines()[-1])
        assert got["actors_before"] == 1 and got["actors_after"] == 2
        assert got["heartbeating"] >= 2 and len(got["nodes"]) == 2, got
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            head.kill()


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


BILLED = {"evalsha", "eval", "blmove", "ping", "lpop", "rpush", "get", "set", "script|load"}


def _billed(r) -> dict[str, int]:
    """Top-level commands Redis counted (what Upstash bills), by name. The Lua scripts'
    inner calls are counted under their own names too; only EVALSHA and BLMOVE are sent
    by an idle pool, so whatever else shows up here is a command it should not send."""
    out = {}
    for name, v in r.info("commandstats").items():
        cmd = name.removeprefix("cmdstat_")
        if cmd not in ("info", "config|resetstat", "config"):
            out[cmd] = v["calls"]
    return out


def test_an_idle_pool_claims_through_one_loop_whatever_its_size(ray_2gpu, tmp_path, pg_url):
    """Two actors with two slots each: one claim loop for the machine (re-checks do not
    start another); idle, it sends BLMOVE + one claim script per cycle and nothing else,
    and that script keeps all four slots' heartbeats fresh."""
    import json

    import redis

    from devkit.private_services import PrivateRedis

    with PrivateRedis() as pr:
        settings = _settings(_env(tmp_path, pr.url, pg_url, PHAROS_IDLE_POLL_MAX_S="0.5"))
        pool = WorkerPool(settings, slots=2, grace_s=1)
        q = JobQueue.from_settings(settings)
        r = redis.Redis.from_url(pr.url, decode_responses=True)
        try:
            pool.start()
            assert len(pool.claims.slots) == 4
            _wait(lambda: len(q.status()["workers"]) == 4, what="four slots heartbeating")
            for _ in range(3):
                pool.reconcile()  # what serve_forever does every few seconds
            loops = [t for t in threading.enumerate() if t.name == "pharos-claim-loop"]
            assert len(loops) == 1
            time.sleep(1.5)  # a cycle boundary, so that the window holds whole cycles
            before = {w["worker_id"]: w["updated_at"] for w in q.status()["workers"]}
            r.config_resetstat()
            t0 = time.time()
            time.sleep(6)
            got = _billed(r)
            window = time.time() - t0
            after = {json.loads(r.get(f"worker_status:{w}"))["updated_at"] for w in before}
        finally:
            pool.drain()
        # each cycle: BLMOVE blocking 2 x 0.5 s, then one claim script (its inner calls:
        # ZRANGEBYSCORE, LPOP, SET x2 per heartbeat, SADD per heartbeat)
        cycles = window / 1.0
        top = {k: v for k, v in got.items() if k in ("evalsha", "eval", "blmove", "ping")}
        assert set(top) <= {"evalsha", "blmove"}, got
        assert top.get("blmove", 0) <= cycles + 1 and top.get("evalsha", 0) <= cycles + 1, got
        assert top.get("evalsha", 0) >= cycles - 2, got  # it does claim, once a cycle
        # four loops (one per slot) would send four times this; all four heartbeats moved
        assert not (set(before.values()) & after), (before, after)
