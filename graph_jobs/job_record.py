"""The one record of a job, whoever writes or reads it.

The pipeline's result (``run_ingest``), the edge worker's outcome, the queue's history
entry and job view, and the metadata store's job row are all a :class:`JobRecord`. Its
field names are the public JSON's (``duration_seconds``, ``isolated_files``, ...); each
reader shows a *view*, a fixed list of those fields, so the JSON of every endpoint stays
what it was:

=========  ==========================================================================
view       shown by
=========  ==========================================================================
result     ``pharos ingest --json`` (what the job did)
history    the queue's history list and dead letters (``GET .../jobs/history``); the
           Lua scripts write the same keys for jobs that Python never sees finish
queue      ``JobQueue.job`` (a job's live state in Redis)
row        the metadata store's ``ingestion_jobs`` row (``GET .../jobs/{id}`` after
           Redis forgot it)
=========  ==========================================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from graph_jobs.lifecycle import JobStatus

VIEWS: dict[str, tuple[str, ...]] = {
    "result": ("job_id", "repo_url", "commit", "status", "files_processed",
               "embeddings_generated", "edges", "isolated_files", "skipped_files",
               "duration_seconds", "timings", "device", "error", "history", "relations"),
    "history": ("job_id", "repo_url", "status", "duration_seconds", "files_processed",
                "embeddings_generated", "timestamp", "error", "worker", "attempts"),
    "queue": ("job_id", "repo_url", "ref", "status", "stage", "progress", "attempts",
              "worker", "error", "submitted_at", "queue_position", "cancel_requested"),
    "row": ("job_id", "repo_url", "ref", "status", "stage", "progress", "commit", "worker",
            "attempts", "files_processed", "embeddings_generated", "edges",
            "duration_seconds", "timings", "error", "created_at", "started_at",
            "finished_at"),
}
# shown in a view only when the record has them (not None): a complete job's extras in
# the history; the counts of a finished job in the queue's view
OPTIONAL: dict[str, tuple[str, ...]] = {
    "history": ("timings", "device", "commit"),
    "queue": ("files_processed", "embeddings_generated", "duration_seconds"),
}


@dataclass(slots=True)
class JobRecord:
    job_id: str
    repo_url: str | None
    status: JobStatus  # graph_jobs.lifecycle: the one vocabulary, wherever it is read
    commit: str | None = None
    ref: str | None = None
    worker: str | None = None
    attempts: int = 0
    stage: str | None = None
    progress: float = 0.0
    files_processed: int = 0
    embeddings_generated: int = 0
    edges: int = 0
    isolated_files: int = 0
    skipped_files: int = 0
    duration_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    device: str | None = "cpu"
    error: str | None = None
    retryable: bool = True  # for a failed job: may another attempt succeed?
    history: str = ""  # what the history stage did ("mined: 812 commits read", "none: ...")
    relations: dict[str, int] = field(default_factory=dict)  # relation -> edges
    # when: ISO-8601 strings
    timestamp: str | None = None  # the history entry's: when the outcome was recorded
    submitted_at: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    # the queue's live view
    queue_position: int | None = None
    cancel_requested: bool = False

    def to_dict(self, view: str) -> dict[str, Any]:
        rounded = view in ("result", "history")
        out = {k: self._shown(k, rounded) for k in VIEWS[view]}
        for k in OPTIONAL.get(view, ()):
            if getattr(self, k) not in (None, {}):
                out[k] = self._shown(k, rounded)
        return out

    def to_json(self, view: str) -> str:
        return json.dumps(self.to_dict(view))

    def _shown(self, k: str, rounded: bool):
        v = getattr(self, k)
        if rounded and k == "duration_seconds" and v is not None:
            return round(v, 3)
        if rounded and k == "timings" and v:
            return {name: round(t, 3) for name, t in v.items()}
        return v
