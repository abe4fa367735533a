"""No job stuck forever (issue 18): every step of a job faulted, one at a time.

A real edge worker runs real jobs (git repository, tree-sitter, Node2Vec, local Qdrant)
against a PostgreSQL cluster and a Redis server of the test's own, which the faults
really stop and start. At each step of the job (:class:`JobStep`):

- ``raise``: the step raises a store error once (Redis's ``QueueUnavailable`` at the
  ack, Qdrant's at the vector upsert, the metadata store's elsewhere);
- ``postgres``: PostgreSQL is stopped there and started again a second later;
- ``redis``: Redis is stopped there for longer than a lease, then started again.

Every job must end ``complete`` exactly once. When the fault never clears (the error at
every attempt, or PostgreSQL never back), the job must be dead-lettered with its reason
after its attempts. In every case no lease outlives its job, the heartbeat never says
``Idle`` while the job holds a lease, and the worker then takes the next job.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from tenacity import wait_fixed

from cluster.edge_worker import EdgeWorker
from cluster.job_queue import INFLIGHT_KEY, JobQueue
from cluster.redis_transport import QueueUnavailable, RedisTransport
from cluster.statuses import JobStatus
from devkit.private_services import PrivatePostgres, PrivateRedis, pg_bin
from devkit.repos import commit_all, make_repo
from graph_jobs.errors import MetadataStoreError, VectorStoreError
from graph_jobs.faults import JobStep
from graph_jobs.pipeline import Stores
from graph_jobs.repository_ref import RepoRef
from graph_jobs.stores.metadata_store import MetadataStore
from graph_jobs.stores.vector_store import VectorStore, close_local_clients
from pharos_cli.settings import Settings

pytestmark = [
    pytest.mark.xdist_group("job-faults"),
    pytest.mark.skipif(pg_bin() is None, reason="needs PostgreSQL's server binaries"),
]

LEASE_S = 1.0
MAX_ATTEMPTS = 3
STEPS = list(JobStep)


@pytest.fixture(scope="module")
def pg():
    server = PrivatePostgres()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def rds():
    server = PrivateRedis()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = make_repo(tmp_path_factory.mktemp("faults") / "proj", {
        "pkg/__init__.py": "",
        "pkg/core.py": "from pkg import util\n",
        "pkg/util.py": "X = 1\n",
        "pkg/cli.py": "from pkg import core\n",
        "tests/test_core.py": "from pkg import core\n",
    })
    for i in range(3):
        (path / "pkg/core.py").write_text(f"from pkg import util\n# {i}\n")
        (path / "pkg/util.py").write_text(f"X = {i}\n")
        commit_all(path, f"change {i}")
    return path


class Fault:
    """The hook: fault ``step`` (the first ``times`` times it is reached) with ``kind``.
    It also notes, at every step before the ack, whether the heartbeat said Idle."""

    def __init__(self, step: JobStep, kind: str, pg: PrivatePostgres, rds: PrivateRedis,
                 times: int = 1) -> None:
        self.step, self.kind, self.pg, self.rds, self.times = step, kind, pg, rds, times
        self.fired = 0
        self.worker: EdgeWorker | None = None
        self.idle_while_leased: list[JobStep] = []
        self.timers: list[threading.Timer] = []

    def __call__(self, at: JobStep) -> None:
        if at is not JobStep.ACK and self.worker is not None \
                and self.worker.beat.status == "Idle":
            self.idle_while_leased.append(at)
        if at is not self.step or self.fired >= self.times:
            return
        self.fired += 1
        if self.kind == "raise":
            if at is JobStep.ACK:
                raise QueueUnavailable("injected: Redis refused the ack")
            if at is JobStep.VECTOR_UPSERT:
                raise VectorStoreError(f"injected at {at}")
            raise MetadataStoreError(f"injected at {at}")
        if self.kind == "postgres":
            self.pg.stop()
            self._later(1.0, self.pg.start)
        elif self.kind == "postgres-never":
            if self.pg.running():
                self.pg.stop()
        elif self.kind == "redis":
            self.rds.stop()
            self._later(2.5 * LEASE_S, self.rds.start)

    def _later(self, delay: float, fn) -> None:
        t = threading.Timer(delay, fn)
        t.start()
        self.timers.append(t)

    def settle(self) -> None:
        for t in self.timers:
            t.join()


def _run(step: JobStep, kind: str, pg, rds, repo: Path, tmp_path: Path, *, times: int = 1):
    import redis

    if not pg.running():
        pg.start()
    redis.Redis.from_url(rds.url).flushall()
    settings = Settings(_env_file=None, PHAROS_DATA_DIR=str(tmp_path / "data"),
                        PHAROS_ALLOW_LOCAL_REPOS=True)
    stores = Stores(VectorStore(settings),
                    MetadataStore(pg.url, retries=4, retry_wait=wait_fixed(0.4)))
    queue = JobQueue(RedisTransport(rds.url, socket_timeout=2), lease_s=LEASE_S,
                     max_attempts=MAX_ATTEMPTS)
    fault = Fault(step, kind, pg, rds, times)
    worker = EdgeWorker(queue, settings, worker_id=f"w-{step}-{kind}", stores=stores,
                        redis_retry_s=0.2, idle_poll_min_s=0.05, idle_poll_max_s=0.2,
                        faults=fault)
    fault.worker = worker
    job = queue.enqueue(RepoRef.parse(str(repo))).job_id
    outcomes = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        out = worker.poll_once()
        if out is not None:
            outcomes.append(out.status)
        state = _retrying_read(lambda: queue.job(job))
        if state and JobStatus(state["status"]).final:
            break
    fault.settle()
    return queue, worker, stores, fault, job, outcomes


def _retrying_read(fn):
    for _ in range(100):
        try:
            return fn()
        except QueueUnavailable:
            time.sleep(0.1)
    raise AssertionError("Redis did not come back")


def _no_lease_outlives(queue: JobQueue, job: str) -> None:
    inflight = queue.t.client.zrange(INFLIGHT_KEY, 0, -1)
    assert job not in inflight, f"the lease of {job} outlived the job"
    alive = [t.name for t in threading.enumerate() if t.name.startswith("lease-") and t.is_alive()]
    assert not alive, f"lease keepers still running: {alive}"


def _takes_the_next_job(queue: JobQueue, worker: EdgeWorker, repo: Path) -> None:
    worker.faults = lambda at: None
    nxt = queue.enqueue(RepoRef.parse(str(repo))).job_id
    for _ in range(20):
        out = worker.poll_once()
        if out is not None:
            assert (out.job_id, out.status) == (nxt, "complete"), out
            assert worker.beat.status == "Idle"
            return
    raise AssertionError("the worker did not take the next job")


def _close(stores) -> None:
    stores.metadata.dispose()
    close_local_clients()


@pytest.mark.parametrize("kind", ["raise", "postgres", "redis"])
@pytest.mark.parametrize("step", STEPS, ids=[s.value for s in STEPS])
def test_a_fault_at_each_step_ends_complete_exactly_once(step, kind, pg, rds, repo, tmp_path):
    queue, worker, stores, fault, job, outcomes = _run(step, kind, pg, rds, repo, tmp_path)
    try:
        assert fault.fired == 1, f"the fault at {step} never fired"
        state = queue.job(job)
        assert state["status"] == "complete", (outcomes, state)
        completes = [r for r in queue.history(100)
                     if r["job_id"] == job and r["status"] == "complete"]
        assert len(completes) == 1, queue.history(100)
        assert outcomes.count(JobStatus.COMPLETE) == 1
        assert set(outcomes) <= {JobStatus.COMPLETE, JobStatus.RETRYING}
        assert not queue.dead_letters()
        assert stores.metadata.get_job(job)["status"] == "complete"
        assert stores.metadata.repository(str(repo))["last_job_id"] == job
        _no_lease_outlives(queue, job)
        assert not fault.idle_while_leased, f"heartbeat said Idle at {fault.idle_while_leased}"
        _takes_the_next_job(queue, worker, repo)
    finally:
        _close(stores)


NEVER = [s for s in STEPS if s is not JobStep.ACK]


@pytest.mark.parametrize("step", NEVER, ids=[s.value for s in NEVER])
def test_a_fault_that_never_clears_is_dead_lettered_with_its_reason(step, pg, rds, repo,
                                                                    tmp_path):
    queue, worker, stores, fault, job, outcomes = _run(step, "raise", pg, rds, repo, tmp_path,
                                                       times=10**6)
    try:
        assert fault.fired == MAX_ATTEMPTS
        assert outcomes == [JobStatus.RETRYING] * (MAX_ATTEMPTS - 1) + [JobStatus.FAILED]
        assert queue.job(job)["status"] == "failed"
        dead = queue.dead_letters()
        assert [d["job_id"] for d in dead] == [job]
        assert f"injected at {step}" in dead[0]["error"]
        assert not [r for r in queue.history(100)
                    if r["job_id"] == job and r["status"] == "complete"]
        _no_lease_outlives(queue, job)
        assert not fault.idle_while_leased
        _takes_the_next_job(queue, worker, repo)
    finally:
        _close(stores)


def test_postgres_that_never_comes_back_dead_letters_then_the_worker_goes_on(pg, rds, repo,
                                                                            tmp_path):
    queue, worker, stores, fault, job, outcomes = _run(
        JobStep.METADATA_WRITE, "postgres-never", pg, rds, repo, tmp_path, times=10**6)
    try:
        assert outcomes[-1] == "failed" and len(outcomes) == MAX_ATTEMPTS
        dead = queue.dead_letters()
        assert [d["job_id"] for d in dead] == [job]
        assert "MetadataStoreError" in dead[0]["error"]
        _no_lease_outlives(queue, job)
        pg.start()  # the database is back: the worker takes the next job as if nothing was
        _takes_the_next_job(queue, worker, repo)
    finally:
        _close(stores)
