"""The graph stage as one call: open (or clone) a repository and build its graph.

``graph_and_history_for`` also runs the history stage, before a temporary clone is
removed: on the history clone made beside the work tree (``history_max_commits``
commits, bare and blobless; see :mod:`graph_jobs.graph.repo_source`), or on a local
directory in place. With ``words=True`` it also reads each file's words
(:mod:`graph_jobs.graph.file_words`) into ``graph.terms``, unless the repository has
more than ``settings.words_max_files`` files.
"""

from __future__ import annotations

import time
from pathlib import Path

from graph_jobs.faults import FaultHook, JobStep, no_faults
from graph_jobs.graph.dependency_graph import Progress, build_dependency_graph
from graph_jobs.graph.repo_source import open_repository
from graph_jobs.models import DependencyGraph
from graph_jobs.settings import JobSettings


def graph_for(source: str, settings: JobSettings, ref: str | None = None, *, use_cache: bool = True,
              progress: Progress | None = None) -> DependencyGraph:
    graph, _history = graph_and_history_for(source, settings, ref, use_cache=use_cache,
                                            progress=progress, history=False)
    return graph


def graph_and_history_for(source: str, settings: JobSettings, ref: str | None = None, *,
                          use_cache: bool = True, progress: Progress | None = None,
                          history: bool | None = None, stored_history=None,
                          faults: FaultHook = no_faults, url_policy=None, words: bool = False):
    """``(graph, HistoryResult | None)``; history is mined when ``settings.history`` is on
    (or ``history=True``), from ``stored_history`` onwards when it still applies.

    ``url_policy`` (a :class:`~graph_jobs.url_policy.UrlPolicy`; the edge worker always
    gives one): ``source`` is checked right before the clone, and git is held to what
    was checked (pinned address, no redirects, https only)."""
    want_history = settings.history if history is None else history
    t0 = time.perf_counter()
    faults(JobStep.CLONE)
    git_config: tuple[str, ...] = ()
    if url_policy is not None:
        checked = url_policy.check(source)
        source = checked.ref.name if checked.ref.in_place else checked.ref.clone_url
        git_config = checked.git_config
    with open_repository(
        source, ref, timeout_s=settings.clone_timeout_s, max_bytes=settings.clone_max_bytes,
        allow_local_urls=True,
        history_depth=settings.history_max_commits if want_history else 0,
        git_config=git_config,
    ) as repo:
        t_clone = time.perf_counter() - t0
        faults(JobStep.PARSE)
        graph = build_dependency_graph(
            repo.root, repo.commit, max_file_bytes=settings.max_file_bytes,
            cache_path=settings.parse_cache_path if use_cache and settings.parse_cache else None,
            workers=settings.parse_workers, progress=progress, max_files=settings.max_files,
        )
        graph.timings = {"clone": t_clone, **graph.timings}
        graph.root = source if repo.is_clone else str(Path(repo.root))
        if words and len(graph.files) <= settings.words_max_files:
            from graph_jobs.graph.file_words import read_words

            t = time.perf_counter()
            graph.terms = read_words(
                repo.root, graph.files, max_bytes=settings.max_file_bytes,
                cache_path=settings.parse_cache_path if use_cache and settings.parse_cache
                else None, workers=settings.parse_workers)
            graph.timings["words"] = time.perf_counter() - t
        mined = None
        if want_history:
            from graph_jobs.errors import RepositoryError
            from graph_jobs.history.cochange import CoChangeParams
            from graph_jobs.history.history_stage import HistoryResult, mine_history

            t = time.perf_counter()
            try:
                history_root = repo.history_root()  # waits for the history clone
            except RepositoryError as exc:  # no history is not a failed job
                history_root = None
                mined = HistoryResult(None, "none", f"the history clone failed ({exc}): "
                                      "related files come from structure alone")
            if history_root is not None:
                mined = mine_history(
                    history_root, {f.path for f in graph.files}, head=repo.commit or None,
                    params=CoChangeParams(max_commit_files=settings.history_max_commit_files,
                                          half_life_days=settings.history_half_life_days,
                                          session_hours=settings.history_session_hours),
                    stored=stored_history, max_commits=settings.history_max_commits,
                    max_age_days=settings.history_max_days)
            graph.timings["history"] = time.perf_counter() - t
        return graph, mined
