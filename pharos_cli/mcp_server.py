"""`pharos mcp`: Pharos's answers for coding agents, over the Model Context Protocol.

Built on the official ``mcp`` SDK's server (``MCPServer``, FastMCP's successor in SDK 2):
each tool is a typed function whose docstring is its one-line description; every answer
comes as structured content (its schema is the tool's ``outputSchema``) plus a short
text rendering. What an agent can act on instead (a wrong file, a repository that is not
stored) comes back as a tool error (``isError``) whose text says what to do; no traceback
reaches the protocol. The answers themselves are :mod:`pharos_cli.mcp_answers`'s.

Transports: stdio (the default: what Claude Code, Cursor and VS Code start), or
streamable HTTP (``--http``, at ``/mcp`` on 127.0.0.1) behind the ingress's Bearer
tokens: ``PHAROS_ADMIN_TOKEN`` for everything, ``PHAROS_READ_TOKEN`` (when set) for the
read tools only; compared in constant time. With neither set, HTTP is refused.

The SDK is imported only when the command runs (``pip install 'pharos[embedded]'``):
the rest of the `pharos` command does not need it.
"""

import hmac
import logging
from typing import Annotated, Literal

import typer
from pydantic import BaseModel, Field
from rich.console import Console

from graph_jobs.lifecycle import JobStatus
from pharos_cli.mcp_answers import MAX_RESULTS, Answers, ToolRefusal, where
from pharos_cli.settings import get_settings

err = Console(stderr=True)
log = logging.getLogger("pharos.mcp")
INSTRUCTIONS = (
    "Pharos ranks the files of a stored Git repository that belong with a given file "
    "(imports, change history, tests, shared names and a graph embedding), each with why. "
    "Ask related_files before editing a file to find what usually changes with it. "
    "Ask change_impact with the files of a change (those you edited) to find the other "
    "files likely to need the same change. "
    "Repositories are named as ingested: an https Git URL or host/owner/name, or the "
    "absolute path of a local clone; files by their path relative to the repository root. "
    "A repository that is not stored yet: ingest(source), then job(job_id) until complete.")
UNAUTHORIZED = b'{"error": "invalid or missing bearer token"}'


# --- what the tools return (their outputSchema) -------------------------------------------
class RelatedFile(BaseModel):
    repo_url: str
    file_path: str = Field(description="Relative to the repository's root.")
    language: str
    score: float = Field(description="What the answer is ordered by (higher: more related).")
    degree: int = Field(description="Import edges of the file.")
    vector_score: float | None = Field(None, description="Cosine of the Node2Vec vectors.")
    why: list[str] = Field(default_factory=list,
                           description="Why it is related: 'imports it', 'changed together "
                                       "7 times (last ...)', 'its test', ...; by role: what "
                                       "it shares, 'declares 6 exception classes', 'a CLI "
                                       "entry (argparse)', ...")


class RelatedFiles(BaseModel):
    repo_url: str
    file_path: str
    by: str
    answered_by: str
    results: list[RelatedFile]


class Repository(BaseModel):
    repo_url: str = Field(description="The name the other tools take as `repo`.")
    files: int | None = None
    edges: int | None = None
    last_commit: str | None = None
    updated_at: str | None = None


class Repositories(BaseModel):
    repositories: list[Repository]
    total: int = Field(description="Stored repositories (at most 50 are listed).")
    stores: str = Field(description="Where they are stored.")


class SimilarRepository(BaseModel):
    repo_url: str
    files: int | None = None
    distance: float = Field(description="Between the graphs' descriptors (0: same shape).")


class SimilarRepositories(BaseModel):
    repo_url: str
    results: list[SimilarRepository]


class Job(BaseModel):
    job_id: str
    repo_url: str | None = None
    status: str = Field(description="pending, running, complete, failed, skipped, cancelled.")
    stage: str | None = Field(None, description="clone, graph, embed or store while running.")
    progress: float = Field(0.0, description="0 to 1.")
    queue_position: int | None = None
    error: str | None = None
    files_processed: int | None = None
    embeddings_generated: int | None = None
    duration_seconds: float | None = None
    commit: str | None = None
    finished_at: str | None = None


class Ingested(Job):
    existing: bool = Field(description="True: a job for this repository was already waiting "
                                       "or running; this is its id.")
    runs: Literal["here", "queue"] = Field(description="here: this server runs it; queue: "
                                                       "the edge workers will.")


# --- short text renderings ----------------------------------------------------------------
def render_related(d: dict) -> str:
    head = (f"{len(d['results'])} files related to {d['file_path']} in {d['repo_url']} "
            f"({d['answered_by']}), best first:" if d["by"] == "related" else
            f"{len(d['results'])} files in the same role as {d['file_path']}, best first:")
    rows = [f"{i}. {h['file_path']}  {h['score']:.3f}"
            + (f"  [{h['repo_url']}]" if h["repo_url"] != d["repo_url"] else "")
            + (f"  {'; '.join(h['why'])}" if h["why"] else "")
            for i, h in enumerate(d["results"], 1)]
    return "\n".join([head, *rows])


def render_repositories(d: dict) -> str:
    rows = [f"- {r['repo_url']} ({r['files']} files)" for r in d["repositories"]]
    return "\n".join([f"{d['total']} repositories stored in {d['stores']}:", *rows])


def render_similar_repositories(d: dict) -> str:
    rows = [f"{i}. {r['repo_url']}  distance {r['distance']:.4f} ({r['files']} files)"
            for i, r in enumerate(d["results"], 1)]
    return "\n".join([f"repositories shaped like {d['repo_url']}, nearest first:", *rows])


def render_job(d: dict) -> str:
    s = f"job {d['job_id']} ({d['repo_url']}): {d['status']}"
    if d.get("stage"):
        s += f", stage {d['stage']}"
    if JobStatus(d["status"]).active:
        s += f", {d['progress']:.0%}"
        if d.get("queue_position"):
            s += f", position {d['queue_position']} in the queue"
        s += f"; ask job(job_id={d['job_id']!r}) again for progress"
    if d.get("files_processed"):
        s += f"; {d['files_processed']} files"
    if d.get("error"):
        s += f"; error: {d['error']}"
    return s


def build_server(answers: Answers, admin_token: str = ""):
    """The MCP server over ``answers``. ``admin_token``: over HTTP, `ingest` needs it."""
    from mcp.server import MCPServer
    from mcp.server.mcpserver import Context
    from mcp.types import CallToolResult, TextContent, ToolAnnotations

    import graph_jobs

    server = MCPServer("pharos", title="Pharos", version=graph_jobs.__version__,
                       instructions=INSTRUCTIONS, log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, idempotent_hint=True,
                                open_world_hint=False)

    def answer(model: type[BaseModel], fn, render) -> CallToolResult:
        try:
            data = model.model_validate(fn()).model_dump(mode="json")
        except ToolRefusal as exc:
            return CallToolResult(content=[TextContent(type="text", text=exc.text())],
                                  is_error=True)
        except Exception as exc:  # noqa: BLE001 - an agent gets a sentence, never a traceback
            log.exception("tool failed")
            return CallToolResult(is_error=True, content=[TextContent(
                type="text", text=f"pharos could not answer: {type(exc).__name__}: {exc}")])
        return CallToolResult(content=[TextContent(type="text", text=render(data))],
                              structured_content=data)

    Repo = Annotated[str, Field(min_length=1, max_length=2048, description=(
        "The repository as ingested: https Git URL or host/owner/name, or the absolute "
        "path of a local clone (list_repositories names them)."))]
    K = Annotated[int, Field(ge=1, le=MAX_RESULTS, description="How many results (1-50).")]

    @server.tool(annotations=read_only.model_copy(update={"title": "Stored repositories"}))
    def list_repositories() -> Annotated[CallToolResult, Repositories]:
        """List the repositories Pharos has stored, by the name the other tools take as repo."""
        return answer(Repositories, answers.list_repositories, render_repositories)

    @server.tool(annotations=read_only.model_copy(update={"title": "Related files"}))
    def related_files(
        repo: Repo,
        file: Annotated[str, Field(min_length=1, max_length=4096, description=(
            "Path of the file relative to the repository root (an absolute path inside a "
            "local repository is accepted)."))],
        k: K = 10,
        by: Annotated[Literal["related", "role"], Field(description=(
            "related: files that belong with it (imports, co-change, tests, names, "
            "Node2Vec); role: files that play the same structural part."))] = "related",
        scope: Annotated[Literal["repo", "all"], Field(description=(
            "repo: this repository; all: every stored repository (by='role' only)."))
        ] = "repo",
    ) -> Annotated[CallToolResult, RelatedFiles]:
        """Rank the files that belong with `file` in `repo`, best first, each with why."""
        return answer(RelatedFiles, lambda: answers.related_files(repo, file, k, by, scope),
                      render_related)

    from pharos_cli.mcp_impact import MAX_FILES, ChangeImpact, impact_answer, render_impact

    @server.tool(annotations=read_only.model_copy(update={"title": "Impact of a change"}))
    def change_impact(
        repo: Repo,
        files: Annotated[list[Annotated[str, Field(min_length=1, max_length=4096)]], Field(
            min_length=1, max_length=MAX_FILES, description=(
                "The files of the change, paths relative to the repository root (absolute "
                "paths inside a local repository are accepted)."))],
        k: K = 10,
    ) -> Annotated[CallToolResult, ChangeImpact]:
        """Rank the other files likely to need the same change as `files`, each with why."""
        return answer(ChangeImpact, lambda: impact_answer(answers, repo, files, k),
                      render_impact)

    @server.tool(annotations=read_only.model_copy(update={"title": "Similar repositories"}))
    def similar_repositories(repo: Repo, k: K = 10
                             ) -> Annotated[CallToolResult, SimilarRepositories]:
        """List stored repositories whose dependency graphs are shaped like repo's."""
        return answer(SimilarRepositories, lambda: answers.similar_repositories(repo, k),
                      render_similar_repositories)

    @server.tool(annotations=ToolAnnotations(
        title="Ingest a repository", read_only_hint=False, destructive_hint=False,
        idempotent_hint=False, open_world_hint=True))
    def ingest(
        source: Annotated[str, Field(min_length=1, max_length=2048, description=(
            "https Git URL (or host/owner/name), or the absolute path of a local clone."))],
        ctx: Context,
        ref: Annotated[str | None, Field(max_length=255, description=(
            "Branch, tag or commit to clone (Git URLs only)."))] = None,
    ) -> Annotated[CallToolResult, Ingested]:
        """Ingest a repository so the other tools can answer about it; returns a job id for job()."""
        headers = ctx.headers
        if headers is not None and not _is_admin(headers.get("authorization", ""), admin_token):
            return CallToolResult(is_error=True, content=[TextContent(
                type="text", text="ingest needs the admin token (PHAROS_ADMIN_TOKEN); this "
                                  "connection may only read")])
        return answer(Ingested, lambda: answers.ingest(source, ref), render_job)

    @server.tool(annotations=read_only.model_copy(update={"title": "Ingestion job"}))
    def job(job_id: Annotated[str, Field(min_length=1, max_length=64, description=(
            "The id ingest() returned."))]) -> Annotated[CallToolResult, Job]:
        """Status, stage and progress of an ingestion job started by ingest()."""
        return answer(Job, lambda: answers.job(job_id), render_job)

    return server


def _bearer(header: str | bytes) -> bytes:
    raw = header.encode() if isinstance(header, str) else header
    scheme, _, cred = raw.strip().partition(b" ")
    return cred.strip() if scheme.lower() == b"bearer" else b""


def _is_admin(header: str, admin_token: str) -> bool:
    return bool(admin_token) and hmac.compare_digest(_bearer(header), admin_token.encode())


class BearerGate:
    """ASGI: every HTTP request carries the admin token, or the read token when one is
    set; both are always compared, in constant time. Anything else: 401."""

    def __init__(self, app, admin_token: str, read_token: str = "") -> None:
        self.app, self.admin, self.read = app, admin_token.encode(), read_token.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            given = _bearer(dict(scope.get("headers") or []).get(b"authorization", b""))
            ok_admin = bool(self.admin) and hmac.compare_digest(given, self.admin)
            ok_read = bool(self.read) and hmac.compare_digest(given, self.read)
            if not (ok_admin or ok_read):
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="pharos"'),
                    (b"content-length", str(len(UNAUTHORIZED)).encode())]})
                await send({"type": "http.response.body", "body": UNAUTHORIZED})
                return
        await self.app(scope, receive, send)


def mcp(
    http: bool = typer.Option(False, "--http", help=(
        "Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio. Needs "
        "PHAROS_ADMIN_TOKEN (or PHAROS_READ_TOKEN: reads only) as a Bearer token.")),
    host: str = typer.Option("127.0.0.1", help="--http: the address to listen on."),
    port: int = typer.Option(8766, help="--http: the port."),
) -> None:
    """Serve Pharos's answers to coding agents over MCP (stdio; --http for streamable HTTP)."""
    settings = get_settings()
    try:
        settings.check_production()
    except ValueError as exc:
        err.print(f"[red]refusing to start:[/red] {exc}")
        raise typer.Exit(2) from exc
    if http and not (settings.admin_token or settings.read_token):
        err.print("[red]refusing to start:[/red] --http needs PHAROS_ADMIN_TOKEN (or "
                  "PHAROS_READ_TOKEN for the read tools only): agents send it as a Bearer token")
        raise typer.Exit(2)
    try:
        server = build_server(Answers(settings), settings.admin_token)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("mcp"):
            raise
        err.print(f"[red]error:[/red] pharos mcp needs the MCP SDK ({exc.name} is not "
                  "installed here): pip install 'pharos\\[embedded]'")
        raise typer.Exit(2) from exc
    if not http:
        server.run("stdio")
        return
    import uvicorn

    app = BearerGate(server.streamable_http_app(host=host), settings.admin_token,
                     settings.read_token)
    err.print(f"pharos mcp: http://{host}:{port}/mcp (stores: {where(settings)})",
              highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")
