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

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

import graph_jobs
from graph_jobs.settings import RunMode, SettingsError
from serve_app.auth import require_read
from serve_app.console_routes import router as console_router
from serve_app.errors import CONFIG_PROBLEMS, install_handlers  # noqa: F401 - re-exported
from serve_app.explore_routes import router as explore_router
from serve_app.graph_routes import router as graph_router
from serve_app.ingestion_routes import API, TARGET_TTL_S  # noqa: F401 - re-exported
from serve_app.ingestion_routes import read_router as ingestion_reads
from serve_app.ingestion_routes import router as ingestion_router
from serve_app.ingress_settings import IngressSettings
from serve_app.metrics import Metrics
from serve_app.rate_limit import RateLimit, SharedBudget
from serve_app.read_cache import ReadCache
from serve_app.repository_map import MapLayouts
from serve_app.schemas import ErrorBody, Health
from serve_app.services import IngressServices

# Redis lookups of jobs by id not in the per-job cache, all clients together (issue 25)
JOB_LOOKUPS_PER_S = 1.0
JOB_LOOKUPS_BURST = 20

log = logging.getLogger("pharos.ingress")


def create_app(settings: IngressSettings | None = None, services: IngressServices | None = None
               ) -> FastAPI:
    settings = settings or IngressSettings()
    if settings.mode is RunMode.CLOUD:
        settings.check_production()  # refuses no token / local repos in cloud mode
    if settings.allow_local_repos and settings.mode is RunMode.CLOUD:
        raise SettingsError("PHAROS_ALLOW_LOCAL_REPOS=1 is refused in MODE=CLOUD")
    if not settings.admin_token and settings.queue_configured:  # with no queue, no ingestion
        log.warning("PHAROS_ADMIN_TOKEN is not set: ingestion is %s",
                    "OPEN (insecure local mode)" if settings.insecure_local else "disabled")
    if settings.mode is RunMode.CLOUD and settings.rate_limit > 0 and not settings.trusted_proxy:
        log.warning("PHAROS_TRUSTED_PROXY is not set: the rate limit counts each peer "
                    "address as one client; behind a proxy (Render) that is the proxy, so "
                    "every client shares one bucket (docs/deployment.md)")
    services = services or IngressServices(settings)
    metrics = Metrics()
    app = FastAPI(title="Pharos ingress", version=graph_jobs.__version__, docs_url=None,
                  redoc_url=None,  # /docs comes from local files (serve_app.console_routes)
                  description="Submit Git repositories for structural embedding; watch the "
                              "workers; find structurally similar files.")
    app.state.settings, app.state.services, app.state.metrics = settings, services, metrics
    app.state.read_cache = ReadCache(settings.read_cache_s)
    # GET /jobs/{id}: per job, and the Redis lookups of ids not cached share one budget
    app.state.job_cache = ReadCache(settings.read_cache_s, max_entries=4096)
    app.state.job_lookups = SharedBudget(JOB_LOOKUPS_PER_S, JOB_LOOKUPS_BURST)
    app.state.map_layouts = MapLayouts()
    # outermost last: RequestContext (ids, metrics, security headers), then CORS (so a
    # 429 carries its headers), then the rate limit, then the routes
    app.add_middleware(RateLimit, rate=settings.rate_limit, burst=settings.rate_burst,
                       max_clients=settings.rate_limit_clients, header=settings.trusted_proxy,
                       hops=settings.trusted_proxy_hops)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"])
    app.add_middleware(RequestContext, metrics=metrics,
                       hsts=settings.mode is RunMode.CLOUD)

    install_handlers(app)  # errors become HTTP answers there, and only there

    # reads need a token only when PHAROS_READ_TOKEN is set (so says the OpenAPI schema)
    reader = [Depends(require_read)] if settings.read_token else []
    app.include_router(ingestion_router)
    app.include_router(ingestion_reads, dependencies=reader)
    app.include_router(graph_router, dependencies=reader)
    app.include_router(explore_router, dependencies=reader)
    app.include_router(console_router)

    @app.get("/health", response_model=Health,
             responses={503: {"model": Health}, 429: {"model": ErrorBody}})
    def health():
        """Each service's state (``connected`` or ``error: <type>``), at most
        ``PHAROS_READ_CACHE_S`` old: a Redis PING is a billed command too."""
        services_state = app.state.read_cache.get("health", services.check)
        ok = all(v == "connected" for v in services_state.values())
        body = Health(status="healthy" if ok else "unhealthy", services=services_state,
                      version=graph_jobs.__version__, mode=settings.mode.value,
                      timestamp=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False, dependencies=reader)
    def prometheus_metrics():
        return Response(metrics.render(), media_type=metrics.content_type)

    return app


NOSNIFF = (b"x-content-type-options", b"nosniff")
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
OWN_HEADERS = {b"x-request-id", NOSNIFF[0], HSTS[0]}


class RequestContext:
    """Request id (``X-Request-ID``, echoed or made), Prometheus metrics, one JSON log
    line per request, and the security headers of every answer (``X-Content-Type-Options:
    nosniff``; ``Strict-Transport-Security`` when served over https or in ``MODE=CLOUD``,
    whose platform ends TLS in front of it), as a pure ASGI middleware: Starlette's
    ``@app.middleware("http")`` (``BaseHTTPMiddleware``) runs each request through an
    extra task and stream pair, which showed as CPU per request under Ray Serve on 2
    cores."""

    def __init__(self, app, metrics: Metrics, hsts: bool = False) -> None:
        self.app, self.metrics, self.hsts = app, metrics, hsts

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
        hsts = self.hsts or scope.get("scheme") == "https"

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ())
                           if k.lower() not in OWN_HEADERS]
                headers += [(b"x-request-id", rid.encode("latin-1")), NOSNIFF]
                if hsts:
                    headers.append(HSTS)
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
