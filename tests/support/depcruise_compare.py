"""Compare our JS/TS edges with dependency-cruiser's on the same repository."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from devkit.grimp_compare import Agreement

JS_DIR = Path(__file__).resolve().parent.parent / "js"
DEPCRUISE = JS_DIR / "node_modules" / ".bin" / "depcruise"


def available() -> bool:
    return DEPCRUISE.exists() and shutil.which("node") is not None


def npm_package(name: str) -> Path:
    return JS_DIR / "node_modules" / name


def depcruise_edges(repo: Path, paths: list[str], ts_config: str | None = None) -> set[tuple[str, str]]:
    cmd = [str(DEPCRUISE), "--no-config", "--ts-pre-compilation-deps", "-T", "json"]
    if ts_config:
        cmd += ["--ts-config", ts_config]
    out = subprocess.run([*cmd, *paths], cwd=repo, check=True, capture_output=True, text=True)
    data = json.loads(out.stdout)
    edges = set()
    for m in data["modules"]:
        for d in m["dependencies"]:
            if d["couldNotResolve"] or d["coreModule"] or "node_modules" in d["resolved"]:
                continue
            edges.add((m["source"], d["resolved"]))
    return edges


def compare(graph, repo: Path, paths: list[str], ts_config: str | None = None) -> Agreement:
    ours_files = {f.path for f in graph.files}
    theirs = {(a, b) for a, b in depcruise_edges(repo, paths, ts_config)
              if a in ours_files and b in ours_files}
    ours = {(e.source, e.target) for e in graph.edges
            if any(e.source.startswith(p.rstrip("/") + "/") or e.source == p for p in paths)}
    return Agreement(ours, theirs)
