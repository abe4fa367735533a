"""Start the ingress under Ray Serve, trimmed for a small instance.

Ray's head starts several helper processes; on a 512 MB plan every one counts. We start
Ray with no dashboard, a small object store, one CPU, and no log monitor/usage stats;
then ``serve.run`` the deployment with one HTTP proxy on the head. Measured footprints
are in BENCHMARKS.md.
"""

from __future__ import annotations

import os
import signal
import threading


def ray_init_small() -> None:
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_SERVE_ENABLE_TASK_EVENTS", "0")
    os.environ.setdefault("RAY_task_events_report_interval_ms", "0")
    ray.init(num_cpus=1, num_gpus=0, include_dashboard=False,
             object_store_memory=80 * 1024 * 1024, log_to_driver=True,
             configure_logging=True, _system_config={"metrics_report_interval_ms": 60000})


def run_serve(host: str, port: int) -> None:
    from ray import serve

    ray_init_small()
    serve.start(http_options={"host": host, "port": port}, proxy_location="HeadOnly")
    from serve_app.deployment import ingress

    serve.run(ingress, name="pharos", route_prefix="/")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    serve.shutdown()
