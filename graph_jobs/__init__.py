"""The graph job: repository -> dependency graph -> (later stages) embeddings.

Runs without Redis, Ray or HTTP; torch is imported only inside the embedding code.
The names below load on first use, so that importing a submodule (the ingress imports
``graph_jobs.settings``) does not load Git and every tree-sitter grammar."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__all__ = ["build_dependency_graph", "open_repository", "DependencyGraph"]
__version__ = "0.1.0"

_LAZY = {"build_dependency_graph": "graph_jobs.graph.dependency_graph",
         "DependencyGraph": "graph_jobs.models",
         "open_repository": "graph_jobs.graph.repo_source"}

if TYPE_CHECKING:
    from graph_jobs.graph.dependency_graph import build_dependency_graph
    from graph_jobs.graph.repo_source import open_repository
    from graph_jobs.models import DependencyGraph


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'graph_jobs' has no attribute {name!r}")
