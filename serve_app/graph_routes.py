"""``/api/v1/graph``: files like this one (related or same role), repositories like this
one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from graph_jobs.errors import NotFound
from serve_app.ingestion_routes import allowed_hosts
from serve_app.schemas import ERRORS, Similar, SimilarHit, SimilarRepositories
from serve_app.url_validation import MAX_LENGTH, validate_repo_url

router = APIRouter()


@router.get("/api/v1/graph/similar", response_model=Similar, responses=ERRORS)
def similar(request: Request, repo_url: Annotated[str, Query(min_length=1, max_length=MAX_LENGTH)],
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
    from graph_jobs.answers import similar_files

    key = request_repo_key(request, repo_url)
    services = request.app.state.services
    try:  # QuestionRefused: 400, NotFound: 404 (serve_app.errors)
        ans = similar_files(services.vectors, services.metadata, key, file_path, k,
                            scope=scope, by=by, include_isolated=include_isolated,
                            rerank=rerank)
    except NotFound as exc:
        if exc.args:
            raise
        raise NotFound(f"no embedding for {file_path!r} in {key}") from None
    return Similar(repo_url=key, file_path=file_path, by=ans.by,
                   answered_by=ans.answered_by,
                   results=[SimilarHit(repo_url=h.repo_url, file_path=h.file_path,
                                       language=h.language, score=h.score,
                                       degree=h.degree,
                                       vector_score=getattr(h, "vector_score", None),
                                       why=getattr(h, "why", [])) for h in ans.hits])

@router.get("/api/v1/graph/repositories/{repo_url:path}/similar",
         response_model=SimilarRepositories, responses=ERRORS)
def similar_repositories(request: Request, repo_url: Annotated[str, Path(max_length=MAX_LENGTH)],
                         k: Annotated[int, Query(ge=1, le=100)] = 10):
    """Repositories whose dependency graphs are shaped like this one's (the NetLSD heat
    trace of each graph, stored at ingest; nearest first)."""
    key = request_repo_key(request, repo_url)
    rows = request.app.state.services.metadata.similar_repositories(key, k)  # NotFound: 404
    return SimilarRepositories(repo_url=key, results=rows)

def request_repo_key(request: Request, repo_url: str) -> str:
    """``repo_url``'s one name under this ingress's URL rules (InvalidRepoURL, a 400,
    when refused)."""
    settings = request.app.state.settings
    return validate_repo_url(repo_url, allowed_hosts=allowed_hosts(settings),
                             allow_local=settings.allow_local_repos, resolve=False).name


# GET /api/v1/graph/impact (several files of a change) rides on this router: served with
# /similar, behind the same reader token
from serve_app.impact_routes import router as _impact_router  # noqa: E402

router.include_router(_impact_router)
