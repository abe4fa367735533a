"""Compare our Python edges with grimp's on the same packages."""

from __future__ import annotations

from dataclasses import dataclass

import grimp

from graph_jobs.models import DependencyGraph


def module_of(path: str, prefix: str) -> str:
    rel = path[len(prefix) + 1:] if prefix else path
    rel = rel[: -len(".py")]
    if rel.endswith("/__init__"):
        rel = rel[: -len("/__init__")]
    return rel.replace("/", ".")


@dataclass
class Agreement:
    ours: set[tuple[str, str]]
    theirs: set[tuple[str, str]]

    @property
    def common(self):
        return self.ours & self.theirs

    @property
    def recall(self) -> float:
        return len(self.common) / max(1, len(self.theirs))

    @property
    def precision(self) -> float:
        return len(self.common) / max(1, len(self.ours))


def compare(graph: DependencyGraph, packages: list[str], prefix: str = "") -> Agreement:
    g = grimp.build_graph(*packages, cache_dir=None)
    ours_modules = {module_of(f.path, prefix) for f in graph.files if f.path.endswith(".py")}
    # Compare where both sides know the module as a file (grimp lists namespace
    # packages and skips directories without __init__.py: see docs/graph.md).
    shared = ours_modules & set(g.modules)
    theirs = {
        (m, t) for m in shared for t in g.find_modules_directly_imported_by(m) if t in shared
    }
    ours = {
        (module_of(e.source, prefix), module_of(e.target, prefix)) for e in graph.edges
        if e.source.endswith(".py") and e.target.endswith(".py")
    }
    ours = {(a, b) for a, b in ours if a in shared and b in shared}
    return Agreement(ours, theirs)
