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

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

import graph_jobs
from cluster.errors import QueueUnavailable
from graph_jobs.errors import StoreError, VectorStoreError
from graph_jobs.settings import RunMode, SettingsError
from serve_app.console_routes import router as console_router
from serve_app.explore_routes import router as explore_router
from serve_app.graph_routes import router as graph_router
from serve_app.ingestion_routes import API, TARGET_TTL_S  # noqa: F401 - re-exported
from serve_app.ingestion_routes import router as ingestion_router
from serve_app.ingress_settings import IngressSettings
from serve_app.metrics import Metrics
from serve_app.schemas import Health
from serve_app.services import IngressServices

log = logging.getLogger("pharos.ingress")


def create_app(settings: IngressSettings | None = None, services: IngressServices | None = None
               ) -> FastAPI:
    settings = settings or IngressSettings()
    if settings.mode is RunMode.CLOUD:
        settings.check_production()  # refuses no token / local repos in cloud mode
    if settings.allow_local_repos and settings.mode is RunMode.CLOUD:
        raise SettingsError("PHAROS_ALLOW_LOCAL_REPOS=1 is refused in MODE=CLOUD")
    if not settings.admin_token:
        log.warning("PHAROS_ADMIN_TOKEN is not set: ingestion is %s",
                    "OPEN (insecure local mode)" if settings.insecure_local else "disabled")
    services = services or IngressServices(settings)
    metrics = Metrics()
    app = FastAPI(title="Pharos ingress", version=graph_jobs.__version__, docs_url=None,
                  redoc_url=None,  # /docs comes from local files (serve_app.console_routes)
                  description="Submit Git repositories for structural embedding; watch the "
                              "workers; find structurally similar files.")
    app.state.settings, app.state.services, app.state.metrics = settings, services, metrics
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"])
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

    app.include_router(ingestion_router)
    app.include_router(graph_router)
    app.include_router(explore_router)
    app.include_router(console_router)

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
