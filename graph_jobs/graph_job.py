"""The graph stage as one call: open (or clone) a repository and build its graph."""

from __future__ import annotations

import time
from pathlib import Path

from graph_jobs.dependency_graph import Progress, build_dependency_graph
from graph_jobs.models import DependencyGraph
from graph_jobs.repo_source import open_repository
from graph_jobs.settings import Settings


def graph_for(source: str, settings: Settings, ref: str | None = None, *, use_cache: bool = True,
              progress: Progress | None = None) -> DependencyGraph:
    t0 = time.perf_counter()
    with open_repository(
        source, ref, timeout_s=settings.clone_timeout_s, max_bytes=settings.clone_max_bytes,
        allow_local_urls=True,
    ) as repo:
        t_clone = time.perf_counter() - t0
        graph = build_dependency_graph(
            repo.root, repo.commit, max_file_bytes=settings.max_file_bytes,
            cache_path=settings.parse_cache_path if use_cache and settings.parse_cache else None,
            workers=settings.parse_workers, progress=progress,
        )
        graph.timings = {"clone": t_clone, **graph.timings}
        graph.root = source if repo.is_clone else str(Path(repo.root))
        return graph
