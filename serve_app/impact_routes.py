"""``GET /api/v1/graph/impact``: the other files likely to need the same change as
several files (:func:`graph_jobs.relations.change_impact.change_impact`), as
``/api/v1/graph/similar`` answers for one file: same reader token, same rate limit,
same repository-URL rules (``graph_routes`` includes this router, so it is served
wherever ``/similar`` is); a file not in the repository is a 404 naming the closest
stored paths."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from serve_app.errors import InvalidRequest
from serve_app.schemas import ERRORS
from serve_app.url_validation import MAX_LENGTH

MAX_FILES = 100  # file_path parameters in one question
MAX_PATH = 4096

router = APIRouter()


class ImpactHit(BaseModel):
    repo_url: str
    file_path: str
    language: str
    score: float  # what the answer is ordered by (the asked files' rescaled scores, summed)
    vector_score: float  # the highest cosine of its Node2Vec vector with an asked file's
    degree: int
    related_to: list[str] = []  # the asked files with an exact tie to it, strongest first
    why: list[str] = []  # "tied to 2 of the 3 files asked", "a.py: imports it; ...", ...


class Impact(BaseModel):
    repo_url: str
    file_paths: list[str]  # the files asked, duplicates dropped
    answered_by: str  # "impact+rerank" or "impact" (rerank=false)
    results: list[ImpactHit]


@router.get("/api/v1/graph/impact", response_model=Impact, responses=ERRORS)
def impact(request: Request, repo_url: Annotated[str, Query(min_length=1, max_length=MAX_LENGTH)],
           file_path: Annotated[list[str], Query()],
           k: Annotated[int, Query(ge=1, le=100)] = 10,
           include_isolated: bool = False, rerank: bool = True):
    """The files likely to need the same change as every ``file_path`` given (repeat the
    parameter, up to 100), best first: each asked file is ranked as ``/similar`` ranks it,
    and the rankings are combined (a file tied to several of the asked files comes
    first). Each hit names the asked files it relates to (``related_to``) and why. A
    file not in the repository: 404 with the closest stored paths."""
    from graph_jobs.relations.change_impact import change_impact
    from serve_app.graph_routes import request_repo_key  # (graph_routes includes this router)

    if not file_path:
        raise InvalidRequest("give at least one file_path")
    if len(file_path) > MAX_FILES:
        raise InvalidRequest(f"{len(file_path)} file_path parameters; at most {MAX_FILES} "
                             "in one question")
    if any(not p or len(p) > MAX_PATH for p in file_path):
        raise InvalidRequest(f"each file_path must have 1 to {MAX_PATH} characters")
    key = request_repo_key(request, repo_url)
    services = request.app.state.services
    # a file or repository not stored (NotFound, FileNotInRepository): 404, serve_app.errors
    hits = change_impact(services.vectors, services.metadata, key, file_path, k,
                         include_isolated=include_isolated, rerank=rerank)
    return Impact(repo_url=key, file_paths=list(dict.fromkeys(file_path)),
                  answered_by="impact+rerank" if rerank else "impact",
                  results=[ImpactHit(repo_url=h.repo_url, file_path=h.file_path,
                                     language=h.language, score=h.score,
                                     vector_score=h.vector_score, degree=h.degree,
                                     related_to=h.related_to, why=h.why) for h in hits])
