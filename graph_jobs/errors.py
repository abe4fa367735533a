"""Errors of the graph job, one hierarchy::

    PharosJobError
    ├── RepositoryError            the repository could not be opened or cloned
    │   ├── UnsafeRepositoryURL    refused before any network access (ext::, -option, ...)
    │   ├── CloneFailed            git said no (does not exist, auth, network)
    │   ├── CloneTimeout           the clone ran past its time limit
    │   └── RepositoryTooLarge     the clone is over the size limit, or it has more
    │                              source files than PHAROS_MAX_FILES
    ├── EmbeddingError             the Node2Vec stage failed (out of memory, bad graph)
    ├── StoreError                 Qdrant or the SQL database failed after retries
    │   ├── VectorStoreError
    │   └── MetadataStoreError
    ├── JobBudgetExceeded          the job ran past what it may spend (job_budget.py)
    │   ├── JobDeadlineExceeded    past PHAROS_JOB_TIMEOUT_S
    │   └── JobMemoryExceeded      the worker's memory over PHAROS_JOB_MEMORY_MB
    └── JobStopped                 asked to stop while running (lifecycle.StopSignal):
        ├── JobCancelled           the user cancelled it: recorded cancelled
        ├── LeaseLost              its lease went to another worker: recorded nothing
        └── JobReleased            a draining worker handed it back: queued again

    NotFound (a LookupError)       what was asked for is not stored (no vector for that
                                   file, no such repository): a 404, never a KeyError
    FileRefused                    the guarded reader (graph_jobs.graph.repo_files) will
                                   not read a repository file: a symlink, not a regular
                                   file, over the size cap; caught by the stage that asked

Per-file problems (binary, too large, refused, syntax errors) never fail the job: they
are recorded in the graph's ``skipped`` list and the job goes on.

Each class says whether trying again can help (``retryable``): a refused URL or a
repository over the size limit fails at once; a clone, a store or anything unexpected is
retried by the queue and dead-lettered after its attempts.
"""

from __future__ import annotations

from graph_jobs.lifecycle import StopSignal


class PharosJobError(Exception):
    """Base of every error the graph job raises on purpose."""

    retryable: bool = True  # may another attempt succeed?


class RepositoryError(PharosJobError):
    pass


class UnsafeRepositoryURL(RepositoryError):
    retryable = False


class CloneFailed(RepositoryError):
    pass


class CloneTimeout(RepositoryError):
    pass


class RepositoryTooLarge(RepositoryError):
    retryable = False


class EmbeddingError(PharosJobError):
    pass


class StoreError(PharosJobError):
    """A store (Qdrant, the SQL database) failed after its retries; the job fails with it,
    and the queue tries it again (the store may be back by then)."""


class VectorStoreError(StoreError):
    pass


class MetadataStoreError(StoreError):
    pass


class JobBudgetExceeded(PharosJobError):
    """The job ran past its deadline or over its memory ceiling; the message names the
    setting that gives it more. Not retried: another attempt would spend as much."""

    retryable = False


class JobDeadlineExceeded(JobBudgetExceeded):
    pass


class JobMemoryExceeded(JobBudgetExceeded):
    pass


class JobStopped(PharosJobError):
    """Something asked the running job to stop (polled between stages and between
    training batches); ``signal`` says what, and so what its row records."""

    signal: StopSignal

    @staticmethod
    def for_signal(signal: StopSignal, message: str) -> JobStopped:
        return {StopSignal.CANCEL: JobCancelled, StopSignal.LEASE_LOST: LeaseLost,
                StopSignal.RELEASED: JobReleased}[signal](message)


class JobCancelled(JobStopped):
    """The job was cancelled while it ran."""

    signal = StopSignal.CANCEL


class LeaseLost(JobStopped):
    """The job's lease went to another worker, which runs it now."""

    signal = StopSignal.LEASE_LOST


class JobReleased(JobStopped):
    """A draining worker handed the job back to the queue: it is queued again."""

    signal = StopSignal.RELEASED


class NotFound(LookupError):
    """What was asked for is not stored. Its own type, so that an unrelated ``KeyError``
    (a bug) is never answered as "not found"."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class FileRefused(Exception):
    """The guarded reader will not read this repository file; ``reason`` says why (the
    words recorded in the graph's ``skipped`` list). Never fails a job: the stage that
    asked records it and goes on."""

    def __init__(self, path: str, reason: str):
        super().__init__(path, reason)
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"
