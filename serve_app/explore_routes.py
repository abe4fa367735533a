"""``/api/v1/graph/repositories`` and ``/api/v1/graph/map``: what the console's map of a
repository reads (the stored repositories; each file's vector laid out in 2-D, its
top folder, language and degree; the import edges)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from serve_app.graph_routes import request_repo_key
from serve_app.schemas import ERRORS, MapFile, Repositories, RepositoryMap

router = APIRouter()


@router.get("/api/v1/graph/repositories", response_model=Repositories, responses=ERRORS)
def repositories(request: Request):
    """Every stored repository, by name."""
    return Repositories(repositories=request.app.state.services.metadata.repositories())


@router.get("/api/v1/graph/map", response_model=RepositoryMap, responses=ERRORS)
def repository_map(request: Request,
                   repo_url: Annotated[str, Query(min_length=1, max_length=2048)]):
    """Every embedded file of a repository at a 2-D position (PCA of its Node2Vec vector,
    so files the model finds related lie near), with the import edges between them."""
    import numpy as np

    from graph_jobs.viz import project_2d, top_dir

    key = request_repo_key(request, repo_url)
    services = request.app.state.services
    points = [p for p in services.vectors.repository_points(key) if p.vector is not None]
    if not points:
        raise HTTPException(404, detail=f"nothing stored for {key}: ingest it first")
    points.sort(key=lambda p: p.payload["file_path"])
    xy = project_2d(np.array([p.vector for p in points], dtype=np.float64))
    span = float(np.abs(xy).max()) or 1.0
    xy = xy / span  # in [-1, 1]
    paths = [p.payload["file_path"] for p in points]
    index = {p: i for i, p in enumerate(paths)}
    files = [MapFile(path=path, x=round(float(x), 5), y=round(float(y), 5), group=top_dir(path),
                     language=p.payload.get("language", ""),
                     degree=int(p.payload.get("degree", 0)))
             for path, (x, y), p in zip(paths, xy, points, strict=True)]
    edges = []
    for e in services.metadata.repository_edges(key):
        a, b = index.get(e["source_path"]), index.get(e["target_path"])
        if a is not None and b is not None:
            edges.append((a, b, e["kind"]))
    groups = [g for g, _ in Counter(f.group for f in files).most_common()]
    return RepositoryMap(repo_url=key, files=files, edges=edges, groups=groups)
