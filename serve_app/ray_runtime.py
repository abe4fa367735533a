"""Start the ingress under Ray Serve, trimmed for a small instance.

``pharos serve --runtime serve`` (measured in BENCHMARKS.md, "Ingress"):

1. replaces itself (``exec``) with :mod:`serve_app.ray_head`, a stdlib-only process of a
   few MB that stays resident (PID 1 in the container);
2. which runs ``ray start --head`` without the autoscaler monitor, the log monitor and the
   dashboard UI, with one CPU and an 80 MB object store, and stops the Ray Client server
   and the dashboard's API server (see :mod:`serve_app.ray_head`); the raylet runs a
   stand-in of a few MB instead of Ray's dashboard agent (~80 MB: :func:`ray_start`;
   ``PHAROS_SERVE_DASHBOARD_AGENT=1`` keeps Ray's);
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

Ray's processes also inherit a small-heap allocator setting (:data:`MEMORY_ENV`, each
unless the caller set it): together about 24 MB less in the replica after the whole map
of a 20,000-file repository.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time

OBJECT_STORE_BYTES = 80 * 1024 * 1024

# for every Ray process of the ingress (set before Ray starts, so only Ray's processes and
# the app's replica see them; the caller's own values win):
MEMORY_ENV = {
    # glibc: two heaps, not 8 per core (each thread of a request pool otherwise ends up
    # with its own, and keeps the peak of the reads it served)
    "MALLOC_ARENA_MAX": "2",
    # blocks of 128 KB and more (a map's arrays, a page of JSON) are mapped and unmapped
    # one by one, instead of raising glibc's threshold for good after the first one is
    # freed and then staying in the heap
    "MALLOC_MMAP_THRESHOLD_": "131072",
    "MALLOC_TRIM_THRESHOLD_": "131072",
    # one BLAS thread: the map's projection is a 64 x 64 problem; each extra OpenBLAS
    # thread keeps its own buffer (~10 MB) for good
    "OPENBLAS_NUM_THREADS": "1",
}


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
        **MEMORY_ENV,
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


def dashboard_agent_enabled() -> bool:
    """Ray's own dashboard agent (``PHAROS_SERVE_DASHBOARD_AGENT=1``) or the stand-in."""
    return os.environ.get("PHAROS_SERVE_DASHBOARD_AGENT", "0") == "1"


def head_command(gcs_port: int) -> list[str]:
    """``ray start --head ...``; without Ray's dashboard agent, through :func:`ray_start`."""
    if dashboard_agent_enabled():
        ray = shutil.which("ray") or os.path.join(os.path.dirname(sys.executable), "ray")
        cmd = [ray]
    else:
        cmd = [sys.executable, "-m", "serve_app.ray_runtime"]
    cmd += ["start", "--head", f"--port={gcs_port}", "--num-cpus=1",
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


AGENT_FLAG = "--dashboard_agent_command="
STAND_IN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ray_head.py")


def stand_in_agent_command(command: str) -> str:
    """The raylet's dashboard agent command with Ray's agent replaced by the stand-in of
    :mod:`serve_app.ray_head` (``agent``), given the same session directory and node id."""
    keep = [a for a in shlex.split(command) if a.startswith(("--session-dir=", "--node-id="))]
    return subprocess.list2cmdline([sys.executable, "-S", STAND_IN, "agent", *keep])


def ray_start(args: list[str]) -> None:
    """``ray start ARGS`` (Ray's own command, in this process) with the raylet told to run
    the stand-in instead of Ray's dashboard agent. The raylet needs an agent process that
    reports its ports and lives as long as it does; the agent's services (metrics export,
    log and job APIs for the dashboard, node stats) serve nothing here, and Ray's agent
    costs ~85 MB. The stand-in reports "no metrics agent" (-1), as Ray's minimal install
    does, and waits. If Ray no longer passes the flag, Ray's agent starts as before."""
    from ray._private import ray_constants, services
    from ray.scripts.scripts import cli

    original = services.start_ray_process

    def start_ray_process(command, process_type, *a, **kw):
        if process_type == ray_constants.PROCESS_TYPE_RAYLET:
            command = [AGENT_FLAG + stand_in_agent_command(c[len(AGENT_FLAG):])
                       if c.startswith(AGENT_FLAG) else c for c in command]
        return original(command, process_type, *a, **kw)

    services.start_ray_process = start_ray_process
    cli.main(args=args, prog_name="ray")  # exits


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "start":
    ray_start(sys.argv[1:])
elif __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "deploy":
    sys.exit(deploy(sys.argv[2], sys.argv[3], int(sys.argv[4])))
