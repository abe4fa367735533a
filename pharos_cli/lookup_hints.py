"""What the CLI and the MCP server say when a repository or a file is not found: where
they looked, and the stored paths closest to what was asked. One copy for both."""

from __future__ import annotations

from graph_jobs.closest_paths import CLOSEST, closest_paths

__all__ = ["CLOSEST", "closest_paths", "stores_where"]


def stores_where(settings) -> str:
    """Where the stores are, without a secret: the data folder and why it was chosen, or
    the settings that name servers."""
    from graph_jobs.data_folder import describe

    folder = str(describe(settings.data_dir))
    if settings.database_url and settings.qdrant_url:
        return "the stores DATABASE_URL and QDRANT_URL name"
    if settings.database_url or settings.qdrant_url:
        named = "DATABASE_URL" if settings.database_url else "QDRANT_URL"
        return f"the store {named} names and the data folder {folder}"
    return f"the data folder {folder}"
