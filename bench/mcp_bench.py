"""`related_files` over MCP on a warm `pharos mcp`, beside `pharos similar --json`.

    python bench/mcp_bench.py [--package ray] [--calls 300] [--cli 5] [--no-http]

A git repository made from an installed package (``ray``: ~2,500 Python files) is
ingested once (`pharos ingest`, embedded default, a temporary data folder). Then
`pharos mcp` is started as a subprocess and asked by the ``mcp`` SDK's client, over stdio
and over streamable HTTP: one call to warm it (the stores open), then ``--calls`` calls
of ``related_files`` (k=10), each for another file of the repository, timed at the
client (the whole round trip: JSON-RPC, the answer, the structured content). Target:
p95 < 100 ms. For reference, ``--cli`` runs of `pharos similar FILE --json` as a
subprocess (a fresh process each time, as an agent scraping the CLI would pay), whose
rankings are checked to equal the server's for the same files; and every answer of the
server is checked against `similar_files` on the store itself (Qdrant's own search, where
the server answers from memory: graph_jobs/relations/repository_vectors.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLEAN = ("MODE", "DATABASE_URL", "NEON_DATABASE_URL", "QDRANT_URL", "REDIS_URL",
         "UPSTASH_REDIS_REST_URL", "PHAROS_ADMIN_TOKEN", "PHAROS_READ_TOKEN")


def env_for(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env.update(PHAROS_DATA_DIR=str(data), PYTHONPATH=str(ROOT), **extra)
    return env


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def summary(ms: list[float]) -> dict:
    return {"calls": len(ms), "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(pct(ms, 0.95), 1), "max_ms": round(max(ms), 1)}


async def timed_calls(client, repo: str, files: list[str], calls: int) -> tuple[list, dict]:
    first = await client.call_tool("related_files", {"repo": repo, "file": files[0]})
    assert not first.is_error, first.content
    ms, answers = [], {}
    for i in range(calls):
        f = files[i % len(files)]
        t = time.perf_counter()
        res = await client.call_tool("related_files", {"repo": repo, "file": f, "k": 10})
        ms.append((time.perf_counter() - t) * 1000)
        assert not res.is_error, res.content
        answers[f] = res.structured_content
    return ms, answers


async def over_stdio(data: Path, repo: str, files: list[str], calls: int):
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "pharos_cli", "mcp"],
                                   env=env_for(data), cwd=str(data.parent))
    t = time.perf_counter()
    async with Client(params, mode="legacy", read_timeout_seconds=300) as c:
        start_s = time.perf_counter() - t
        ms, answers = await timed_calls(c, repo, files, calls)
    return start_s, ms, answers


async def over_http(data: Path, repo: str, files: list[str], calls: int):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from devkit.private_services import free_port, wait_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pharos_cli", "mcp", "--http", "--port",
                             str(port)], env=env_for(data, PHAROS_ADMIN_TOKEN="bench"),
                            cwd=data.parent, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, timeout=120)
        http = httpx2.AsyncClient(headers={"Authorization": "Bearer bench"},
                                  timeout=httpx2.Timeout(30, read=300))
        url = f"http://127.0.0.1:{port}/mcp"
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as c:
            ms, _answers = await timed_calls(c, repo, files, calls)
        return ms
    finally:
        proc.terminate()
        proc.wait(30)


def same_as_store(data: Path, repo: str, answers: dict) -> int:
    """How many of the server's answers are, file for file and score for score, what
    `graph_jobs.answers.similar_files` gives on the store itself (Qdrant's own search)."""
    from graph_jobs.answers import similar_files
    from graph_jobs.pipeline import Stores
    from pharos_cli.settings import Settings

    stores = Stores.open(Settings(_env_file=None, PHAROS_DATA_DIR=str(data)))
    same = 0
    for f, ans in answers.items():
        hits = similar_files(stores.vectors, stores.metadata, repo, f, 10).hits
        same += [(h.file_path, round(h.score, 4), h.why) for h in hits] == [
            (h["file_path"], h["score"], h["why"]) for h in ans["results"]]
    return same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--package", default="ray")
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--cli", type=int, default=5, help="`pharos similar --json` runs")
    ap.add_argument("--no-http", action="store_true")
    args = ap.parse_args()
    from devkit.repos import repo_from_packages

    work = Path(tempfile.mkdtemp(prefix="pharos-mcp-bench-"))
    try:
        data, repo = work / "data", repo_from_packages(work / "repo", [args.package])
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pharos_cli", "ingest", str(repo), "--json"],
                       env=env_for(data), cwd=work, check=True, capture_output=True)
        ingest_s = time.perf_counter() - t
        from graph_jobs.stores.metadata_store import MetadataStore

        meta = MetadataStore(f"sqlite:///{data / 'pharos.sqlite3'}")
        rows = meta.repository_files(str(repo))
        meta.dispose()
        connected = sorted(r["path"] for r in rows if r["degree"] > 0)
        files = connected[:: max(1, len(connected) // 100)][:100]  # 100 spread over the tree

        start_s, stdio_ms, answers = asyncio.run(
            over_stdio(data, str(repo), files, args.calls))
        http_ms = None if args.no_http else asyncio.run(
            over_http(data, str(repo), files, args.calls))

        cli_ms, same = [], 0
        for f in files[: args.cli]:
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "pharos_cli", "similar", str(repo), f,
                                  "-k", "10", "--json"], env=env_for(data), cwd=work,
                                 check=True, capture_output=True, text=True)
            cli_ms.append((time.perf_counter() - t) * 1000)
            cli = [(h["file_path"], h["score"]) for h in json.loads(out.stdout)["results"]]
            same += cli == [(h["file_path"], h["score"]) for h in answers[f]["results"]]
        stored_same = same_as_store(data, str(repo), answers)
        report = {"package": args.package, "files": len(rows), "connected": len(connected),
                  "ingest_s": round(ingest_s, 1), "server_start_s": round(start_s, 2),
                  "mcp_stdio": summary(stdio_ms),
                  **({"mcp_http": summary(http_ms)} if http_ms else {}),
                  "cli_similar_json": summary(cli_ms),
                  "cli_rankings_equal": f"{same}/{len(cli_ms)}",
                  "store_rankings_equal": f"{stored_same}/{len(answers)}"}
        print(json.dumps(report, indent=1))
        worst = max(report["mcp_stdio"]["p95_ms"], report.get("mcp_http", {}).get("p95_ms", 0))
        print(f"related_files p95 {worst} ms: target < 100 ms "
              f"{'met' if worst < 100 else 'NOT met'}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
