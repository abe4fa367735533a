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

from graph_jobs.lifecycle import JobStep

__all__ = ["FaultHook", "JobStep", "no_faults"]


FaultHook = Callable[[JobStep], None]


def no_faults(step: JobStep) -> None:
    """The hook in production: nothing happens."""
