"""``/api/v1/ingestion``: submit a repository, watch the workers, read and cancel jobs."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from cluster.job_queue import history_stats
from cluster.redis_keys import HISTORY_LIMIT
from cluster.statuses import CancelReply, JobStatus
from cluster.worker_status import combined_status
from serve_app.auth import require_admin
from serve_app.errors import InvalidRepoURL, InvalidRequest, NotStored, TooManyLookups
from serve_app.schemas import ERRORS, CancelResult, Dispatched, History, JobInfo, WorkerStatus
from serve_app.url_validation import MAX_LENGTH, validate_repo_url

API = "/api/v1/ingestion"
TARGET_TTL_S = 2.0
QUEUE_VIEW = "queue"  # the read cache's key of status + history
router = APIRouter()  # writes: the admin token
read_router = APIRouter()  # reads: the read token when one is set (app.py)


def _state(request: Request):
    st = request.app.state
    return st.services, st.settings, st.metrics


def allowed_hosts(settings) -> set[str]:
    return {h.strip().lower() for h in settings.allowed_git_hosts.split(",") if h.strip()}


def target_name(request: Request) -> str:
    """The ``target`` of a dispatch: the first live worker's hardware, re-read from the
    heartbeats at most every ``TARGET_TTL_S`` (one Redis round trip saved per enqueue;
    the hardware of a pool changes when a machine joins, not per request)."""
    state = request.app.state
    if not hasattr(state, "target_cache"):
        state.target_cache = [0.0, "edge-pool"]  # [monotonic expiry, name]
    cache = state.target_cache
    now = time.monotonic()
    if now >= cache[0]:
        workers = state.services.queue.status()["workers"]
        cache[:] = [now + TARGET_TTL_S, workers[0]["hardware"] if workers else "edge-pool"]
    return cache[1]


@router.post(f"{API}/ingest/{{repo_url:path}}", response_model=Dispatched, responses=ERRORS,
             dependencies=[Depends(require_admin)], summary="Queue a repository")
def ingest(request: Request, repo_url: Annotated[str, Path(max_length=MAX_LENGTH)],
           ref: Annotated[str | None, Query(max_length=255, pattern=r"^[A-Za-z0-9._/-]+$")] = None):
    services, settings, metrics = _state(request)
    extra = set(request.query_params) - {"ref"}
    if extra or (request.url.query and not request.query_params):
        raise InvalidRepoURL("query strings are refused "
                             f"({', '.join(sorted(extra)) or request.url.query})")
    # parsed here, once: the RepoRef goes to the queue as it is
    repo = validate_repo_url(repo_url, allowed_hosts=allowed_hosts(settings),
                             allow_local=settings.allow_local_repos)
    if ref is not None and (ref.startswith("-") or ".." in ref):
        raise InvalidRequest("invalid ref")
    e = services.queue.enqueue(repo, ref=ref)  # QueueFull: 429 (serve_app.errors)
    metrics.queue_depth.set(e.queue_size)
    request.app.state.read_cache.forget(QUEUE_VIEW)
    return Dispatched(job_id=e.job_id, queue_position=e.queue_position, target=target_name(request),
                      queue_size=e.queue_size, max_queue_size=e.max_queue_size,
                      repo_url=repo.name, existing=e.existing)

def queue_view(request: Request) -> dict:
    """The queue's status and its history (the last ``HISTORY_LIMIT`` jobs, with their
    stats), read together at most every ``PHAROS_READ_CACHE_S`` however many ask
    (:mod:`serve_app.read_cache`): one Redis command per window, an atomic read
    (:meth:`~cluster.job_queue.JobQueue.overview`). So the status and the history agree:
    a job the status no longer runs is in the history (the console reads the history
    again only when the status changes, and two reads let a job finish between them)."""
    queue = request.app.state.services.queue

    def load() -> dict:
        view = queue.overview(HISTORY_LIMIT)
        return {**view, "stats": history_stats(view["history"])}

    return request.app.state.read_cache.get(QUEUE_VIEW, load)

@read_router.get(f"{API}/worker/status", response_model=WorkerStatus, responses=ERRORS)
def worker_status(request: Request):
    """Served from memory, at most ``PHAROS_READ_CACHE_S`` old."""
    services, _settings, metrics = _state(request)
    st = queue_view(request)["status"]
    metrics.queue_depth.set(st["queue_size"])
    return WorkerStatus(status=combined_status(st["workers"]),
                        max_queue_size=services.queue.max_size, **st)

@read_router.get(f"{API}/jobs/history", response_model=History, responses=ERRORS)
def jobs_history(request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 10):
    """The queue's history, served from memory at most ``PHAROS_READ_CACHE_S`` old; with
    no queue configured (the embedded default, as ``pharos console`` runs), the jobs the
    metadata store recorded (``pharos ingest``)."""
    services, settings, _metrics = _state(request)
    if not settings.queue_configured:
        def load() -> dict:
            rows = services.metadata.list_jobs(HISTORY_LIMIT)
            jobs = [{**r, "timestamp": r.get("finished_at") or r.get("started_at")}
                    for r in rows if JobStatus(r["status"]).final]
            return {"history": jobs, "stats": history_stats(jobs)}

        view = request.app.state.read_cache.get("stored-jobs", load)
    else:
        view = queue_view(request)
    return History(jobs=view["history"][:limit], stats=view["stats"])

@read_router.get(f"{API}/jobs/{{job_id}}", response_model=JobInfo, responses=ERRORS)
def job(request: Request, job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]):
    """Served from memory at most ``PHAROS_READ_CACHE_S`` old, per job. A job id not seen
    in that window costs one Redis command, and those lookups share one budget across all
    clients (``JOB_LOOKUPS_PER_S``; 429 past it): random ids cannot spend the plan. When
    Redis no longer has the job (its record expired, or no queue runs here), the metadata
    store's row answers (the ``row`` view of :class:`~graph_jobs.job_record.JobRecord`)."""
    state = request.app.state
    services, settings = state.services, state.settings

    def load():
        info = None
        if settings.queue_configured:
            wait = state.job_lookups.take()
            if wait:
                raise TooManyLookups(wait)
            info = services.queue.job(job_id)
        if info is None and services.metadata is not None:
            info = services.metadata.get_job(job_id)
        return info

    info = state.job_cache.get(job_id, load)
    if info is None:
        raise NotStored(f"no job {job_id}")
    return info

@router.delete(f"{API}/jobs/{{job_id}}", response_model=CancelResult, responses=ERRORS,
            dependencies=[Depends(require_admin)], summary="Cancel a pending or running job")
def cancel(request: Request, job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]):
    done = request.app.state.services.queue.cancel(job_id)
    request.app.state.read_cache.forget(QUEUE_VIEW)
    request.app.state.job_cache.forget(job_id)
    if done.reply is CancelReply.UNKNOWN:
        raise NotStored(f"no job {job_id}")
    return CancelResult(job_id=job_id, result=done.result)
