"""A job's lifecycle, named once: its status, its stages, and what may stop it.

Every status, stage and stop signal a job has is a member of an enum here; the queue
(Redis and its Lua scripts, which get these values injected), the SQL row, the API and
the console all carry these values. Comparing a status as a string literal anywhere else
is refused by ``tests/test_lifecycle_literals.py``.

::

    JobStatus   pending ──claim──> running ──> complete | failed | skipped | cancelled
                   ^                  │  │
                   │   released ──────┘  └── failed attempt ──> retrying ──> pending
                   └── (a draining worker hands the job back: queued again)

    Stage       claimed → clone → graph → history → embed → store
                (the stages a running job reports; ``JobStep`` names finer points inside
                them for the fault hook)

    StopSignal  what asks a running job to stop, three distinct signals:
                cancel      the user cancelled it     → recorded ``cancelled``
                lease_lost  its lease went elsewhere  → recorded nothing (not ours)
                released    a draining worker let go  → recorded ``pending`` (queued again)

The worker polls its stop flag between stages and between training batches
(:mod:`graph_jobs.pipeline`).
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """A job's status in the metadata store, the queue, the API and the console."""

    PENDING = "pending"  # queued: waiting for a worker (again, after a release)
    RUNNING = "running"
    RETRYING = "retrying"  # a failed attempt waiting out its backoff
    COMPLETE = "complete"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in FINAL

    @property
    def active(self) -> bool:
        """Not finished: queued, running or waiting to be retried."""
        return self not in FINAL


FINAL = frozenset({JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.SKIPPED,
                   JobStatus.CANCELLED})


class Stage(StrEnum):
    """The stages a job reports (the heartbeat, the job's row, the CLI's bars, the
    console's progress). ``CLAIMED`` is the queue's: taken by a worker, not yet begun."""

    CLAIMED = "claimed"
    CLONE = "clone"
    GRAPH = "graph"
    HISTORY = "history"
    EMBED = "embed"
    STORE = "store"


# the stages a running job goes through, in order (the CLI's bars, the console's steps)
RUN_STAGES: tuple[Stage, ...] = (Stage.CLONE, Stage.GRAPH, Stage.HISTORY, Stage.EMBED,
                                 Stage.STORE)


class JobStep(StrEnum):
    """Named points inside the stages, where the fault hook is called
    (:mod:`graph_jobs.faults`); ``stage`` says which stage each lies in."""

    START = "start"  # the job's start record in the metadata store
    CLONE = "clone"  # before the repository is cloned or opened
    PARSE = "parse"  # before its files are parsed
    EMBED = "embed"  # before Node2Vec
    VECTOR_UPSERT = "vector_upsert"  # before the vectors go to Qdrant
    METADATA_WRITE = "metadata_write"  # before files, edges and history go to SQL
    FINISH = "finish"  # the job's finish record in the metadata store
    ACK = "ack"  # the worker tells the queue the outcome (complete, retry, dead letter)

    @property
    def stage(self) -> Stage | None:
        """The stage this point lies in (None: before or after them all)."""
        return _STEP_STAGE.get(self)


_STEP_STAGE = {JobStep.CLONE: Stage.CLONE, JobStep.PARSE: Stage.GRAPH,
               JobStep.EMBED: Stage.EMBED, JobStep.VECTOR_UPSERT: Stage.STORE,
               JobStep.METADATA_WRITE: Stage.STORE}


class StopSignal(StrEnum):
    """Why a running job is asked to stop (see the module docstring)."""

    CANCEL = "cancel"
    LEASE_LOST = "lease_lost"
    RELEASED = "released"

    @property
    def recorded_as(self) -> JobStatus | None:
        """The status the job's row gets when it stops for this reason (None: the row
        is not this worker's to write any more)."""
        return {StopSignal.CANCEL: JobStatus.CANCELLED,
                StopSignal.RELEASED: JobStatus.PENDING}.get(self)


__all__ = ["FINAL", "JobStatus", "JobStep", "RUN_STAGES", "Stage", "StopSignal"]
