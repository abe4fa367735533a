"""`pharos impact`: the other files likely to need the same change as several files
(:func:`graph_jobs.relations.change_impact.change_impact`), named or read from `git diff`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer

from graph_jobs.errors import NotFound
from pharos_cli.ingest_commands import (
    _key,
    _stores,
    refuse,
    repository_paths,
    stored_repository,
    stores_where,
)
from pharos_cli.lookup_hints import closest_paths
from pharos_cli.output import print_rows

DIFF_HELP = ("Ask with the files `git diff` names in the local repository REPO: with no "
             "REV, every uncommitted change (`git diff HEAD`: staged or not); with REV "
             "(main, HEAD~3, A..B, or two revisions), `git diff REV`.")


def diff_files(repo: str, revs: list[str]) -> list[str]:
    """The paths (from the repository's root) that ``git diff`` names in the local
    repository ``repo``: ``git diff HEAD`` with no ``revs``, else ``git diff REVS``."""
    if not repo.startswith("/") or not Path(repo).is_dir():
        refuse(f"--diff reads `git diff` in a local clone; {repo} is not a local directory",
               "name the changed files instead: pharos impact REPO FILE...")
    if len(revs) > 2:
        refuse(f"--diff takes at most two revisions ({len(revs)} given)")
    for rev in revs:
        if not rev.strip() or rev.startswith("-"):
            refuse(f"{rev!r} is not a revision (a branch, tag, commit or A..B)")
    try:
        got = subprocess.run(
            ["git", "-C", repo, "-c", "diff.relative=false", "-c", "core.quotepath=false",
             "diff", "--name-only", "-z", "--no-ext-diff", "--no-textconv",
             *(revs or ["HEAD"]), "--"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        refuse(f"could not run git diff in {repo}: {exc}")
    if got.returncode != 0:
        said = (got.stderr.strip().splitlines() or ["git diff failed"])[-1]
        refuse(f"git diff {' '.join(revs or ['HEAD'])} failed in {repo}: {said}")
    return [p for p in got.stdout.split("\0") if p]


def _asked_files(stores, name: str, files: list[str]) -> list[str]:
    """Each typed file as its stored path; refuses (exit 2) naming every file the
    repository does not hold, each with its closest paths."""
    paths = [f["path"] for f in stores.metadata.repository_files(name)]
    known = set(paths)
    asked, missing = [], []
    for f in files:
        found = next((p for p in repository_paths(f, name) if p in known), None)
        (asked if found else missing).append(found or f)
    if missing:
        hints = []
        for m in missing:
            cands = repository_paths(m, name)
            near = closest_paths(cands[-1] if cands[-1] != "." else cands[0], paths)
            head = "closest paths:" if len(files) == 1 else f"{m!r}: closest paths:"
            hints += [head, *(f"  {p}" for p in near)] if near else \
                ([] if len(files) == 1 else [f"{m!r}: no stored path is close"])
        said = (f"{missing[0]!r} is not in the repository {name}" if len(files) == 1 else
                f"{len(missing)} of the {len(files)} files asked "
                f"{'is' if len(missing) == 1 else 'are'} not in the repository {name}")
        refuse(f"{said} ({len(paths)} files stored)", *hints,
               "give paths from the repository's root, as `pharos similar REPO @top` prints "
               "them")
    return list(dict.fromkeys(asked))


def impact(
    repo: str = typer.Argument(..., help="Repository as ingested (URL or path)."),
    files: list[str] | None = typer.Argument(
        None, metavar="FILE|REV",
        help="The files of the change, paths inside the repository; with --diff, "
             "the revision(s) to diff against (none: HEAD)."),
    diff: bool = typer.Option(False, "--diff", help=DIFF_HELP),
    k: int = typer.Option(10, "-k", min=1, max=1000, help="How many files to list."),
    include_isolated: bool = typer.Option(
        False, "--include-isolated",
        help="Also answer with files that have no import edge (directory-mean vectors)."),
    no_rerank: bool = typer.Option(
        False, "--no-rerank", help="Each file's vector order alone (no exact signals)."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as one JSON object."),
) -> None:
    """The other files likely to need the same change as FILE... (or as `git diff`),
    ranked, each with the asked files it relates to and why."""
    from graph_jobs.relations.change_impact import MAX_ASKED, change_impact

    files = list(files or [])
    stores, name = _stores(), _key(repo)
    stored_repository(stores, repo)  # refuses when it is not stored, saying where it looked
    left_out: list[str] = []
    if diff:
        named = diff_files(name, files)
        known = {f["path"] for f in stores.metadata.repository_files(name)}
        asked = [p for p in named if p in known]
        left_out = [p for p in named if p not in known]
        if not asked:
            refuse(f"git diff {' '.join(files or ['HEAD'])} names "
                   + (f"{len(named)} files, none of them stored for {name}"
                      if named else "no file")
                   + (f" (not source files, new since the ingest, or deleted: "
                      f"{', '.join(left_out[:5])}{', ...' if len(left_out) > 5 else ''})"
                      if left_out else ""),
                   *([f"ingest it again to read new files: pharos ingest {repo}"]
                     if named else []))
    else:
        if not files:
            refuse("name the files of the change (pharos impact REPO FILE...), or ask "
                   "with --diff [REV]")
        asked = _asked_files(stores, name, files)
    if len(asked) > MAX_ASKED:
        refuse(f"{len(asked)} files asked; at most {MAX_ASKED} in one question")
    try:
        hits = change_impact(stores.vectors, stores.metadata, name, asked, k,
                             include_isolated=include_isolated, rerank=not no_rerank,
                             checked=True)
    except NotFound as exc:  # the file is stored, its vector is not (an older store)
        refuse(f"{exc} in {stores_where()}", f"ingest it again: pharos ingest {repo}")
    if as_json:
        json.dump({"repo_url": name, "file_paths": asked, "left_out": left_out,
                   "answered_by": "impact" + ("" if no_rerank else "+rerank"),
                   "results": [
                       {"repo_url": h.repo_url, "file_path": h.file_path,
                        "language": h.language, "score": round(h.score, 4),
                        "vector_score": round(h.vector_score, 4), "degree": h.degree,
                        "related_to": h.related_to, "why": h.why} for h in hits]},
                  sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    if left_out:
        typer.echo(f"left out {len(left_out)} file{'s' if len(left_out) != 1 else ''} of the "
                   f"diff that {name} does not store (not source files, new since the ingest, "
                   f"or deleted): {', '.join(left_out[:5])}"
                   f"{', ...' if len(left_out) > 5 else ''}", err=True)
    asked_as = asked[0] if len(asked) == 1 else f"{len(asked)} files ({', '.join(asked[:3])}" \
        f"{', ...' if len(asked) > 3 else ''})"
    print_rows(["score", "file", "language", "why"],
               [[f"{h.score:.3f}", h.file_path, h.language, " | ".join(h.why)] for h in hits],
               title=f"files likely to change with {asked_as} in {name}",
               empty=f"no other file of {name} to rank")
