"""Imports run one way: pharos_cli → serve_app / cluster → graph_jobs (ARCHITECTURE.md),
directly and transitively.

Read from the source with ``ast`` (every import, at module level or inside a function),
so a lazy import cannot bring a cycle back either. The module graph is followed to its
end: no chain of imports, however long, leads from a package to one it may not import,
and what a package must not load (torch in the ingress; Redis, Ray or HTTP in the job)
is not reached through any chain of the imports that run when it is imported."""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("graph_jobs", "cluster", "serve_app", "pharos_cli")
ALLOWED = {
    "graph_jobs": set(),
    "cluster": {"graph_jobs"},
    "serve_app": {"cluster", "graph_jobs"},
    "pharos_cli": {"serve_app", "cluster", "graph_jobs"},
}
BANNED = {"graph_jobs": {"redis", "ray", "fastapi", "upstash_redis", "starlette"},
          "serve_app": {"torch", "torch_geometric"}}


def imports_of(path: Path, *, eager_only: bool = False) -> set[str]:
    """The modules ``path`` imports, dotted (``a.b.c``; ``from a.b import c`` gives
    ``a.b`` and ``a.b.c``). ``eager_only``: those that run when it is imported (not the
    ones inside a function)."""
    found: set[str] = set()

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            lazy = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef
                                             | ast.Lambda)
            if eager_only and lazy:
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.add(child.module)
                found.update(f"{child.module}.{a.name}" for a in child.names)
            visit(child, lazy)

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


def module_graph(root: Path, packages=OURS, *, eager_only: bool = False
                 ) -> dict[str, set[str]]:
    """Our module -> the modules it imports (ours by their dotted name, and the
    third-party ones by their top-level name). A package's ``__init__`` runs before any
    module in it is imported, so a module depends on its packages' ``__init__`` too."""
    paths = {}
    for pkg in packages:
        for p in sorted((root / pkg).rglob("*.py")):
            parts = p.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            paths[name] = p
    graph: dict[str, set[str]] = {}
    for name, p in paths.items():
        deps = set()
        for imported in imports_of(p, eager_only=eager_only):
            if imported.split(".")[0] not in packages:
                deps.add(imported.split(".")[0])
                continue
            parts = imported.split(".")
            for i in range(1, len(parts) + 1):  # a.b.c runs a, a.b, a.b.c
                if ".".join(parts[:i]) in paths:
                    deps.add(".".join(parts[:i]))
        parts = name.split(".")
        deps.update(".".join(parts[:i]) for i in range(1, len(parts))
                    if ".".join(parts[:i]) in paths)
        deps.discard(name)
        graph[name] = deps
    return graph


def chain_to(graph: dict[str, set[str]], start: str, bad) -> list[str] | None:
    """The shortest chain of imports from ``start`` to a module for which ``bad`` holds."""
    seen, todo = {start: None}, deque([start])
    while todo:
        m = todo.popleft()
        for d in sorted(graph.get(m, ())):
            if d in seen:
                continue
            seen[d] = m
            if bad(d):
                out = [d]
                while seen[out[-1]] is not None:
                    out.append(seen[out[-1]])
                return out[::-1]
            todo.append(d)
    return None


def wrong_way(root: Path, packages=OURS, allowed=ALLOWED) -> list[str]:
    graph = module_graph(root, packages)
    wrong = []
    for name in graph:
        pkg = name.split(".")[0]

        def bad(m: str, pkg=pkg) -> bool:
            top = m.split(".")[0]
            return top in packages and top != pkg and top not in allowed[pkg]

        chain = chain_to(graph, name, bad)
        if chain:
            wrong.append(" -> ".join(chain))
    return wrong


def banned_reached(root: Path, packages=OURS, banned=BANNED) -> list[str]:
    graph = module_graph(root, packages, eager_only=True)
    wrong = []
    for name in graph:
        mods = banned.get(name.split(".")[0], set())
        chain = chain_to(graph, name, lambda m, mods=mods: m in mods) if mods else None
        if chain:
            wrong.append(" -> ".join(chain))
    return wrong


def test_no_import_runs_the_wrong_way_directly_or_transitively():
    wrong = wrong_way(ROOT)
    assert not wrong, "\n".join(wrong)


def test_what_a_package_must_not_load_is_reached_by_no_chain_of_imports():
    wrong = banned_reached(ROOT)
    assert not wrong, "\n".join(wrong)


def test_nor_by_any_import_of_their_own_lazy_ones_included():
    wrong = [f"{p.relative_to(ROOT)} imports {m}"
             for pkg, mods in BANNED.items() for p in sorted((ROOT / pkg).rglob("*.py"))
             for m in {i.split(".")[0] for i in imports_of(p)} & mods]
    assert not wrong, "\n".join(wrong)


def test_bench_and_devkit_import_nothing_from_tests_and_the_packages_nothing_of_theirs():
    """What the benches and the tests both need lives in ``devkit/``; the four packages
    import neither it nor the benches."""
    wrong = [f"{p.relative_to(ROOT)} imports {m}"
             for d in ("bench", "devkit") for p in sorted((ROOT / d).glob("*.py"))
             for m in imports_of(p) if m == "tests" or m.startswith("tests.")]
    wrong += [f"{p.relative_to(ROOT)} imports {m}"
              for pkg in OURS for p in sorted((ROOT / pkg).rglob("*.py"))
              for m in imports_of(p) if m.split(".")[0] in ("devkit", "bench", "tests")]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from serve_app.app import create_app\n")
    assert "serve_app.app" in imports_of(bad)
    assert "serve_app.app" not in imports_of(bad, eager_only=True)


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_the_checker_follows_chains_it_did_not_see_directly(tmp_path):
    """low -> mid -> top, each step allowed on its own but for the last: the chain is
    named; and a banned module reached through two of ours is found, a lazy one not."""
    _tree(tmp_path, {
        "low/__init__.py": "", "low/a.py": "from low import b\n",
        "low/b.py": "def f():\n    import mid.c\n",
        "mid/__init__.py": "", "mid/c.py": "import top.d\n",
        "top/__init__.py": "", "top/d.py": "import torch\n",
        "top/e.py": "def g():\n    import torch\n",
    })
    packages = ("low", "mid", "top")
    wrong = wrong_way(tmp_path, packages, {"low": set(), "mid": {"low"}, "top": {"mid", "low"}})
    assert "low.a -> low.b -> mid" in wrong[0] or any(
        w.startswith("low.a -> low.b -> mid") for w in wrong), wrong
    assert any(w.startswith("mid.c -> top") for w in wrong), wrong
    reached = banned_reached(tmp_path, packages, {"mid": {"torch"}, "top": {"torch"}})
    assert "mid.c -> top.d -> torch" in reached
    assert not any(w.startswith("top.e") for w in reached)  # lazy: not at import
