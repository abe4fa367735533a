"""`pharos mcp`'s change_impact tool: the other files likely to need the same change as
several files (:func:`graph_jobs.relations.change_impact.change_impact`, what `pharos
impact --json` answers), with the MCP server's refusals (a file not in the repository:
the closest stored paths; a repository not stored: how to ingest it)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from graph_jobs.errors import NotFound
from pharos_cli.mcp_answers import MAX_RESULTS, Answers, ToolRefusal, relative_path

MAX_FILES = 100  # files one question may name


class ImpactFile(BaseModel):
    repo_url: str
    file_path: str = Field(description="Relative to the repository's root.")
    language: str
    score: float = Field(description="What the answer is ordered by (higher: more likely).")
    degree: int = Field(description="Import edges of the file.")
    vector_score: float = Field(description="Its highest Node2Vec cosine with an asked file.")
    related_to: list[str] = Field(default_factory=list,
                                  description="The asked files tied to it, strongest first.")
    why: list[str] = Field(default_factory=list,
                           description="'tied to 2 of the 3 files asked', then per asked "
                                       "file: 'pkg/a.py: imports it; changed together 4 "
                                       "times (last ...)', ...")


class ChangeImpact(BaseModel):
    repo_url: str
    file_paths: list[str] = Field(description="The files asked, as the repository names them.")
    answered_by: str
    results: list[ImpactFile]


def impact_answer(answers: Answers, repo: str, files: list[str], k: int = 10) -> dict:
    from graph_jobs.relations.change_impact import FileNotInRepository, change_impact

    key = answers.repo_key(repo)
    paths = [relative_path(f, key) for f in files]
    bad = [f for f, p in zip(files, paths, strict=True) if not p or p.startswith(("/", "../"))]
    if bad:
        raise ToolRefusal(f"give the files as paths relative to the repository's root "
                          f"(got {', '.join(repr(b) for b in bad)})", "bad_input")
    if len(set(paths)) > MAX_FILES:
        raise ToolRefusal(f"{len(set(paths))} files asked; at most {MAX_FILES}", "bad_input")
    with answers.handle.stores() as stores:
        if stores.metadata.repository(key) is None:
            raise answers.not_stored(key)
        vectors = stores.vectors
        try:
            hits = change_impact(vectors, stores.metadata, key, paths, min(k, MAX_RESULTS))
        except FileNotInRepository as exc:
            names = ", ".join(repr(m) for m in exc.missing)
            near = list(dict.fromkeys(p for m in exc.missing for p in exc.closest[m]))
            raise ToolRefusal(f"{names} {'is' if len(exc.missing) == 1 else 'are'} not a file "
                              f"of {key} ({exc.stored} files stored); ask again with the "
                              "closest paths", "no_such_file", near) from None
        except NotFound as exc:
            raise ToolRefusal(str(exc), "not_stored") from None
    return {"repo_url": key, "file_paths": list(dict.fromkeys(paths)),
            "answered_by": "impact+rerank", "results": [
                {"repo_url": h.repo_url, "file_path": h.file_path, "language": h.language,
                 "score": round(h.score, 4), "degree": h.degree,
                 "vector_score": round(h.vector_score, 4), "related_to": h.related_to,
                 "why": h.why} for h in hits]}


def render_impact(d: dict) -> str:
    asked = d["file_paths"]
    head = (f"{len(d['results'])} files likely to change with "
            f"{asked[0] if len(asked) == 1 else f'{len(asked)} files'} in {d['repo_url']}, "
            "best first:")
    rows = [f"{i}. {h['file_path']}  {h['score']:.3f}  {' | '.join(h['why'])}"
            for i, h in enumerate(d["results"], 1)]
    return "\n".join([head, *rows])
