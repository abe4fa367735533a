"""What the CLI and the MCP server say when a repository or a file is not found: where
they looked, and the stored paths closest to what was asked. One copy for both."""

from __future__ import annotations

import difflib
from pathlib import PurePosixPath

CLOSEST = 5  # paths offered for a file that is not in the repository


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


def closest_paths(wanted: str, paths: list[str], n: int = CLOSEST) -> list[str]:
    """The stored paths most like ``wanted``: those ending with it, those with its file
    name, then the nearest by spelling (whole path, then file name)."""
    name = PurePosixPath(wanted).name
    found = sorted((p for p in paths if p.endswith("/" + wanted)), key=len)
    found += sorted((p for p in paths if PurePosixPath(p).name == name), key=len)
    found += difflib.get_close_matches(wanted, paths, n, 0.6)
    by_name: dict[str, list[str]] = {}
    for p in paths:
        by_name.setdefault(PurePosixPath(p).name, []).append(p)
    for near in difflib.get_close_matches(name, list(by_name), n, 0.6):
        found += sorted(by_name[near], key=len)
    return list(dict.fromkeys(found))[:n]
