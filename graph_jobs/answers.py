"""The question "which files are like this one?", asked the same way by the CLI and the API.

Two questions, two vectors (``by``):

- ``related``: files that belong with this one (edited, imported, tested together).
  Answered from the Node2Vec vector, reranked with exact signals (issue 13). Node2Vec is
  trained one repository at a time, and each training puts its graph in an arbitrary
  rotation, so these vectors mean nothing across repositories: asked across
  repositories, this question is refused (:class:`QuestionRefused`).
- ``role``: files that play the same structural part (the package entry, the error
  types, the command line...). Answered from the role vector (``graph_jobs.roles``),
  which means the same in every repository.

The default is ``related`` within a repository and ``role`` across repositories.
"""

from __future__ import annotations

from dataclasses import dataclass

BY = ("related", "role")
SCOPES = ("repo", "all")
RELATED_ACROSS = ("by=related is answered from Node2Vec vectors, which are trained one "
                  "repository at a time and share no axes between repositories, so they "
                  "cannot compare files of different repositories; ask by=role to find "
                  "files that play the same part in other repositories")


class QuestionRefused(ValueError):
    """A question the vectors cannot answer honestly; the message says why."""


@dataclass(slots=True)
class Answer:
    by: str  # which vector answered: related | role
    answered_by: str  # vector+rerank | vector | role
    hits: list  # Related (related) or Neighbour (role)


def default_by(scope: str) -> str:
    return "related" if scope == "repo" else "role"


def similar_files(vectors, metadata, repo_url: str, file_path: str, k: int = 10, *,
                  scope: str = "repo", by: str | None = None, include_isolated: bool = False,
                  rerank: bool = True) -> Answer:
    """Raises :class:`QuestionRefused` (by=related across repositories, unknown values)
    and :class:`~graph_jobs.errors.NotFound` (no such vector stored)."""
    if scope not in SCOPES:
        raise QuestionRefused(f"scope must be one of {', '.join(SCOPES)}")
    by = by or default_by(scope)
    if by not in BY:
        raise QuestionRefused(f"by must be one of {', '.join(BY)}")
    if by == "related" and scope != "repo":
        raise QuestionRefused(RELATED_ACROSS)
    if by == "related":
        from graph_jobs.relations.related_files import related_files

        hits = related_files(vectors, metadata, repo_url, file_path, k,
                             include_isolated=include_isolated, rerank=rerank)
        return Answer("related", "vector+rerank" if rerank else "vector", hits)
    hits = vectors.similar(repo_url, file_path, k, scope, include_isolated, by="role")
    return Answer("role", "role", hits)
