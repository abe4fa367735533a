"""The job queue between the ingress and the workers (see ``queue_scripts`` for keys).

Behaviour, the same over both transports:

- ``enqueue`` is atomic and capped (``MAX_QUEUE_SIZE``) and de-duplicated: a repository
  (and ref) that is already pending returns the existing job.
- ``claim`` moves a task into the in-flight set with a lease; the worker ``renew``s it
  while it works. Expired leases are requeued (front of the queue) by the next claim;
  after ``max_attempts`` the task goes to the dead-letter list with the last error.
- ``fail`` (a failed attempt that may succeed later) backs off: the job waits
  ``retrying`` for ``retry_backoff_s``, doubling per attempt, then the next claim puts
  it back in the queue.
- ``ack`` records the outcome in ``job_history`` (last 100) exactly once: a worker whose
  lease lapsed (and whose job went to someone else) cannot ack it any more.
- ``cancel`` removes a pending task, or flags a running one (the worker sees the flag on
  its next renew and stops).
- ``release`` hands a running job back (a draining worker): it is ``pending`` again, at
  the front of the queue, its attempt not counted; never ``cancelled``.
- Every script reply becomes its enum here (:mod:`cluster.statuses`); statuses are
  :class:`~graph_jobs.lifecycle.JobStatus`.
- Worker heartbeats ride on the claim/renew/ack scripts, so an idle worker costs one
  command per poll; the poll interval backs off to ``idle_poll_max_s``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass, field

from cluster import queue_scripts as lua
from cluster import redis_keys as keys
from cluster.errors import QueueFull, QueueUnavailable
from cluster.redis_transport import Transport
from cluster.statuses import (
    CancelReply,
    EnqueueReply,
    FailReply,
    JobStatus,
    RenewReply,
    Stage,
    WorkerState,
)
from graph_jobs.job_record import JobRecord
from graph_jobs.repository_ref import RepoRef

QUEUE_KEY = keys.QUEUE
HISTORY_KEY = keys.HISTORY
INFLIGHT_KEY = keys.INFLIGHT
PENDING_KEY = keys.PENDING
DEAD_KEY = keys.DEAD
HISTORY_LIMIT = keys.HISTORY_LIMIT


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(slots=True)
class Enqueued:
    job_id: str
    queue_position: int
    queue_size: int
    max_queue_size: int
    existing: bool = False


@dataclass(slots=True)
class Cancelled:
    """What ``cancel`` did (``reply``), and the job's status when it had already finished."""

    reply: CancelReply
    status: JobStatus | None = None

    @property
    def result(self) -> str:
        """The API's ``result``: what was done, or the status it had finished with."""
        return str(self.status if self.reply is CancelReply.FINISHED else self.reply)


@dataclass(slots=True)
class Task:
    """A claimed task. Its JSON keeps the public key names (``repo_url`` holds the name,
    ``source`` what is cloned); in Python, ``repo`` is the name."""

    job_id: str
    repo: str  # the repository's one name (RepoRef.name)
    source: str  # what the worker clones/opens (RepoRef.source)
    ref: str | None
    submitted_at: float  # unix seconds
    attempts: int = 1
    raw: str = ""

    def age_s(self, now: float | None = None) -> float:
        return (now or time.time()) - self.submitted_at

    def record(self, status: JobStatus, **fields) -> JobRecord:
        """This task's :class:`JobRecord` with ``status`` (no device unless given: the
        history shows one only for a job that says where it ran)."""
        fields.setdefault("device", None)
        return JobRecord(self.job_id, self.repo, status, attempts=self.attempts, **fields)


@dataclass
class WorkerBeat:
    """What a worker says about itself in its heartbeat: its ``state`` (a field, which
    readers use) and the status line derived from it (what the old API showed)."""

    worker_id: str
    hardware: str = "CPU"
    state: WorkerState = WorkerState.IDLE
    error: str | None = None  # the last job's error, while state is ERROR
    job_id: str | None = None
    repo: str | None = None  # the repository's name, while training
    stage: Stage | None = None
    progress: float = 0.0
    started_at: str = field(default_factory=iso_now)

    @property
    def status(self) -> str:
        if self.state is WorkerState.TRAINING:
            return f"Training Graph on {self.repo}"
        if self.state is WorkerState.ERROR:
            return f"Error: {self.error}"
        return "Idle"

    def idle(self) -> None:
        self.state, self.error = WorkerState.IDLE, None
        self.job_id = self.repo = self.stage = None
        self.progress = 0.0

    def training(self, job_id: str, repo: str, stage: Stage) -> None:
        self.state, self.error = WorkerState.TRAINING, None
        self.job_id, self.repo, self.stage, self.progress = job_id, repo, stage, 0.0

    def failed(self, error: str) -> None:
        """Idle, showing the last job's error until the next job."""
        self.idle()
        self.state, self.error = WorkerState.ERROR, error[:200]

    def to_json(self) -> str:
        return json.dumps({"worker_id": self.worker_id, "hardware": self.hardware,
                           "state": self.state.value, "status": self.status,
                           "job_id": self.job_id,
                           "repo_url": self.repo, "stage": self.stage,
                           "progress": round(self.progress, 3), "started_at": self.started_at,
                           "updated_at": iso_now()})


def pending_key(repo: str, ref: str | None) -> str:
    """The de-duplication key of a pending job: the repository's name and the ref
    (``name@ref``; the job hash's ``repo_key`` field)."""
    return f"{repo}@{ref or ''}"


class JobQueue:
    def __init__(self, transport: Transport, *, max_size: int = 10, task_ttl_s: int = 86400,
                 lease_s: float = 60.0, max_attempts: int = 3,
                 heartbeat_ttl_s: int = 300, retry_backoff_s: float = 0.0,
                 retry_backoff_max_s: float = 600.0) -> None:
        self.t = transport
        self.max_size = max_size
        self.task_ttl_s = task_ttl_s
        self.lease_ms = int(lease_s * 1000)
        self.max_attempts = max_attempts
        self.heartbeat_ttl_s = heartbeat_ttl_s
        self.retry_backoff_s = retry_backoff_s
        self.retry_backoff_max_s = retry_backoff_max_s

    @classmethod
    def from_settings(cls, settings, **kw) -> JobQueue:
        from cluster.redis_transport import transport_from_settings

        kw.setdefault("lease_s", settings.lease_seconds)
        kw.setdefault("max_attempts", settings.max_attempts)
        kw.setdefault("retry_backoff_s", settings.retry_backoff_seconds)
        return cls(transport_from_settings(settings), max_size=settings.max_queue_size,
                   task_ttl_s=settings.task_ttl_seconds, **kw)

    # --- ingress side ----------------------------------------------------------------
    def enqueue(self, repo: RepoRef, *, ref: str | None = None,
                submitted_at: float | None = None) -> Enqueued:
        """Queue ``repo`` (parsed where its name entered): one pending job per name and
        ref, whatever the spelling it was typed in."""
        job_id = uuid.uuid4().hex
        task = json.dumps({"job_id": job_id, "repo_url": repo.name, "source": repo.source,
                           "ref": ref, "submitted_at": submitted_at or time.time(),
                           "timestamp": iso_now()})
        kind, jid, pos, size = self.t.eval(
            lua.ENQUEUE, [QUEUE_KEY, PENDING_KEY, keys.job_key(job_id)],
            [pending_key(repo.name, ref), job_id, task, self.max_size, now_ms()])
        reply = EnqueueReply(kind)
        if reply is EnqueueReply.FULL:
            raise QueueFull(int(size), self.max_size)
        return Enqueued(jid, int(pos), int(size), self.max_size,
                        existing=reply is EnqueueReply.EXISTING)

    def cancel(self, job_id: str) -> Cancelled:
        """Cancel a job: removed when pending, flagged when running (the worker stops
        at its next poll), or nothing when unknown or already finished."""
        rec = self._record(JobRecord(job_id, None, JobStatus.CANCELLED, device=None,
                                     error="cancelled before it ran"))
        reply, status = self.t.eval(lua.CANCEL,
                                    [QUEUE_KEY, PENDING_KEY, HISTORY_KEY, INFLIGHT_KEY],
                                    [job_id, now_ms(), rec])
        return Cancelled(CancelReply(reply), JobStatus(status) if status else None)

    def job(self, job_id: str) -> dict | None:
        flat = self.t.eval(lua.JOB, [QUEUE_KEY], [job_id])
        if not flat:
            return None
        h = dict(zip(flat[::2], flat[1::2], strict=True))
        task = json.loads(h.get("task") or "{}")
        return JobRecord(
            job_id, task.get("repo_url"), JobStatus(h["status"]), ref=task.get("ref"),
            stage=h.get("stage") or None, progress=float(h.get("progress") or 0),
            attempts=int(h.get("attempts") or 0), worker=h.get("worker"),
            error=h.get("error") or None, submitted_at=task.get("timestamp"),
            queue_position=int(h["__position"]) if "__position" in h else None,
            cancel_requested=h.get("cancel") == "1",
            # set once the job finished (None: not shown)
            files_processed=int(h["files_processed"]) if h.get("files_processed") else None,
            embeddings_generated=(int(h["embeddings_generated"])
                                  if h.get("embeddings_generated") else None),
            duration_seconds=(float(h["duration_seconds"])
                              if h.get("duration_seconds") else None),
        ).to_dict("queue")

    def history(self, limit: int = 10) -> list[dict]:
        limit = max(1, min(HISTORY_LIMIT, limit))
        raw = self.t.eval("return redis.call('LRANGE', KEYS[1], 0, ARGV[1])", [HISTORY_KEY],
                          [limit - 1])
        return [json.loads(x) for x in raw or []]

    def dead_letters(self) -> list[dict]:
        raw = self.t.eval("return redis.call('LRANGE', KEYS[1], 0, -1)", [DEAD_KEY], [])
        return [json.loads(x) for x in raw or []]

    def status(self) -> dict:
        """Queue depth, in-flight count and every live worker's heartbeat."""
        return self._overview(0)["status"]

    def overview(self, history_limit: int = HISTORY_LIMIT) -> dict:
        """:meth:`status` and :meth:`history` read together, atomically (one command):
        ``{"status": ..., "history": [...]}``. Every job the status no longer counts as
        queued or in flight is already in the history."""
        return self._overview(max(1, min(HISTORY_LIMIT, history_limit)))

    def _overview(self, limit: int) -> dict:
        out = self.t.eval(lua.OVERVIEW, [QUEUE_KEY, INFLIGHT_KEY, HISTORY_KEY], [limit])
        n = int(out[2])
        workers = sorted((json.loads(w) for w in out[3 + n:]), key=lambda w: w["worker_id"])
        return {"status": {"queue_size": int(out[0]), "in_flight": int(out[1]),
                           "workers": workers},
                "history": [json.loads(x) for x in out[3:3 + n]]}

    # --- worker side -----------------------------------------------------------------
    def rescue(self, worker_id: str) -> int:
        """Return tasks a previous life of this worker left between BLMOVE and claim."""
        return int(self.t.eval(lua.RESCUE, [keys.claiming_key(worker_id), QUEUE_KEY], []))

    def claim(self, beat: WorkerBeat, block_s: float = 0.0,
              idle: list[WorkerBeat] | tuple[WorkerBeat, ...] = ()) -> Task | None:
        """Claim the next task for ``beat``'s worker (blocking up to ``block_s`` on the
        TCP transport). The same command refreshes the heartbeats of ``idle``: the other
        idle slots of the machine, for which one claim loop speaks."""
        from_claiming = "0"
        claiming = keys.claiming_key(beat.worker_id)
        if block_s > 0 and self.t.can_block:
            moved = self.t.blmove(QUEUE_KEY, claiming, block_s)
            from_claiming = "1" if moved else "0"
        res = self.t.eval(lua.CLAIM, [QUEUE_KEY, INFLIGHT_KEY, PENDING_KEY, DEAD_KEY,
                                      HISTORY_KEY, claiming],
                          [beat.worker_id, now_ms(), self.lease_ms, self.max_attempts,
                           from_claiming, beat.to_json(), self.heartbeat_ttl_s,
                           beat.status, iso_now(),
                           *(x for b in idle for x in (b.worker_id, b.to_json(), b.status))])
        if not res:
            return None
        raw, attempts = res[0], int(res[1])
        t = json.loads(raw)
        return Task(t["job_id"], t["repo_url"], t.get("source") or t["repo_url"], t.get("ref"),
                    float(t.get("submitted_at") or 0), attempts, raw)

    def renew(self, job_id: str, beat: WorkerBeat) -> RenewReply:
        """Extend the lease; ``CANCEL`` (stop the job) or ``LOST`` (it is not ours)."""
        return RenewReply(self.t.eval(
            lua.RENEW, [INFLIGHT_KEY],
            [job_id, beat.worker_id, now_ms(), self.lease_ms, beat.stage or "",
             round(beat.progress, 3), beat.to_json(), self.heartbeat_ttl_s, beat.status]))

    def heartbeat(self, beat: WorkerBeat) -> None:
        self.t.eval(lua.HEARTBEAT, [], [beat.worker_id, beat.to_json(), self.heartbeat_ttl_s,
                                        beat.status])

    def ack(self, record: JobRecord, beat: WorkerBeat) -> bool:
        """Record a job's final outcome (``record.status``: complete, skipped, cancelled
        or failed) exactly once; False when the job's lease is not ``beat``'s."""
        if not JobStatus(record.status).final:
            raise ValueError(f"ack records a final status, not {record.status!r}")
        record.worker = beat.worker_id
        return bool(self.t.eval(lua.ACK, [INFLIGHT_KEY, HISTORY_KEY],
                                [record.job_id, beat.worker_id, record.status,
                                 self._record(record), now_ms(), beat.to_json(),
                                 self.heartbeat_ttl_s, beat.status, record.error or "",
                                 record.files_processed, record.embeddings_generated,
                                 round(record.duration_seconds, 3)]))

    def backoff_s(self, attempts: int) -> float:
        """How long a task waits after its ``attempts``-th failed attempt: doubling from
        ``retry_backoff_s``, at most ``retry_backoff_max_s`` (0: requeued at once)."""
        if self.retry_backoff_s <= 0:
            return 0.0
        return min(self.retry_backoff_max_s, self.retry_backoff_s * 2 ** max(0, attempts - 1))

    def fail(self, task: Task, beat: WorkerBeat, error: str,
             duration_seconds: float = 0.0) -> FailReply:
        """A failed attempt: ``RETRY`` (requeued after its backoff), ``DEAD``
        (dead-lettered) or ``LOST``. While it waits, the job's status is ``retrying``; the
        first claim after the backoff puts it back at the end of the queue."""
        rec = self._record(task.record(JobStatus.FAILED, duration_seconds=duration_seconds,
                                       error=error, worker=beat.worker_id))
        return FailReply(self.t.eval(
            lua.FAIL, [INFLIGHT_KEY, HISTORY_KEY, QUEUE_KEY, PENDING_KEY, DEAD_KEY],
            [task.job_id, beat.worker_id, error, self.max_attempts, now_ms(), rec,
             beat.to_json(), self.heartbeat_ttl_s, beat.status,
             int(self.backoff_s(task.attempts) * 1000)]))

    def release(self, task: Task, beat: WorkerBeat) -> bool:
        """Hand a running job back to the front of the queue (draining worker): it is
        ``pending`` again, its attempt not counted, nothing written to the history."""
        return bool(self.t.eval(lua.RELEASE, [INFLIGHT_KEY, QUEUE_KEY, PENDING_KEY],
                                [task.job_id, beat.worker_id]))

    @staticmethod
    def _record(record: JobRecord) -> str:
        """The history entry (the ``history`` view of :class:`JobRecord`)."""
        record.timestamp = iso_now()
        return record.to_json("history")


def history_stats(jobs: list[dict]) -> dict:
    """Success rate, mean duration and throughput over the recorded history."""
    done = [j for j in jobs if j.get("status") in (JobStatus.COMPLETE, JobStatus.FAILED)]
    ok = [j for j in done if j["status"] == JobStatus.COMPLETE]
    stats = {"jobs": len(jobs), "complete": len(ok), "failed": len(done) - len(ok),
             "skipped": sum(j.get("status") == JobStatus.SKIPPED for j in jobs),
             "success_rate": round(len(ok) / len(done), 4) if done else None,
             "average_duration_seconds": (round(sum(j["duration_seconds"] for j in ok) / len(ok), 3)
                                          if ok else None),
             "throughput_per_hour": None}
    stamps = sorted(dt.datetime.fromisoformat(j["timestamp"]) for j in ok if j.get("timestamp"))
    if len(stamps) >= 2:
        span = (stamps[-1] - stamps[0]).total_seconds()
        if span > 0:
            stats["throughput_per_hour"] = round((len(stamps) - 1) / span * 3600, 2)
    return stats


__all__ = ["Cancelled", "JobQueue", "QueueFull", "QueueUnavailable", "Task", "WorkerBeat",
           "Enqueued", "history_stats", "pending_key"]
