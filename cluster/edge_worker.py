"""One edge worker: claim a task, run the graph job with a renewed lease, record the outcome.

Independent of Ray (the Ray actor in :mod:`cluster.actor_pool` wraps it), so it can be
tested and run on its own. Rules:

- Standing alone (``run_forever``, as tests and benches use it), an idle worker polls
  with exponential backoff up to ``idle_poll_max_s`` (REST), or blocks on ``BLMOVE``
  for twice that (TCP): about 960 commands per idle day at 90 s. In the edge pool the
  slots do not poll: the pool's one claim loop (:mod:`cluster.claim_loop`) claims for
  them and calls :meth:`EdgeWorker.process`. The heartbeat TTL (300 s) outlasts both.
- A task older than ``TASK_TTL_SECONDS`` is recorded ``skipped`` with the reason.
- While the job runs, a thread renews the lease every ``lease_s / 3`` and publishes the
  stage and progress. Three signals stop the job (polled between stages and between
  training batches), each with its own record (:class:`~graph_jobs.lifecycle.StopSignal`):
  a cancel is recorded ``cancelled``; a lost lease (the task was given to another
  worker) records nothing; a release (this worker drains) leaves the job ``pending`` in
  the queue and in its row, for the next worker.
- The outcome is decided in one place (``_settle``), whatever left the job: a result,
  a stop, or any exception. Every outcome is a :class:`JobRecord` whose status is a
  :class:`~graph_jobs.lifecycle.JobStatus`: ``retrying`` for a failed attempt the queue
  tries again, ``pending`` for a released job, ``running`` for one whose lease another
  worker holds. The lease keeper is stopped in a ``finally`` first, so no
  lease outlives its job. Permanent failures (the error's class says ``retryable =
  False``: unsafe URL, repository too large) are recorded ``failed`` at once; others
  (a store away, a clone that failed, a bug) are retried by the queue and
  dead-lettered after ``max_attempts``.
- Redis unreachable: every call is retried every ``redis_retry_s`` (5 s, as the old
  worker did) with the job in hand kept; nothing crashes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from cluster.idle_pacer import IdlePacer
from cluster.job_queue import JobQueue, Task, WorkerBeat
from cluster.queue_settings import QueueSettings
from cluster.redis_transport import QueueUnavailable
from cluster.statuses import FailReply, JobStatus, RenewReply, Stage, StopSignal, WorkerState
from graph_jobs.errors import JobStopped
from graph_jobs.faults import FaultHook, JobStep, no_faults
from graph_jobs.job_record import JobRecord
from graph_jobs.url_policy import UrlPolicy

log = logging.getLogger(__name__)


def hardware_name() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # torch missing or a broken driver: report the CPU
        pass
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"CPU (logical GPU {gpus})" if gpus else "CPU"


class EdgeWorker:
    def __init__(self, queue: JobQueue, settings: QueueSettings, *, worker_id: str | None = None,
                 stores=None, idle_poll_min_s: float = 1.0, idle_poll_max_s: float = 90.0,
                 redis_retry_s: float = 5.0, run_job: Callable | None = None,
                 faults: FaultHook = no_faults, url_policy: UrlPolicy | None = None) -> None:
        self.queue = queue
        self.settings = settings
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.hardware = hardware_name()
        self.beat = WorkerBeat(self.worker_id, self.hardware)
        self.pacer = IdlePacer(queue.t.can_block, idle_poll_min_s, idle_poll_max_s)
        self.redis_retry_s = redis_retry_s
        self._stores = stores
        self._run_job = run_job
        self.faults = faults
        # every task's URL is checked at clone time with the ingress's rules, and pinned
        self.url_policy = url_policy or UrlPolicy.from_settings(settings)
        self.draining = threading.Event()
        self.current: Task | None = None
        self.jobs_done = 0
        self.embed_lock = None  # shared by the slots of one GPU actor
        self.on_outcome: Callable[[JobRecord], None] | None = None
        self._lease: _LeaseKeeper | None = None

    # --- Redis calls that survive Redis going away --------------------------------------
    def _retrying(self, what: str, fn: Callable, *, until: Callable[[], bool] | None = None):
        delay = self.redis_retry_s
        while True:
            try:
                return fn()
            except QueueUnavailable as exc:
                log.warning("%s: Redis unreachable (%s); retrying in %.0fs", what, exc, delay)
                if until is not None and until():
                    raise
                time.sleep(delay)

    def announce(self) -> str:
        line = f"Edge Worker Online\nHardware: {self.hardware}"
        print(line, flush=True)
        self._retrying("heartbeat", lambda: self.queue.heartbeat(self.beat),
                       until=self.draining.is_set)
        self._retrying("rescue", lambda: self.queue.rescue(self.worker_id),
                       until=self.draining.is_set)
        return line

    def stores(self):
        if self._stores is None:
            from graph_jobs.pipeline import Stores

            self._stores = Stores.open(self.settings)
        return self._stores

    # --- the loop ----------------------------------------------------------------------
    def run_forever(self, stop: threading.Event | None = None) -> None:
        stop = stop or self.draining
        self.announce()
        while not stop.is_set() and not self.draining.is_set():
            self.poll_once(stop)

    def poll_once(self, stop: threading.Event | None = None) -> JobRecord | None:
        """Claim and run at most one task; back off when there is none.

        After a failure the heartbeat keeps saying ``Error: ...`` until the next job.
        """
        if self.beat.state is not WorkerState.ERROR:
            self._set_idle()
        # TCP: block on BLMOVE for two ceilings, then one claim script (heartbeat + lease
        # reaping): 2 commands per 180 s idle, like REST's 1 per 90 s.
        try:
            task = self.queue.claim(self.beat, block_s=self.pacer.block_s)
        except QueueUnavailable as exc:
            log.warning("claim: Redis unreachable (%s); retrying in %.0fs", exc,
                        self.redis_retry_s)
            (stop or self.draining).wait(self.redis_retry_s)
            return None
        if task is None:
            self.pacer.empty(stop or self.draining)
            return None
        self.pacer.reset()
        return self.process(task)

    def process(self, task: Task) -> JobRecord:
        self.current = task
        try:
            out = self._process(task)
            if self.on_outcome is not None:
                self.on_outcome(out)
            return out
        finally:
            self.current = None
            self._lease = None
            self.jobs_done += 1

    def abandon(self) -> bool:
        """Draining: stop the running job and hand it back to the queue, uncounted."""
        task, lease = self.current, self._lease
        if task is None or lease is None:
            return False
        lease.released = True
        return bool(self._retrying("release", lambda: self.queue.release(task, self.beat)))

    def _process(self, task: Task) -> JobRecord:
        if task.age_s() > self.queue.task_ttl_s:
            reason = (f"task exceeded TTL: submitted {task.age_s() / 3600:.1f} h ago, limit "
                      f"{self.queue.task_ttl_s / 3600:.1f} h")
            self._set_idle()
            skipped = task.record(JobStatus.SKIPPED, error=reason)
            self._tell_queue(lambda: self.queue.ack(skipped, self.beat))
            return skipped
        self.beat.training(task.job_id, task.repo, Stage.CLONE)
        lease = _LeaseKeeper(self, task)
        self._lease = lease
        lease.start()
        t0 = time.perf_counter()
        result, stop = None, None
        try:
            result = self._run(task, lease)
        except JobStopped as exc:
            stop = exc.signal
        except Exception as exc:  # noqa: BLE001 - whatever escapes the job is a failed attempt
            log.exception("job %s: %s escaped the pipeline", task.job_id, type(exc).__name__)
            result = task.record(JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}",
                                 retryable=getattr(exc, "retryable", True),
                                 duration_seconds=time.perf_counter() - t0)
        finally:
            lease.stop()  # in every case, so that no lease outlives its job
        # a release or a lost lease decides, whatever the job came to; a cancel only if
        # the job stopped for it (one that completed first is complete)
        held = lease.stop_signal()
        if held in (StopSignal.RELEASED, StopSignal.LEASE_LOST):
            stop = held
        return self._settle(task, stop, result, time.perf_counter() - t0)

    def _settle(self, task: Task, stop: StopSignal | None, result: JobRecord | None,
                elapsed: float) -> JobRecord:
        """The one place a job's outcome is decided: handed back (draining: ``pending``
        again), lost (its lease went to another worker: nothing recorded), cancelled,
        complete, failed for good (a permanent error), or failed for now (``retrying``:
        retried by the queue, dead-lettered after its attempts)."""
        if stop is StopSignal.RELEASED:
            return task.record(JobStatus.PENDING, error="handed back to the queue",
                               duration_seconds=elapsed)
        if stop is StopSignal.LEASE_LOST:
            return task.record(JobStatus.RUNNING, error="lease lost: another worker runs it",
                               duration_seconds=elapsed)
        if stop is StopSignal.CANCEL or result is None:
            self._set_idle()
            cancelled = task.record(JobStatus.CANCELLED, duration_seconds=elapsed,
                                    error="cancelled while running")
            self._tell_queue(lambda: self.queue.ack(cancelled, self.beat))
            return cancelled
        result.attempts = task.attempts
        if result.status == JobStatus.COMPLETE:
            self._set_idle()
            if not self._tell_queue(lambda: self.queue.ack(result, self.beat)):
                result.status = JobStatus.RUNNING  # the lease lapsed: another worker has it
                result.error = "lease lost: another worker runs it"
            return result
        err = result.error = result.error or "unknown error"
        self.beat.failed(err)  # shown until the next job
        if not result.retryable:
            result.status = JobStatus.FAILED
            self._tell_queue(lambda: self.queue.ack(result, self.beat))
            return result
        reply = self._tell_queue(lambda: self.queue.fail(task, self.beat, err,
                                                         result.duration_seconds))
        result.status = JobStatus.FAILED if reply is FailReply.DEAD else JobStatus.RETRYING
        return result

    def _tell_queue(self, call: Callable):
        """The outcome reaches the queue: retried while Redis is away (the job in hand is
        kept); a fault hook can fault it (``JobStep.ACK``)."""

        def once():
            self.faults(JobStep.ACK)
            return call()

        return self._retrying("ack", once)

    def _set_idle(self) -> None:
        self.beat.idle()

    def _run(self, task: Task, lease: _LeaseKeeper):
        if self._run_job is not None:
            return self._run_job(task, lease)
        from graph_jobs.pipeline import run_ingest

        # the task's source is parsed once, at this process boundary, under the policy
        return run_ingest(task.source, self.settings, ref=task.ref, job_id=task.job_id,
                          name=task.repo, stores=self.stores(),
                          progress=lease.progress, should_stop=lease.should_stop,
                          worker=self.worker_id, embed_lock=self.embed_lock,
                          faults=self.faults, url_policy=self.url_policy)


class _LeaseKeeper:
    """Renews the lease every lease/3 seconds and on each stage change."""

    def __init__(self, worker: EdgeWorker, task: Task) -> None:
        self.w, self.task = worker, task
        self.interval = max(0.2, worker.queue.lease_ms / 3000)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.cancel = False  # the queue said so on a renew
        self.lost = False  # the lease is another worker's
        self.released = False  # this worker drains and handed the job back
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"lease-{task.job_id[:8]}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def progress(self, stage: str, frac: float) -> None:
        changed = stage != self.w.beat.stage
        self.w.beat.stage, self.w.beat.progress = stage, frac
        if changed:
            self._wake.set()

    def stop_signal(self) -> StopSignal | None:
        """What asks the job to stop, if anything: three distinct signals."""
        if self.released:
            return StopSignal.RELEASED
        if self.lost:
            return StopSignal.LEASE_LOST
        if self.cancel:
            return StopSignal.CANCEL
        return None

    should_stop = stop_signal  # what the pipeline polls

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                verdict = self.w.queue.renew(self.task.job_id, self.w.beat)
            except QueueUnavailable as exc:
                log.warning("lease renewal: Redis unreachable (%s)", exc)
                continue
            if verdict is RenewReply.CANCEL:
                self.cancel = True
            elif verdict is RenewReply.LOST:
                self.lost = True
                return
