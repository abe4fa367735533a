"""The ingress: one FastAPI app, served by Ray Serve (``serve_app.deployment``) or uvicorn.

    uvicorn serve_app.app:app --host 0.0.0.0 --port $PORT
    serve run serve_config.yaml

Never imports torch (tests check ``sys.modules``); connects to nothing at import time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

import graph_jobs
from cluster.job_queue import QueueFull, history_stats
from cluster.redis_transport import QueueUnavailable
from cluster.worker_status import combined_status
from graph_jobs.errors import NotFound, StoreError, VectorStoreError
from graph_jobs.settings import RunMode, Settings, SettingsError
from serve_app.auth import require_admin
from serve_app.metrics import Metrics
from serve_app.services import IngressServices
from serve_app.url_validation import InvalidRepoURL, validate_repo_url

log = logging.getLogger("pharos.ingress")
API = "/api/v1/ingestion"
TARGET_TTL_S = 2.0


# --- response models (the OpenAPI schema schemathesis checks against) --------------------
class Dispatched(BaseModel):
    status: str = "dispatched"
    job_id: str
    queue_position: int
    target: str
    queue_size: int
    max_queue_size: int
    repo_url: str
    existing: bool = False


class WorkerStatus(BaseModel):
    status: str
    queue_size: int
    in_flight: int
    workers: list[dict]


class HistoryJob(BaseModel):
    model_config = {"extra": "allow"}
    repo_url: str | None = None
    status: str
    duration_seconds: float | None = None
    files_processed: int | None = None
    embeddings_generated: int | None = None
    timestamp: str | None = None


class History(BaseModel):
    jobs: list[HistoryJob]
    stats: dict


class JobInfo(BaseModel):
    model_config = {"extra": "allow"}
    job_id: str
    status: str | None
    stage: str | None = None
    progress: float = 0.0
    error: str | None = None
    queue_position: int | None = None


class CancelResult(BaseModel):
    job_id: str
    result: str


class SimilarHit(BaseModel):
    repo_url: str
    file_path: str
    language: str
    score: float
    degree: int
    vector_score: float | None = None  # cosine of the Node2Vec vectors (by=related)
    why: list[str] = []  # "imports it", "changed together 7 times (last ...)", ...


class Similar(BaseModel):
    repo_url: str
    file_path: str
    by: str  # which vector answered: "related" (Node2Vec) or "role"
    answered_by: str  # "vector+rerank", "vector" (related) or "role"
    results: list[SimilarHit]


class SimilarRepository(BaseModel):
    repo_url: str
    files: int
    distance: float  # between the repositories' graph descriptors (0: same shape)


class SimilarRepositories(BaseModel):
    repo_url: str
    results: list[SimilarRepository]


class Health(BaseModel):
    status: str
    services: dict[str, str]
    version: str
    timestamp: str
    mode: str


class ErrorBody(BaseModel):
    detail: str


ERRORS = {400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 404: {"model": ErrorBody},
          429: {"model": ErrorBody}, 503: {"model": ErrorBody}}


def create_app(settings: Settings | None = None, services: IngressServices | None = None
               ) -> FastAPI:
    settings = settings or Settings()
    if settings.mode is RunMode.CLOUD:
        settings.check_production()  # refuses no token / local repos in cloud mode
    if settings.allow_local_repos and settings.mode is RunMode.CLOUD:
        raise SettingsError("PHAROS_ALLOW_LOCAL_REPOS=1 is refused in MODE=CLOUD")
    if not settings.admin_token:
        log.warning("PHAROS_ADMIN_TOKEN is not set: ingestion is %s",
                    "OPEN (insecure local mode)" if settings.insecure_local else "disabled")
    services = services or IngressServices(settings)
    metrics = Metrics()
    app = FastAPI(title="Pharos ingress", version=graph_jobs.__version__,
                  description="Submit Git repositories for structural embedding; watch the "
                              "workers; find structurally similar files.")
    app.state.settings, app.state.services, app.state.metrics = settings, services, metrics
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"])
    allowed_hosts = {h.strip().lower() for h in settings.allowed_git_hosts.split(",") if h.strip()}

    app.add_middleware(RequestContext, metrics=metrics)

    @app.exception_handler(QueueUnavailable)
    async def queue_down(request: Request, exc: QueueUnavailable):
        return JSONResponse({"detail": f"job queue unavailable: {exc}"}, status_code=503,
                            headers={"Retry-After": "10"})

    @app.exception_handler(StoreError)
    async def store_down(request: Request, exc: StoreError):
        what = "vector store" if isinstance(exc, VectorStoreError) else "metadata database"
        return JSONResponse({"detail": f"{what} unavailable: {exc}"}, status_code=503,
                            headers={"Retry-After": "10"})

    target_cache: list = [0.0, "edge-pool"]  # [monotonic expiry, name]

    def target_name() -> str:
        """The ``target`` of a dispatch: the first live worker's hardware, re-read from
        the heartbeats at most every ``TARGET_TTL_S`` (one Redis round trip saved per
        enqueue; the hardware of a pool changes when a machine joins, not per request)."""
        now = time.monotonic()
        if now >= target_cache[0]:
            workers = services.queue.status()["workers"]
            target_cache[:] = [now + TARGET_TTL_S,
                               workers[0]["hardware"] if workers else "edge-pool"]
        return target_cache[1]

    @app.post(f"{API}/ingest/{{repo_url:path}}", response_model=Dispatched, responses=ERRORS,
              dependencies=[Depends(require_admin)], summary="Queue a repository")
    def ingest(request: Request, repo_url: Annotated[str, Path(max_length=2048)],
               ref: Annotated[str | None, Query(max_length=255, pattern=r"^[A-Za-z0-9._/-]+$")] = None):
        extra = set(request.query_params) - {"ref"}
        if extra or (request.url.query and not request.query_params):
            raise HTTPException(400, detail="invalid repository URL: query strings are refused "
                                            f"({', '.join(sorted(extra)) or request.url.query})")
        try:
            target = validate_repo_url(repo_url, allowed_hosts=allowed_hosts,
                                       allow_local=settings.allow_local_repos)
        except InvalidRepoURL as exc:
            raise HTTPException(400, detail=f"invalid repository URL: {exc}") from None
        if ref is not None and (ref.startswith("-") or ".." in ref):
            raise HTTPException(400, detail="invalid ref")
        q = services.queue
        try:
            e = q.enqueue(target.repo_url, source=target.source, ref=ref)
        except QueueFull as exc:
            raise HTTPException(429, detail=str(exc), headers={"Retry-After": "60"}) from None
        metrics.queue_depth.set(e.queue_size)
        return Dispatched(job_id=e.job_id, queue_position=e.queue_position, target=target_name(),
                          queue_size=e.queue_size, max_queue_size=e.max_queue_size,
                          repo_url=target.repo_url, existing=e.existing)

    @app.get(f"{API}/worker/status", response_model=WorkerStatus, responses=ERRORS)
    def worker_status():
        st = services.queue.status()
        metrics.queue_depth.set(st["queue_size"])
        return WorkerStatus(status=combined_status(st["workers"]), **st)

    @app.get(f"{API}/jobs/history", response_model=History, responses=ERRORS)
    def jobs_history(limit: Annotated[int, Query(ge=1, le=100)] = 10):
        jobs = services.queue.history(limit)
        return History(jobs=jobs, stats=history_stats(services.queue.history(100)))

    @app.get(f"{API}/jobs/{{job_id}}", response_model=JobInfo, responses=ERRORS)
    def job(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]):
        info = services.queue.job(job_id)
        if info is None:
            raise HTTPException(404, detail=f"no job {job_id}")
        return info

    @app.delete(f"{API}/jobs/{{job_id}}", response_model=CancelResult, responses=ERRORS,
                dependencies=[Depends(require_admin)], summary="Cancel a pending or running job")
    def cancel(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]):
        res = services.queue.cancel(job_id)
        if res == "unknown":
            raise HTTPException(404, detail=f"no job {job_id}")
        return CancelResult(job_id=job_id, result=res)

    @app.get("/api/v1/graph/similar", response_model=Similar, responses=ERRORS)
    def similar(repo_url: Annotated[str, Query(min_length=1, max_length=2048)],
                file_path: Annotated[str, Query(min_length=1, max_length=4096)],
                k: Annotated[int, Query(ge=1, le=100)] = 10,
                scope: Annotated[str, Query(pattern="^(repo|all)$")] = "repo",
                by: Annotated[str | None, Query(pattern="^(related|role)$")] = None,
                include_isolated: bool = False, rerank: bool = True):
        """``by=related`` (default within a repository): Qdrant's nearest Node2Vec
        neighbours, reranked with exact signals (co-change, imports, tests, folder) unless
        ``rerank=false``; each hit says why. ``by=role`` (default with ``scope=all``):
        files in the same structural role, in any repository. ``by=related`` with
        ``scope=all`` is refused (400): Node2Vec vectors of different repositories do not
        compare."""
        from graph_jobs.answers import QuestionRefused, similar_files

        key = _repo_key(repo_url)
        try:
            ans = similar_files(services.vectors, services.metadata, key, file_path, k,
                                scope=scope, by=by, include_isolated=include_isolated,
                                rerank=rerank)
        except QuestionRefused as exc:
            raise HTTPException(400, detail=str(exc)) from None
        except NotFound as exc:
            raise HTTPException(404, detail=exc.args[0] if exc.args else
                                f"no embedding for {file_path!r} in {key}") from None
        return Similar(repo_url=key, file_path=file_path, by=ans.by,
                       answered_by=ans.answered_by,
                       results=[SimilarHit(repo_url=h.repo_url, file_path=h.file_path,
                                           language=h.language, score=h.score,
                                           degree=h.degree,
                                           vector_score=getattr(h, "vector_score", None),
                                           why=getattr(h, "why", [])) for h in ans.hits])

    @app.get("/api/v1/graph/repositories/{repo_url:path}/similar",
             response_model=SimilarRepositories, responses=ERRORS)
    def similar_repositories(repo_url: Annotated[str, Path(max_length=2048)],
                             k: Annotated[int, Query(ge=1, le=100)] = 10):
        """Repositories whose dependency graphs are shaped like this one's (the NetLSD heat
        trace of each graph, stored at ingest; nearest first)."""
        key = _repo_key(repo_url)
        try:
            rows = services.metadata.similar_repositories(key, k)
        except NotFound as exc:
            raise HTTPException(404, detail=exc.args[0]) from None
        return SimilarRepositories(repo_url=key, results=rows)

    def _repo_key(repo_url: str) -> str:
        try:
            return validate_repo_url(repo_url, allowed_hosts=allowed_hosts,
                                     allow_local=settings.allow_local_repos,
                                     resolve=False).repo_url
        except InvalidRepoURL as exc:
            raise HTTPException(400, detail=f"invalid repository URL: {exc}") from None

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    def health():
        services_state = services.check()
        ok = all(v == "connected" for v in services_state.values())
        body = Health(status="healthy" if ok else "unhealthy", services=services_state,
                      version=graph_jobs.__version__, mode=settings.mode.value,
                      timestamp=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics():
        return Response(metrics.render(), media_type=metrics.content_type)

    return app


class RequestContext:
    """Request id (``X-Request-ID``, echoed or made), Prometheus metrics and one JSON log
    line per request, as a pure ASGI middleware: Starlette's ``@app.middleware("http")``
    (``BaseHTTPMiddleware``) runs each request through an extra task and stream pair,
    which showed as CPU per request under Ray Serve on 2 cores."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = ""
        for k, v in scope.get("headers") or ():
            if k == b"x-request-id":
                rid = v.decode("latin-1")
                break
        if not rid or len(rid) > 128 or not rid.isprintable():
            rid = uuid.uuid4().hex
        t0 = time.perf_counter()
        status = 500

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ())
                           if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            dur = time.perf_counter() - t0
            path = getattr(scope.get("route"), "path", "unmatched")
            method = scope.get("method", "")
            self.metrics.observe(method, path, status, dur)
            if log.isEnabledFor(logging.INFO):
                log.info(json.dumps({"event": "request", "request_id": rid, "method": method,
                                     "path": path, "status": status,
                                     "duration_ms": round(dur * 1000, 2)}))


class _LazyApp:
    """``serve_app.app:app`` for uvicorn: built from the environment on first use."""

    _app: FastAPI | None = None

    async def __call__(self, scope, receive, send):
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)


app = _LazyApp()
