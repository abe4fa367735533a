"""The claim loop and an actor that Ray is slow to restart (a loaded machine): the real
Ray runtime, real Redis.

Before: the loop freed the dead actor's slot at once and claimed for it again and
again while Ray restarted the actor; each claim failed at the actor, held the job until
its lease lapsed, and counted an attempt, so a job could fail for good without ever
running. Now the slot claims nothing until its actor answers Ray's readiness call.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

ray = pytest.importorskip("ray")

from cluster.claim_loop import ClaimLoop  # noqa: E402
from cluster.job_queue import JobQueue  # noqa: E402
from cluster.statuses import JobStatus  # noqa: E402
from devkit.private_services import PrivateRedis  # noqa: E402
from graph_jobs.repository_ref import RepoRef  # noqa: E402
from pharos_cli.settings import Settings  # noqa: E402
from tests.support.settings_env import settings_with  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

RESTART_S = 12.0  # how long the actor's second life takes to start
# a claim for the restarting actor would lapse (and cost an attempt) twice over; longer
# than Ray takes to report the killed task, or job a's lease could lapse (and a sibling
# slot claim it, for the dead actor) before the loop knows
LEASE_S = 5


@ray.remote(max_restarts=-1, max_task_retries=0, max_concurrency=4)
class SlowToRestart:
    """Stands in for GraphWorker: its first life holds every job, renewing its lease as
    an EdgeWorker does (until it is killed);
    its second life takes :data:`RESTART_S` to start, then completes each job at once."""

    def __init__(self, redis_url: str) -> None:
        self.second_life = ray.get_runtime_context().was_current_actor_reconstructed
        if self.second_life:
            time.sleep(RESTART_S)
        self.queue = JobQueue.from_settings(_settings(redis_url))

    def process(self, slot: int, task):
        from cluster.job_queue import WorkerBeat

        wid = f"slow-{slot}"
        while not self.second_life:  # holds the job, its lease renewed, until killed
            self.queue.renew(task.job_id, WorkerBeat(wid))
            time.sleep(0.3)
        self.queue.ack(task.record(JobStatus.COMPLETE, worker=wid), WorkerBeat(wid))
        return SimpleNamespace(status=JobStatus.COMPLETE, error=None)


def _settings(redis_url: str) -> Settings:
    return settings_with({"REDIS_URL": redis_url, "PHAROS_LEASE_SECONDS": str(LEASE_S)})


@pytest.fixture
def local_ray():
    """A Ray cluster of the test's own; shut down whatever the test left."""
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False,
             log_to_driver=False, namespace=f"pharos-test-restart-{os.getpid()}")
    yield
    if ray.is_initialized():
        ray.shutdown()


def test_a_restarting_actors_slot_claims_nothing_until_it_is_back(local_ray):
    with PrivateRedis() as pr:
        q = JobQueue.from_settings(_settings(pr.url))
        loop = ClaimLoop(q, idle_poll_min_s=0.2, idle_poll_max_s=0.5, redis_retry_s=0.5)
        actor = SlowToRestart.remote(pr.url)
        ray.get(actor.__ray_ready__.remote())
        loop.add(actor, ["slow-0", "slow-1"], "CPU")  # two slots: one runs a, one idle
        loop.start()
        try:
            a = q.enqueue(RepoRef.parse("https://github.com/o/a")).job_id
            wait_for(lambda: (q.job(a) or {}).get("status") == JobStatus.RUNNING,
                     timeout=30, what="job a running")
            ray.kill(actor, no_restart=False)
            killed = time.monotonic()
            wait_for(lambda: all(s.down for s in loop.slots), timeout=RESTART_S - 3,
                     what="both of the actor's slots to stop claiming")
            b = q.enqueue(RepoRef.parse("https://github.com/o/b")).job_id
            # while Ray restarts the actor, neither of its slots claims: b waits (a
            # stays "running" under its lapsed lease until a claim sweeps it back)
            seen = set()
            while time.monotonic() - killed < RESTART_S - 1.0:
                seen.add(q.job(b)["status"])
                time.sleep(0.2)
            assert seen == {JobStatus.PENDING}, seen
            wait_for(lambda: {h["job_id"] for h in q.history(10)} >= {a, b}, timeout=90,
                     what="both jobs done once the actor is back")
        finally:
            loop.shutdown()
        done = {h["job_id"]: h for h in q.history(10)}
        assert done[a]["status"] == done[b]["status"] == JobStatus.COMPLETE, done
        assert q.job(b)["attempts"] == 1  # claimed once: by the live actor
        assert q.job(a)["attempts"] >= 2  # the killed run, then the one that finished
        assert len(q.history(10)) == 2  # each recorded once, nothing failed


def test_the_loop_stops_once_ray_is_shut_down(local_ray):
    """A loop left running after ``ray.shutdown`` (a pool never drained) must not start a
    new local Ray cluster behind its caller's back, nor keep claiming."""
    loop = None
    try:
        with PrivateRedis() as pr:
            q = JobQueue.from_settings(_settings(pr.url))
            loop = ClaimLoop(q, idle_poll_min_s=0.2, idle_poll_max_s=0.5, redis_retry_s=0.5)
            actor = SlowToRestart.remote(pr.url)
            ray.get(actor.__ray_ready__.remote())
            loop.add(actor, ["slow-0"], "CPU")
            loop.start()
            ray.shutdown()
            wait_for(lambda: loop.stop.is_set(), timeout=30, what="the loop to stop")
            job = q.enqueue(RepoRef.parse("https://github.com/o/c")).job_id
            time.sleep(1.5)
            assert q.job(job)["status"] == JobStatus.PENDING
            assert not ray.is_initialized()
    finally:
        if loop is not None:
            loop.shutdown()


class _Method:
    def __init__(self, fn):
        self.fn = fn

    def remote(self, *args):
        return self.fn(*args)


class _Refusing:
    """An actor handle whose ``process`` raises ``exc`` at submission."""

    def __init__(self, exc: Exception):
        def refuse(*_a):
            raise exc

        self.process = _Method(refuse)
        self.__ray_ready__ = _Method(lambda: None)


@pytest.mark.parametrize("refusal", ["actor", "other"])
def test_a_task_the_actor_cannot_take(refusal, monkeypatch):
    """Refused by the actor (``RayActorError``): back to the queue, no attempt counted,
    and the actor's slots stop claiming. Any other error at submission: a failed attempt
    (so that a task that can never be sent ends in the dead letters, not in a loop)."""
    from ray.exceptions import RayActorError

    import cluster.claim_loop as claim_loop

    monkeypatch.setattr(claim_loop.ray, "is_initialized", lambda: True)
    with PrivateRedis() as pr:
        q = JobQueue.from_settings(_settings(pr.url))
        loop = ClaimLoop(q, idle_poll_min_s=0.2, idle_poll_max_s=0.5, redis_retry_s=0.5)
        exc = RayActorError() if refusal == "actor" else TypeError("cannot pickle")
        loop.add(_Refusing(exc), ["w-0", "w-1"], "CPU")
        job = q.enqueue(RepoRef.parse("https://github.com/o/d")).job_id
        loop.step()
        state = q.job(job)
        if refusal == "actor":
            assert state["status"] == JobStatus.PENDING and state["queue_position"] == 1
            assert not q.history(5)
            assert all(s.down for s in loop.slots)
            assert loop._free() == []
        else:
            assert state["status"] == JobStatus.RETRYING, state
            assert not any(s.down for s in loop.slots)
