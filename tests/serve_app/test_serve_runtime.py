"""`pharos serve --runtime serve`: the real Ray Serve runtime, over HTTP, started and stopped.

The ingress runs as it does in the Ray Serve image: `ray start --head` (trimmed), a deploy
driver that exits, Serve's direct ingress on $PORT, and a small resident waiter.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
import redis

from serve_app.ray_head import cmdline as _cmdline
from serve_app.ray_head import descendants
from serve_app.ray_runtime import MEMORY_ENV, free_port
from tests.support.waiting import alive

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


def test_serve_runtime_serves_on_port_with_auth_and_stops_cleanly(tmp_path, redis_url):
    port = free_port()
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "PHAROS_ADMIN_TOKEN": "s3cret", "REDIS_URL": redis_url,
           "PHAROS_ALLOW_LOCAL_REPOS": "1", "PHAROS_DATA_DIR": str(tmp_path / "data"),
           "RAY_USAGE_STATS_ENABLED": "0"}
    for name in ("RAY_ADDRESS", *MEMORY_ENV):  # a caller's own values would win
        env.pop(name, None)
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([sys.executable, "-m", "pharos_cli", "serve", "--runtime", "serve",
                             "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/v1/ingestion"
    kids: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/worker/status", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Ray Serve ingress did not start"
            time.sleep(0.5)

        r = httpx.post(f"{base}/ingest/file://{repo}", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "dispatched" and len(body["job_id"]) == 32
        assert redis.Redis.from_url(redis_url).llen("ingest_queue") == 1
        r = httpx.post(f"{base}/ingest/file://{repo}", headers={"Authorization": "Bearer no"})
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        assert httpx.get(f"{base}/worker/status").json()["status"] == "Offline"
        # the console and the offline docs are served by this runtime too
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert page.status_code == 200 and "/console/console.js" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert httpx.get(f"http://127.0.0.1:{port}/console/console.js").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/docs-assets/swagger-ui-bundle.js"
                         ).status_code == 200
        # a read of the database: the replica migrates it in a child interpreter first
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/graph/repositories", timeout=120)
        assert r.status_code == 200 and r.json() == {"repositories": []}, r.text

        # the resident process is the small waiter, and Ray runs trimmed under it
        assert "ray_head.py" in _cmdline(proc.pid)
        time.sleep(2)  # the deploy driver exits once the app runs
        kids = descendants(proc.pid)
        cmds = [_cmdline(p) for p in kids]
        assert any("gcs_server" in c for c in cmds) and any("raylet" in c for c in cmds)
        for trimmed in ("log_monitor", "autoscaler/_private/monitor", "ray.util.client.server",
                        "serve_app.ray_runtime deploy", "ray/dashboard/dashboard.py",
                        "ray::ProxyActor", "ray/dashboard/agent.py"):
            assert not any(trimmed in c for c in cmds), (trimmed, cmds)
        # the raylet runs the stand-in instead of Ray's dashboard agent
        raylet = next(p for p, c in zip(kids, cmds, strict=True) if "raylet/raylet" in c)
        assert any("ray_head.py agent" in _cmdline(p) for p in descendants(raylet)), cmds
        # Ray's processes (the replica among them) run with the small-heap settings
        replica = next(p for p, c in zip(kids, cmds, strict=True) if "ServeReplica" in c)
        with open(f"/proc/{replica}/environ", "rb") as f:
            environ = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
        assert {k.encode(): v.encode() for k, v in MEMORY_ENV.items()}.items() \
            <= environ.items()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(30)
        finally:
            log.close()
            if proc.poll() is None:
                proc.kill()
    assert rc == 0, (tmp_path / "serve.log").read_text()[-3000:]
    time.sleep(1)
    left = [(p, _cmdline(p)) for p in kids if alive(p)]
    assert not left, left


def test_controller_callback_removes_only_the_proxy_placement(monkeypatch):
    from ray.serve._private.proxy_state import ProxyStateManager

    from serve_app.controller_callback import no_idle_proxy

    monkeypatch.setattr(ProxyStateManager, "_get_target_nodes",
                        ProxyStateManager._get_target_nodes)
    location = ProxyStateManager._resolved_proxy_location
    monkeypatch.delenv("RAY_SERVE_ENABLE_DIRECT_INGRESS", raising=False)
    assert no_idle_proxy() is False  # classic proxy path: Serve untouched
    monkeypatch.setenv("RAY_SERVE_ENABLE_DIRECT_INGRESS", "1")
    assert no_idle_proxy() is True
    assert ProxyStateManager._get_target_nodes(object(), {"node-a", "node-b"}) == []
    # the location replicas read (to open their own HTTP server) is not touched
    assert ProxyStateManager._resolved_proxy_location is location
