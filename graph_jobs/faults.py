"""Named steps of a job, and the hook that tests use to fault each one (issue 18).

The pipeline and the edge worker call ``faults(step)`` as they reach each step. The
default hook does nothing. A test passes its own, which may raise (a store error, say)
or stop a real service, so that every step can be faulted without patching internals::

    def hook(step: JobStep) -> None:
        if step is JobStep.METADATA_WRITE:
            raise MetadataStoreError("injected")

    run_ingest(source, settings, faults=hook)
    EdgeWorker(queue, settings, faults=hook)
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class JobStep(StrEnum):
    START = "start"  # the job's start record in the metadata store
    CLONE = "clone"  # before the repository is cloned or opened
    PARSE = "parse"  # before its files are parsed
    EMBED = "embed"  # before Node2Vec
    VECTOR_UPSERT = "vector_upsert"  # before the vectors go to Qdrant
    METADATA_WRITE = "metadata_write"  # before files, edges and history go to SQL
    FINISH = "finish"  # the job's finish record in the metadata store
    ACK = "ack"  # the worker tells the queue the outcome (complete, retry, dead letter)


FaultHook = Callable[[JobStep], None]


def no_faults(step: JobStep) -> None:
    """The hook in production: nothing happens."""
