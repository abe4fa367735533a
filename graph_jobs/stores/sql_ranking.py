"""The read side that ranks: one file's ties (the signals related files are ranked by)
and the stored repositories nearest to one by their graph descriptor.

Each function takes an open :class:`~sqlalchemy.orm.Session`; :class:`MetadataStore`
opens it and retries around it.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from graph_jobs.errors import NotFound
from graph_jobs.stores.sql_tables import (
    CoChangePair,
    Dependency,
    File,
    FileHistory,
    Repository,
    TermPair,
    TestPair,
)


def no_signals() -> dict:
    return {"imports": {}, "imported_by": {}, "cochange": {}, "revisions": {},
            "tests": set(), "history_time": None, "shared_terms": {}, "terms": {}}


def file_signals(s: Session, repo_url: str, path: str, candidates: list[str]) -> dict:
    """What the store knows of one file's ties: imports both ways, co-change partners,
    its test or tested pair, the files that use the same words (``shared_terms``: path ->
    similarity); and, for the file, its partners and ``candidates``, the revisions (plain
    and decayed commit counts) and the heaviest words (``terms``)."""
    repo = s.scalar(select(Repository).where(Repository.url == repo_url))
    if repo is None:
        return no_signals()
    rid = repo.id
    imports, imported_by = {}, {}
    for r in s.execute(select(Dependency.source_path, Dependency.target_path, Dependency.kind)
                       .where(Dependency.repository_id == rid,
                              or_(Dependency.source_path == path,
                                  Dependency.target_path == path))):
        if r.source_path == path and r.target_path != path:
            imports.setdefault(r.target_path, r.kind)
        elif r.target_path == path and r.source_path != path:
            imported_by.setdefault(r.source_path, r.kind)
    cochange = {}
    for r in s.execute(select(CoChangePair.path_a, CoChangePair.path_b, CoChangePair.commits,
                              CoChangePair.weight, CoChangePair.last_time)
                       .where(CoChangePair.repository_id == rid,
                              or_(CoChangePair.path_a == path, CoChangePair.path_b == path))):
        other = r.path_b if r.path_a == path else r.path_a
        cochange[other] = (r.commits, r.weight, r.last_time)
    tests = set()
    for r in s.execute(select(TestPair.test_path, TestPair.source_path)
                       .where(TestPair.repository_id == rid,
                              or_(TestPair.test_path == path, TestPair.source_path == path))):
        tests.add(r.source_path if r.test_path == path else r.test_path)
    shared = {}
    for r in s.execute(select(TermPair.path_a, TermPair.path_b, TermPair.similarity)
                       .where(TermPair.repository_id == rid,
                              or_(TermPair.path_a == path, TermPair.path_b == path))):
        shared[r.path_b if r.path_a == path else r.path_a] = r.similarity
    wanted = list({path, *cochange, *imports, *imported_by, *tests, *shared, *candidates})
    revisions, terms = {}, {}
    for i in range(0, len(wanted), 500):  # within SQLite's bound-parameter limit
        chunk = wanted[i:i + 500]
        revisions.update((r.path, (r.commits, r.weight)) for r in s.execute(
            select(FileHistory.path, FileHistory.commits, FileHistory.weight)
            .where(FileHistory.repository_id == rid, FileHistory.path.in_(chunk))))
        terms.update((r.path, r.terms.split()) for r in s.execute(
            select(File.path, File.terms)
            .where(File.repository_id == rid, File.path.in_(chunk),
                   File.terms.is_not(None))))
    busiest = s.scalar(select(func.max(FileHistory.weight))
                       .where(FileHistory.repository_id == rid))
    return {"imports": imports, "imported_by": imported_by, "cochange": cochange,
            "revisions": revisions, "tests": tests, "history_time": repo.history_time,
            "max_revision_weight": float(busiest or 0.0), "shared_terms": shared,
            "terms": terms}


def descriptors(s: Session) -> list:
    """Every stored repository's (url, descriptor, files)."""
    return list(s.execute(select(Repository.url, Repository.descriptor, Repository.files)))


def nearest_repositories(rows: list, repo_url: str, k: int) -> list[dict]:
    """The ``k`` rows (from :func:`descriptors`) nearest to ``repo_url``'s descriptor.

    Raises :class:`~graph_jobs.errors.NotFound` when the repository is not among them or
    has no descriptor yet."""
    from graph_jobs.roles.repo_descriptor import descriptor_distance

    mine = next((r for r in rows if r.url == repo_url), None)
    if mine is None:
        raise NotFound(f"repository {repo_url!r} is not stored")
    if not mine.descriptor:
        raise NotFound(f"repository {repo_url!r} has no descriptor yet: ingest it again")
    out = [{"repo_url": r.url, "files": r.files,
            "distance": descriptor_distance(mine.descriptor, r.descriptor)}
           for r in rows if r.url != repo_url and r.descriptor]
    out.sort(key=lambda d: (d["distance"], d["repo_url"]))
    return out[:k]
