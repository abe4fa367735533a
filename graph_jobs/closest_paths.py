"""The stored paths closest to a path that is not stored: what every surface (the CLI,
the MCP server, the HTTP API) offers instead of a file that is not in the repository.
In ``graph_jobs`` so that the ingress, which may not import the command line, offers the
same paths (``pharos_cli.lookup_hints`` re-exports it)."""

from __future__ import annotations

import difflib
from pathlib import PurePosixPath

CLOSEST = 5  # paths offered for a file that is not in the repository


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
