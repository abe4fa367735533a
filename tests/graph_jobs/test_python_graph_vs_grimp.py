"""Python edges against grimp (an independent import-graph builder) on real packages
installed from PyPI, in several repository layouts."""

from __future__ import annotations

import ast
import posixpath

import pytest

from devkit.grimp_compare import compare
from devkit.repos import repo_from_packages
from graph_jobs.graph.dependency_graph import build_dependency_graph

CASES = [
    pytest.param(["requests"], "", id="requests-small"),
    pytest.param(["attr", "attrs"], "", id="attrs-two-roots"),
    pytest.param(["click"], "src", id="click-src-layout"),
    pytest.param(["attr", "attrs", "click"], "src", id="three-roots-in-src"),
    pytest.param(["git"], "", id="gitpython"),
    pytest.param(["networkx"], "", id="networkx-large", marks=pytest.mark.slow),
    pytest.param(["sklearn"], "", id="sklearn-large", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("packages", "prefix"), CASES)
def test_edges_agree_with_grimp(tmp_path, packages, prefix):
    repo = repo_from_packages(tmp_path / "repo", packages, prefix)
    graph = build_dependency_graph(repo)
    agreement = compare(graph, packages, prefix)
    assert len(agreement.theirs) > 20
    assert agreement.recall >= 0.98, sorted(agreement.theirs - agreement.ours)[:20]
    assert agreement.precision >= 0.98, sorted(agreement.ours - agreement.theirs)[:20]


def _expected_relative_targets(repo, rel: str, files: set[str]) -> set[str]:
    """What Python itself makes of a file's relative imports (ast, not tree-sitter)."""
    tree = ast.parse((repo / rel).read_bytes())
    pkg = posixpath.dirname(rel)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = pkg
            for _ in range(node.level - 1):
                base = posixpath.dirname(base)
            mod = posixpath.join(base, *(node.module or "").split(".")) if node.module else base
            for alias in node.names:
                sub = posixpath.join(mod, alias.name)
                if f"{sub}.py" in files or f"{sub}/__init__.py" in files:
                    out.add(f"{sub}.py" if f"{sub}.py" in files else f"{sub}/__init__.py")
                elif f"{mod}.py" in files or f"{mod}/__init__.py" in files:
                    out.add(f"{mod}.py" if f"{mod}.py" in files else f"{mod}/__init__.py")
    return out


def test_directories_without_init_resolve(tmp_path):
    """setuptools/_distutils/compilers/ has no __init__.py (a namespace package): grimp
    does not see those modules at all; we do, and their relative imports resolve to
    what the interpreter would load."""
    repo = repo_from_packages(tmp_path / "repo", ["setuptools"])
    graph = build_dependency_graph(repo)
    files = {f.path for f in graph.files}
    ns_files = sorted(p for p in files if p.startswith("setuptools/_distutils/compilers/C/")
                      and not p.endswith("__init__.py") and "/tests/" not in p)
    assert len(ns_files) >= 4
    checked = 0
    for rel in ns_files:
        expected = _expected_relative_targets(repo, rel, files)
        ours = {e.target for e in graph.edges if e.source == rel}
        assert expected <= ours, (rel, expected - ours)
        checked += len(expected)
    assert checked >= 5
    # and the rest of the package still agrees with grimp
    agreement = compare(graph, ["setuptools"])
    assert agreement.recall >= 0.98 and agreement.precision >= 0.98


def test_networkx_test_dir_without_init_is_in_graph(tmp_path):
    repo = repo_from_packages(tmp_path / "repo", ["networkx"])
    graph = build_dependency_graph(repo)
    tests_dir = [f.path for f in graph.files
                 if f.path.startswith("networkx/algorithms/minors/tests/")]
    assert tests_dir, "files of a directory without __init__.py must be discovered"
    targets = {e.target for e in graph.edges if e.source in tests_dir}
    assert "networkx/__init__.py" in targets  # `import networkx as nx`
