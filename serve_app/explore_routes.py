"""``/api/v1/graph/repositories`` and ``/api/v1/graph/map``: what the console's map of a
repository reads (the stored repositories; each file's vector laid out in 2-D, its
top folder, language and degree; the import edges), the map in pages
(:mod:`serve_app.repository_map`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from serve_app.errors import NotStored
from serve_app.graph_routes import request_repo_key
from serve_app.repository_map import DEFAULT_PAGE, MAX_PAGE, MapLayouts, page_json
from serve_app.schemas import ERRORS, Repositories, RepositoryMap
from serve_app.url_validation import MAX_LENGTH

router = APIRouter()


@router.get("/api/v1/graph/repositories", response_model=Repositories, responses=ERRORS)
def repositories(request: Request):
    """Every stored repository, by name."""
    state = request.app.state
    names = state.read_cache.get("repositories", lambda: state.services.metadata.repositories())
    return Repositories(repositories=names)


@router.get("/api/v1/graph/map", response_model=RepositoryMap, responses=ERRORS)
def repository_map(request: Request,
                   repo_url: Annotated[str, Query(min_length=1, max_length=MAX_LENGTH)],
                   offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                   limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE):
    """The embedded files of a repository at 2-D positions (PCA of their Node2Vec
    vectors, so files the model finds related lie near), sorted by path, ``limit`` from
    ``offset`` (``next_offset`` is the next page's, null after the last), with the import
    edges whose importer is on the page. Edge ends are indices into the whole sorted list:
    this page's files are ``offset`` .. ``offset + len(files) - 1``."""
    key = request_repo_key(request, repo_url)
    state = request.app.state
    layouts: MapLayouts = state.map_layouts
    layout = layouts.get(state.services.vectors, state.services.metadata, key)
    if layout is None:
        raise NotStored(f"nothing stored for {key}: ingest it first")
    return Response(page_json(layout, offset, limit), media_type="application/json")
