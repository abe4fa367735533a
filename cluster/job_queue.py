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
from cluster.statuses import WorkerState
from graph_jobs.job_record import JobRecord

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
class Task:
    job_id: str
    repo_url: str
    source: str  # what the worker clones/opens (the normalised URL, or a local path)
    ref: str | None
    submitted_at: float  # unix seconds
    attempts: int = 1
    raw: str = ""

    def age_s(self, now: float | None = None) -> float:
        return (now or time.time()) - self.submitted_at


@dataclass
class WorkerBeat:
    """What a worker says about itself in its heartbeat: its ``state`` (a field, which
    readers use) and the status line derived from it (what the old API showed)."""

    worker_id: str
    hardware: str = "CPU"
    state: WorkerState = WorkerState.IDLE
    error: str | None = None  # the last job's error, while state is ERROR
    job_id: str | None = None
    repo_url: str | None = None
    stage: str | None = None
    progress: float = 0.0
    started_at: str = field(default_factory=iso_now)

    @property
    def status(self) -> str:
        if self.state is WorkerState.TRAINING:
            return f"Training Graph on {self.repo_url}"
        if self.state is WorkerState.ERROR:
            return f"Error: {self.error}"
        return "Idle"

    def idle(self) -> None:
        self.state, self.error = WorkerState.IDLE, None
        self.job_id = self.repo_url = self.stage = None
        self.progress = 0.0

    def training(self, job_id: str, repo_url: str, stage: str) -> None:
        self.state, self.error = WorkerState.TRAINING, None
        self.job_id, self.repo_url, self.stage, self.progress = job_id, repo_url, stage, 0.0

    def failed(self, error: str) -> None:
        """Idle, showing the last job's error until the next job."""
        self.idle()
        self.state, self.error = WorkerState.ERROR, error[:200]

    def to_json(self) -> str:
        return json.dumps({"worker_id": self.worker_id, "hardware": self.hardware,
                           "state": self.state.value, "status": self.status,
                           "job_id": self.job_id,
                           "repo_url": self.repo_url, "stage": self.stage,
                           "progress": round(self.progress, 3), "started_at": self.started_at,
                           "updated_at": iso_now()})


def repo_dedupe_key(repo_url: str, ref: str | None) -> str:
    return f"{repo_url}@{ref or ''}"


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
    def enqueue(self, repo_url: str, *, source: str | None = None, ref: str | None = None,
                submitted_at: float | None = None) -> Enqueued:
        from graph_jobs.repository_ref import repo_name

        source = source or repo_url
        repo_url = repo_name(repo_url)  # one name, whatever the spelling: one pending job
        job_id = uuid.uuid4().hex
        task = json.dumps({"job_id": job_id, "repo_url": repo_url, "source": source,
                           "ref": ref, "submitted_at": submitted_at or time.time(),
                           "timestamp": iso_now()})
        kind, jid, pos, size = self.t.eval(
            lua.ENQUEUE, [QUEUE_KEY, PENDING_KEY, keys.job_key(job_id)],
            [repo_dedupe_key(repo_url, ref), job_id, task, self.max_size, now_ms()])
        if kind == "full":
            raise QueueFull(int(size), self.max_size)
        return Enqueued(jid, int(pos), int(size), self.max_size, existing=kind == "existing")

    def cancel(self, job_id: str) -> str:
        """'cancelled' (was pending), 'cancelling' (running: the worker will stop),
        'unknown', or the job's final status when it already finished."""
        rec = self._record(job_id, "cancelled", error="cancelled before it ran")
        return self.t.eval(lua.CANCEL, [QUEUE_KEY, PENDING_KEY, HISTORY_KEY, INFLIGHT_KEY],
                           [job_id, now_ms(), rec])

    def job(self, job_id: str) -> dict | None:
        flat = self.t.eval(lua.JOB, [QUEUE_KEY], [job_id])
        if not flat:
            return None
        h = dict(zip(flat[::2], flat[1::2], strict=True))
        task = json.loads(h.get("task") or "{}")
        return JobRecord(
            job_id, task.get("repo_url"), h.get("status"), ref=task.get("ref"),
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
        out = self.t.eval(lua.STATUS, [QUEUE_KEY, INFLIGHT_KEY], [])
        workers = sorted((json.loads(w) for w in out[2:]), key=lambda w: w["worker_id"])
        return {"queue_size": int(out[0]), "in_flight": int(out[1]), "workers": workers}

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

    def renew(self, job_id: str, beat: WorkerBeat) -> str:
        """Extend the lease; returns 'ok', 'cancel' (stop the job) or 'lost'."""
        return self.t.eval(lua.RENEW, [INFLIGHT_KEY],
                           [job_id, beat.worker_id, now_ms(), self.lease_ms, beat.stage or "",
                            round(beat.progress, 3), beat.to_json(), self.heartbeat_ttl_s,
                            beat.status])

    def heartbeat(self, beat: WorkerBeat) -> None:
        self.t.eval(lua.HEARTBEAT, [], [beat.worker_id, beat.to_json(), self.heartbeat_ttl_s,
                                        beat.status])

    def ack(self, task: Task, beat: WorkerBeat, status: str, *, duration_seconds: float = 0.0,
            files_processed: int = 0, embeddings_generated: int = 0, error: str | None = None,
            timings: dict | None = None, device: str | None = None,
            commit: str | None = None) -> bool:
        """Record the outcome (complete / skipped / cancelled / failed) exactly once."""
        rec = self._record(task.job_id, status, task=task, worker=beat.worker_id,
                           duration_seconds=duration_seconds, files_processed=files_processed,
                           embeddings_generated=embeddings_generated, error=error,
                           timings=timings or {}, device=device, commit=commit)
        return bool(self.t.eval(lua.ACK, [INFLIGHT_KEY, HISTORY_KEY],
                                [task.job_id, beat.worker_id, status, rec, now_ms(),
                                 beat.to_json(), self.heartbeat_ttl_s, beat.status,
                                 error or "", files_processed, embeddings_generated,
                                 round(duration_seconds, 3)]))

    def backoff_s(self, attempts: int) -> float:
        """How long a task waits after its ``attempts``-th failed attempt: doubling from
        ``retry_backoff_s``, at most ``retry_backoff_max_s`` (0: requeued at once)."""
        if self.retry_backoff_s <= 0:
            return 0.0
        return min(self.retry_backoff_max_s, self.retry_backoff_s * 2 ** max(0, attempts - 1))

    def fail(self, task: Task, beat: WorkerBeat, error: str,
             duration_seconds: float = 0.0) -> str:
        """A failed attempt: 'retry' (requeued after its backoff), 'dead' (dead-lettered)
        or 'lost'. While it waits, the job's status is ``retrying``; the first claim after
        the backoff puts it back at the end of the queue."""
        rec = self._record(task.job_id, "failed", task=task, duration_seconds=duration_seconds,
                           error=error, worker=beat.worker_id)
        return self.t.eval(lua.FAIL, [INFLIGHT_KEY, HISTORY_KEY, QUEUE_KEY, PENDING_KEY,
                                      DEAD_KEY],
                           [task.job_id, beat.worker_id, error, self.max_attempts, now_ms(),
                            rec, beat.to_json(), self.heartbeat_ttl_s, beat.status,
                            int(self.backoff_s(task.attempts) * 1000)])

    def release(self, task: Task, beat: WorkerBeat) -> bool:
        """Hand a running job back to the front of the queue (draining worker)."""
        return bool(self.t.eval(lua.RELEASE, [INFLIGHT_KEY, QUEUE_KEY, PENDING_KEY],
                                [task.job_id, beat.worker_id]))

    def _record(self, job_id: str, status: str, *, task: Task | None = None, **fields) -> str:
        """The history entry (the ``history`` view of :class:`JobRecord`)."""
        fields.setdefault("device", None)  # shown only when the job says where it ran
        return JobRecord(job_id, task.repo_url if task else None, status,
                         attempts=task.attempts if task else 0, timestamp=iso_now(),
                         **fields).to_json("history")


def history_stats(jobs: list[dict]) -> dict:
    """Success rate, mean duration and throughput over the recorded history."""
    done = [j for j in jobs if j.get("status") in ("complete", "failed")]
    ok = [j for j in done if j["status"] == "complete"]
    stats = {"jobs": len(jobs), "complete": len(ok), "failed": len(done) - len(ok),
             "skipped": sum(j.get("status") == "skipped" for j in jobs),
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


__all__ = ["JobQueue", "QueueFull", "QueueUnavailable", "Task", "WorkerBeat", "Enqueued",
           "history_stats"]
