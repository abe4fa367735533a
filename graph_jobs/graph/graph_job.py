"""The graph stage as one call: open (or clone) a repository and build its graph.

``graph_for`` is ``pharos graph``'s: open, read the graph, close. The pipeline chains the
same pieces as stages of its own (``graph_jobs.pipeline``: clone, graph, history, ...),
calling :func:`read_graph` on the repository it holds open; the history and the files'
words are the pipeline's stages, not this module's.
"""

from __future__ import annotations

from pathlib import Path

from graph_jobs.graph.dependency_graph import Progress, build_dependency_graph
from graph_jobs.graph.repo_source import OpenedRepository, open_repository
from graph_jobs.models import DependencyGraph
from graph_jobs.repository_ref import RepoRef
from graph_jobs.settings import JobSettings


def graph_for(repo: RepoRef | str, settings: JobSettings, ref: str | None = None, *,
              use_cache: bool = True, progress: Progress | None = None) -> DependencyGraph:
    """The dependency graph of ``repo`` (cloned under the user's URL policy, and removed)."""
    with open_repository(repo, ref, timeout_s=settings.clone_timeout_s,
                         max_bytes=settings.clone_max_bytes) as opened:
        return read_graph(opened, settings, use_cache=use_cache, progress=progress)


def read_graph(opened: OpenedRepository, settings: JobSettings, *, use_cache: bool = True,
               progress: Progress | None = None) -> DependencyGraph:
    """Discover, parse and resolve the files of an open repository."""
    graph = build_dependency_graph(
        opened.root, opened.commit, max_file_bytes=settings.max_file_bytes,
        cache_path=settings.parse_cache_path if use_cache and settings.parse_cache else None,
        workers=settings.parse_workers, progress=progress, max_files=settings.max_files,
    )
    graph.root = opened.source if opened.is_clone else str(Path(opened.root))
    return graph
