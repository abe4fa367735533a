"""The edge compute plane: a Ray actor pool, one ``GraphWorker`` actor per GPU.

    pharos worker [--address ray://... | auto] [--num-gpus N] [--pool-size N]

- Pool size follows the cluster's GPUs (``num_gpus=1`` per actor); a node that joins
  with ``ray start --address ... --num-gpus 1`` grows the pool on the next check, no
  restart. ``--num-gpus 0`` is the CPU-only development mode (``--pool-size`` actors).
- Each actor runs ``slots`` jobs at once (default 2): clone/parse of one overlaps with
  Node2Vec of another, and only one job at a time holds the actor's GPU (a lock around
  the embed stage), so the GPU is not idle while the CPU stages run.
- One claim loop for the whole pool (:mod:`cluster.claim_loop`), in this process, hands
  claimed tasks to free slots: an idle machine sends the queue about 960 commands a
  day, whatever the number of actors and slots.
- An actor that crashes or is killed is restarted by Ray (``max_restarts=-1``); its
  job comes back through the queue's lease, and its slots take work again.
- SIGTERM (``docker stop``) drains: no new claims; running jobs get ``grace_s`` to
  finish, then are handed back to the queue (``release``), losing nothing.
- Metrics go through ``ray.util.metrics`` to the dashboard's Prometheus endpoint.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import ray

from cluster.queue_settings import QueueSettings

log = logging.getLogger(__name__)


class GraphWorker:
    """One GPU's worth of workers: ``slots`` EdgeWorker loops sharing one embed lock.
    (The Ray actor :data:`GraphWorkerActor` is this class, and the dashboard shows it by
    this name; it is plain here so that it can be tested without a cluster.)"""

    def __init__(self, settings: QueueSettings, name: str, slots: int = 2,
                 store_handle=None) -> None:
        logging.basicConfig(level=logging.INFO)
        from cluster.edge_worker import EdgeWorker
        from cluster.job_queue import JobQueue
        from cluster.worker_metrics import WorkerMetrics
        from graph_jobs.pipeline import Stores

        self.settings = settings
        self.name = name
        self.embed_lock = threading.Lock()
        self.metrics = WorkerMetrics(name)
        vectors = None
        if store_handle is not None:
            from cluster.store_actor import VectorStoreProxy

            vectors = VectorStoreProxy(store_handle)
        if vectors is None:
            from graph_jobs.stores.vector_store import VectorStore

            vectors = VectorStore(settings)
        from graph_jobs.stores.metadata_store import MetadataStore

        stores = Stores(vectors, MetadataStore(settings.effective_database_url,
                                               migrate=settings.auto_migrate))
        self.workers = []
        for i in range(slots):
            q = JobQueue.from_settings(settings)
            w = EdgeWorker(q, settings, worker_id=f"{name}.{i}" if slots > 1 else name,
                           stores=stores, redis_retry_s=settings.redis_retry_s)
            w.embed_lock = self.embed_lock
            w.on_outcome = self.metrics.record
            self.workers.append(w)
        self.hardware = self.workers[0].hardware

    def announce(self) -> dict:
        """Each slot says it is online (the banner, a heartbeat) and takes back a task a
        previous life of it left between BLMOVE and claim. Returns what the pool's
        claim loop needs: the slots' worker ids and the hardware."""
        for w in self.workers:
            w.announce()
        return {"worker_ids": [w.worker_id for w in self.workers], "hardware": self.hardware}

    def process(self, slot: int, task):
        """Run one task the pool's claim loop claimed for ``slot``; its outcome."""
        return self.workers[slot].process(task)

    def info(self) -> dict:
        return {"name": self.name, "hardware": self.hardware, "pid": os.getpid(),
                "node": ray.get_runtime_context().get_node_id(),
                "gpu_ids": ray.get_gpu_ids(),
                "busy": [w.current.job_id for w in self.workers if w.current],
                "jobs_done": sum(w.jobs_done for w in self.workers)}

    def drain(self, grace_s: float) -> dict:
        """Wait up to ``grace_s`` for running jobs; hand back the rest."""
        for w in self.workers:
            w.draining.set()
        deadline = time.time() + grace_s
        while time.time() < deadline and any(w.current for w in self.workers):
            time.sleep(0.1)
        released = []
        for w in self.workers:
            if w.current is not None:
                released.append(w.current.job_id)
                w.abandon()
        return {"released": released}


GraphWorkerActor = ray.remote(max_restarts=-1, max_task_retries=0,
                              max_concurrency=8)(GraphWorker)


class WorkerPool:
    def __init__(self, settings: QueueSettings, *, num_gpus: float | None = None,
                 pool_size: int | None = None, slots: int = 2, grace_s: float = 60.0) -> None:
        from cluster.claim_loop import ClaimLoop
        from cluster.job_queue import JobQueue

        self.settings = settings
        self.cpu_mode = num_gpus == 0
        self.pool_size = pool_size
        self.slots = slots
        self.grace_s = grace_s
        self.actors: dict[str, object] = {}
        self._announcing: dict[str, object] = {}  # actor name -> its announce() ref
        self.stopping = threading.Event()
        self.store_handle = None
        self.claims = ClaimLoop(JobQueue.from_settings(settings),
                                idle_poll_max_s=settings.idle_poll_max_s,
                                redis_retry_s=settings.redis_retry_s)

    def target_size(self) -> int:
        if self.cpu_mode:
            return self.pool_size or 1
        gpus = int(ray.cluster_resources().get("GPU", 0))
        return min(gpus, self.pool_size) if self.pool_size else gpus

    def start(self) -> None:
        if not self.settings.qdrant_url and self.store_handle is None:
            from cluster.store_actor import local_store_actor

            self.store_handle = local_store_actor(self.settings)
        self.reconcile(wait_s=120.0)

    def _spawn(self, name: str) -> None:
        opts = {"name": name, "num_gpus": 0 if self.cpu_mode else 1,
                "num_cpus": 1 if self.cpu_mode else 0.5}
        actor = GraphWorkerActor.options(**opts).remote(self.settings, name, self.slots,
                                                   self.store_handle)
        self.actors[name] = actor
        self._announcing[name] = actor.announce.remote()

    def _adopt(self, timeout: float) -> None:
        """Actors that said they are online give their slots to the claim loop (an actor
        on a node still starting is adopted by a later check)."""
        for name, ref in list(self._announcing.items()):
            ready, _ = ray.wait([ref], timeout=timeout)
            if not ready:
                continue
            del self._announcing[name]
            try:
                online = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - it died starting; Ray restarts it
                log.warning("actor %s did not come online (%s); asking again", name, exc)
                self._announcing[name] = self.actors[name].announce.remote()
                continue
            self.claims.add(self.actors[name], online["worker_ids"], online["hardware"])

    def reconcile(self, wait_s: float = 0.0) -> None:
        """Grow to the target size; adopt actors that came online; keep the one claim
        loop running."""
        if self.stopping.is_set():
            return
        want = self.target_size()
        i = 0
        while len(self.actors) < want:
            name = f"pharos-worker-{i}"
            if name not in self.actors:
                self._spawn(name)
            i += 1
        self._adopt(wait_s)
        self.claims.start()

    def info(self) -> list[dict]:
        return [ray.get(a.info.remote()) for a in self.actors.values()]

    def drain(self) -> list[str]:
        self.stopping.set()
        self.claims.shutdown()
        refs = [a.drain.remote(self.grace_s) for a in self.actors.values()]
        released = []
        for r in refs:
            try:
                released += ray.get(r, timeout=self.grace_s + 60)["released"]
            except Exception as exc:
                log.warning("drain: %s", exc)
        return released

    def serve_forever(self, check_every_s: float = 5.0) -> None:
        def on_term(signum, frame):
            log.warning("signal %s: draining the pool (grace %.0fs)", signum, self.grace_s)
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        self.start()
        while not self.stopping.wait(check_every_s):
            try:
                self.reconcile()
            except Exception as exc:
                log.warning("reconcile: %s", exc)
        released = self.drain()
        log.warning("drained; released back to the queue: %s", released or "none")
