"""`pharos ingest / similar / jobs / map / db`: the embedded-mode commands."""

from __future__ import annotations

import json
import sys
from enum import StrEnum

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from graph_jobs.errors import NotFound
from pharos_cli.settings import get_settings

out = Console()
err = Console(stderr=True)
STAGES = ("clone", "graph", "embed", "store")


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
    ref: str | None = typer.Option(None, help="Branch, tag or commit."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    similar_to: str | None = typer.Option(
        None, "--show-similar",
        help="After ingesting, list files like this one ('@top': the most connected file)."),
    relations: Relations | None = typer.Option(
        None, "--relations",
        help="all: imports + folders + co-change + tests (default, PHAROS_RELATIONS); "
             "imports: the import graph alone."),
) -> None:
    """Clone/open, build the graph, mine the history, train Node2Vec, store one vector per file."""
    from graph_jobs.pipeline import run_ingest

    settings = get_settings()
    stores = _stores()
    rel = relations.value if relations else None
    if as_json or not sys.stderr.isatty():
        res = run_ingest(source, settings, ref=ref, stores=stores, relations=rel)
    else:
        with Progress(TextColumn("{task.description:>6}"), BarColumn(), TaskProgressColumn(),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            tasks = {s: bar.add_task(s, total=1.0) for s in STAGES}

            def progress(stage: str, frac: float) -> None:
                order = STAGES.index(stage)
                for s in STAGES[:order]:
                    bar.update(tasks[s], completed=1.0)
                bar.update(tasks[stage], completed=frac)

            res = run_ingest(source, settings, ref=ref, stores=stores, progress=progress,
                             relations=rel)
    if as_json:
        json.dump(res.to_dict("result"), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        colour = "green" if res.status == "complete" else "red"
        out.print(f"[{colour}]{res.status}[/{colour}] {res.repo_url} @ "
                  f"{(res.commit or 'work tree')[:12]}  job {res.job_id}")
        t = Table(show_header=False, box=None)
        for k, v in [("files_processed", res.files_processed),
                     ("embeddings_generated", res.embeddings_generated),
                     ("edges", res.edges), ("isolated files", res.isolated_files),
                     ("skipped files", res.skipped_files), ("device", res.device),
                     ("history", res.history),
                     ("relations", ", ".join(f"{k} {v}" for k, v in res.relations.items())),
                     ("duration_seconds", f"{res.duration_seconds:.2f}")]:
            t.add_row(k, str(v))
        for k, v in res.timings.items():
            t.add_row(f"  {k}", f"{v:.2f}s")
        out.print(t)
        if res.error:
            err.print(f"[red]error:[/red] {res.error}")
    if res.status != "complete":
        raise typer.Exit(1)
    if similar_to == "@top":
        similar_to = _top_file(stores, res.repo_url)
    if similar_to:
        _print_similar(stores, res.repo_url, similar_to, 5, "repo", False)


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
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except NotFound as exc:
        err.print(f"[red]error:[/red] {exc.args[0]} (ingest it first; `pharos jobs` lists "
                  "what is stored)")
        raise typer.Exit(2) from exc
    hits, related = ans.hits, ans.by == "related"
    if as_json:
        json.dump({"repo_url": repo, "file_path": file, "by": ans.by,
                   "answered_by": ans.answered_by,
                   "results": [
                       {"repo_url": h.repo_url, "file_path": h.file_path, "language": h.language,
                        "score": round(h.score, 4), "degree": h.degree,
                        **({"vector_score": round(h.vector_score, 4), "why": h.why}
                           if related else {})} for h in hits]},
                  sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    title = (f"files related to {file} ({ans.answered_by})" if related
             else f"files in the same role as {file} (role vectors)")
    t = Table(title=title)
    for c in ("score", "file") + (("why",) if related else ()) + ("language", "degree") + (
            ("repository",) if scope == "all" else ()):
        t.add_column(c)
    for h in hits:
        row = [f"{h.score:.3f}", h.file_path]
        if related:
            row.append("; ".join(h.why or []))
        row += [h.language, str(h.degree)]
        t.add_row(*(row + ([h.repo_url] if scope == "all" else [])))
    out.print(t)


def similar(
    repo: str = typer.Argument(..., help="Repository as ingested (URL or path)."),
    file: str = typer.Argument(..., help="File path inside the repository ('@top': its "
                                         "most connected file)."),
    k: int = typer.Option(10, "-k", min=1, max=1000),
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
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The k files most like FILE: related files (reranked, each with why), or files in
    the same role."""
    from graph_jobs.pipeline import repo_key

    stores, name = _stores(), repo_key(repo)
    if file == "@top":
        file = _top_file(stores, name)
        if file is None:
            err.print(f"[red]error:[/red] nothing stored for {name}; ingest it first")
            raise typer.Exit(2)
    _print_similar(stores, name, file, k, "all" if across else "repo", as_json,
                   include_isolated, rerank=not no_rerank, by=by.value if by else None)


def similar_repos(
    repo: str = typer.Argument(..., help="Repository as ingested (URL or path)."),
    k: int = typer.Option(10, "-k", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Stored repositories whose dependency graphs are shaped like REPO's (NetLSD)."""
    from graph_jobs.pipeline import repo_key

    name = repo_key(repo)
    try:
        rows = _stores().metadata.similar_repositories(name, k)
    except NotFound as exc:
        err.print(f"[red]error:[/red] {exc.args[0]}")
        raise typer.Exit(2) from exc
    if as_json:
        json.dump({"repo_url": name, "results": rows}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    t = Table(title=f"repositories shaped like {name}")
    for c in ("distance", "repository", "files"):
        t.add_column(c)
    for r in rows:
        t.add_row(f"{r['distance']:.4f}", r["repo_url"], str(r["files"]))
    out.print(t)


def jobs(
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Recent ingestion jobs from the metadata store."""
    rows = _stores().metadata.list_jobs(limit)
    if as_json:
        json.dump({"jobs": rows}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    t = Table(title="ingestion jobs")
    for c in ("job", "status", "repository", "files", "embeddings", "seconds", "finished",
              "error"):
        t.add_column(c)
    for r in rows:
        t.add_row(r["job_id"][:12], r["status"], r["repo_url"], str(r["files_processed"]),
                  str(r["embeddings_generated"]),
                  f"{r['duration_seconds']:.2f}" if r["duration_seconds"] else "",
                  (r["finished_at"] or "")[:19], (r["error"] or "")[:60])
    out.print(t)


def map_cmd(
    repo: str = typer.Argument(..., help="Repository as ingested (URL or path)."),
    out_path: str = typer.Option("map.png", "--out", "-o", help=".png, .svg or .html"),
) -> None:
    """Draw the files' embeddings in 2-D (PCA), coloured by top-level directory."""
    from graph_jobs.pipeline import repo_key
    from graph_jobs.viz import draw_map

    points = _stores().vectors.repository_points(repo_key(repo))
    if not points:
        err.print(f"[red]error:[/red] nothing stored for {repo_key(repo)}; ingest it first")
        raise typer.Exit(2)
    draw_map(points, out_path, title=repo_key(repo))
    out.print(f"wrote {out_path} ({len(points)} files)")


db_app = typer.Typer(help="Metadata database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Run the Alembic migrations on DATABASE_URL (or the embedded SQLite file)."""
    from graph_jobs.stores.metadata_store import run_migrations

    url = get_settings().effective_database_url
    run_migrations(url, revision)
    out.print(f"database at {url.split('@')[-1]} is at revision {revision}")
