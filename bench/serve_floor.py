"""The floor of Ray Serve on this machine: a trivial FastAPI app under the same trimmed
Ray start as the ingress, so the ingress figures can be read against it.

    python bench/serve_floor.py [--rates 100,200] [--seconds 5] [--sync] [--direct]

Serves one GET route returning a constant (async def, or def with --sync), then drives
it with ingress_bench's open-loop load generator in another process. ``--direct`` takes
the path `pharos serve --runtime serve` takes (Serve's direct ingress and Ray's
throughput preset: the replica listens on the port itself); without it, Ray's classic
path (HTTP proxy -> replica).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def serve_trivial(port: int, sync: bool, direct: bool) -> None:
    import os

    from serve_app.ray_runtime import OBJECT_STORE_BYTES, serve_environment

    os.environ.update(serve_environment(port, direct=direct))
    if not direct:
        os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "0"  # Ray's defaults, as before
    import ray
    from fastapi import FastAPI
    from ray import serve

    # in-process head with the ingress's resources (one CPU, no dashboard, small store)
    ray.init(address="local", num_cpus=1, num_gpus=0, include_dashboard=False,
             object_store_memory=OBJECT_STORE_BYTES)
    serve.start(http_options={"host": "127.0.0.1", "port": port + 1 if direct else port},
                proxy_location="HeadOnly")
    app = FastAPI()
    if sync:
        @app.get("/api/v1/ingestion/worker/status")
        def status_sync():
            return {"ok": 1}
    else:
        @app.get("/api/v1/ingestion/worker/status")
        async def status_async():
            return {"ok": 1}

    @serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0.5},
                      max_ongoing_requests=200,
                      logging_config={"enable_access_log": False, "log_level": "WARNING"})
    @serve.ingress(app)
    class Trivial:
        pass

    serve.run(Trivial.bind(), name="trivial", route_prefix="/")
    print("READY", flush=True)
    time.sleep(3600)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_trivial(int(sys.argv[2]), sys.argv[3] == "sync", sys.argv[4] == "direct")
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="100,200")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--sync", action="store_true")
    ap.add_argument("--direct", action="store_true")
    args = ap.parse_args()
    from serve_app.ray_runtime import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port),
                             "sync" if args.sync else "async",
                             "direct" if args.direct else "proxy"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        while "READY" not in (proc.stdout.readline() or "READY"):
            pass
        paths = Path("/tmp/pharos-serve-floor-paths.json")
        paths.write_text('["/tmp"]')
        print(f"trivial {'def' if args.sync else 'async def'} route under Ray Serve, "
              f"{'direct ingress' if args.direct else 'proxy -> replica'}")
        for rate in args.rates.split(","):
            out = subprocess.run([sys.executable, str(ROOT / "bench" / "ingress_bench.py"),
                                  "--load", f"http://127.0.0.1:{port}", "GET", rate,
                                  str(args.seconds), str(paths), "x"],
                                 capture_output=True, text=True, check=True).stdout
            print(f"offered {rate} req/s: {out.strip()}")
    finally:
        proc.terminate()
        proc.wait(30)
        ray = Path(sys.executable).parent / "ray"
        subprocess.run([str(ray), "stop", "--force"], capture_output=True, check=False)


if __name__ == "__main__":
    main()
