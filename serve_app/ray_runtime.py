"""Start the ingress under Ray Serve, trimmed for a small instance.

``pharos serve --runtime serve`` (measured in BENCHMARKS.md, "Ingress"):

1. replaces itself (``exec``) with :mod:`serve_app.ray_head`, a stdlib-only process of a
   few MB that stays resident (PID 1 in the container);
2. which runs ``ray start --head`` without the autoscaler monitor, the log monitor and the
   dashboard UI, with one CPU and an 80 MB object store, and stops the Ray Client server
   and the dashboard's API server (see :mod:`serve_app.ray_head`);
3. then a helper (``python -m serve_app.ray_runtime deploy ...``) ``serve.run``s the
   deployment and exits — no driver stays resident. SIGTERM stops this ingress's Ray
   processes (and only those) within seconds.

Requests take Serve's **direct ingress** path (Ray >= 2.60,
``RAY_SERVE_ENABLE_DIRECT_INGRESS``): the ingress replica itself listens on ``$PORT``,
so a request costs no proxy → replica hop. On 2 cores that hop was the latency floor
(p99 146 ms at 200 req/s for an empty app). Serve would still start one idle HTTP proxy
on the head; a controller start-up callback (:mod:`serve_app.controller_callback`) stops
it from doing so. ``PHAROS_SERVE_PROXY=1`` restores Ray's classic path (proxy on
``$PORT`` → replica). Ray's preset
``RAY_SERVE_THROUGHPUT_OPTIMIZED=1`` is on unless the caller set it.

Without the log monitor, Ray workers' output stays in the session's log directory
(``/tmp/ray/session_latest/logs``); ``PHAROS_SERVE_LOG_MONITOR=1`` forwards it to this
process's output again, for about 47 MB more.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sys
import time

OBJECT_STORE_BYTES = 80 * 1024 * 1024


def direct_ingress_enabled() -> bool:
    return os.environ.get("PHAROS_SERVE_PROXY", "0") != "1"


def serve_environment(port: int, *, direct: bool) -> dict[str, str]:
    """Environment Ray's processes must inherit (set before Ray starts)."""
    env = {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_DEDUP_LOGS": "0",
        "RAY_SERVE_ENABLE_TASK_EVENTS": "0",
        "RAY_task_events_report_interval_ms": "0",
        # Ray 2.60's preset: user code on the replica's own event loop (no extra thread
        # hop per request) and the GC frozen after start-up; set it to 0 to opt out
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    }
    if direct:
        # the single ingress replica gets exactly $PORT from Serve's port allocator
        env.update({"RAY_SERVE_ENABLE_DIRECT_INGRESS": "1",
                    "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(port),
                    "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(port + 1),
                    # no idle head-node proxy (~95 MB): see serve_app.controller_callback
                    "RAY_SERVE_CONTROLLER_CALLBACK_IMPORT_PATH":
                        "serve_app.controller_callback.no_idle_proxy"})
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def head_command(gcs_port: int) -> list[str]:
    ray = shutil.which("ray") or os.path.join(os.path.dirname(sys.executable), "ray")
    cmd = [ray, "start", "--head", f"--port={gcs_port}", "--num-cpus=1",
           "--num-gpus=0", "--include-dashboard=false", "--no-monitor",
           f"--object-store-memory={OBJECT_STORE_BYTES}", "--disable-usage-stats",
           # ports Ray would otherwise take from fixed defaults (52365...)
           f"--dashboard-agent-listen-port={free_port()}",
           f"--metrics-export-port={free_port()}"]
    if os.environ.get("PHAROS_SERVE_LOG_MONITOR", "0") != "1":
        cmd.append("--include-log-monitor=false")
    return cmd


def run_serve(host: str, port: int) -> None:
    """Start the head and the deploy helper; never returns (this process becomes Ray's)."""
    direct = direct_ingress_enabled()
    for key, value in serve_environment(port, direct=direct).items():
        if direct and key.startswith("RAY_SERVE_D"):
            os.environ[key] = value  # must match $PORT, whatever the caller set
        else:
            os.environ.setdefault(key, value)
    # Ray's token auth (on by default in 2.60) with a token of this ingress's own, shared
    # by the head and the deploy helper through the environment
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    if os.environ["RAY_AUTH_MODE"] == "token" and not os.environ.get("RAY_AUTH_TOKEN_PATH"):
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    gcs_port = free_port()
    deploy_cmd = [sys.executable, "-m", "serve_app.ray_runtime", "deploy",
                  f"127.0.0.1:{gcs_port}", host, str(port)]
    waiter = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ray_head.py")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-S", waiter, json.dumps(deploy_cmd),
                              json.dumps(head_command(gcs_port))])


def deploy(address: str, host: str, port: int, timeout_s: float = 180) -> int:
    """Connect to the head, run the app, disconnect; exit 1 on failure (the waiter then
    stops the head)."""
    import ray
    from ray import serve

    direct = direct_ingress_enabled()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        # direct ingress: the replica takes $PORT; a proxy (none starts) would get $PORT + 1
        serve.start(http_options={"host": host, "port": port + 1 if direct else port},
                    proxy_location="HeadOnly")
        from serve_app.deployment import ingress

        serve.run(ingress, name="pharos", route_prefix="/")
        print(f"pharos ingress (Ray Serve{', direct ingress' if direct else ''}) listening "
              f"on http://{host}:{port}", flush=True)
        ray.shutdown()
        return 0
    except Exception as exc:  # the container must not run on without its app
        print(f"pharos serve: deploying the ingress failed: {exc!r}", file=sys.stderr,
              flush=True)
        return 1


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "deploy":
    sys.exit(deploy(sys.argv[2], sys.argv[3], int(sys.argv[4])))
