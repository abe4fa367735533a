"""The `pharos` command: its Typer app, the commands of the graph stage, and the wiring."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from graph_jobs.errors import PharosJobError
from pharos_cli.settings import get_settings

app = typer.Typer(help="Pharos: structural embeddings of Git repositories.",
                  no_args_is_help=True, add_completion=False)

# Typer 0.29's help shows a flag's type, "<bool>", as if the flag took a value; a flag
# takes none, so its help shows no type (as git's, gh's and click's plain help do).
_option_type = getattr(typer.core.TyperOption, "display_type_rich", None)
if _option_type is not None:
    def _flag_without_type(self, ctx):
        return None if self.is_flag else _option_type(self, ctx)

    typer.core.TyperOption.display_type_rich = _flag_without_type
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
    settings = get_settings()
    try:
        from graph_jobs.graph.graph_job import graph_for

        g = graph_for(source, settings, ref, use_cache=not no_cache)
    except PharosJobError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except ModuleNotFoundError as exc:  # an install without the `parse` extra
        if not (exc.name or "").startswith("tree_sitter"):
            raise
        err.print(f"[red]error:[/red] parsing needs tree-sitter and its grammars ({exc.name} "
                  "is not installed here): pip install 'pharos\\[parse]'")
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


@app.command("node2vec")
def node2vec_cmd(
    input: Path = typer.Option(..., "--input", help="Edge list: 'u v [w]' per line."),
    output: Path = typer.Option(..., "--output", help="word2vec text file to write."),
    dimensions: int = typer.Option(64, "--dimensions", "-d"),
    walk_length: int = typer.Option(20, "--walk-length", "-l", help="Nodes per walk."),
    num_walks: int = typer.Option(10, "--num-walks", "-r"),
    window_size: int = typer.Option(10, "--window-size", "-k"),
    epochs: int = typer.Option(1, "--epochs", "--iter"),
    p: float = typer.Option(1.0, "--p"),
    q: float = typer.Option(1.0, "--q"),
    weighted: bool = typer.Option(False, "--weighted"),
    directed: bool = typer.Option(False, "--directed"),
    workers: int = typer.Option(0, "--workers", help="CPU threads (0: sized from the graph, up to the usable cores)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N"),
    backend: str = typer.Option("auto", help="auto/pharos, or pyg (needs pyg-lib)"),
    seed: int | None = typer.Option(0, help="Random seed (reproducible on the CPU)."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Node2Vec on an edge list; PecanPy/SNAP-compatible command line and files."""
    from graph_jobs.embedding.edgelist_io import EdgeListError, read_edg, write_emb
    from graph_jobs.embedding.engine import embed_graph
    from graph_jobs.embedding.params import Node2VecParams

    try:
        params = Node2VecParams(dimensions=dimensions, walk_length=walk_length,
                                num_walks=num_walks, window_size=window_size, epochs=epochs,
                                p=p, q=q, weighted=weighted, directed=directed, seed=seed)
        names, edges, weights = read_edg(input, weighted)
    except (OSError, ValueError, EdgeListError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    try:
        res = embed_graph(len(names), edges, params, weights=weights, device=device,
                          backend=backend, threads=workers or None)
    except PharosJobError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    write_emb(output, names, res.vectors)
    if verbose:
        err.print(f"{len(names)} nodes, {len(edges)} edges on {res.device} ({res.backend}): "
                  + ", ".join(f"{k} {v:.2f}s" for k, v in res.timings.items())
                  + f"; {res.walk_steps} walk steps, {res.pairs} pairs")


from pharos_cli import ingest_commands as cli_ingest  # noqa: E402

app.command("ingest")(cli_ingest.ingest)
app.command("similar")(cli_ingest.similar)
app.command("similar-repos")(cli_ingest.similar_repos)
app.command("jobs")(cli_ingest.jobs)
app.command("map")(cli_ingest.map_cmd)
app.add_typer(cli_ingest.db_app, name="db")

from pharos_cli import impact_command as cli_impact  # noqa: E402

app.command("impact")(cli_impact.impact)

from pharos_cli import service_commands as cli_services  # noqa: E402

app.command("serve")(cli_services.serve)
app.command("console")(cli_services.console)
app.command("worker")(cli_services.worker)

from pharos_cli import mcp_server as cli_mcp  # noqa: E402

app.command("mcp")(cli_mcp.mcp)


@app.command()
def version() -> None:
    """Print the version and the data folder."""
    _print_version()


def _print_version() -> None:
    import graph_jobs
    from graph_jobs.data_folder import describe

    typer.echo(f"pharos {graph_jobs.__version__}")
    typer.echo(f"data folder: {describe(get_settings().data_dir)}")


def _version_option(value: bool) -> None:
    if value:
        _print_version()
        raise typer.Exit()


@app.callback()
def main(
    show_version: bool = typer.Option(
        False, "--version", callback=_version_option, is_eager=True,
        help="Print the version and the data folder, and exit."),
) -> None:
    """Pharos: structural embeddings of Git repositories."""


@app.command()
def info(as_json: bool = typer.Option(False, "--json", help="Print it as one JSON object."),
         trust_here: bool = typer.Option(
             False, "--trust-here",
             help="Use ./.pharos (made if missing) as this project's data folder from now "
                  "on. Only for a folder you made: a .pharos that came inside a repository "
                  "can run code when opened.")) -> None:
    """Where this `pharos` keeps its data, and what it would talk to."""
    from pharos_cli.info_command import print_info

    if trust_here:
        from graph_jobs.data_folder import LOCAL_NAME, trust

        err.print(f"trusted {trust(Path.cwd() / LOCAL_NAME)} as this project's data folder")
        get_settings.cache_clear()
    print_info(get_settings(), as_json)


if __name__ == "__main__":
    app()
