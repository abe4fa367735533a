"""`pharos ingest / similar / jobs / map / db`: the embedded-mode commands."""

from __future__ import annotations

import difflib
import json
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from graph_jobs.errors import NotFound, UnsafeRepositoryURL
from graph_jobs.lifecycle import RUN_STAGES, JobStatus
from pharos_cli import lookup_hints
from pharos_cli.lookup_hints import closest_paths
from pharos_cli.output import print_pairs, print_rows
from pharos_cli.settings import get_settings

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
STAGES = tuple(str(s) for s in RUN_STAGES)  # the bars, one per stage of the job


def refuse(message: str, *hints: str, code: int = 2):
    """Say what is wrong (and what to do) on stderr; exit ``code``."""
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    for h in hints:
        err.print(f"  {h}", soft_wrap=True)
    raise typer.Exit(code)


def stores_where() -> str:
    return lookup_hints.stores_where(get_settings())


def _key(repo: str) -> str:
    from graph_jobs.pipeline import repo_key

    try:
        return repo_key(repo)
    except UnsafeRepositoryURL as exc:
        refuse(f"cannot read {repo!r} as a repository: {exc}")


def stored_repository(stores, repo: str) -> str:
    """``repo``'s stored name; refuses (exit 2) when it is not stored, saying where it
    looked, what is stored there that is close, and how to ingest it."""
    name = _key(repo)
    if stores.metadata.repository(name) is not None:
        return name
    names = stores.metadata.repositories()
    near = difflib.get_close_matches(name, names, 3, 0.5)
    refuse(f"repository {name} is not stored in {stores_where()}",
           *([f"did you mean: {', '.join(near)}"] if near else []),
           f"{len(names)} repositories are stored there (`pharos jobs` lists what was ingested)"
           if len(names) != 1 else "1 repository is stored there (`pharos jobs` lists it)",
           f"to ingest it: pharos ingest {repo}")


def repository_paths(file: str, repo: str) -> list[str]:
    """What ``file`` may mean as a path from the repository's root, most literal first:
    as typed (``./`` and backslashes dropped), then, for a local repository, the path
    it names from the current directory (``./src/x.py`` typed inside the repository)."""
    s = file.strip().replace("\\", "/")
    typed = s
    while typed.startswith("./"):
        typed = typed[2:]
    out = [typed]
    if repo.startswith("/"):
        root = Path(repo)
        for p in (Path(s).absolute(), Path(s).resolve()):
            try:
                out.append(p.relative_to(root).as_posix())
            except ValueError:
                continue
    return list(dict.fromkeys(out))


def stored_file(stores, repo: str, file: str) -> str:
    """``file``'s stored path in ``repo``; refuses (exit 2) with the closest paths when
    the repository holds no such file."""
    candidates = repository_paths(file, repo)
    if len(candidates) == 1:  # nothing to choose: the question itself says if it is there
        return candidates[0]
    paths = [f["path"] for f in stores.metadata.repository_files(repo)]
    known = set(paths)
    for path in candidates:
        if path in known:
            return path
    return not_a_file(stores, repo, file, paths)


def not_a_file(stores, repo: str, file: str, paths: list[str] | None = None):
    """Refuse (exit 2): the repository is not stored, or holds no such file (with the
    closest paths)."""
    if paths is None:
        if stores.metadata.repository(repo) is None:
            stored_repository(stores, repo)  # refuses, saying where it looked
        paths = [f["path"] for f in stores.metadata.repository_files(repo)]
    candidates = repository_paths(file, repo)
    near = closest_paths(candidates[-1] if candidates[-1] != "." else candidates[0], paths)
    refuse(f"{file!r} is not in the repository {repo} ({len(paths)} files stored)",
           *(["closest paths:", *(f"  {p}" for p in near)] if near else []),
           "give the path from the repository's root, as `pharos similar REPO @top` prints "
           "it")


class By(StrEnum):
    related = "related"
    role = "role"


class Relations(StrEnum):
    all = "all"
    imports = "imports"


def _stores():
    from graph_jobs.pipeline import Stores

    return Stores.open(get_settings())


def ingest(
    source: str = typer.Argument(..., help="Local path or https:// Git URL."),
    ref: str | None = typer.Option(
        None, help="Branch, tag or commit to clone: for Git URLs only (a local directory "
                   "is read as it is checked out)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
    similar_to: str | None = typer.Option(
        None, "--show-similar",
        help="After ingesting, list files like this one ('@top': the most connected file)."),
    relations: Relations | None = typer.Option(
        None, "--relations",
        help="all: imports + folders + co-change + tests (default, PHAROS_RELATIONS); "
             "imports: the import graph alone."),
) -> None:
    """Clone/open, build the graph, mine the history, train Node2Vec, store one vector per file."""
    repo = checked_source(source, ref)  # parsed here, once; the RepoRef goes on as it is
    from graph_jobs.pipeline import run_ingest

    settings = get_settings()
    stores = _stores()
    rel = relations.value if relations else None
    if as_json or not sys.stderr.isatty():
        res = run_ingest(repo, settings, ref=ref, stores=stores, relations=rel)
    else:
        with Progress(TextColumn("{task.description:>6}"), BarColumn(), TaskProgressColumn(),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            tasks = {s: bar.add_task(s, total=1.0) for s in STAGES}

            def progress(stage: str, frac: float) -> None:
                order = STAGES.index(stage)
                for s in STAGES[:order]:
                    bar.update(tasks[s], completed=1.0)
                bar.update(tasks[stage], completed=frac)

            res = run_ingest(repo, settings, ref=ref, stores=stores, progress=progress,
                             relations=rel)
    if as_json:
        json.dump(res.to_dict("result"), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        colour = "green" if res.status == JobStatus.COMPLETE else "red"
        out.print(f"[{colour}]{res.status}[/{colour}] {res.repo_url} @ "
                  f"{(res.commit or 'work tree')[:12]}  job {res.job_id}", soft_wrap=True)
        imports = _import_edges(stores, res.repo_url) if res.status == JobStatus.COMPLETE \
            else None
        print_pairs([
            ("files_processed", res.files_processed),
            ("embeddings_generated", res.embeddings_generated),
            ("import edges", res.edges if imports is None
             else f"{imports} (between {res.edges} pairs of files)"),
            ("isolated files", res.isolated_files), ("skipped files", res.skipped_files),
            ("device", res.device), ("history", res.history),
            ("relations", ", ".join(f"{k} {v}" for k, v in res.relations.items())),
            ("duration_seconds", f"{res.duration_seconds:.2f}"),
            *((f"  {k}", f"{v:g}" if k.endswith((".threads", ".chunks")) else f"{v:.2f}s")
              for k, v in res.timings.items()),
            ("stored in", stores_where().removeprefix("the data folder ")),
        ])
        if res.error:
            err.print(f"[red]error:[/red] {res.error}", soft_wrap=True)
    if res.status != JobStatus.COMPLETE:
        raise typer.Exit(1)
    if similar_to == "@top":
        similar_to = _top_file(stores, res.repo_url)
    if similar_to:
        _print_similar(stores, res.repo_url, stored_file(stores, res.repo_url, similar_to), 5,
                       "repo", False)


def checked_source(source: str, ref: str | None):
    """``source`` parsed, once, under the user's URL policy (the
    :class:`~graph_jobs.repository_ref.RepoRef` the job takes); refuses what cannot become
    a job before one exists: a source that is not a repository, a directory that is not
    there (offering the closest names beside it), ``--ref`` with a local directory.
    ``github.com/o/r``, ``https://github.com/o/r`` and ``git@github.com:o/r.git`` are one
    repository and one clone."""
    from graph_jobs.url_policy import UrlPolicy

    try:
        parsed = UrlPolicy.for_user().check(source, resolve=False).ref
    except UnsafeRepositoryURL as exc:
        refuse(f"cannot ingest {source!r}: {exc}")
    if not parsed.local:
        if ref is not None and (ref.startswith("-") or not ref.strip()):
            refuse(f"--ref {ref!r} is not a branch, tag or commit name")
        return parsed
    path = Path(parsed.name)
    if not path.is_dir():
        parent = path.parent
        names = sorted(p.name for p in parent.iterdir() if p.is_dir()) \
            if parent.is_dir() else []
        near = difflib.get_close_matches(path.name, names, 3, 0.5)
        refuse(f"no such directory: {path}",
               *([f"did you mean: {', '.join(str(parent / n) for n in near)}"] if near
                 else []),
               "give a local directory or an https:// Git URL")
    if ref is not None:
        refuse(f"--ref is for Git URLs; {path} is a local directory, read as it is checked "
               f"out (to ingest {ref}, run `git -C {path} checkout {ref}` first, or give "
               "the repository's URL)")
    return parsed


def _import_edges(stores, repo: str) -> int | None:
    try:
        return len(stores.metadata.repository_edges(repo))
    except Exception:  # noqa: BLE001 - a count for the summary, never a failure
        return None


def _top_file(stores, repo: str) -> str | None:
    """The repository's most connected file (ties: the first path)."""
    files = stores.metadata.repository_files(repo)
    return min(files, key=lambda f: (-f["degree"], f["path"]))["path"] if files else None


def _print_similar(stores, repo: str, file: str, k: int, scope: str, as_json: bool,
                   include_isolated: bool = False, rerank: bool = True,
                   by: str | None = None) -> None:
    from graph_jobs.answers import QuestionRefused, similar_files

    try:
        ans = similar_files(stores.vectors, stores.metadata, repo, file, k, scope=scope, by=by,
                            include_isolated=include_isolated, rerank=rerank)
    except QuestionRefused as exc:
        refuse(str(exc))
    except NotFound as exc:
        paths = [f["path"] for f in stores.metadata.repository_files(repo)]
        if file not in paths:  # not stored, or no such file: say which
            not_a_file(stores, repo, file, paths or None)
        # the file is stored, its vector is not (an older store)
        refuse(f"{exc.args[0]} in {stores_where()}", f"ingest it again: pharos ingest {repo}")
    hits, related = ans.hits, ans.by == "related"
    if as_json:
        json.dump({"repo_url": repo, "file_path": file, "by": ans.by,
                   "answered_by": ans.answered_by,
                   "results": [
                       {"repo_url": h.repo_url, "file_path": h.file_path, "language": h.language,
                        "score": round(h.score, 4), "degree": h.degree,
                        **({"vector_score": round(h.vector_score, 4)} if related else {}),
                        "why": list(h.why or [])} for h in hits]},
                  sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    title = (f"files related to {file} in {repo} ({ans.answered_by})" if related
             else f"files in the same role as {file} (role vectors)")
    across = scope == "all"
    headers = ["score", "file", "language", "degree"] + (["repository"] if across else []) \
        + ["why"]  # related: the signals; role: what it shares (issue 30)
    rows = [[f"{h.score:.3f}", h.file_path, h.language, h.degree]
            + ([h.repo_url] if across else []) + ["; ".join(h.why or [])]
            for h in hits]
    print_rows(headers, rows, title=title, wrap_last=True,
               empty=f"no other file of {repo} to compare with")


def similar(
    repo: str = typer.Argument(..., help="Repository as ingested (URL or path)."),
    file: str = typer.Argument(..., help="File path inside the repository ('@top': its "
                                         "most connected file)."),
    k: int = typer.Option(10, "-k", min=1, max=1000, help="How many files to list."),
    across: bool = typer.Option(False, "--all", help="Search every stored repository."),
    by: By | None = typer.Option(
        None, "--by",
        help="related: files that belong with it (Node2Vec + exact signals; one repository). "
             "role: files in the same structural role (any repository). Default: related, "
             "or role with --all."),
    include_isolated: bool = typer.Option(
        False, "--include-isolated",
        help="Also answer with files that have no import edge (directory-mean vectors)."),
    no_rerank: bool = typer.Option(
        False, "--no-rerank", help="The vectors' order alone (no exact signals)."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as one JSON object."),
) -> None:
    """The k files most like FILE: related files (reranked, each with why), or files in
    the same role."""
    stores, name = _stores(), _key(repo)
    if file == "@top":
        file = _top_file(stores, name)
        if file is None:
            stored_repository(stores, repo)  # not stored: says so
            refuse(f"no file of {name} is stored in {stores_where()}",
                   f"ingest it again: pharos ingest {repo}")
    else:
        file = stored_file(stores, name, file)
    _print_similar(stores, name, file, k, "all" if across else "repo", as_json,
                   include_isolated, rerank=not no_rerank, by=by.value if by else None)


def similar_repos(
    repo: str = typer.Argument(..., help="Repository as ingested (URL or path)."),
    k: int = typer.Option(10, "-k", min=1, max=1000, help="How many repositories to list."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as one JSON object."),
) -> None:
    """Stored repositories whose dependency graphs are shaped like REPO's (NetLSD)."""
    stores = _stores()
    name = stored_repository(stores, repo)
    try:
        rows = stores.metadata.similar_repositories(name, k)
    except NotFound as exc:
        refuse(f"{exc.args[0]} (in {stores_where()})", f"ingest it again: pharos ingest {repo}")
    if as_json:
        json.dump({"repo_url": name, "results": rows}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    print_rows(["distance", "repository", "files"],
               [[f"{r['distance']:.4f}", r["repo_url"], r["files"]] for r in rows],
               title=f"repositories shaped like {name}", wrap_last=False,
               empty=f"no other repository is stored in {stores_where()}")


def jobs(
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=1000,
                              help="How many of the latest jobs to list."),
    as_json: bool = typer.Option(False, "--json", help="Print the jobs as one JSON object."),
) -> None:
    """Recent ingestion jobs from the metadata store."""
    from graph_jobs.pipeline import Stores

    # the metadata store alone: listing jobs never needs the vectors
    rows = Stores.open(get_settings()).metadata.list_jobs(limit)
    if as_json:
        json.dump({"jobs": rows}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    print_rows(["job", "status", "repository", "files", "embeddings", "seconds", "finished",
                "error"],
               [[r["job_id"][:12], r["status"], r["repo_url"], r["files_processed"],
                 r["embeddings_generated"],
                 f"{r['duration_seconds']:.2f}" if r["duration_seconds"] else "",
                 (r["finished_at"] or "")[:19], r["error"] or ""] for r in rows],
               title=f"ingestion jobs in {stores_where()}",
               empty=f"no job is recorded in {stores_where()}: ingest a repository with "
                     "`pharos ingest PATH_OR_URL`")


def map_cmd(
    repo: str = typer.Argument(..., help="Repository as ingested (URL or path)."),
    out_path: str = typer.Option("map.png", "--out", "-o", help=".png, .svg or .html"),
) -> None:
    """Draw the files' embeddings in 2-D (PCA), coloured by top-level directory."""
    from graph_jobs.viz import draw_map

    stores = _stores()
    name = stored_repository(stores, repo)
    points = stores.vectors.repository_points(name)
    if not points:
        refuse(f"no vector of {name} is stored in {stores_where()}",
               f"ingest it again: pharos ingest {repo}")
    draw_map(points, out_path, title=name)
    out.print(f"wrote {out_path} ({len(points)} files)", soft_wrap=True)


db_app = typer.Typer(help="Metadata database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Run the Alembic migrations on DATABASE_URL (or the embedded SQLite file)."""
    from graph_jobs.stores.metadata_store import run_migrations

    url = get_settings().effective_database_url
    run_migrations(url, revision)
    out.print(f"database at {url.split('@')[-1]} is at revision {revision}")
