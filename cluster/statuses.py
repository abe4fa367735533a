"""Worker states and job statuses, named once (the values are what Redis and the API
carry, so they compare equal to the strings older code and clients use)."""

from __future__ import annotations

from enum import StrEnum

from graph_jobs.models import JobStatus  # the job's own statuses live with the job

__all__ = ["JobStatus", "WorkerState", "Outcome"]


class WorkerState(StrEnum):
    IDLE = "idle"
    TRAINING = "training"
    ERROR = "error"  # the last job failed; until the next job


class Outcome(StrEnum):
    """What became of one claimed task, as the worker saw it."""

    COMPLETE = "complete"
    FAILED = "failed"  # for good: a permanent error, or its last attempt
    RETRY = "retry"  # failed for now: the queue tries it again after a backoff
    SKIPPED = "skipped"  # older than its TTL
    CANCELLED = "cancelled"
    LOST = "lost"  # its lease went to another worker
    RELEASED = "released"  # handed back while draining
