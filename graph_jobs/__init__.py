"""The graph job: repository -> dependency graph -> (later stages) embeddings.

Runs without Redis, Ray or HTTP; torch is imported only inside the embedding code."""

from graph_jobs.dependency_graph import build_dependency_graph
from graph_jobs.models import DependencyGraph
from graph_jobs.repo_source import open_repository

__all__ = ["build_dependency_graph", "open_repository", "DependencyGraph"]
__version__ = "0.1.0"
