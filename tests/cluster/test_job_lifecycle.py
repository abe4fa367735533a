"""One lifecycle, three stop signals (issue 28).

- A worker drains mid-job: the job it lets go is ``pending`` again, never ``cancelled``
  (not in its SQL row, not in the queue's history, not in anything written on the way),
  and it ends ``complete`` once, on the other worker.
- A cancel during training stops the job within one training batch, and the job is
  recorded ``cancelled``.
- A lost lease stops the job and records nothing: the row stays the new owner's.

Real Redis, real PostgreSQL, the real pipeline on a real git repository built here.
"""

from __future__ import annotations

import threading

import pytest

from cluster.edge_worker import EdgeWorker
from cluster.job_queue import JobQueue, WorkerBeat
from cluster.redis_transport import RedisTransport
from cluster.statuses import CancelReply, JobStatus, RenewReply, Stage, StopSignal
from devkit.repos import make_repo
from graph_jobs.errors import JobCancelled, JobStopped, LeaseLost
from graph_jobs.faults import JobStep
from graph_jobs.pipeline import Stores, run_ingest
from graph_jobs.repository_ref import RepoRef
from graph_jobs.stores.metadata_store import MetadataStore
from graph_jobs.stores.vector_store import VectorStore
from pharos_cli.settings import Settings

FILES = {f"pkg/m{i}.py": f"from pkg import m{(i + 1) % 12}\nfrom pkg import m{(i + 5) % 12}\n"
         for i in range(12)}
FILES["pkg/__init__.py"] = ""


class WatchedStore(MetadataStore):
    """The real store, keeping every status written to the job rows (to say 'never')."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.written: list[tuple[str, str]] = []

    def upsert_job(self, job_id, **fields):
        if "status" in fields:
            self.written.append((job_id, str(fields["status"])))
        return super().upsert_job(job_id, **fields)

    def release_job(self, job_id, worker):
        changed = super().release_job(job_id, worker)
        if changed:
            self.written.append((job_id, str(JobStatus.PENDING)))
        return changed


@pytest.fixture
def world(tmp_path, pg_url, redis_url):
    settings = Settings(_env_file=None, PHAROS_DATA_DIR=str(tmp_path / "data"),
                        PHAROS_ALLOW_LOCAL_REPOS=True, PHAROS_HISTORY=False)
    meta = WatchedStore(pg_url)
    stores = Stores(VectorStore(settings), meta)
    queue = JobQueue(RedisTransport(redis_url), lease_s=30)
    repo = make_repo(tmp_path / "repo", FILES)
    yield settings, stores, meta, queue, repo
    meta.dispose()


def test_a_drained_job_is_queued_again_and_completes_once_on_the_other_worker(world):
    settings, stores, meta, queue, repo = world
    at_embed, go = threading.Event(), threading.Event()

    def hold_at_embed(step: JobStep) -> None:
        if step is JobStep.EMBED:  # mid-job: cloned, parsed, recorded running
            at_embed.set()
            assert go.wait(60)

    a = EdgeWorker(queue, settings, worker_id="draining", stores=stores, faults=hold_at_embed)
    job = queue.enqueue(RepoRef.parse(str(repo))).job_id
    outcome = {}
    t = threading.Thread(target=lambda: outcome.update(a=a.poll_once()))
    t.start()
    assert at_embed.wait(60), "the job never reached the embed stage"
    assert meta.get_job(job)["status"] == JobStatus.RUNNING
    a.draining.set()
    assert a.abandon()  # what GraphWorker.drain does past its grace period
    go.set()
    t.join(60)
    released = outcome["a"]
    assert released.status is JobStatus.PENDING  # queued again, not cancelled
    row = meta.get_job(job)
    assert row["status"] == JobStatus.PENDING and row["worker"] is None
    assert queue.job(job)["status"] == JobStatus.PENDING
    assert queue.job(job)["queue_position"] == 1 and queue.history(10) == []

    b = EdgeWorker(queue, settings, worker_id="other", stores=stores)
    done = b.poll_once()
    assert done.job_id == job and done.status is JobStatus.COMPLETE
    st = queue.status()
    assert (st["queue_size"], st["in_flight"]) == (0, 0)  # nothing left: it ran once, to its end
    history = [h for h in queue.history(100) if h["job_id"] == job]
    assert [(h["status"], h["worker"]) for h in history] == [("complete", "other")]
    row = meta.get_job(job)
    assert (row["status"], row["worker"]) == ("complete", "other")
    assert queue.job(job)["attempts"] == 1  # the released attempt is not counted
    written = [s for j, s in meta.written if j == job]
    assert JobStatus.CANCELLED not in written, written
    assert written == ["running", "pending", "running", "complete"], written


def test_a_cancel_during_training_stops_within_one_batch(world, monkeypatch):
    settings, stores, meta, _queue, repo = world
    settings.embedding_backend = "pharos"
    # many small batches, so that "within one" is a real bound
    from graph_jobs.embedding import skipgram

    batches: list[int] = []
    real_step = skipgram._sgd_step

    def counted_step(*args, **kwargs):
        batches.append(len(batches))
        return real_step(*args, **kwargs)

    monkeypatch.setattr(skipgram, "_sgd_step", counted_step)
    flag: dict[str, int] = {}

    def should_stop():
        # the user cancels once training has begun; from then on the flag is up
        if "at" not in flag and len(batches) >= 3:
            flag["at"] = len(batches)
        return StopSignal.CANCEL if "at" in flag else None

    stages = []
    with pytest.raises(JobCancelled):
        run_ingest(RepoRef.parse(str(repo)), settings, stores=stores, job_id="c" * 32,
                   should_stop=should_stop, progress=lambda s, f: stages.append(s))
    assert "at" in flag, "training never reached its third batch"
    assert len(batches) - flag["at"] <= 1, (flag, len(batches))
    assert Stage.STORE not in stages
    row = meta.get_job("c" * 32)
    assert row["status"] == JobStatus.CANCELLED and row["error"] == "cancelled"


def test_a_lost_lease_stops_the_job_and_records_nothing(world):
    settings, stores, meta, queue, repo = world
    job = queue.enqueue(RepoRef.parse(str(repo))).job_id
    task = queue.claim(WorkerBeat("first"))
    asked = iter([None, None, StopSignal.LEASE_LOST])

    with pytest.raises(LeaseLost) as stopped:
        run_ingest(task.source, settings, stores=stores, job_id=job, name=task.repo,
                   worker="first", should_stop=lambda: next(asked, StopSignal.LEASE_LOST))
    assert isinstance(stopped.value, JobStopped) and stopped.value.signal is StopSignal.LEASE_LOST
    # the other worker's record stands: the one that lost it wrote nothing more
    statuses = [s for j, s in meta.written if j == job]
    assert statuses == ["running"], statuses
    assert queue.renew(job, WorkerBeat("someone-else")) is RenewReply.LOST


def test_a_cancel_through_the_queue_stops_training_within_one_batch_of_being_seen(
        world, monkeypatch, redis_url):
    """The user cancels through the queue while the worker trains; the worker learns of
    it on its next lease renewal and the job stops before the next batch is trained."""
    from cluster import edge_worker
    from graph_jobs.embedding import skipgram

    settings, stores, meta, _queue, repo = world
    settings.embedding_backend = "pharos"
    queue = JobQueue(RedisTransport(redis_url), lease_s=0.6)  # renewed every 0.2 s
    job = queue.enqueue(RepoRef.parse(str(repo))).job_id
    batches: list[int] = []
    real_step = skipgram._sgd_step

    def slow_step(*args, **kwargs):  # a batch takes a while, as a real one on a big graph
        batches.append(len(batches))
        if len(batches) == 2:
            assert queue.cancel(job).reply is CancelReply.CANCELLING
        threading.Event().wait(0.05)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(skipgram, "_sgd_step", slow_step)
    planned: list[int] = []
    real_init = skipgram.SkipGramTrainer.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        planned.append(self.total_steps)

    monkeypatch.setattr(skipgram.SkipGramTrainer, "__init__", init)
    seen: dict[str, int] = {}
    real_signal = edge_worker._LeaseKeeper.stop_signal

    def signal(self):
        out = real_signal(self)
        if out is StopSignal.CANCEL and "at" not in seen:
            seen["at"] = len(batches)
        return out

    monkeypatch.setattr(edge_worker._LeaseKeeper, "stop_signal", signal)
    monkeypatch.setattr(edge_worker._LeaseKeeper, "should_stop", signal)
    worker = EdgeWorker(queue, settings, worker_id="w", stores=stores)
    out = worker.poll_once()
    assert out.status is JobStatus.CANCELLED, (out.status, out.error, len(batches))
    assert "at" in seen and len(batches) - seen["at"] <= 1, (seen, len(batches))
    assert len(batches) < planned[0], (len(batches), planned)  # stopped inside training
    assert queue.history(1)[0]["status"] == JobStatus.CANCELLED
    assert meta.get_job(job)["status"] == JobStatus.CANCELLED
