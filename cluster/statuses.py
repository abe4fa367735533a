"""The queue's side of the lifecycle, named once: worker states and the Lua scripts'
replies. The job's own statuses, stages and stop signals are
:mod:`graph_jobs.lifecycle`'s (re-exported here). The scripts get these values injected
(:func:`cluster.redis_keys.lua`), and :class:`~cluster.job_queue.JobQueue` turns each
reply into its enum at the boundary: nothing past it compares a reply as a string.
"""

from __future__ import annotations

from enum import StrEnum

from graph_jobs.lifecycle import JobStatus, Stage, StopSignal

__all__ = ["CancelReply", "EnqueueReply", "FailReply", "JobStatus", "RenewReply", "Stage",
           "StopSignal", "WorkerState"]


class WorkerState(StrEnum):
    """A worker's state: a field of its heartbeat (the status line is made from it)."""

    IDLE = "idle"
    TRAINING = "training"
    ERROR = "error"  # the last job failed; until the next job
    OFFLINE = "offline"  # no live heartbeat (the API's combined state only)


class EnqueueReply(StrEnum):
    QUEUED = "queued"  # a new pending job
    EXISTING = "existing"  # the repository (and ref) was already pending: that job
    FULL = "full"  # the queue is at its cap


class RenewReply(StrEnum):
    OK = "ok"  # the lease is extended
    CANCEL = "cancel"  # extended, and the job was cancelled: stop it
    LOST = "lost"  # the lease is another worker's now

    @property
    def stop(self) -> StopSignal | None:
        return {RenewReply.CANCEL: StopSignal.CANCEL,
                RenewReply.LOST: StopSignal.LEASE_LOST}.get(self)


class FailReply(StrEnum):
    RETRY = "retry"  # requeued (after its backoff)
    DEAD = "dead"  # its last attempt: dead-lettered, recorded failed
    LOST = "lost"  # the lease was another worker's: nothing recorded


class CancelReply(StrEnum):
    CANCELLED = "cancelled"  # it was pending (or waiting to be retried): removed
    CANCELLING = "cancelling"  # it runs: flagged, its worker stops at the next poll
    UNKNOWN = "unknown"  # no such job
    FINISHED = "finished"  # it had already finished (its status says how)
