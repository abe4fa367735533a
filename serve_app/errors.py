"""Errors of the ingress, and the one place each error becomes an HTTP answer.

Routes raise; :func:`install_handlers` answers. No route builds an error response::

    IngressError                     (this module; ``status``, ``headers``)
    ├── InvalidRepoURL (ValueError)  400  the repository URL breaks the URL policy
    ├── InvalidRequest               400  a parameter the route refuses (a bad ref, a query)
    ├── Unauthorized                 401  no or a wrong bearer token (WWW-Authenticate)
    ├── NotStored                    404  nothing stored under that name or id
    ├── TooManyLookups               429  the shared budget of job lookups is spent
    └── IngestionDisabled            503  no admin token configured on the server

    from the rooms below (answered here too):
    cluster.errors.QueueFull              429  Retry-After: 60
    cluster.errors.QueueUnavailable       503  Retry-After: 10, naming what is down
    graph_jobs.errors.NotFound            404
    graph_jobs.answers.QuestionRefused    400
    graph_jobs.errors.StoreError          503  Retry-After: 10, naming what is down

Every answer is ``{"detail": "..."}``, as FastAPI's own. The 503s name what is down, not
where it is: the drivers' messages hold hosts, ports and URLs, and these answers go to
anyone (the log keeps the whole message).
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cluster.errors import NO_QUEUE

log = logging.getLogger("pharos.ingress")

CONFIG_PROBLEMS = (NO_QUEUE, "UPSTASH_REDIS_REST_URL is set")


class IngressError(Exception):
    status: int = 400
    prefix: str = ""

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.headers = headers

    @property
    def detail(self) -> str:
        return self.prefix + str(self.args[0])


class InvalidRepoURL(IngressError, ValueError):
    """The URL is refused; the message says why (graph_jobs.url_policy's reason)."""

    prefix = "invalid repository URL: "


class InvalidRequest(IngressError):
    pass


class Unauthorized(IngressError):
    status = 401


class IngestionDisabled(IngressError):
    status = 503


class NotStored(IngressError):
    status = 404


class TooManyLookups(IngressError):
    status = 429

    def __init__(self, wait_s: float) -> None:
        super().__init__("too many job lookups; try again shortly",
                         {"Retry-After": str(max(1, math.ceil(wait_s)))})


def _answer(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    """Every error a route may raise, answered (see the module docstring)."""
    from cluster.errors import QueueFull, QueueUnavailable
    from graph_jobs.answers import QuestionRefused
    from graph_jobs.errors import NotFound, StoreError, VectorStoreError

    @app.exception_handler(IngressError)
    async def ingress_error(request: Request, exc: IngressError):
        return _answer(exc.status, exc.detail, exc.headers)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound):
        return _answer(404, str(exc))

    @app.exception_handler(QuestionRefused)
    async def refused(request: Request, exc: QuestionRefused):
        return _answer(400, str(exc))

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, exc: QueueFull):
        return _answer(429, str(exc), {"Retry-After": "60"})

    @app.exception_handler(QueueUnavailable)
    async def queue_down(request: Request, exc: QueueUnavailable):
        said = str(exc)
        if said.startswith(NO_QUEUE):  # no queue here (the embedded console): known,
            log.debug("job queue unavailable: %s", exc)  # not an event to warn of per poll
        else:
            log.warning("job queue unavailable: %s", exc)
        reason = said if said.startswith(CONFIG_PROBLEMS) else "Redis did not answer"
        return _answer(503, f"job queue unavailable: {reason}", {"Retry-After": "10"})

    @app.exception_handler(StoreError)
    async def store_down(request: Request, exc: StoreError):
        log.warning("store unavailable: %s: %s", type(exc).__name__, exc)
        detail = ("vector store unavailable: Qdrant did not answer"
                  if isinstance(exc, VectorStoreError)
                  else "metadata database unavailable: the database did not answer")
        return _answer(503, detail, {"Retry-After": "10"})
