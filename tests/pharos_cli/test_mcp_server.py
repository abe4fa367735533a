"""`pharos mcp` as a real subprocess, talked to by the `mcp` SDK's own client over stdio
and streamable HTTP: the handshake, the tools' schemas, every tool on repositories
ingested here (through the server's own `ingest` tool), the errors an agent recovers
from, the Bearer token over HTTP, and the same ranking as `pharos similar --json`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devkit.private_services import free_port, wait_port
from devkit.repos import commit_all, make_repo

pytest.importorskip("mcp")

from mcp import Client, StdioServerParameters  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MARKER = "zebra_quartz_marker"  # a string of the test repository's source text
TOOLS = {"list_repositories", "related_files", "change_impact", "similar_repositories",
         "ingest", "job"}
READ_ONLY = TOOLS - {"ingest"}
REQUIRED = {"list_repositories": [], "related_files": ["file", "repo"],
            "change_impact": ["files", "repo"],
            "similar_repositories": ["repo"], "ingest": ["source"], "job": ["job_id"]}
CLEAN = ("MODE", "DATABASE_URL", "NEON_DATABASE_URL", "QDRANT_URL", "QDRANT_API_KEY",
         "REDIS_URL", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN",
         "PHAROS_ADMIN_TOKEN", "PHAROS_READ_TOKEN", "PHAROS_ALLOW_LOCAL_REPOS")


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env.update(PHAROS_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT), **extra)
    return env


def stdio(data_dir: Path, *args: str, **extra: str) -> Client:
    """A client that starts `python -m pharos_cli mcp ARGS` and speaks the initialize
    handshake (what agents' clients send)."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "pharos_cli", "mcp", *args],
                                   env=server_env(data_dir, **extra), cwd=str(data_dir.parent))
    return Client(params, mode="legacy", read_timeout_seconds=120)


def http_client(url: str, token: str) -> Client:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                              timeout=httpx2.Timeout(30, read=120))
    return Client(streamable_http_client(url, http_client=http), mode="legacy")


def run(coro):
    return asyncio.run(coro)


def text(res) -> str:
    return "\n".join(c.text for c in res.content if c.type == "text")


async def wait_job(client: Client, job_id: str, timeout: float = 240) -> dict:
    for _ in range(int(timeout * 4)):
        res = await client.call_tool("job", {"job_id": job_id})
        assert not res.is_error, text(res)
        if res.structured_content["status"] not in ("pending", "running"):
            return res.structured_content
        await asyncio.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish")


def small_repo(path: Path) -> Path:
    """A package whose files import each other, with a test, changed over a few commits."""
    repo = make_repo(path, {
        "pkg/__init__.py": "",
        "pkg/core.py": f"{MARKER.upper()} = 1\n\ndef core():\n    return {MARKER.upper()}\n",
        "pkg/util.py": "from pkg.core import core\n\ndef helper():\n    return core()\n",
        "pkg/api.py": ("from pkg.core import core\nfrom pkg.util import helper\n\n"
                       "def run():\n    return helper() + core()\n"),
        "pkg/cli.py": "from pkg.api import run\n\ndef main():\n    print(run())\n",
        "pkg/storage/__init__.py": "",
        "pkg/storage/disk.py": "from pkg.core import core\n\ndef save():\n    return core()\n",
        "tests/test_api.py": "from pkg.api import run\n\ndef test_run():\n    assert run()\n",
    })
    for i in range(3):
        (repo / "pkg/api.py").write_text((repo / "pkg/api.py").read_text() + f"# {i}\n")
        (repo / "pkg/util.py").write_text((repo / "pkg/util.py").read_text() + f"# {i}\n")
        commit_all(repo, f"api and util {i}")
    return repo


def other_repo(path: Path) -> Path:
    return make_repo(path, {
        "lib/__init__.py": "",
        "lib/a.py": "def a():\n    return 1\n",
        "lib/b.py": "from lib.a import a\n\ndef b():\n    return a()\n",
        "lib/c.py": "from lib.b import b\nfrom lib.a import a\n\ndef c():\n    return b() + a()\n",
    })


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two repositories, ingested through `pharos mcp`'s own ingest tool over stdio."""
    base = tmp_path_factory.mktemp("mcp")
    data = base / "pharos-data"
    repo, other = small_repo(base / "proj"), other_repo(base / "other")

    async def ingest_both():
        async with stdio(data) as c:
            jobs = []
            for r in (repo, other):
                res = await c.call_tool("ingest", {"source": str(r)})
                assert not res.is_error, text(res)
                got = res.structured_content
                assert got["runs"] == "here" and len(got["job_id"]) == 32
                assert got["repo_url"] == str(r)
                jobs.append(got["job_id"])
            # the second waits for the first: one job at a time
            res = await c.call_tool("job", {"job_id": jobs[1]})
            assert res.structured_content["status"] in ("pending", "running", "complete")
            done = [await wait_job(c, j) for j in jobs]
        return jobs, done

    jobs, done = run(ingest_both())
    for d in done:
        assert d["status"] == "complete", d
        assert d["progress"] == 1.0 and d["files_processed"] >= 4
    return {"data": data, "repo": repo, "other": other, "jobs": jobs}


def test_stdio_handshake_schema_and_every_tool(world):
    repo, other = str(world["repo"]), str(world["other"])

    async def scenario():
        async with stdio(world["data"]) as c:
            # initialize
            assert c.server_info.name == "pharos"
            assert c.protocol_version.startswith("20")
            assert c.server_capabilities.tools is not None
            assert "related_files" in (c.instructions or "")
            # tools/list: names, one-line descriptions, required arguments, hints, schemas
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert set(tools) == TOOLS
            for name, t in tools.items():
                assert t.description and "\n" not in t.description.strip(), name
                assert sorted(t.input_schema.get("required", [])) == REQUIRED[name], name
                assert t.annotations.read_only_hint is (name in READ_ONLY), name
                assert t.output_schema and t.output_schema["type"] == "object", name
            k = tools["related_files"].input_schema["properties"]["k"]
            assert k["maximum"] == 50 and k["default"] == 10
            assert tools["related_files"].input_schema["properties"]["by"]["enum"] == [
                "related", "role"]
            # list_repositories
            res = await c.call_tool("list_repositories", {})
            assert not res.is_error
            names = {r["repo_url"] for r in res.structured_content["repositories"]}
            assert names == {repo, other} and res.structured_content["total"] == 2
            assert str(world["data"]) in res.structured_content["stores"]
            # related_files: relative paths of the repository, each with why, no source text
            res = await c.call_tool("related_files", {"repo": repo, "file": "pkg/api.py"})
            assert not res.is_error, text(res)
            hits = res.structured_content["results"]
            stored = {str(p.relative_to(world["repo"])) for p in world["repo"].rglob("*.py")}
            assert hits and all(h["file_path"] in stored for h in hits)
            assert all(h["why"] for h in hits)
            by_path = {h["file_path"]: h for h in hits}
            assert "imported by it" in by_path["pkg/util.py"]["why"]
            assert any(w.startswith("changed together 3 times") for w in by_path["pkg/util.py"]
                       ["why"])
            assert "imports it" in by_path["pkg/cli.py"]["why"]
            assert "pkg/util.py" in text(res) and "pkg/api.py" in text(res)
            assert MARKER not in json.dumps(res.model_dump(mode="json")).lower()
            scores = [h["score"] for h in hits]
            assert scores == sorted(scores, reverse=True)
            # by role, across every stored repository
            res = await c.call_tool("related_files", {"repo": repo, "file": "pkg/core.py",
                                                      "by": "role", "scope": "all", "k": 50})
            assert not res.is_error, text(res)
            assert res.structured_content["by"] == "role"
            assert {h["repo_url"] for h in res.structured_content["results"]} == {repo, other}
            # k is capped at 50 by the schema
            res = await c.call_tool("related_files", {"repo": repo, "file": "pkg/api.py",
                                                      "k": 51})
            assert res.is_error
            # similar_repositories
            res = await c.call_tool("similar_repositories", {"repo": repo})
            assert not res.is_error, text(res)
            assert [r["repo_url"] for r in res.structured_content["results"]] == [other]
            # job
            res = await c.call_tool("job", {"job_id": world["jobs"][0]})
            assert not res.is_error
            assert res.structured_content["status"] == "complete"
            assert res.structured_content["repo_url"] == repo
            res = await c.call_tool("job", {"job_id": "0" * 32})
            assert res.is_error and "no job" in text(res)

    run(scenario())


def test_wrong_file_gives_the_closest_paths_and_unknown_repository_says_how(world, tmp_path):
    repo = str(world["repo"])

    async def scenario():
        async with stdio(world["data"]) as c:
            for wrong, want in [("api.py", "pkg/api.py"), ("pkg/utils.py", "pkg/util.py"),
                                ("src/pkg/disk.py", "pkg/storage/disk.py")]:
                res = await c.call_tool("related_files", {"repo": repo, "file": wrong})
                assert res.is_error, wrong
                assert res.structured_content is None  # no content against the schema
                msg = text(res)
                assert f"{wrong!r} is not a file of {repo}" in msg
                closest = [ln[2:] for ln in msg.splitlines() if ln.startswith("- ")]
                assert closest[0] == want, msg
            # the same file, spelled as an agent may: ./ or an absolute path
            for spelled in ("./pkg/api.py", str(world["repo"] / "pkg/api.py")):
                res = await c.call_tool("related_files", {"repo": repo, "file": spelled})
                assert not res.is_error, text(res)
                assert res.structured_content["file_path"] == "pkg/api.py"
            # a repository that is not stored: how to ingest it, and where it looked
            missing = str(tmp_path / "never-ingested")
            for tool, args in [("related_files", {"repo": missing, "file": "a.py"}),
                               ("similar_repositories", {"repo": missing})]:
                res = await c.call_tool(tool, args)
                assert res.is_error
                msg = text(res)
                assert f"repository {missing} is not stored" in msg
                assert f"ingest(source={missing!r})" in msg
                assert str(world["data"]) in msg and "Traceback" not in msg
            # ingest refuses what cannot be a job before a job exists
            res = await c.call_tool("ingest", {"source": missing})
            assert res.is_error and f"no such directory: {missing}" in text(res)
            res = await c.call_tool("ingest", {"source": repo, "ref": "main"})
            assert res.is_error and "ref is for Git URLs" in text(res)
            res = await c.call_tool("ingest", {"source": "https://github.com/o/r?x=1"})
            assert res.is_error and "query strings" in text(res)

    run(scenario())


def test_related_files_is_the_ranking_of_pharos_similar_json(world):
    """`pharos similar` runs beside the live server: the local vector store, which one
    process at a time may open, is taken in turns (graph_jobs.stores.local_qdrant)."""
    repo = str(world["repo"])

    async def scenario():
        async with stdio(world["data"]) as c:
            out = {}
            for file in ("pkg/api.py", "pkg/core.py", "tests/test_api.py"):
                res = await c.call_tool("related_files", {"repo": repo, "file": file, "k": 5})
                assert not res.is_error, text(res)
                cli = subprocess.run(
                    [sys.executable, "-m", "pharos_cli", "similar", repo, file, "-k", "5",
                     "--json"], env=server_env(world["data"]), cwd=world["data"].parent,
                    capture_output=True, text=True, timeout=120)
                assert cli.returncode == 0, cli.stderr[-2000:]
                out[file] = (res.structured_content, json.loads(cli.stdout))
            return out

    for file, (mcp_ans, cli_ans) in run(scenario()).items():
        assert cli_ans["results"], file
        assert [(h["file_path"], h["score"], h["why"]) for h in mcp_ans["results"]] == [
            (h["file_path"], h["score"], h["why"]) for h in cli_ans["results"]], file
        assert mcp_ans["answered_by"] == cli_ans["answered_by"]


def test_change_impact_is_pharos_impact_and_names_the_closest_paths(world):
    """Several files of a change: the ranking of `pharos impact --json`; a file that is
    not in the repository is refused with the closest stored paths."""
    repo = str(world["repo"])
    asked = ["pkg/util.py", "./pkg/cli.py"]

    async def scenario():
        async with stdio(world["data"]) as c:
            res = await c.call_tool("change_impact", {"repo": repo, "files": asked, "k": 5})
            assert not res.is_error, text(res)
            wrong = await c.call_tool("change_impact", {"repo": repo,
                                                        "files": ["pkg/api.py", "pkg/utils.py"]})
            empty = await c.call_tool("change_impact", {"repo": repo, "files": []})
            return res, wrong, empty

    res, wrong, empty = run(scenario())
    got = res.structured_content
    assert got["file_paths"] == ["pkg/util.py", "pkg/cli.py"]
    assert got["results"] and not {h["file_path"] for h in got["results"]} & set(
        got["file_paths"])
    top = got["results"][0]
    assert top["file_path"] == "pkg/api.py"  # imports util, imported by cli, changed with util
    assert set(top["related_to"]) == {"pkg/util.py", "pkg/cli.py"}
    assert top["why"][0] == "tied to 2 of the 2 files asked"
    assert "pkg/api.py" in text(res)
    cli = subprocess.run([sys.executable, "-m", "pharos_cli", "impact", repo, *asked, "-k", "5",
                          "--json"], env=server_env(world["data"]), cwd=world["data"].parent,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert [(h["file_path"], h["score"], h["why"]) for h in got["results"]] == [
        (h["file_path"], h["score"], h["why"]) for h in json.loads(cli.stdout)["results"]]
    assert wrong.is_error and wrong.structured_content is None
    msg = text(wrong)
    assert f"'pkg/utils.py' is not a file of {repo}" in msg
    assert [ln[2:] for ln in msg.splitlines() if ln.startswith("- ")][0] == "pkg/util.py"
    assert empty.is_error  # at least one file (the schema says so)


def test_a_store_held_by_another_process_is_said_not_raised(world):
    """The local Qdrant directory held elsewhere (as `pharos ingest` holds it): the
    answer says so, and the next question, once it is free, is answered."""
    from qdrant_client import QdrantClient

    repo = str(world["repo"])
    args = {"repo": repo, "file": "pkg/api.py"}

    async def scenario():
        async with stdio(world["data"]) as c:
            other = QdrantClient(path=str(world["data"] / "qdrant"))
            try:
                res = await c.call_tool("related_files", args)
            finally:
                other.close()
            assert res.is_error
            assert "is open in another pharos process" in text(res), text(res)
            assert "Traceback" not in text(res)
            res = await c.call_tool("related_files", args)
            assert not res.is_error, text(res)

    run(scenario())


@pytest.fixture
def http_server(world):
    port = free_port()
    env = server_env(world["data"], PHAROS_ADMIN_TOKEN="admin-secret",
                     PHAROS_READ_TOKEN="read-secret")
    proc = subprocess.Popen([sys.executable, "-m", "pharos_cli", "mcp", "--http", "--port",
                             str(port)], env=env, cwd=world["data"].parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stderr = proc.stderr.read().decode(errors="replace")
        assert "Traceback" not in stderr, stderr[-3000:]


def test_streamable_http_behind_the_bearer_token(world, http_server):
    import requests

    repo = str(world["repo"])
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}}
    headers = {"Accept": "application/json, text/event-stream"}
    for auth in (None, "Bearer wrong", "Bearer admin-secretx", "Basic admin-secret"):
        r = requests.post(http_server, json=init, timeout=10,
                          headers={**headers, **({"Authorization": auth} if auth else {})})
        assert r.status_code == 401, auth
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.post(http_server, json=init, timeout=10,
                      headers={**headers, "Authorization": "Bearer admin-secret"})
    assert r.status_code == 200, r.text

    async def scenario():
        async with http_client(http_server, "admin-secret") as c:
            assert c.server_info.name == "pharos"
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert set(tools) == TOOLS
            assert tools["ingest"].annotations.read_only_hint is False
            res = await c.call_tool("list_repositories", {})
            assert res.structured_content["total"] == 2
            res = await c.call_tool("related_files", {"repo": repo, "file": "pkg/util.py"})
            assert not res.is_error, text(res)
            assert "pkg/api.py" in [h["file_path"] for h in res.structured_content["results"]]
            res = await c.call_tool("related_files", {"repo": repo, "file": "util.py"})
            assert res.is_error and "- pkg/util.py" in text(res)
            res = await c.call_tool("similar_repositories", {"repo": repo, "k": 1})
            assert len(res.structured_content["results"]) == 1
            # ingest over HTTP (the admin token) after a commit: a new job, followed to its
            # end; then the warm server answers from what that job stored
            (world["repo"] / "pkg/extra.py").write_text("from pkg.api import run\n")
            commit_all(world["repo"], "extra")
            res = await c.call_tool("ingest", {"source": repo})
            assert not res.is_error, text(res)
            assert res.structured_content["existing"] is False
            done = await wait_job(c, res.structured_content["job_id"])
            assert done["status"] == "complete"
            res = await c.call_tool("related_files", {"repo": repo, "file": "pkg/extra.py"})
            assert not res.is_error, text(res)
            res = await c.call_tool("related_files", {"repo": repo, "file": "pkg/api.py"})
            extra = [h for h in res.structured_content["results"]
                     if h["file_path"] == "pkg/extra.py"]
            assert extra and "imports it" in extra[0]["why"]
        async with http_client(http_server, "read-secret") as c:
            res = await c.call_tool("related_files", {"repo": repo, "file": "pkg/util.py"})
            assert not res.is_error
            res = await c.call_tool("ingest", {"source": repo})
            assert res.is_error and "admin token" in text(res)

    run(scenario())


def test_http_is_refused_without_a_token(tmp_path):
    res = subprocess.run([sys.executable, "-m", "pharos_cli", "mcp", "--http", "--port",
                          str(free_port())], env=server_env(tmp_path / "d"), cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "PHAROS_ADMIN_TOKEN" in res.stderr


def test_without_the_sdk_it_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['mcp'] = None; "  # as if not installed
            "from pharos_cli.app import app; app(['mcp'])")
    res = subprocess.run([sys.executable, "-c", code], env=server_env(tmp_path / "d"),
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "pip install 'pharos[embedded]'" in " ".join(res.stderr.split())
    assert "Traceback" not in res.stderr


def test_ingest_queues_when_a_queue_is_configured(world, redis_url):
    """MODE=CLOUD-like: REDIS_URL set, so ingest queues the job for the edge workers
    (nothing runs it here) and job() reads it from the queue."""
    repo = str(world["repo"])

    async def scenario():
        async with stdio(world["data"], REDIS_URL=redis_url,
                         PHAROS_ALLOW_LOCAL_REPOS="1") as c:
            res = await c.call_tool("ingest", {"source": repo})
            assert not res.is_error, text(res)
            got = res.structured_content
            assert (got["runs"], got["status"], got["queue_position"]) == ("queue", "pending", 1)
            again = (await c.call_tool("ingest", {"source": repo})).structured_content
            assert again["job_id"] == got["job_id"] and again["existing"] is True
            res = await c.call_tool("job", {"job_id": got["job_id"]})
            assert res.structured_content["status"] == "pending"
            assert res.structured_content["queue_position"] == 1

    run(scenario())


def inspector_cli() -> Path | None:
    cli = ROOT / "tests/js/node_modules/@modelcontextprotocol/inspector/cli/build/cli.js"
    return cli if cli.is_file() and shutil.which("node") else None


@pytest.mark.node
@pytest.mark.skipif(inspector_cli() is None, reason="the MCP Inspector is not installed "
                    "(cd tests/js && npm ci)")
def test_mcp_inspector_cli_lists_the_tools_and_calls_one(world):
    """Another client, on the TypeScript SDK: it lists the tools, and checks an answer's
    structured content against the tool's outputSchema."""

    def inspector(*args: str) -> dict:
        res = subprocess.run(
            ["node", str(inspector_cli()), "--cli", "-e", f"PHAROS_DATA_DIR={world['data']}",
             "-e", f"PYTHONPATH={ROOT}", sys.executable, "-m", "pharos_cli", "mcp", *args],
            env=server_env(world["data"]), cwd=world["data"].parent, capture_output=True,
            text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-3000:]
        return json.loads(res.stdout)

    tools = {t["name"]: t for t in inspector("--method", "tools/list")["tools"]}
    assert set(tools) == TOOLS
    assert {n for n, t in tools.items() if t["annotations"]["readOnlyHint"]} == READ_ONLY
    got = inspector("--method", "tools/call", "--tool-name", "related_files",
                    "--tool-arg", f"repo={world['repo']}", "--tool-arg", "file=pkg/api.py")
    assert got["isError"] is False
    assert "pkg/util.py" in [h["file_path"] for h in got["structuredContent"]["results"]]
