"""Imports run one way: pharos_cli → serve_app / cluster → graph_jobs (ARCHITECTURE.md).

Read from the source with ``ast`` (every import, at module level or inside a function),
so a lazy import cannot bring a cycle back either."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("graph_jobs", "cluster", "serve_app", "pharos_cli")
ALLOWED = {
    "graph_jobs": set(),
    "cluster": {"graph_jobs"},
    "serve_app": {"cluster", "graph_jobs"},
    "pharos_cli": {"serve_app", "cluster", "graph_jobs"},
}


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_packages_import_only_downwards():
    wrong = []
    for pkg in OURS:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for other in imports_of(path) & set(OURS):
                if other != pkg and other not in ALLOWED[pkg]:
                    wrong.append(f"{path.relative_to(ROOT)} imports {other}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from serve_app.app import create_app\n")
    assert "serve_app" in imports_of(bad)


def test_graph_jobs_and_serve_app_stay_free_of_what_they_must_not_load():
    banned = {"graph_jobs": {"redis", "ray", "fastapi", "upstash_redis", "starlette"},
              "serve_app": {"torch", "torch_geometric"}}
    wrong = [f"{p.relative_to(ROOT)} imports {m}"
             for pkg, mods in banned.items() for p in sorted((ROOT / pkg).rglob("*.py"))
             for m in imports_of(p) & mods]
    assert not wrong, "\n".join(wrong)
