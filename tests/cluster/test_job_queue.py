"""The Redis job queue over both transports, against the machine's real Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cluster.edge_worker import EdgeWorker
from cluster.job_queue import JobQueue, QueueFull, WorkerBeat, history_stats
from cluster.redis_transport import QueueUnavailable, RedisTransport, UpstashTransport
from cluster.statuses import CancelReply, JobStatus
from cluster.worker_status import combined_status
from devkit.private_services import free_port
from graph_jobs.job_record import JobRecord
from graph_jobs.repository_ref import RepoRef


def _result(task, status="complete", error=None):
    return JobRecord(task.job_id, task.repo, JobStatus(status), commit="abc", files_processed=3,
                        embeddings_generated=3, duration_seconds=0.01, error=error)


def test_enqueue_claim_ack_and_history(transport):
    q = JobQueue(transport, max_size=3)
    a = q.enqueue(RepoRef.parse("https://github.com/o/a"))
    b = q.enqueue(RepoRef.parse("https://github.com/o/b"))
    assert (a.queue_position, b.queue_position, b.queue_size, b.max_queue_size) == (1, 2, 2, 3)
    again = q.enqueue(RepoRef.parse("https://github.com/o/a"))
    assert again.existing and again.job_id == a.job_id and again.queue_size == 2
    assert q.enqueue(RepoRef.parse("https://github.com/o/a"), ref="v2").job_id != a.job_id  # other ref
    with pytest.raises(QueueFull):
        q.enqueue(RepoRef.parse("https://github.com/o/c"))
    assert q.job(b.job_id)["queue_position"] == 2
    beat = WorkerBeat("w1")
    task = q.claim(beat)
    assert task.job_id == a.job_id and task.attempts == 1
    assert q.job(a.job_id)["status"] == "running"
    # once claimed, the same repository can be queued again (it is no longer pending)
    assert q.enqueue(RepoRef.parse("https://github.com/o/a")).job_id != a.job_id
    assert q.ack(task.record(JobStatus.COMPLETE, duration_seconds=1.5, files_processed=4,
                 embeddings_generated=4), beat)
    assert not q.ack(task.record(JobStatus.COMPLETE), beat)  # exactly once
    h = q.history(10)
    assert len(h) == 1 and h[0]["status"] == "complete" and h[0]["repo_url"].endswith("/a")
    assert {"repo_url", "status", "duration_seconds", "files_processed",
            "embeddings_generated", "timestamp"} <= set(h[0])
    assert q.job(a.job_id)["status"] == "complete"
    assert history_stats(h)["success_rate"] == 1.0


def test_history_keeps_the_last_100(transport):
    q = JobQueue(transport, max_size=1000)
    beat = WorkerBeat("w")
    for i in range(105):
        q.enqueue(RepoRef.parse(f"https://h.example/r{i}"))
    for _ in range(105):
        t = q.claim(beat)
        q.ack(t.record(JobStatus.COMPLETE, duration_seconds=1), beat)
    assert len(q.history(500)) == 100
    assert q.history(1)[0]["repo_url"] == "h.example/r104"  # the one name


def test_100_concurrent_enqueues_with_a_cap_of_10_accept_exactly_10(transport):
    q = JobQueue(transport, max_size=10)

    def submit(i):
        try:
            q.enqueue(RepoRef.parse(f"https://github.com/o/r{i}"))
            return True
        except QueueFull:
            return False

    with ThreadPoolExecutor(32) as pool:
        accepted = sum(pool.map(submit, range(100)))
    assert accepted == 10
    assert q.status()["queue_size"] == 10


def test_two_workers_racing_never_claim_the_same_task(transport):
    q = JobQueue(transport, max_size=100)
    ids = {q.enqueue(RepoRef.parse(f"https://github.com/o/r{i}")).job_id for i in range(40)}
    claimed: dict[str, list[str]] = {"w1": [], "w2": []}

    def drain(w):
        beat = WorkerBeat(w)
        while (t := q.claim(beat)) is not None:
            claimed[w].append(t.job_id)

    threads = [threading.Thread(target=drain, args=(w,)) for w in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    both = claimed["w1"] + claimed["w2"]
    assert sorted(both) == sorted(ids) and len(set(both)) == 40


def test_lapsed_lease_is_redelivered_and_finishes_once(transport):
    q = JobQueue(transport, lease_s=0.3)
    job = q.enqueue(RepoRef.parse("https://github.com/o/a")).job_id
    dead_beat, live_beat = WorkerBeat("dies"), WorkerBeat("lives")
    t1 = q.claim(dead_beat)  # ... and the worker dies: no renew, no ack
    time.sleep(0.5)
    t2 = q.claim(live_beat)  # the claim requeues the lapsed lease, then takes it
    assert t2 is not None and t2.job_id == job and t2.attempts == 2
    assert "lease expired" in q.job(job)["error"]
    assert q.renew(job, dead_beat) == "lost"
    assert not q.ack(t1.record(JobStatus.COMPLETE), dead_beat)  # the dead worker cannot record it
    assert q.ack(t2.record(JobStatus.COMPLETE), live_beat)
    assert [h["job_id"] for h in q.history(10)] == [job]


def test_job_failing_every_time_is_dead_lettered_after_3_attempts(transport):
    q = JobQueue(transport, max_attempts=3)
    job = q.enqueue(RepoRef.parse("https://github.com/o/bad")).job_id
    beat = WorkerBeat("w")
    verdicts = []
    for _ in range(3):
        t = q.claim(beat)
        verdicts.append(q.fail(t, beat, f"boom {t.attempts}"))
    assert verdicts == ["retry", "retry", "dead"]
    assert q.claim(beat) is None
    dead = q.dead_letters()
    assert len(dead) == 1 and dead[0]["job_id"] == job and dead[0]["error"] == "boom 3"
    hist = q.history(10)
    assert [h["status"] for h in hist] == ["failed"] and hist[0]["attempts"] == 3


def test_worker_that_never_comes_back_dead_letters_via_leases(transport):
    q = JobQueue(transport, lease_s=0.1, max_attempts=2)
    job = q.enqueue(RepoRef.parse("https://github.com/o/a")).job_id
    for name in ("a", "b"):
        assert q.claim(WorkerBeat(name)).job_id == job
        time.sleep(0.2)
    assert q.claim(WorkerBeat("c")) is None
    assert q.dead_letters()[0]["job_id"] == job
    assert "worker lost" in q.history(1)[0]["error"]


def test_cancel_pending_and_running(transport):
    q = JobQueue(transport)
    a = q.enqueue(RepoRef.parse("https://github.com/o/a")).job_id
    b = q.enqueue(RepoRef.parse("https://github.com/o/b")).job_id
    assert q.cancel(a).reply is CancelReply.CANCELLED
    assert q.status()["queue_size"] == 1
    assert q.history(1)[0]["status"] == "cancelled"
    beat = WorkerBeat("w")
    t = q.claim(beat)
    assert t.job_id == b
    assert q.cancel(b).reply is CancelReply.CANCELLING
    assert q.renew(b, beat) == "cancel"
    assert q.cancel("nope").reply is CancelReply.UNKNOWN


def test_edge_worker_skips_tasks_older_than_ttl(transport, settings):
    q = JobQueue(transport, task_ttl_s=3600)
    q.enqueue(RepoRef.parse("https://github.com/o/old"), submitted_at=time.time() - 7200)
    ran = []
    w = EdgeWorker(q, settings, worker_id="w", run_job=lambda t, lease: ran.append(t))
    out = w.poll_once()
    assert out.status == "skipped" and not ran
    h = q.history(1)[0]
    assert h["status"] == "skipped" and "exceeded TTL" in h["error"]


def test_edge_worker_statuses_and_cancel(transport, settings):
    q = JobQueue(transport, lease_s=0.6)
    seen = []

    def slow_job(task, lease):
        for i in range(40):
            lease.progress("embed", i / 40)
            seen.append(combined_status(q.status()["workers"]))
            if lease.should_stop():
                from graph_jobs.errors import JobCancelled

                raise JobCancelled("stop")
            time.sleep(0.05)
        return _result(task)

    w = EdgeWorker(q, settings, worker_id="w", run_job=slow_job, idle_poll_min_s=0.01)
    assert combined_status(q.status()["workers"]) == "Offline"
    assert "Edge Worker Online" in w.announce()
    assert combined_status(q.status()["workers"]) == "Idle"
    assert q.status()["workers"][0]["hardware"].startswith("CPU")
    q.enqueue(RepoRef.parse("https://github.com/o/a"))
    out = w.poll_once()
    assert out.status == "complete"
    assert "Training Graph on github.com/o/a" in seen
    assert combined_status(q.status()["workers"]) == "Idle"
    # cancel while running
    job = q.enqueue(RepoRef.parse("https://github.com/o/b")).job_id
    threading.Timer(0.3, lambda: q.cancel(job)).start()
    assert w.poll_once().status == "cancelled"
    assert q.history(1)[0]["status"] == "cancelled"


def test_edge_worker_failure_shows_error_then_dead_letters(transport, settings):
    q = JobQueue(transport, max_attempts=2)
    w = EdgeWorker(q, settings, worker_id="w", idle_poll_min_s=0.01,
                   run_job=lambda t, lease: _result(t, "failed", "CloneFailed: no such repo"))
    q.enqueue(RepoRef.parse("https://github.com/o/missing"))
    assert w.poll_once().status == JobStatus.RETRYING
    assert combined_status(q.status()["workers"]) == "Error: CloneFailed: no such repo"
    assert w.poll_once().status == "failed"
    assert q.dead_letters()[0]["error"] == "CloneFailed: no such repo"


def test_rest_transport_with_a_bad_token_is_unavailable_not_a_crash(redis_url):
    from devkit.upstash_gateway import UpstashGateway

    with UpstashGateway(redis_url) as gw:
        q = JobQueue(UpstashTransport(gw.url, "wrong-token"))
        with pytest.raises(QueueUnavailable, match="Upstash REST"):
            q.enqueue(RepoRef.parse("https://github.com/o/a"))


def _start_redis(port: int, tmp) -> subprocess.Popen:
    proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind",
                             "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
@pytest.mark.parametrize("kind", ["redis", "upstash-rest"])
def test_redis_stopped_for_10s_then_back_everything_recovers(kind, tmp_path, settings):
    """A private redis-server is stopped for 10 s mid-job and started again."""
    from devkit.upstash_gateway import UpstashGateway

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    proc = _start_redis(port, tmp_path)
    gw = UpstashGateway(url).__enter__() if kind == "upstash-rest" else None
    try:
        transport = RedisTransport(url) if gw is None else UpstashTransport(gw.url, gw.token)
        q = JobQueue(transport, lease_s=30)
        job = q.enqueue(RepoRef.parse("https://github.com/o/a")).job_id
        outage = {}

        def job_during_outage(task, lease):
            if outage:  # only the first job meets the outage
                return _result(task)
            proc.terminate()
            proc.wait()
            outage["down_at"] = time.time()
            time.sleep(10)
            outage["proc"] = _start_redis(port, tmp_path)
            return _result(task)

        w = EdgeWorker(q, settings, worker_id="w", run_job=job_during_outage,
                       redis_retry_s=0.5, idle_poll_min_s=0.1, idle_poll_max_s=0.5)
        # the job in hand runs while Redis is down; its ack is retried until Redis is back.
        # Redis restarted empty (no persistence): the lease is gone, so the ack finds no
        # lease and the worker reports it lost rather than writing a wrong record.
        out = w.poll_once()
        assert out.status in (JobStatus.COMPLETE, JobStatus.RUNNING)  # RUNNING: its lease lapsed
        # enqueue and claim work again by themselves, no restart of anything
        job2 = q.enqueue(RepoRef.parse("https://github.com/o/b")).job_id
        assert w.poll_once().status == "complete"
        assert q.history(1)[0]["job_id"] == job2
        assert job != job2
        # and while Redis is down, enqueue says so (503 at the API), claim does not crash
        outage["proc"].terminate()
        outage["proc"].wait()
        with pytest.raises(QueueUnavailable):
            q.enqueue(RepoRef.parse("https://github.com/o/c"))
        assert w.poll_once() is None
        proc2 = _start_redis(port, tmp_path)
        outage["proc"] = proc2
        assert q.enqueue(RepoRef.parse("https://github.com/o/c")).queue_position == 1
    finally:
        if gw is not None:
            gw.__exit__(None, None, None)
        for p in (proc, outage.get("proc")):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait()


def test_an_exception_escaping_the_job_is_a_retry_and_stops_the_lease(transport, settings):
    """Whatever leaves the job (here a bug in it) is a failed attempt: retried, then
    dead-lettered; the lease keeper stops each time and the heartbeat is not left Idle
    with a live lease."""
    q = JobQueue(transport, lease_s=0.3, max_attempts=2)

    def broken(task, lease):
        raise RuntimeError("a bug in the job")

    w = EdgeWorker(q, settings, worker_id="w", idle_poll_min_s=0.01, run_job=broken)
    job = q.enqueue(RepoRef.parse("https://github.com/o/a")).job_id
    assert w.poll_once().status == JobStatus.RETRYING
    assert not [t for t in threading.enumerate() if t.name.startswith("lease-") and t.is_alive()]
    assert combined_status(q.status()["workers"]) == "Error: RuntimeError: a bug in the job"
    assert w.poll_once().status == "failed"
    assert q.dead_letters()[0]["job_id"] == job
    assert q.status()["in_flight"] == 0


def test_a_failed_attempt_backs_off_before_it_is_retried(transport):
    q = JobQueue(transport, max_attempts=3, retry_backoff_s=0.4)
    assert [q.backoff_s(a) for a in (1, 2, 3)] == [0.4, 0.8, 1.6]
    beat = WorkerBeat("w")
    job = q.enqueue(RepoRef.parse("https://github.com/o/a")).job_id
    task = q.claim(beat)
    assert q.fail(task, beat, "CloneFailed: network") == "retry"
    state = q.job(job)
    assert (state["status"], state["error"]) == ("retrying", "CloneFailed: network")
    # the same repository submitted while it waits is the same job
    again = q.enqueue(RepoRef.parse("https://github.com/o/a"))
    assert again.existing and again.job_id == job
    assert q.claim(beat) is None  # not before its backoff
    assert not q.ack(task.record(JobStatus.COMPLETE), beat)  # the failed attempt's worker owns it no more
    time.sleep(0.5)
    retried = q.claim(beat)
    assert retried is not None and (retried.job_id, retried.attempts) == (job, 2)
    assert q.fail(retried, beat, "CloneFailed: network") == "retry"
    time.sleep(0.3)
    assert q.claim(beat) is None  # the second wait is twice as long
    # a job waiting to retry can be cancelled, and is then gone for good
    assert q.cancel(job).reply is CancelReply.CANCELLED
    assert q.job(job)["status"] == "cancelled"
    time.sleep(0.6)
    assert q.claim(beat) is None
    assert q.status()["in_flight"] == 0


def test_every_history_entry_is_the_one_job_record(transport, settings, pg_url):
    """Complete, failed for good, cancelled, dead-lettered by Python and by the claim
    script after a lost lease: every history entry has the keys of JobRecord's history
    view (the Lua record too), and the job views show theirs."""
    from graph_jobs.job_record import OPTIONAL, VIEWS
    from graph_jobs.stores.metadata_store import MetadataStore

    q = JobQueue(transport, lease_s=0.1, max_attempts=1)
    beat = WorkerBeat("w")
    done = q.enqueue(RepoRef.parse("https://github.com/o/done")).job_id
    t = q.claim(beat)
    assert q.ack(t.record(JobStatus.COMPLETE, duration_seconds=1.23456, files_processed=4,
                 embeddings_generated=4, timings={"graph": 0.12345}, device="cpu",
                 commit="abc"), beat)
    cancelled = q.enqueue(RepoRef.parse("https://github.com/o/cancelled")).job_id
    assert q.cancel(cancelled).reply is CancelReply.CANCELLED
    q.enqueue(RepoRef.parse("https://github.com/o/fails"))
    t = q.claim(beat)
    assert q.fail(t, beat, "boom") == "dead"
    lost = q.enqueue(RepoRef.parse("https://github.com/o/lost")).job_id
    assert q.claim(WorkerBeat("vanishes")).job_id == lost
    time.sleep(0.2)
    assert q.claim(beat) is None  # reaps the lapsed lease: dead-lettered by the script
    hist = q.history(10)
    assert {h["status"] for h in hist} == {"complete", "cancelled", "failed"}
    assert len(hist) == 4, hist
    allowed = set(VIEWS["history"]) | set(OPTIONAL["history"])
    for h in hist:
        assert set(VIEWS["history"]) <= set(h) <= allowed, h
    complete = next(h for h in hist if h["job_id"] == done)
    assert complete["duration_seconds"] == 1.235 and complete["timings"] == {"graph": 0.123}
    assert complete["commit"] == "abc" and complete["worker"] == "w"
    by_script = next(h for h in hist if h["job_id"] == lost)
    assert by_script["worker"] == "vanishes" and "worker lost" in by_script["error"]
    view = q.job(done)
    assert set(VIEWS["queue"]) <= set(view) <= set(VIEWS["queue"]) | set(OPTIONAL["queue"])
    assert view["files_processed"] == 4
    assert "files_processed" not in q.job(lost)

    meta = MetadataStore(pg_url)
    try:
        meta.upsert_job("row-1", repo_url="https://github.com/o/row", status="running",
                        worker="w")
        assert list(meta.get_job("row-1")) == list(VIEWS["row"])
    finally:
        meta.dispose()


def test_a_blocked_claim_is_interrupted_at_once(redis_url):
    """A draining pool does not wait out BLMOVE's block (180 s in production): the
    claim loop's shutdown interrupts it, so no claim outlives the pool."""
    t = RedisTransport(redis_url)
    t.blmove("pharos:test:empty", "pharos:test:dst", 0.1)  # the blocking client exists
    out = {}

    def block():
        t0 = time.monotonic()
        try:
            t.blmove("pharos:test:empty", "pharos:test:dst", 30)
            out["result"] = "returned"
        except QueueUnavailable:
            out["result"] = "interrupted"
        out["seconds"] = time.monotonic() - t0

    th = threading.Thread(target=block)
    th.start()
    time.sleep(0.5)
    t.interrupt()
    th.join(10)
    assert not th.is_alive() and out["result"] == "interrupted", out
    assert out["seconds"] < 5, out
    # the transport still works afterwards
    assert t.blmove("pharos:test:empty", "pharos:test:dst", 0.1) is None
