"""Errors of the queue and the edge pool, one hierarchy::

    QueueError
    ├── QueueUnavailable   Redis (or Upstash's REST endpoint) cannot be reached or refused
    └── QueueFull          MAX_QUEUE_SIZE tasks are pending (the API answers 429)

The job's own errors are graph_jobs.errors (each says whether a retry may help).
"""

from __future__ import annotations


class QueueError(RuntimeError):
    """Base of the queue's errors."""


class QueueUnavailable(QueueError):
    """Redis (or the Upstash REST endpoint) cannot be reached or refused the command."""


# how a QueueUnavailable begins when no queue is configured at all (the embedded default)
NO_QUEUE = "no queue configured"


class QueueFull(QueueError):
    def __init__(self, size: int, max_size: int) -> None:
        super().__init__(f"queue is full ({size}/{max_size} pending)")
        self.size, self.max_size = size, max_size
