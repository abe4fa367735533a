"""Errors become HTTP answers in one place, ``serve_app/errors.py``'s exception handlers
(issue 28): no other module of the ingress raises ``HTTPException`` or builds an error
response, and each error of the tree gets its status, its headers and ``{"detail"}``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cluster.errors import QueueFull, QueueUnavailable
from graph_jobs.answers import QuestionRefused
from graph_jobs.errors import MetadataStoreError, NotFound, VectorStoreError
from serve_app.errors import (
    IngestionDisabled,
    InvalidRepoURL,
    InvalidRequest,
    NotStored,
    TooManyLookups,
    Unauthorized,
    install_handlers,
)

SERVE_APP = Path(__file__).resolve().parents[2] / "serve_app"


def test_no_module_but_errors_py_builds_an_error_answer():
    wrong = [f"{p.name}:{i}: {line.strip()}"
             for p in sorted(SERVE_APP.rglob("*.py")) if p.name != "errors.py"
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"HTTPException|exception_handler|status_code=4\d\d|status_code=5\d\d",
                          line)]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("exc, status, detail, header", [
    (InvalidRepoURL("no host"), 400, "invalid repository URL: no host", None),
    (InvalidRequest("invalid ref"), 400, "invalid ref", None),
    (Unauthorized("invalid or missing bearer token", {"WWW-Authenticate": "Bearer"}), 401,
     "invalid or missing bearer token", ("www-authenticate", "Bearer")),
    (NotStored("no job x"), 404, "no job x", None),
    (TooManyLookups(0.2), 429, "too many job lookups; try again shortly",
     ("retry-after", "1")),
    (IngestionDisabled("ingestion is disabled"), 503, "ingestion is disabled", None),
    (NotFound("no vector for a.py"), 404, "no vector for a.py", None),
    (QuestionRefused("scope=all with by=related"), 400, "scope=all with by=related", None),
    (QueueFull(10, 10), 429, "queue is full (10/10 pending)", ("retry-after", "60")),
    (QueueUnavailable("redis://secret-host:6379 refused"), 503,
     "job queue unavailable: Redis did not answer", ("retry-after", "10")),
    (VectorStoreError("http://qdrant-host:6333 timed out"), 503,
     "vector store unavailable: Qdrant did not answer", ("retry-after", "10")),
    (MetadataStoreError("postgresql://u:pw@db/x refused"), 503,
     "metadata database unavailable: the database did not answer", ("retry-after", "10")),
])
def test_each_error_of_the_tree_is_answered_by_its_handler(exc, status, detail, header):
    app = FastAPI()
    install_handlers(app)

    @app.get("/raise")
    def raise_it():
        raise exc

    r = TestClient(app, raise_server_exceptions=False).get("/raise")
    assert (r.status_code, r.json()) == (status, {"detail": detail})
    if header:
        assert r.headers[header[0]] == header[1]


def test_no_queue_here_is_answered_without_a_warning_a_queue_gone_warns(caplog):
    """The embedded console polls the worker status every 30 s; with no queue configured
    (its normal case) that is not a warning in the terminal each time. A queue that does
    not answer still is."""
    app = FastAPI()
    install_handlers(app)
    said = {"no": "no queue configured: set REDIS_URL or UPSTASH_REDIS_REST_URL",
            "down": "redis://secret-host:6379 refused"}

    @app.get("/raise/{which}")
    def raise_it(which: str):
        raise QueueUnavailable(said[which])

    client = TestClient(app, raise_server_exceptions=False)
    with caplog.at_level("DEBUG", logger="pharos.ingress"):
        assert client.get("/raise/no").status_code == 503
        quiet = [r.levelname for r in caplog.records if "queue" in r.getMessage()]
        caplog.clear()
        assert client.get("/raise/down").status_code == 503
        loud = [r.levelname for r in caplog.records if "queue" in r.getMessage()]
    assert quiet == ["DEBUG"] and loud == ["WARNING"], (quiet, loud)


def test_a_store_going_away_while_its_pages_are_read_is_a_store_error():
    """``GuardedStore`` guards a generator's iteration as it guards a call: a page read after
    Qdrant went away raises ``VectorStoreError`` (answered 503); ``NotFound`` and a bug pass
    unchanged."""
    from serve_app.services import GuardedStore, _unreachable_qdrant

    class Store:
        def __init__(self, failure: Exception) -> None:
            self.failure = failure

        def repository_pages(self, repo_url):
            yield [("a.py", [1.0])]
            raise self.failure

    for failure, expected in ((ConnectionError("refused"), VectorStoreError),
                              (NotFound("gone"), NotFound), (KeyError("bug"), KeyError)):
        pages = GuardedStore(Store(failure), VectorStoreError, _unreachable_qdrant)
        it = pages.repository_pages("r")
        assert next(it) == [("a.py", [1.0])]
        with pytest.raises(expected) as info:
            next(it)
        if expected is VectorStoreError:
            assert "repository_pages: ConnectionError: refused" in str(info.value)
            assert info.value.__cause__ is failure
        else:
            assert info.value is failure
