"""Driver for the second-Ray-node test, in a fresh process as `pharos worker` would be.

    python -m tests.support.second_node_driver PORT

Connects to the Ray head on PORT, starts the pool (one actor for the head's one GPU),
starts a second node (`ray start --address ... --num-gpus 1`), lets the pool reconcile as
the running worker does, waits until both actors heartbeat in the queue, and prints
{"actors_before", "actors_after", "heartbeating", "nodes"} as JSON. Settings come from
the environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import ray

from cluster.actor_pool import WorkerPool
from cluster.job_queue import JobQueue
from pharos_cli.settings import Settings
from tests.support.waiting import wait_for


def main() -> None:
    port = int(sys.argv[1])
    ray_bin = str(Path(sys.executable).with_name("ray"))
    ray.init(address=f"127.0.0.1:{port}", log_to_driver=False)
    settings = Settings(_env_file=None)
    pool = WorkerPool(settings, slots=1)
    pool.start()
    before = len(pool.actors)
    node = subprocess.Popen([ray_bin, "start", f"--address=127.0.0.1:{port}", "--num-cpus=1",
                             "--num-gpus=1", "--block"], env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: ray.cluster_resources().get("GPU", 0) >= 2, 60, what="second node")
        pool.reconcile()  # what the running pool does every few seconds
        queue = JobQueue.from_settings(settings)
        beating = wait_for(lambda: len(queue.status()["workers"]) >= 2
                           and queue.status()["workers"], 240, 0.5, "both actors heartbeating")
        nodes = sorted({i["node"] for i in pool.info()})
        print(json.dumps({"actors_before": before, "actors_after": len(pool.actors),
                          "heartbeating": len(beating), "nodes": nodes}), flush=True)
        pool.drain()
    finally:
        ray.shutdown()
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            node.kill()


if __name__ == "__main__":
    main()
