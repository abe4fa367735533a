"""The impact of a whole change: the other files likely to need the same change.

A question to ``similar`` is one file; a change is several. :func:`change_impact` takes
the files of a change (those a developer has edited, or those ``git diff`` names) and
ranks the other files of the repository by how much evidence ties them to the change::

    change_impact(vectors, metadata, repo_url, file_paths, k=10, *, pool=100,
                  include_isolated=False, rerank=True, weights=None, how="norm-sum",
                  tie_bonus=TIE_BONUS, cache=None, checked=False, **rank_options)
                  -> list[Impact]

    vectors, metadata  the stores, as for related_files (Stores.vectors, Stores.metadata)
    repo_url           the repository's stored name
    file_paths         the asked files, paths from the repository's root (duplicates are
                       dropped; order is kept: the first is the one named first)
    k                  how many answers
    cache              a dict, path -> that file's single-file ranking, kept between
                       calls (the benches ask many changes of one repository)
    checked            True: the caller has checked that every file is in the repository
    rank_options       passed on to rank_related (e.g. the learned ranker's ``model``)

    Raises FileNotInRepository (a NotFound) when an asked file is not in the
    repository: its ``missing`` are those files and ``closest`` maps each to the stored
    paths closest to it (graph_jobs.closest_paths); NotFound when the repository is not
    stored or a file has no vector; ValueError when no file or more than MAX_ASKED are
    asked.

How:

1. Each asked file is ranked alone by :func:`score_one`, the very scoring of
   ``similar`` (:func:`graph_jobs.relations.related_files.candidates`, then
   :func:`~graph_jobs.relations.related_files.rank_related` over every candidate, looked
   up when called): whatever decides how one file is scored (the hand weights, or a
   learned ranker that takes their place) decides the impact too.
2. The evidence is combined per candidate (``how``):
   - ``norm-sum`` (default): each asked file's scores rescaled to [0, 1] over its own
     candidates (its best answer 1, its worst 0; a file it did not rank adds 0), summed
     over the asked files. A file that many of the asked files rank high wins; scores of
     different files, or of different rankers, need not share a scale;
   - ``sum``: the raw scores summed (a file an asked file did not rank counts as that
     file's worst);
   - ``rrf``: reciprocal rank fusion, sum of ``1 / (60 + rank)``;
   - ``max``: the best single score.
   Then ``tie_bonus`` is added for each asked file beyond the first that has an exact
   tie to the candidate (imports, co-change, test pair, shared names, same folder).
3. Each answer says which of the asked files it relates to (``related_to``, the asked
   files with an exact tie, strongest first) and why (``why``: "tied to 2 of the 3
   files asked", then "app/core.py: imports it; changed together 4 times (last ...)"
   for each).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graph_jobs.errors import NotFound

HOW = ("norm-sum", "sum", "rrf", "max")
TIE_BONUS = 0.25  # per asked file beyond the first with an exact tie (norm-sum's scale)
MAX_ASKED = 200  # files one question may name
WHY_FILES = 5  # asked files named in one answer's why; the rest are counted
NO_TIE = "near in the relation graph"


@dataclass(slots=True)
class Impact:
    repo_url: str
    file_path: str
    language: str
    score: float  # what the answer is ordered by
    vector_score: float  # the highest cosine of its Node2Vec vector with an asked file's
    degree: int
    related_to: list[str] = field(default_factory=list)  # asked files tied to it
    why: list[str] = field(default_factory=list)


class FileNotInRepository(NotFound):
    """Asked files the repository does not hold; ``closest`` offers stored paths."""

    def __init__(self, repo_url: str, missing: list[str], closest: dict[str, list[str]],
                 stored: int) -> None:
        self.repo_url, self.missing, self.closest, self.stored = (repo_url, missing, closest,
                                                                  stored)
        names = ", ".join(repr(m) for m in missing)
        near = list(dict.fromkeys(p for m in missing for p in closest.get(m, [])))
        super().__init__(f"{names} {'is' if len(missing) == 1 else 'are'} not in the "
                         f"repository {repo_url} ({stored} files stored)"
                         + (f"; closest paths: {', '.join(near)}" if near else ""))


def check_files(metadata, repo_url: str, file_paths: list[str]) -> list[str]:
    """``file_paths`` without duplicates, each checked to be a file of the repository.

    Raises :class:`NotFound` (repository not stored), :class:`FileNotInRepository`."""
    from graph_jobs.closest_paths import closest_paths

    asked = list(dict.fromkeys(file_paths))
    if not asked:
        raise ValueError("name at least one file of the change")
    if len(asked) > MAX_ASKED:
        raise ValueError(f"{len(asked)} files asked; at most {MAX_ASKED} in one question")
    if metadata.repository(repo_url) is None:
        raise NotFound(f"repository {repo_url} is not stored")
    paths = [f["path"] for f in metadata.repository_files(repo_url)]
    known = set(paths)
    missing = [p for p in asked if p not in known]
    if missing:
        raise FileNotInRepository(repo_url, missing,
                                  {m: closest_paths(m, paths) for m in missing}, len(paths))
    return asked


def score_one(vectors, metadata, repo_url: str, file_path: str, *, pool: int = 100,
              include_isolated: bool = False, rerank: bool = True, weights=None,
              **rank_options) -> list:
    """``file_path`` asked alone, every candidate scored (``Related``, best first): the
    scoring of ``similar`` (``related_files``), without its cut at ``k``."""
    from graph_jobs.relations import related_files as rf

    cands, signals = rf.candidates(vectors, metadata, repo_url, file_path, pool,
                                   include_isolated=include_isolated, tied=rerank)
    return rf.rank_related(file_path, cands, signals, weights, rerank=rerank,
                           repo_url=repo_url, k=max(1, len(cands)), **rank_options)


def combine(asked: list[str], ranked: dict[str, list], k: int = 10, *, how: str = "norm-sum",
            tie_bonus: float = TIE_BONUS, repo_url: str = "") -> list[Impact]:
    """Fold the single-file rankings ``ranked`` (asked path -> its ``Related`` list, best
    first) into one answer (see the module doc)."""
    if how not in HOW:
        raise ValueError(f"how must be one of {', '.join(HOW)}")
    skip = set(asked)
    total: dict[str, float] = {}
    parts: dict[str, dict[str, float]] = {}  # candidate -> asked file -> its contribution
    hits: dict[str, dict[str, object]] = {}  # candidate -> asked file -> Related
    for q in asked:
        rows = [r for r in ranked.get(q, []) if r.file_path not in skip]
        if not rows:
            continue
        hi, lo = rows[0].score, rows[-1].score
        for rank, r in enumerate(rows):
            if how == "norm-sum":
                got = (r.score - lo) / (hi - lo) if hi > lo else 1.0
            elif how == "sum":
                got = r.score - lo  # a file q did not rank counts as q's worst (adds 0)
            elif how == "rrf":
                got = 1.0 / (60 + rank + 1)
            else:
                got = r.score
            parts.setdefault(r.file_path, {})[q] = got
            hits.setdefault(r.file_path, {})[q] = r
    for path, by_q in parts.items():
        total[path] = max(by_q.values()) if how == "max" else sum(by_q.values())
    out = []
    for path, score in total.items():
        by_q = hits[path]
        tied = sorted((q for q, r in by_q.items() if r.why and r.why != [NO_TIE]),
                      key=lambda q: (-parts[path][q], asked.index(q)))
        score += tie_bonus * max(0, len(tied) - 1)
        first = next(iter(by_q.values()))
        out.append(Impact(repo_url or first.repo_url, path, first.language, score,
                          max(r.vector_score for r in by_q.values()), first.degree,
                          tied, _why(asked, tied, by_q, parts[path])))
    out.sort(key=lambda i: (-i.score, i.file_path))
    return out[:k]


def _why(asked: list[str], tied: list[str], by_q: dict, part: dict[str, float]) -> list[str]:
    if not tied:  # no exact tie: the vectors alone put it there, nearest to this file
        q = max(part, key=lambda q: (part[q], -asked.index(q)))
        return [f"{q}: {NO_TIE}"]
    why = [f"tied to {len(tied)} of the {len(asked)} files asked"] if len(asked) > 1 else []
    why += [f"{q}: {'; '.join(by_q[q].why)}" for q in tied[:WHY_FILES]]
    if len(tied) > WHY_FILES:
        why.append(f"and {len(tied) - WHY_FILES} more of the files asked")
    return why


def change_impact(vectors, metadata, repo_url: str, file_paths, k: int = 10, *,
                  pool: int = 100, include_isolated: bool = False, rerank: bool = True,
                  weights=None, how: str = "norm-sum", tie_bonus: float = TIE_BONUS,
                  cache: dict | None = None, checked: bool = False,
                  **rank_options) -> list[Impact]:
    """The ``k`` files most likely to need the same change as ``file_paths`` (see the
    module doc for the signature's meaning, what it raises and how it ranks).
    ``checked=True`` skips the check that every file is in the repository (the caller
    made it); ``rank_options`` go to ``rank_related``."""
    asked = list(dict.fromkeys(file_paths)) if checked else check_files(metadata, repo_url,
                                                                        list(file_paths))
    cache = {} if cache is None else cache
    ranked = {}
    for q in asked:
        if q not in cache:
            cache[q] = score_one(vectors, metadata, repo_url, q, pool=pool,
                                 include_isolated=include_isolated, rerank=rerank,
                                 weights=weights, **rank_options)
        ranked[q] = cache[q]
    return combine(asked, ranked, k, how=how, tie_bonus=tie_bonus, repo_url=repo_url)
