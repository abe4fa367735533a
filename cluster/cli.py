"""The `pharos` command line."""

from __future__ import annotations

import json
import sys
from enum import StrEnum

import typer
from rich.console import Console
from rich.table import Table

from graph_jobs.errors import PharosJobError
from graph_jobs.settings import get_settings

app = typer.Typer(help="Pharos: structural embeddings of Git repositories.",
                  no_args_is_help=True, add_completion=False)
err = Console(stderr=True)


class GraphFormat(StrEnum):
    json = "json"
    summary = "summary"


@app.command()
def graph(
    source: str = typer.Argument(..., help="Local path or https:// Git URL."),
    ref: str | None = typer.Option(None, help="Branch, tag or commit to clone."),
    format: GraphFormat = typer.Option(GraphFormat.summary, "--format", "-f"),
    no_cache: bool = typer.Option(False, help="Re-parse every file (ignore the parse cache)."),
) -> None:
    """Build the file-level dependency graph of a repository."""
    from graph_jobs.graph_job import graph_for

    settings = get_settings()
    try:
        g = graph_for(source, settings, ref, use_cache=not no_cache)
    except PharosJobError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if format is GraphFormat.json:
        json.dump(g.to_json_dict(), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    table = Table(title=f"{g.root} @ {(g.commit or 'work tree')[:12]}")
    for col in ("language", "files", "imports", "resolved", "unresolved", "parse errors"):
        table.add_column(col, justify="right" if col != "language" else "left")
    for lang, st in sorted(g.stats.items()):
        table.add_row(lang, str(st.files), str(st.imports), str(st.resolved),
                      str(st.unresolved), str(st.parse_errors))
    out = Console()
    out.print(table)
    out.print(f"{len(g.files)} files, {len(g.edges)} edges, {len(g.skipped)} skipped, "
              f"{g.cache_hits} from cache; "
              + ", ".join(f"{k} {v:.2f}s" for k, v in g.timings.items()))


@app.command()
def version() -> None:
    """Print the version."""
    import graph_jobs

    typer.echo(graph_jobs.__version__)


if __name__ == "__main__":
    app()
