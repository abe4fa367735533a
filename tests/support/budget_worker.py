"""An edge worker in a process of its own, so that a test can read its memory.

``python -m tests.support.budget_worker REDIS_URL DATA_DIR JOBS_JSON`` takes
``len(JOBS_JSON)`` jobs from the queue, one after the other; before the i-th it applies
``JOBS_JSON[i]`` (settings by their environment names, e.g.
``{"PHAROS_JOB_TIMEOUT_S": 2}``). After each it prints one JSON line: the outcome, the
error, and the process's resident memory now and at its peak (its own and its
children's, the parse pool's), in MB.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main(redis_url: str, data_dir: str, jobs: list[dict]) -> None:
    from cluster.edge_worker import EdgeWorker
    from cluster.job_queue import JobQueue
    from cluster.redis_transport import RedisTransport
    from graph_jobs.job_budget import rss_mb
    from pharos_cli.settings import Settings

    base = {"PHAROS_DATA_DIR": data_dir, "PHAROS_ALLOW_LOCAL_REPOS": True}
    queue = JobQueue(RedisTransport(redis_url), lease_s=10.0, max_attempts=2)
    worker = EdgeWorker(queue, Settings(_env_file=None, **base), worker_id="budget-worker",
                        idle_poll_min_s=0.05, idle_poll_max_s=0.2)
    for override in jobs:
        worker.settings = Settings(_env_file=None, **base, **override)
        deadline = time.monotonic() + 600
        out = None
        while out is None and time.monotonic() < deadline:
            out = worker.poll_once()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(json.dumps({"job_id": out and out.job_id, "status": out and str(out.status),
                          "error": out and out.error, "rss_mb": rss_mb(), "peak_mb": peak,
                          "children_peak_mb": children}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
